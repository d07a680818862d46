"""Customs messages as pure builders, with the real field names of the special-area system.

INV101 is the inventory list (核注清单) of the first-line transfer (一线转入), built from the
counted quantities of a confirmed tally; a returned list is corrected by a change declaration
(dclTypecd 2). SAS121 is the release order (核放单) a truck enters on, declared with that truck.
The receipts (INV201, SAS221, SAS223, SAS224) are customs' and read in tally/receipts.py.
Field names and codes follow public integration code (docs/customs.md).
Country, currency, unit, transport-mode and supervision-mode codes are the customs' own, looked
up in its code tables (tally/customs/codes): a manifest's AU, USD or kg become 601, 502, 035.

tally/customs/message_xml.py turns these payloads into the XML the special-area system
exchanges and back.
"""

import copy
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from tally.customs import codes
from tally.names import DISCREPANCY_KIND_NAMES, chinese

# dclTypecd: 1 new, 2 change, 3 delete. DelcareFlag (sic, as the real envelope spells it):
# 0 draft (暂存), 1 declare (申报).
DECLARE = "1"
NEW = "1"
# modfMarkcd per line: 0 unchanged, 1 changed, 2 deleted, 3 added. Marks compare a version of
# the list with the version before it: every line of a new list is 3, added [G,A,S].
UNCHANGED, CHANGED, DELETED, ADDED = "0", "1", "2", "3"
# Discrepancy kinds as the tally record names them (短少 / 溢余 / 破损 / 错货).
KIND_NAMES = {kind: chinese(name) for kind, name in DISCREPANCY_KIND_NAMES.items()}
CHINA = "142"  # destinationNatcd of goods entering the zone: China (中国)
FULL_EXEMPTION = "3"  # lvyrlfModecd 3 全免, the Single Window's default for the zone [S]


def _envelope(settings: dict) -> dict:
    """Who sends: the Single Window channel id and the operator's IC card [X,P,A,G]."""
    return {"sender_id": settings.get("dxp_id"), "Ic_Card": settings.get("ic_card_no")}


