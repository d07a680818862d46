"""Manifests (舱单): parse and validate a CSV or JSON manifest (.xlsx: tally/workbooks.py),
import it, read it back.

Validation reports every bad row and column at once, and nothing is stored unless all is well.
"""

import csv
import io
import re
import unicodedata
from collections.abc import Iterable

from sqlite_utils import Database

from tally import workflow
from tally.catalogue import say
from tally.customs import codes
from tally.db import now, write
from tally.errors import ConflictError, NotFoundError, ValidationError
from tally.events import record_event
from tally.fields import Fields

REQUIRED = ("manifest_no", "line_no", "sku", "name", "declared_qty")
OPTIONAL = (
    "bill_no",
    "gtin",
    "hs_code",
    "origin_country",
    "unit",
    "unit_value",
    "currency",
    "gross_weight_kg",
    "net_weight_kg",
)
LINE_FIELDS = ("line_no", "sku", "name", "declared_qty") + OPTIONAL
# Amounts and weights: plain numbers of at most 5 decimal places (fields.Fields.decimal).
AMOUNTS = ("unit_value", "gross_weight_kg", "net_weight_kg")
MAX_LINES = 100_000
# Rows read at most, blank ones included (an export's trailing blank rows), before refusing.
MAX_ROWS = MAX_LINES + 10_000
MAX_QTY = 10_000_000

TEXT_LIMITS = {"manifest_no": 64, "sku": 64, "name": 200, "bill_no": 64, "unit": 16}
# Manifest and bill numbers go into file names, headers and customs messages: a plain alphabet.
_NUMBER = (re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*"),
           say("manifest_no_form"))
# The text fields written in a fixed form (fields.Fields.text matches the whole text, ASCII only).
PATTERNS = {
    "manifest_no": _NUMBER,
    "bill_no": _NUMBER,
    "gtin": (re.compile(r"[0-9]{8}|[0-9]{12,14}"), say("gtin_form")),
    # gdecd: the HS code is 10 digits in China; manifests often carry 6 or 8.
    "hs_code": (re.compile(r"[0-9]{6}([0-9]{2}){0,2}"), say("hs_code_form")),
    # ISO 3166 alpha-2/alpha-3, or the 3-digit customs country code (natcd).
    "origin_country": (re.compile(r"[A-Z]{2,3}|[0-9]{3}"), say("country_form")),
    # ISO 4217, or the 3-digit customs currency code (dclCurrcd, e.g. 142 CNY).
    "currency": (re.compile(r"[A-Z]{3}|[0-9]{3}"), say("currency_form")),
}
# Codes written in capitals, whatever case the manifest has them in (au is AU).
CAPITALS = ("hs_code", "origin_country", "currency")


# The header names forwarders and brokers use, English and Chinese, per column; matched after
# _header_key (NFKC, case, spaces and punctuation, a parenthesised unit such as 毛重(KG) ignored).
# A bilingual header such as "数量 Qty" matches when its Chinese and English halves agree.
HEADER_NAMES = {
    "manifest_no": ("manifest_no", "manifest no", "manifest number", "manifest", "舱单号",
                    "舱单编号", "舱单"),
    "line_no": ("line_no", "line no", "line", "item no", "seq no", "项号", "序号", "行号",
                "商品序号", "行"),
    "bill_no": ("bill_no", "bill no", "b/l no", "bl no", "bill of lading", "waybill no",
                "awb no", "提运单号", "提运单编号", "提单号", "运单号"),
    "sku": ("sku", "sku no", "item code", "货号", "商品货号", "企业商品货号", "料号"),
    "name": ("name", "product name", "goods name", "description", "商品名称", "品名",
             "货物名称", "货名", "商品描述"),
    "gtin": ("gtin", "ean", "upc", "barcode", "条码", "条形码", "商品条码", "国际条码"),
    "hs_code": ("hs_code", "hs code", "hs", "hs编码", "商品编码", "商品编号", "税号",
                "海关编码", "税则号列"),
    "origin_country": ("origin_country", "origin country", "country of origin", "origin",
                       "coo", "原产国", "原产国地区", "原产地", "产国"),
    "declared_qty": ("declared_qty", "declared qty", "qty", "quantity", "数量", "申报数量",
                     "成交数量"),
    "unit": ("unit", "uom", "unit of measure", "计量单位", "单位", "申报单位", "成交单位"),
    "unit_value": ("unit_value", "unit value", "unit price", "price", "单价", "申报单价",
                   "成交单价"),
    "currency": ("currency", "curr", "币制", "币种", "币别"),
    "gross_weight_kg": ("gross_weight_kg", "gross weight", "gross weight kg", "gw", "g.w.",
                        "毛重", "毛重kg"),
    "net_weight_kg": ("net_weight_kg", "net weight", "net weight kg", "nw", "n.w.", "净重",
                      "净重kg"),
}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


