"""The bonded account book (电子账册): each item no. (料号, our SKU) with its record number
(备案序号, ``PutrecSeqno``), HS code, recorded name, declared unit and legal unit(s).

The inventory list takes a line's PutrecSeqno, HS code, name and units from here, and its legal
quantity as the declared quantity times the legal quantity of one declared unit (a 900 g tin
declared in 罐 is 0.9 kg in the legal unit 035). A manifest line whose SKU is not in the book
keeps the tally from being confirmed (tally/workflow.py), so customs never finds it first.

The book is imported whole from CSV or .xlsx (header in English or Chinese), replacing the one
before; every bad row is reported and nothing is stored unless all rows are right.
"""

import csv
import io
import re

from sqlite_utils import Database

from tally import manifests, workbooks
from tally.catalogue import say
from tally.customs import codes
from tally.db import now, write
from tally.errors import ValidationError
from tally.events import record_event
from tally.fields import MAX_INTEGER, Fields

COLUMNS = {
    "sku": ("sku", "item no", "gdsmtno", "料号", "商品料号", "货号"),
    "putrec_seqno": ("putrec_seqno", "putrec seqno", "record no", "备案序号", "账册序号",
                     "项号"),
    "hs_code": ("hs_code", "hs code", "gdecd", "商品编码", "hs编码"),
    "name": ("name", "goods name", "gdsnm", "商品名称", "品名"),
    "dcl_unit": ("dcl_unit", "declared unit", "dclunitcd", "申报计量单位", "申报单位"),
    "lawf_unit": ("lawf_unit", "legal unit", "lawfunitcd", "法定计量单位", "法定单位"),
    "lawf_qty_per_unit": ("lawf_qty_per_unit", "legal qty per unit", "每单位法定数量",
                          "法定数量"),
    "secd_lawf_unit": ("secd_lawf_unit", "second legal unit", "secdlawfunitcd",
                       "第二法定计量单位", "第二法定单位"),
    "secd_lawf_qty_per_unit": ("secd_lawf_qty_per_unit", "second legal qty per unit",
                               "每单位第二法定数量", "第二法定数量"),
}
REQUIRED = ("sku", "putrec_seqno", "hs_code", "name", "dcl_unit", "lawf_unit",
            "lawf_qty_per_unit")
_NAMES = {manifests._header_key(name): field for field, names in COLUMNS.items()
          for name in names}
# Excel drops leading zeros of codes typed as numbers: the manifest's widths put them back.
ZERO_WIDTHS = {"hs_code": "hs_code", "dcl_unit": "unit", "lawf_unit": "unit",
               "secd_lawf_unit": "unit"}
HS_CODE = re.compile(r"[0-9]{10}")  # gdecd: 10 digits on the inventory list ([G] numeric)
MAX_ITEMS = 100_000


def column_field(header: str) -> str | None:
    """The book column a header cell names, or None."""
    return _NAMES.get(manifests._header_key(header)) if header.strip() else None


def parse_csv(data: bytes) -> list[dict]:
    """The book's rows from CSV bytes (UTF-8 or GB18030), header first."""
    if not data or not data.strip():
        raise ValidationError(say("book_empty"))
    text = manifests._decode_text(data)
    try:
        return _read(enumerate(csv.reader(io.StringIO(text, newline="")), start=1))
    except csv.Error as exc:
        raise ValidationError(say("manifest_unreadable_csv", detail=str(exc))) from None


def parse_xlsx(data: bytes, sheet: str | None = None) -> list[dict]:
    """The book's rows from an .xlsx workbook's first (or named) sheet, header first."""
    return _read(workbooks.xlsx_rows(data, column_field, sheet, ZERO_WIDTHS))


def _read(rows) -> list[dict]:
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        raise ValidationError(say("book_empty"))
    header = [column_field(cell) for cell in first[1]]
    errors = [{"column": cell.strip() or "(blank)", "message": say("column_unknown")}
              for cell, field in zip(first[1], header, strict=True) if field is None]
    errors += [{"column": c, "message": say("column_missing")} for c in REQUIRED
               if c not in header]
    errors += [{"column": f, "message": say("column_repeated", names=f)}
               for f in sorted({f for f in header if f and header.count(f) > 1})]
    if errors:
        raise ValidationError(say("book_header_wrong"), errors)
    items = []
    for row_no, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        if len(items) >= MAX_ITEMS:
            raise ValidationError(say("book_too_many", limit=MAX_ITEMS))
        if len(cells) != len(header):
            errors.append({"row": row_no, "message": say("row_width", got=len(cells),
                                                         want=len(header))})
            continue
        items.append({"row": row_no, **{h: c.strip() for h, c in zip(header, cells,
                                                                      strict=True)}})
    if errors:
        raise ValidationError(say("book_errors", count=len(errors)), errors)
    if not items:
        raise ValidationError(say("book_empty"))
    return items