def build_inv101(manifest: dict, lines: list[dict], report: dict, *, settings: dict,
                 book: dict[str, dict], declared_on: str) -> dict:
    """The INV101 payload: envelope, head and one line per manifest line with counted units.

    ``manifest``: head row; ``lines``: full manifest lines; ``report``: the confirmed
    reconciliation; ``settings``: the company settings (tally/company.py); ``book``: the
    account book's items by SKU (tally/account_book.py); ``declared_on``: the declaration date,
    ``yyyyMMdd`` where the warehouse is. A line with nothing counted is left out (dclQty > 0).
    """
    counted = {line["line_no"]: line["counted"] for line in report["lines"]}
    declared = [line for line in lines if counted.get(line["line_no"], 0) > 0]
    body_lines = [_inv101_line(seq, line, counted[line["line_no"]], book)
                  for seq, line in enumerate(declared, start=1)]
    etps_no = settings["etps_no"]
    head = {
        "chgTmsCnt": "0",
        "putrecNo": settings["putrec_no"],
        "invtType": settings["invt_type"],
        "etpsInnerInvtNo": f"TL{manifest['id']:06d}-{manifest['manifest_no']}"[:64],
        "bizopEtpsno": etps_no,
        "bizopEtpsSccd": settings.get("operating_sccd"),
        "bizopEtpsNm": settings.get("operating_name"),
        "rcvgdEtpsno": etps_no,
        "rvsngdEtpsSccd": settings.get("receiving_sccd"),
        "rcvgdEtpsNm": settings.get("receiving_name"),
        "dclEtpsno": etps_no,
        "dclEtpsSccd": settings.get("declaring_sccd"),
        "dclEtpsNm": settings.get("declaring_name"),
        "inputCode": settings.get("input_code"),
        "inputCreditCode": settings.get("input_sccd"),
        "inputName": settings.get("input_name"),
        "inputTime": declared_on,
        "impexpPortcd": settings["customs_code"],
        "dclPlcCuscd": settings["customs_code"],
        "impexpMarkcd": "I",
        "mtpckEndprdMarkcd": "I",
        "supvModecd": codes.supervision_mode("保税电商"),  # 1210, bonded cross-border e-commerce
        "trspModecd": codes.transport_mode("公路运输"),    # 4, road
        "dclcusFlag": "2",         # 2 非报关: no customs declaration form follows
        "icCardNo": settings.get("ic_card_no"),
        "listStat": "",            # empty on send [G,P]
        "stshipTrsarvNatcd": settings.get("departure_country"),
        "invtDclTime": declared_on,
        "genDecFlag": "2",         # 2: no declaration form is generated from the list
    }
    discrepancies = [
        {"gdsSeqno": _seq_of(declared, d["line_no"]), "lineNo": d["line_no"], "kind": d["kind"],
         "kindName": KIND_NAMES[d["kind"]], "qty": d["qty"], "note": d["note"],
         "disposition": d["disposition"]}
        for line in report["lines"] for d in line["discrepancies"]
    ] + [{"gdsSeqno": None, "lineNo": None, "kind": d["kind"], "kindName": KIND_NAMES[d["kind"]],
          "qty": d["qty"], "note": d["note"], "disposition": d["disposition"]}
         for d in report.get("unassigned_discrepancies", [])]
    # Our bookkeeping, not written to the XML: the manifest line of each gdsSeqno (release
    # orders name a list line by its gdsSeqno) and the tally's discrepancy record.
    return {"envelope": _envelope(settings), "SysId": settings.get("sys_id"),
            "OperCusRegCode": settings.get("oper_cus_reg_code"), "DelcareFlag": DECLARE,
            "dclTypecd": NEW, "head": head, "lines": body_lines,
            "manifestLineNos": [line["line_no"] for line in declared],
            "tallyDiscrepancies": discrepancies}


def _seq_of(lines: list[dict], line_no) -> int | None:
    return next((seq for seq, line in enumerate(lines, start=1) if line["line_no"] == line_no),
                None)


def _inv101_line(seq: int, line: dict, counted: int, book: dict[str, dict]) -> dict:
    declared = line["declared_qty"]
    unit_value = Decimal(line["unit_value"]) if line.get("unit_value") else None
    where = f"manifest line {line['line_no']} ({line['sku']})"
    item = book.get(line["sku"])
    if item is None:  # the confirm condition (tally/workflow.py) keeps this from happening
        raise ValueError(f"{where}: the item is not in the account book")
    return {
        "gdsSeqno": seq,
        "putrecSeqno": item["putrec_seqno"],  # 备案序号: the item's number in the account book
        "gdsMtno": line["sku"],
        "gdecd": item["hs_code"],
        "gdsNm": item["name"],
        "gdsSpcfModelDesc": line["name"],
        "dclUnitcd": item["dcl_unit"],
        "lawfUnitcd": item["lawf_unit"],
        "secdLawfUnitcd": item.get("secd_lawf_unit"),
        "natcd": _customs_code(codes.country, line.get("origin_country"), where,
                               "origin_country"),
        "dclUprcAmt": _money(unit_value) if unit_value is not None else None,
        "dclTotalAmt": _money(unit_value * counted) if unit_value is not None else None,
        "dclCurrcd": _customs_code(codes.currency, line.get("currency"), where, "currency"),
        # Legal quantities follow the HS code: the book's legal quantity of one declared unit.
        "lawfQty": _legal(counted, item["lawf_qty_per_unit"]),
        "secdLawfQty": _legal(counted, item.get("secd_lawf_qty_per_unit")),
        "dclQty": counted,
        # Manifest weights are for the declared quantity; declare the counted share of them.
        "grossWt": _prorate(line.get("gross_weight_kg"), counted, declared),
        "netWt": _prorate(line.get("net_weight_kg"), counted, declared),
        "lvyrlfModecd": FULL_EXEMPTION,
        "clyMarkcd": "0",            # not a dangerous chemical
        "entryGdsSeqno": seq,
        "destinationNatcd": CHINA,
        "modfMarkcd": ADDED,
    }