def _header_key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"\([^)]*\)", "", text)  # a unit or note: 毛重(KG), 原产国(地区)
    return re.sub(r"[\s_\-./:#*]+", "", text)


_HEADER_FIELDS = {_header_key(name): field for field, names in HEADER_NAMES.items()
                  for name in names}


def column_field(header: str) -> str | None:
    """The column a header cell names (``"提运单号"`` -> ``"bill_no"``), or None if unknown."""
    key = _header_key(header)
    if not key:
        return None
    if key in _HEADER_FIELDS:
        return _HEADER_FIELDS[key]
    text = re.sub(r"\([^)]*\)", "", unicodedata.normalize("NFKC", header))
    halves = ("".join(_CJK.findall(text)), _CJK.sub(" ", text))
    found = {_HEADER_FIELDS.get(_header_key(half)) for half in halves if _header_key(half)}
    return found.pop() if len(found) == 1 else None


def parse_csv(data: bytes) -> dict:
    """Turn CSV bytes into ``{"manifest_no", "bill_no", "lines": [...]}`` of raw strings.

    Accepts UTF-8 (with or without the BOM Excel writes) and GB18030 (Chinese Excel exports).
    Header names (English or Chinese, see HEADER_NAMES) are matched case-insensitively; unknown
    columns are an error, not ignored, so a misspelt ``declard_qty`` is caught rather than
    silently dropped.
    """
    if not data or not data.strip():
        raise ValidationError(say("manifest_empty"),
                              [{"message": say("no_header_no_lines")}])
    text = _decode_text(data)
    try:
        return read_table(enumerate(csv.reader(io.StringIO(text, newline="")), start=1), "CSV")
    except csv.Error as exc:
        raise ValidationError(say("manifest_unreadable_csv", detail=str(exc))) from None


def check_header(cells: list[str]) -> tuple[list[str | None], list[dict]]:
    """The column of each header cell, and every problem of the header."""
    fields = [column_field(cell) for cell in cells]
    errors = [
        {"column": cell.strip() or "(blank)", "message": say("column_unknown")}
        for cell, field in zip(cells, fields, strict=True)
        if field is None
    ]
    errors += [
        {"column": c, "message": say("column_missing")} for c in REQUIRED if c not in fields
    ]
    for field in sorted({f for f in fields if f is not None and fields.count(f) > 1}):
        names = ", ".join(repr(cell.strip()) for cell, f in zip(cells, fields, strict=True)
                          if f == field)
        errors.append({"column": field, "message": say("column_repeated", names=names)})
    return fields, errors


