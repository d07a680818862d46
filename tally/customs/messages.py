"""Customs messages as pure builders, with the real field names of the special-area system.

INV101 is the inventory list (核注清单) of the first-line transfer (一线转入), built from the
counted quantities of a confirmed tally. Field names follow DOMAIN.md (public customs code).
"""

from decimal import ROUND_HALF_UP, Decimal

# dclTypecd: 1 new, 2 change, 3 delete. DelcareFlag (sic, as the real envelope spells it):
# 0 draft (暂存), 1 declare (申报).
DECLARE = "1"
NEW = "1"
# modfMarkcd per line: 0 unchanged, 1 changed, 2 deleted, 3 added. We mark a line whose counted
# quantity differs from the manifest as changed, and one with nothing counted as deleted.
UNCHANGED, CHANGED, DELETED = "0", "1", "2"
# Discrepancy kinds as the tally record names them (短少 / 溢余 / 破损 / 错货).
KIND_NAMES = {"short": "短少", "over": "溢余", "damaged": "破损", "wrong_item": "错货"}


def build_inv101(manifest: dict, lines: list[dict], report: dict, *, settings: dict) -> dict:
    """The INV101 payload: envelope, head and one line per manifest line with counted quantities.

    ``manifest``: head row; ``lines``: full manifest lines; ``report``: the confirmed
    reconciliation; ``settings``: site values (putrecNo, customs codes, list type).
    """
    counted = {line["line_no"]: line["counted"] for line in report["lines"]}
    body_lines = [_inv101_line(seq, line, counted.get(line["line_no"], 0))
                  for seq, line in enumerate(lines, start=1)]
    head = {
        "etpsInnerInvtNo": f"TL{manifest['id']:06d}-{manifest['manifest_no']}"[:64],
        "putrecNo": settings["putrec_no"],
        "bizopEtpsno": settings["etps_no"],
        "rcvgdEtpsno": settings["etps_no"],
        "dclEtpsno": settings["etps_no"],
        "impexpPortcd": settings["customs_code"],
        "dclPlcCuscd": settings["customs_code"],
        "impexpMarkcd": "I",
        "mtpckEndprdMarkcd": "I",
        "supvModecd": "1210",      # bonded cross-border e-commerce
        "trspModecd": "4",         # road
        "invtType": settings["invt_type"],
        "dclcusFlag": "2",         # no customs declaration form follows
        "listStat": "0",
        "billNo": manifest.get("bill_no"),
        "manifestNo": manifest["manifest_no"],
        "totalDclQty": sum(line["dclQty"] for line in body_lines),
        "totalDclTotalAmt": _money(sum((Decimal(line["dclTotalAmt"]) for line in body_lines
                                        if line["dclTotalAmt"] is not None), Decimal(0))),
    }
    discrepancies = [
        {"gdsSeqno": _seq_of(lines, d["line_no"]), "lineNo": d["line_no"], "kind": d["kind"],
         "kindName": KIND_NAMES[d["kind"]], "qty": d["qty"], "note": d["note"],
         "disposition": d["disposition"]}
        for line in report["lines"] for d in line["discrepancies"]
    ] + [{"gdsSeqno": None, "lineNo": None, "kind": d["kind"], "kindName": KIND_NAMES[d["kind"]],
          "qty": d["qty"], "note": d["note"], "disposition": d["disposition"]}
         for d in report.get("unassigned_discrepancies", [])]
    return {"DelcareFlag": DECLARE, "dclTypecd": NEW, "head": head, "lines": body_lines,
            "tallyDiscrepancies": discrepancies}


def _seq_of(lines: list[dict], line_no) -> int | None:
    return next((seq for seq, line in enumerate(lines, start=1) if line["line_no"] == line_no),
                None)


def _inv101_line(seq: int, line: dict, counted: int) -> dict:
    declared = line["declared_qty"]
    unit_value = Decimal(line["unit_value"]) if line.get("unit_value") else None
    mark = UNCHANGED if counted == declared else (DELETED if counted == 0 else CHANGED)
    return {
        "gdsSeqno": seq,
        "putrecSeqno": line["line_no"],
        "gdsMtno": line["sku"],
        "gdecd": line.get("hs_code"),
        "gdsNm": line["name"],
        "dclQty": counted,
        "dclUnitcd": line.get("unit"),
        "lawfQty": counted,
        "lawfUnitcd": line.get("unit"),
        "dclUprcAmt": _money(unit_value) if unit_value is not None else None,
        "dclTotalAmt": _money(unit_value * counted) if unit_value is not None else None,
        "dclCurrcd": line.get("currency"),
        "natcd": line.get("origin_country"),
        # Manifest weights are for the declared quantity; declare the counted share of them.
        "grossWt": _prorate(line.get("gross_weight_kg"), counted, declared),
        "netWt": _prorate(line.get("net_weight_kg"), counted, declared),
        "manifestQty": declared,
        "modfMarkcd": mark,
    }


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _prorate(weight: str | None, counted: int, declared: int) -> str | None:
    if not weight:
        return None
    share = Decimal(weight) * counted / declared if declared else Decimal(0)
    return str(share.quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP))