def _legal(counted: int, per_unit: str | None) -> str | None:
    if per_unit is None:
        return None
    return _weight(Decimal(per_unit) * counted)


def _customs_code(lookup, value, where: str, field: str) -> str | None:
    """The customs' code of a manifest value (None stays None: the manifest left it out)."""
    if value is None or str(value).strip() == "":
        return None
    try:
        return lookup(value)
    except codes.UnknownCode as exc:
        text = f"{where}: {exc}"
        raise codes.UnknownCode(text, [{"field": field, "message": text}]) from None


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _prorate(weight: str | None, counted: int, declared: int) -> str | None:
    if not weight:
        return None
    share = Decimal(weight) * counted / declared if declared else Decimal(0)
    return str(share.quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP))


# -- change declaration of an inventory list (INV101, dclTypecd 2) ------------------------------

CHANGE = "2"
# What a change declaration may correct on a line. Not dclQty / lawfQty: quantities are the
# tally's counted quantities, and a wrong count is corrected by a new tally record, not here.
EDITABLE_LINE_FIELDS = (
    "gdecd", "gdsNm", "dclUprcAmt", "natcd", "dclCurrcd", "dclUnitcd", "lawfUnitcd", "grossWt",
    "netWt",
)
HS_CODE = re.compile(r"\d{10}")  # gdecd: the 10-digit commodity code (商品编码)
# Coded line fields: a change may give ISO codes or names too; they are written as the customs'.
CODED_LINE_FIELDS = {"natcd": codes.country, "dclCurrcd": codes.currency,
                     "dclUnitcd": codes.unit, "lawfUnitcd": codes.unit}


def build_inv101_change(previous_payload: dict, changes: list[dict]) -> dict:
    """A change declaration (dclTypecd 2) of an inventory list, typically one customs returned.

    ``changes``: ``[{"gdsSeqno": n, field: new value, ...}]`` for the fields in
    EDITABLE_LINE_FIELDS. Changed lines get modfMarkcd 1; the marks are relative to the version
    being changed, so other lines are 0 (unchanged) except deleted lines, which stay 2.
    dclTotalAmt is recomputed, chgTmsCnt counts the change; head.bondInvtNo is kept.
    Raises ValueError, naming the line and field, for anything it cannot apply.
    """
    if not changes:
        raise ValueError("a change declaration needs at least one change")
    payload = copy.deepcopy(previous_payload)
    lines = {str(line["gdsSeqno"]): line for line in payload["lines"]}
    changed: set[str] = set()
    for change in changes:
        key = _apply_line_change(lines, change, changed)
        changed.add(key)
    for key, line in lines.items():
        if key in changed:
            line["modfMarkcd"] = CHANGED
        elif line.get("modfMarkcd") != DELETED:
            line["modfMarkcd"] = UNCHANGED
        line["dclTotalAmt"] = _line_amount(line)
    head = payload["head"]
    head["chgTmsCnt"] = str(int(head.get("chgTmsCnt") or 0) + 1)  # changes so far [G,S]
    payload["DelcareFlag"], payload["dclTypecd"] = DECLARE, CHANGE
    return payload