def read_table(rows: Iterable[tuple[int, list[str]]], kind: str) -> dict:
    """A manifest from ``(row number, cells)`` of text, the header first: the header handling
    and row checks both CSV and workbooks go through, so both give the same errors. Rows are
    read one by one and refused past MAX_ROWS, blank or not, before more work is done."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        raise ValidationError(say("manifest_empty"),
                              [{"message": say("no_header_no_lines")}])
    header, errors = check_header(first[1])
    if errors:
        raise ValidationError(say("manifest_header_wrong", kind=kind), errors)
    lines = []
    for count, (row_no, row) in enumerate(rows, start=1):
        if count > MAX_ROWS:
            raise ValidationError(
                say("manifest_too_many_rows", kind=kind, rows=MAX_ROWS, lines=MAX_LINES),
                [{"row": row_no, "message": say("too_many_rows")}])
        if not any(cell.strip() for cell in row):
            continue  # blank lines (often at the end of Excel exports)
        if len(row) != len(header):
            errors.append(
                {"row": row_no, "message": say("row_width", got=len(row), want=len(header))}
            )
            continue
        cells = {h: cell.strip() for h, cell in zip(header, row, strict=True)}
        lines.append({"row": row_no, **cells})
    if errors:
        raise ValidationError(say("manifest_malformed_rows", kind=kind), errors)
    if not lines:
        raise ValidationError(say("manifest_no_lines"), [{"message": say("header_only")}])
    manifest_nos = {line["manifest_no"] for line in lines}
    if len(manifest_nos) > 1:
        raise ValidationError(
            say("manifest_no_differs"),
            [
                {
                    "row": line["row"],
                    "column": "manifest_no",
                    "message": say("differs_from", value=line["manifest_no"],
                                   first=lines[0]["manifest_no"]),
                }
                for line in lines
                if line["manifest_no"] != lines[0]["manifest_no"]
            ],
        )
    bills = {line.get("bill_no") for line in lines} - {None, ""}
    return {
        "manifest_no": lines[0]["manifest_no"],
        "bill_no": bills.pop() if len(bills) == 1 else None,
        "lines": lines,
    }


def _decode_text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise ValidationError(say("manifest_not_text"))


def validate(manifest: object) -> dict:
    """Check a parsed or JSON manifest; return it normalised, or raise with every problem."""
    if not isinstance(manifest, dict):
        raise ValidationError(say("manifest_not_object"))
    errors = []
    head = {
        "manifest_no": _text(
            manifest.get("manifest_no"), "manifest_no", None, errors, required=True
        ),
        "bill_no": _text(manifest.get("bill_no"), "bill_no", None, errors),
    }
    raw_lines = manifest.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        errors.append({"field": "lines", "message": say("lines_required")})
        raise ValidationError(say("manifest_invalid"), errors)
    if len(raw_lines) > MAX_LINES:
        raise ValidationError(say("manifest_too_many_lines", limit=MAX_LINES))
    lines, seen = [], {}
    for index, raw in enumerate(raw_lines, start=1):
        if not isinstance(raw, dict):
            errors.append({"row": index, "message": say("line_not_object")})
            continue
        row = raw.get("row", index)
        unknown = set(raw) - set(LINE_FIELDS) - {"row", "manifest_no"}
        errors += [{"row": row, "field": k, "message": say("field_unknown")}
                   for k in sorted(unknown)]
        line = _validate_line(raw, row, errors)
        if line.get("line_no") is not None:
            if line["line_no"] in seen:
                errors.append(
                    {
                        "row": row,
                        "field": "line_no",
                        "message": say("line_repeated", line_no=line["line_no"],
                                       row=seen[line["line_no"]]),
                    }
                )
            seen.setdefault(line["line_no"], row)
        lines.append(line)
    if errors:
        raise ValidationError(
            say("manifest_errors", count=len(errors)), errors
        )
    return {**head, "lines": lines}


def require_sound_amounts(lines: list[dict]) -> None:
    """ConflictError naming each stored amount today's readers refuse (kept by an earlier
    version, e.g. ``1E+30``): no customs message can be built from it."""
    errors: list[dict] = []
    for line in lines:
        fields = Fields({"line_no": line["line_no"]}, errors)
        for field in AMOUNTS:
            fields.decimal(line.get(field), field, required=False)
    if errors:
        raise ConflictError(
            say("amounts_unsound", count=len(errors)), errors)


def _validate_line(raw: dict, row: int, errors: list) -> dict:
    fields = Fields({"row": row}, errors)
    line = {
        field: fields.integer(raw.get(field), field, minimum=1, maximum=MAX_QTY, written=True)
        for field in ("line_no", "declared_qty")
    }
    for field in ("sku", "name", "bill_no", "unit", "gtin", *CAPITALS):
        value = raw.get(field)
        if field in CAPITALS and isinstance(value, str):
            value = value.upper()
        line[field] = _text(value, field, row, errors, required=field in ("sku", "name"))
    if line["gtin"] is not None and not _gs1_check_ok(line["gtin"]):
        errors.append({"row": row, "field": "gtin",
                       "message": say("gtin_check_digit", gtin=line["gtin"])})
    for field, lookup in (("origin_country", codes.country), ("currency", codes.currency)):
        if line[field] is not None:  # found now, not when customs is sent the inventory list
            try:
                lookup(line[field])
            except codes.UnknownCode as exc:
                errors.append({"row": row, "field": field, "message": exc.message})
    for field in AMOUNTS:
        number = fields.decimal(raw.get(field), field, required=False)
        line[field] = None if number is None else str(number)
    return line


def _text(value, field, row, errors, *, required=False):
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a number typed where text is expected (a JSON sku of 1234)
    where = {} if row is None else {"row": row}
    pattern, hint = PATTERNS.get(field, (None, ""))
    return Fields(where, errors).text(value, field, required=required,
                                      max_length=TEXT_LIMITS.get(field, 64), pattern=pattern,
                                      hint=hint)


def _gs1_check_ok(digits: str) -> bool:
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def import_manifest(db: Database, manifest: dict, *, user_id: int | None) -> dict:
    """Validate and store a manifest in one transaction; return it as ``get_manifest`` does."""
    manifest = validate(manifest)
    with write(db):
        if list(
            db.query("SELECT 1 FROM manifests WHERE manifest_no = ?", [manifest["manifest_no"]])
        ):
            raise ConflictError(
                say("manifest_exists", manifest_no=manifest["manifest_no"]),
                [{"field": "manifest_no", "message": say("already_imported")}],
            )
        manifest_id = db.execute(
            "INSERT INTO manifests (manifest_no, bill_no, status, created_at, created_by)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            [manifest["manifest_no"], manifest["bill_no"], workflow.INITIAL, now(), user_id],
        ).fetchone()[0]
        db.conn.executemany(
            f"INSERT INTO manifest_lines (manifest_id, {', '.join(LINE_FIELDS)})"
            f" VALUES (?, {', '.join('?' * len(LINE_FIELDS))})",
            [[manifest_id] + [line[f] for f in LINE_FIELDS] for line in manifest["lines"]],
        )
        record_event(
            db,
            "manifest-imported",
            user_id=user_id,
            manifest_id=manifest_id,
            manifest_no=manifest["manifest_no"],
            lines=len(manifest["lines"]),
        )
    return get_manifest(db, manifest_id)


def get_manifest(db: Database, manifest_id: int) -> dict:
    """The manifest head with its lines; NotFoundError if there is none."""
    head = load_head(db, manifest_id)
    head["lines"] = list_lines(db, manifest_id)
    return head


def load_head(db: Database, manifest_id: int) -> dict:
    """The manifest head row; NotFoundError if there is none."""
    row = next(
        iter(
            db.query(
                "SELECT id, manifest_no, bill_no, status, created_at FROM manifests WHERE id = ?",
                [manifest_id],
            )
        ),
        None,
    )
    if row is None:
        raise NotFoundError(say("manifest_not_found", manifest_id=manifest_id))
    return row


def list_lines(db: Database, manifest_id: int, *, offset: int = 0,
               limit: int = -1) -> list[dict]:
    """The manifest's lines in line order: ``limit`` of them (-1: all) from ``offset``."""
    return list(
        db.query(
            f"SELECT id, {', '.join(LINE_FIELDS)} FROM manifest_lines WHERE manifest_id = ?"
            " ORDER BY line_no LIMIT ? OFFSET ?",
            # All: the largest limit both engines take (SQLite's -1 PostgreSQL refuses).
            [manifest_id, limit if limit >= 0 else 2**63 - 1, offset],
        )
    )