def validate(items: object) -> list[dict]:
    """The book's items checked and normalised; ValidationError listing every bad row."""
    if not isinstance(items, list) or not items:
        raise ValidationError(say("book_empty"))
    errors: list[dict] = []
    out, skus, seqnos = [], {}, {}
    for index, raw in enumerate(items, start=1):
        if not isinstance(raw, dict):
            errors.append({"row": index, "message": say("line_not_object")})
            continue
        row = raw.get("row", index)
        fields = Fields({"row": row}, errors)
        unknown = set(raw) - set(COLUMNS) - {"row"}
        for key in sorted(unknown):
            fields.problem(key, say("field_unknown"))
        item = {
            "sku": fields.text(raw.get("sku"), "sku", max_length=64),
            "putrec_seqno": fields.integer(raw.get("putrec_seqno"), "putrec_seqno", minimum=1,
                                           maximum=MAX_INTEGER, written=True),
            "hs_code": fields.text(raw.get("hs_code"), "hs_code", max_length=10,
                                   pattern=HS_CODE, hint=say("book_hs_code_form")),
            "name": fields.text(raw.get("name"), "name", max_length=200),
        }
        for unit, qty, required in (("dcl_unit", None, True),
                                    ("lawf_unit", "lawf_qty_per_unit", True),
                                    ("secd_lawf_unit", "secd_lawf_qty_per_unit", False)):
            item[unit] = _unit(fields, raw.get(unit), unit, required)
            if qty is None:
                continue
            number = fields.decimal(raw.get(qty), qty, places=5, positive=True,
                                    required=required or bool(raw.get(unit)))
            item[qty] = None if number is None else str(number)
            if item[unit] is None and item[qty] is not None and not required:
                fields.problem(unit, say("book_second_unit_missing"))
        for key, seen, field in ((item["sku"], skus, "sku"),
                                 (item["putrec_seqno"], seqnos, "putrec_seqno")):
            if key is None:
                continue
            if key in seen:
                fields.problem(field, say("book_repeated", value=key, row=seen[key]))
            seen.setdefault(key, row)
        out.append(item)
    if errors:
        raise ValidationError(say("book_errors", count=len(errors)), errors)
    return out


def _unit(fields: Fields, value, field: str, required: bool) -> str | None:
    """A 3-digit customs unit code (a unit's code, Chinese name or metric symbol is read)."""
    if value is None or str(value).strip() == "":
        if required:
            fields.problem(field, say("text_required", max_length=16))
        return None
    try:
        return codes.unit(str(value).strip())
    except codes.UnknownCode as exc:
        fields.problem(field, exc.message)
        return None


def import_book(db: Database, items: object, *, user_id: int | None) -> dict:
    """Replace the account book with ``items`` (rows of parse_csv / parse_xlsx, or JSON
    objects with the same keys) after checking them all; one audit event."""
    checked = validate(items)
    with write(db):
        before = db.execute("SELECT count(*) FROM account_book").fetchone()[0]
        db.execute("DELETE FROM account_book")
        stamp = now()
        db.conn.executemany(
            "INSERT INTO account_book (sku, putrec_seqno, hs_code, name, dcl_unit, lawf_unit,"
            " lawf_qty_per_unit, secd_lawf_unit, secd_lawf_qty_per_unit, imported_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[i["sku"], i["putrec_seqno"], i["hs_code"], i["name"], i["dcl_unit"],
              i["lawf_unit"], i["lawf_qty_per_unit"], i["secd_lawf_unit"],
              i["secd_lawf_qty_per_unit"], stamp] for i in checked])
        record_event(db, "account-book-imported", user_id=user_id, items=len(checked),
                     replaced=before)
    return {"items": len(checked), "replaced": before, "imported_at": stamp}


def list_items(db: Database) -> list[dict]:
    """Every item of the book, by record number."""
    return list(db.query(
        "SELECT sku, putrec_seqno, hs_code, name, dcl_unit, lawf_unit, lawf_qty_per_unit,"
        " secd_lawf_unit, secd_lawf_qty_per_unit, imported_at FROM account_book"
        " ORDER BY putrec_seqno"))


def items_for(db: Database, skus) -> dict[str, dict]:
    """The book's items of these SKUs, by SKU (an SKU not in the book is left out)."""
    wanted = sorted(set(skus))
    found = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        for row in db.query(
                "SELECT * FROM account_book WHERE sku IN (" + ", ".join("?" * len(chunk)) + ")",
                chunk):
            found[row["sku"]] = row
    return found