def _apply_line_change(lines: dict[str, dict], change: dict, done: set[str]) -> str:
    """Apply one change to its line in place; returns the line's key."""
    if not isinstance(change, dict) or "gdsSeqno" not in change:
        raise ValueError(f"each change needs a gdsSeqno: {change!r}")
    key = str(change["gdsSeqno"])
    line = lines.get(key)
    if line is None:
        raise ValueError(f"unknown gdsSeqno {change['gdsSeqno']!r}: the inventory list has lines "
                         f"{', '.join(lines)}")
    if key in done:
        raise ValueError(f"gdsSeqno {key} is changed twice: give one change per line")
    fields = {k: v for k, v in change.items() if k != "gdsSeqno"}
    for field in fields:
        if field in ("dclQty", "lawfQty"):
            raise ValueError(f"gdsSeqno {key}: {field} cannot be changed in a change declaration; "
                             "quantities come from the tally")
        if field not in EDITABLE_LINE_FIELDS:
            raise ValueError(f"gdsSeqno {key}: {field} is not an editable line field (editable: "
                             f"{', '.join(EDITABLE_LINE_FIELDS)})")
    if not fields:
        raise ValueError(f"gdsSeqno {key}: the change names no field")
    if line.get("modfMarkcd") == DELETED:
        raise ValueError(f"gdsSeqno {key} is deleted (modfMarkcd 2, nothing counted); "
                         "it cannot be changed")
    for field, value in fields.items():
        line[field] = _edited_value(key, field, value)
    return key


def _edited_value(key: str, field: str, value):
    """A new line value in the form build_inv101 writes it (money 2 decimals, weights 5)."""
    if value is None or value == "":
        return None
    if field == "dclUprcAmt":
        return _money(_decimal(value, f"gdsSeqno {key}: {field}"))
    if field in ("grossWt", "netWt"):
        return _weight(_decimal(value, f"gdsSeqno {key}: {field}"))
    text = str(value).strip()
    if field == "gdecd" and not HS_CODE.fullmatch(text):
        raise ValueError(f"gdsSeqno {key}: gdecd must be the 10-digit HS code, got {text!r}")
    if field in CODED_LINE_FIELDS:
        try:
            return CODED_LINE_FIELDS[field](text)
        except codes.UnknownCode as exc:
            raise codes.UnknownCode(f"gdsSeqno {key}: {field}: {exc}") from None
    return text


def _line_amount(line: dict) -> str | None:
    """dclTotalAmt = dclUprcAmt × dclQty (None when there is no unit price)."""
    if line.get("dclUprcAmt") is None:
        return None
    return _money(Decimal(line["dclUprcAmt"]) * Decimal(str(line["dclQty"])))