def line_numbers(db: Database, manifest_id: int) -> list[int]:
    """The manifest's line numbers in order."""
    return [r[0] for r in db.execute(
        "SELECT line_no FROM manifest_lines WHERE manifest_id = ? ORDER BY line_no",
        [manifest_id])]


def line_totals(db: Database, manifest_id: int) -> dict:
    """How many lines the manifest has and the units they declare."""
    lines, declared = db.execute(
        "SELECT count(*), coalesce(sum(declared_qty), 0) FROM manifest_lines"
        " WHERE manifest_id = ?", [manifest_id]).fetchone()
    return {"lines": lines, "declared": declared}


def find_line(db: Database, manifest_id: int, line_no) -> dict:
    """One line by its number; ValidationError if the manifest has no such line."""
    row = next(
        iter(
            db.query(
                f"SELECT id, {', '.join(LINE_FIELDS)} FROM manifest_lines"
                " WHERE manifest_id = ? AND line_no = ?",
                [manifest_id, line_no],
            )
        ),
        None,
    )
    if row is None:
        raise ValidationError(
            say("line_not_found", line_no=line_no),
            [{"field": "line_no", "message": say("no_line", line_no=line_no)}],
        )
    return row


def list_manifests(db: Database) -> list[dict]:
    """Every manifest, newest first, with line and quantity totals."""
    return list(
        db.query(
            """SELECT m.id, m.manifest_no, m.bill_no, m.status, m.created_at,
                  count(l.id) AS line_count, coalesce(sum(l.declared_qty), 0) AS declared_total
           FROM manifests m LEFT JOIN manifest_lines l ON l.manifest_id = m.id
           GROUP BY m.id ORDER BY m.id DESC"""
        )
    )