def _decimal(value, what: str) -> Decimal:
    """A finite, non-negative Decimal from a number or numeric string."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{what} must be a number >= 0, got {value!r}")
    return number


def _weight(value: Decimal) -> str:
    """Weights (kg) are written with 5 decimals, as the special-area system stores them."""
    return str(value.quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP))


# -- release order (SAS121 核放单) ---------------------------------------------------------------

# bindTypecd: many trucks for many tickets is not allowed (docs/customs.md).
BIND_TYPES = {"1": "one truck, many tickets, 一车多票", "2": "one truck, one ticket, 一车一票",
              "3": "one ticket, many trucks, 一票多车"}
PASSPORT_TYPES = {"1": "enter first, declare later", "2": "first-line integrated",
                  "3": "second-line", "4": "non-declared", "5": "gate-registered goods",
                  "6": "empty truck", "7": "two-step"}
IO_TYPES = ("I", "E")
RLT_INVENTORY_LIST = "1"  # rltTbTypecd: 1 inventory list, 2 stock note, 3 bill of lading
RLT_SEPARATOR = "\\"
VEHICLE_FIELDS = ("vehicleNo", "vehicleIcNo", "vehicleWt", "vehicleFrameWt", "containerNo",
                  "containerWt")


def build_sas121(
    *,
    etps_preent_no: str,
    lists: list[dict],
    lines: list[dict],
    bind_typecd: str,
    passport_typecd: str,
    io_typecd: str = "I",
    settings: dict,
    vehicle: dict,
    declared_on: str | None = None,
) -> dict:
    """The SAS121 release order payload: head, goods lines and related documents (acmp).

    ``lists``: the approved inventory lists it relates, ``[{"bondInvtNo": ...}]``.
    ``lines``: the goods on this truck, rows shaped like manifest lines: ``{"bondInvtNo",
    "gds_seqno" (the line's gdsSeqno on that list), "sku", "hs_code", "name", "unit", "qty",
    "gross_wt", "net_wt"}``. ``vehicle``: ``{"vehicleNo", "vehicleIcNo", "vehicleWt",
    "vehicleFrameWt", "containerNo", "containerWt"}`` from the vehicle-order association
    (车单关联): the order is declared with its truck, whose plate, tare and frame weight SAS121
    requires [G]. ``settings``: the company settings (tally/company.py);
    ``declared_on``: dclTime, ``yyyyMMdd``. Raises ValueError on codes or references that
    cannot be right.
    """
    _check_code("bindTypecd", bind_typecd, BIND_TYPES)
    _check_code("passportTypecd", passport_typecd, PASSPORT_TYPES)
    _check_code("ioTypecd", io_typecd, IO_TYPES)
    if not etps_preent_no:
        raise ValueError("etpsPreentNo (our internal release order number) is required")
    numbers = _list_numbers(lists, bind_typecd)
    if not lines:
        raise ValueError("a release order needs at least one goods line")
    body = [_passport_line(seq, line, numbers) for seq, line in enumerate(lines, start=1)]
    idle = [number for number in numbers if all(line["rltNo"] != number for line in body)]
    if idle:
        raise ValueError(f"inventory list {', '.join(idle)} has no goods on this release order")
    gross = _sum_weights(line["grossWt"] for line in body)
    etps_no = settings["etps_no"]
    head = {
        "passportNo": None,  # assigned by customs (SAS221 receipt)
        "passportTypecd": passport_typecd,
        "masterCuscd": settings["customs_code"],
        "ioTypecd": io_typecd,
        "bindTypecd": bind_typecd,
        "rltTbTypecd": RLT_INVENTORY_LIST,
        # Several related lists are separated by a backslash in a real SAS221 receipt [G].
        "rltNo": RLT_SEPARATOR.join(numbers),
        "areainOriactNo": settings["putrec_no"],  # the zone account book the goods enter
        "areainEtpsno": etps_no,
        "areainEtpsNm": settings.get("receiving_name"),
        "areainEtpsSccd": settings.get("receiving_sccd"),
        **_vehicle_head(vehicle, gross),
        "totalGrossWt": _weight(gross),
        "totalNetWt": _weight(_sum_weights(line["netWt"] for line in body)),
        "dclErConc": settings.get("applicant"),
        "dclTime": declared_on,
        "dclEtpsno": etps_no,
        "dclEtpsNm": settings.get("declaring_name"),
        "dclEtpsSccd": settings.get("declaring_sccd"),
        "inputCode": settings.get("input_code"),
        "inputSccd": settings.get("input_sccd"),
        "inputName": settings.get("input_name"),
        "etpsPreentNo": etps_preent_no,
    }
    acmp = [{"rltTbTypecd": RLT_INVENTORY_LIST, "rltNo": number} for number in numbers]
    # lineLists: our bookkeeping (not written to the XML), the list of each goods line; customs
    # reads the line's list from rltGdsSeqno and the related documents.
    return {"envelope": _envelope(settings), "OperCusRegCode": settings.get("oper_cus_reg_code"),
            "DelcareFlag": DECLARE, "dclTypecd": NEW, "head": head,
            "lines": [{k: v for k, v in line.items() if k != "rltNo"} for line in body],
            "acmp": acmp, "lineLists": [line["rltNo"] for line in body]}


def _check_code(field: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{field} must be one of {', '.join(allowed)}, got {value!r}")


def _list_numbers(lists: list[dict], bind_typecd: str) -> list[str]:
    """The bondInvtNo of each related list, in order; one list for bind types 2 and 3."""
    numbers = [str(item.get("bondInvtNo") or "") for item in lists or []]
    if not numbers or not all(numbers):
        raise ValueError("a release order relates at least one inventory list, each with the "
                         "bondInvtNo customs assigned")
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"an inventory list appears twice: {', '.join(numbers)}")
    if bind_typecd in ("2", "3") and len(numbers) != 1:
        raise ValueError(f"bindTypecd {bind_typecd} ({BIND_TYPES[bind_typecd]}) relates exactly "
                         f"one inventory list, got {len(numbers)}")
    return numbers


def _passport_line(seq: int, line: dict, numbers: list[str]) -> dict:
    number = line.get("bondInvtNo")
    if number not in numbers:
        raise ValueError(f"line {seq}: bondInvtNo {number!r} is not one of the related lists")
    qty = line.get("qty")
    if type(qty) is not int or qty <= 0:
        raise ValueError(f"line {seq}: qty must be a whole number > 0, got {qty!r}")
    return {
        "passportSeqNo": seq,
        "rltGdsSeqno": line["gds_seqno"],  # the line's gdsSeqno on the inventory list
        "gdsMtno": line.get("sku"),
        "gdecd": line.get("hs_code"),
        "gdsNm": line.get("name"),
        "dclUnitcd": _customs_code(codes.unit, line.get("unit"), f"line {seq}", "unit"),
        "dclQty": qty,
        # Both > 0 on every goods line [G validate:"required,d_gt=0"].
        "grossWt": _positive_weight(line.get("gross_wt"), f"line {seq}: gross_wt"),
        "netWt": _positive_weight(line.get("net_wt"), f"line {seq}: net_wt"),
        "rltNo": number,
    }


def _positive_weight(value, what: str) -> str:
    weight = _decimal("" if value is None else value, what)
    if weight <= 0:
        raise ValueError(f"{what} must be > 0 kg, got {value!r}")
    return _weight(weight)


def _sum_weights(weights) -> Decimal:
    """Sum of the known weights (a line without a weight adds nothing)."""
    return sum((Decimal(w) for w in weights if w is not None), Decimal(0))


def _vehicle_head(vehicle: dict, total_gross: Decimal) -> dict:
    """Vehicle fields and totalWt = vehicleWt + vehicleFrameWt + containerWt + totalGrossWt."""
    if not isinstance(vehicle, dict):
        raise ValueError("a release order is declared with its truck: vehicle is required")
    unknown = sorted(set(vehicle) - set(VEHICLE_FIELDS))
    if unknown:
        raise ValueError(f"unknown vehicle field {', '.join(unknown)} (known: "
                         f"{', '.join(VEHICLE_FIELDS)})")
    if not vehicle.get("vehicleNo"):
        raise ValueError("the vehicle needs its plate (vehicleNo)")
    weights = {}
    for field in ("vehicleWt", "vehicleFrameWt"):  # tare and frame: both > 0 (docs/customs.md)
        weights[field] = _decimal(vehicle.get(field, ""), field)
        if weights[field] <= 0:
            raise ValueError(f"{field} must be > 0 kg, got {vehicle.get(field)!r}")
    container = vehicle.get("containerWt")
    weights["containerWt"] = None if container in (None, "") else _decimal(container, "containerWt")
    total = sum((w for w in weights.values() if w is not None), total_gross)
    return {
        "vehicleNo": vehicle.get("vehicleNo") or None,
        "vehicleIcNo": vehicle.get("vehicleIcNo") or None,
        "vehicleWt": _weight(weights["vehicleWt"]),
        "vehicleFrameWt": _weight(weights["vehicleFrameWt"]),
        "containerNo": vehicle.get("containerNo") or None,
        "containerWt": None if weights["containerWt"] is None else _weight(weights["containerWt"]),
        "totalWt": _weight(total),
    }
