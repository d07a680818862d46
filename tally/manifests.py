"""Manifests (舱单): parse and validate a CSV, .xlsx or JSON manifest, import it, read it back.

Validation reports every bad row and column at once, and nothing is stored unless all is well.
"""

import csv
import datetime
import io
import math
import posixpath
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable
from decimal import Decimal
from xml.etree import ElementTree
from xml.parsers import expat

import python_calamine
from sqlite_utils import Database

from tally import workflow
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
MAX_LINES = 100_000
# Rows read at most, blank ones included (an export's trailing blank rows), before refusing.
MAX_ROWS = MAX_LINES + 10_000
MAX_QTY = 10_000_000

# Manifest and bill numbers go into file names, headers and customs messages: a plain alphabet.
_NUMBER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_TEXT_LIMITS = {"manifest_no": 64, "sku": 64, "name": 200, "bill_no": 64, "unit": 16}
_PATTERNS = {
    # gdecd: the HS code is 10 digits in China; manifests often carry 6 or 8.
    "hs_code": (re.compile(r"^[0-9]{6}([0-9]{2}){0,2}$"), "6, 8 or 10 digits"),
    # ISO 3166 alpha-2/alpha-3, or the 3-digit customs country code (natcd).
    "origin_country": (re.compile(r"^([A-Z]{2,3}|[0-9]{3})$"),
                       "an ISO country code or 3-digit code"),
    # ISO 4217, or the 3-digit customs currency code (dclCurrcd, e.g. 142 CNY).
    "currency": (re.compile(r"^([A-Z]{3}|[0-9]{3})$"), "a 3-letter or 3-digit currency code"),
}


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
        raise ValidationError("the manifest is empty", [{"message": "no header row and no lines"}])
    text = _decode_text(data)
    try:
        return _table(enumerate(csv.reader(io.StringIO(text, newline="")), start=1), "CSV")
    except csv.Error as exc:
        raise ValidationError(f"the CSV cannot be read: {exc}") from None


def _header(cells: list[str]) -> tuple[list[str | None], list[dict]]:
    """The column of each header cell, and every problem of the header."""
    fields = [column_field(cell) for cell in cells]
    errors = [
        {"column": cell.strip() or "(blank)", "message": "unknown column"}
        for cell, field in zip(cells, fields, strict=True)
        if field is None
    ]
    errors += [
        {"column": c, "message": "required column is missing"} for c in REQUIRED if c not in fields
    ]
    for field in sorted({f for f in fields if f is not None and fields.count(f) > 1}):
        names = ", ".join(repr(cell.strip()) for cell, f in zip(cells, fields, strict=True)
                          if f == field)
        errors.append({"column": field, "message": f"column appears more than once: {names}"})
    return fields, errors


def _table(rows: Iterable[tuple[int, list[str]]], kind: str) -> dict:
    """A manifest from ``(row number, cells)`` of text, the header first: the header handling
    and row checks both CSV and workbooks go through, so both give the same errors. Rows are
    read one by one and refused past MAX_ROWS, blank or not, before more work is done."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        raise ValidationError("the manifest is empty", [{"message": "no header row and no lines"}])
    header, errors = _header(first[1])
    if errors:
        raise ValidationError(f"the {kind} header is wrong", errors)
    lines = []
    for count, (row_no, row) in enumerate(rows, start=1):
        if count > MAX_ROWS:
            raise ValidationError(
                f"the {kind} has more than {MAX_ROWS} rows; a manifest has at most {MAX_LINES}"
                " lines", [{"row": row_no, "message": "too many rows"}])
        if not any(cell.strip() for cell in row):
            continue  # blank lines (often at the end of Excel exports)
        if len(row) != len(header):
            errors.append(
                {"row": row_no, "message": f"has {len(row)} fields, the header has {len(header)}"}
            )
            continue
        cells = {h: cell.strip() for h, cell in zip(header, row, strict=True)}
        lines.append({"row": row_no, **cells})
    if errors:
        raise ValidationError(f"the {kind} has malformed rows", errors)
    if not lines:
        raise ValidationError("the manifest has no lines", [{"message": "header only"}])
    manifest_nos = {line["manifest_no"] for line in lines}
    if len(manifest_nos) > 1:
        raise ValidationError(
            "all rows must share one manifest_no",
            [
                {
                    "row": line["row"],
                    "column": "manifest_no",
                    "message": f"{line['manifest_no']!r} differs from {lines[0]['manifest_no']!r}",
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
    raise ValidationError("the manifest is not text (expected UTF-8 or GB18030 CSV)")


# Workbooks (.xlsx). Read with python-calamine, which returns each formula cell's saved value
# and never evaluates it, after checks in Python that keep a hostile file from reaching it: the
# zip is unpacked once with bounds (a zip bomb, a lying size or CRC is refused), and the sheet's
# cells are counted first, since calamine allocates its whole range (A1 plus XFD1048576 would be
# 17 billion cells).
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP_MAGIC = b"PK\x03\x04"
MAX_XLSX_UNPACKED = 256 * 1024 * 1024  # bytes of all parts, unpacked (a 100,000-line sheet: ~80 MB)
MAX_XLSX_PARTS = 1_000
MAX_XLSX_COLUMNS = 32  # the manifest has 14 columns; room for blank and note columns
MAX_XLSX_CELLS = 2_000_000  # 100,000 lines of 20 columns
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and every password-protected .xlsx
_NOT_XLSX = "the file is not an .xlsx workbook"
# Excel drops the leading zeros of a code typed into a number cell: put them back where the
# width is known. HS codes have 6, 8 or 10 digits; customs unit, country and currency codes 3;
# a GTIN with its leading zeros dropped is read as the EAN-13 (or EAN-8) it was.
_ZERO_WIDTHS = {
    "hs_code": {5: 6, 7: 8, 9: 10},
    "unit": {1: 3, 2: 3},
    "origin_country": {1: 3, 2: 3},
    "currency": {1: 3, 2: 3},
    "gtin": {n: 8 for n in range(1, 8)} | {n: 13 for n in range(9, 12)},
}


def parse_xlsx(data: bytes, sheet: str | None = None) -> dict:
    """Turn an .xlsx workbook into what ``parse_csv`` returns: the first worksheet, or the one
    named ``sheet``; the header (English or Chinese) on its first row, as in a CSV.

    Formula cells give their saved value (a formula never saved by Excel, or an error value such
    as #N/A, is a row error); numbers give the text typed (``12.0`` -> ``"12"``, HS code
    ``8471300000.0`` -> ``"8471300000"``); anything that is not a readable .xlsx within the
    bounds above is a ValidationError.
    """
    book = _open_xlsx(data)
    name, part = _pick_sheet(book, sheet)
    bad = _scan_sheet(book, part)
    (top, left), table = _read_sheet(data, name)
    if not table:
        raise ValidationError(
            "the manifest is empty",
            [{"field": "sheet", "message": f"sheet {name!r} has no header row and no lines"}],
        )
    fields = [column_field(_cell_text(cell, None)) for cell in table[0]]
    keep = [  # a column with neither header nor values (a spacer, a deleted column) is not one
        i for i, field in enumerate(fields)
        if field is not None or any(_cell_text(row[i], None).strip() for row in table)
    ]
    rows = [
        (top + n + 1, [_cell_text(row[i], fields[i]) for i in keep])
        for n, row in enumerate(table)
    ]
    _, errors = _header(rows[0][1])
    if errors:
        raise ValidationError("the workbook header is wrong", errors)
    errors = [
        {"row": r + 1, "field": fields[c - left] or _column_letter(c), "message": message}
        for (r, c), message in sorted(bad.items())
        if r > top and 0 <= c - left < len(fields)
    ]
    if errors:
        raise ValidationError(
            f"the workbook has {len(errors)} cell(s) without a usable value; nothing was stored",
            errors,
        )
    return _table(rows, "workbook")


def _open_xlsx(data: bytes) -> zipfile.ZipFile:
    """The workbook's zip, every part of it unpacked once within the bounds, or refused."""
    if data[:8] == _OLE_MAGIC:
        raise ValidationError(
            f"{_NOT_XLSX}: an old .xls or a password-protected workbook; save it in Excel as an"
            " .xlsx workbook without a password"
        )
    if not data.startswith(ZIP_MAGIC):
        raise ValidationError(f"{_NOT_XLSX} (an .xlsx file is a zip archive; this is not one)")
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
        parts = book.infolist()
        names = [part.filename for part in parts]
        if len(parts) > MAX_XLSX_PARTS or len(set(names)) != len(names):
            raise ValidationError(f"{_NOT_XLSX}: too many or repeated parts")
        if sum(part.file_size for part in parts) > MAX_XLSX_UNPACKED:
            raise ValidationError(
                f"{_NOT_XLSX}: it unpacks to more than {MAX_XLSX_UNPACKED // 2**20} MB"
            )
        if "xl/workbook.xml" not in names or "xl/workbook.bin" in names:
            raise ValidationError(f"{_NOT_XLSX}: it has no xl/workbook.xml (is it an .xlsb,"
                                  " .ods or .docx?)")
        for part in parts:  # a size or CRC that does not match its data is refused here
            with book.open(part) as stream:
                while stream.read(1 << 20):
                    pass
    except ValidationError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
            NotImplementedError, ValueError) as exc:
        raise ValidationError(f"{_NOT_XLSX}: the zip is damaged ({exc})") from None
    return book


def _xml(book: zipfile.ZipFile, name: str) -> ElementTree.Element:
    """A small part parsed; no DTD, so no entities to expand."""
    try:
        data = book.read(name)
    except KeyError:
        raise ValidationError(f"{_NOT_XLSX}: the part {name} is missing") from None
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValidationError(f"{_NOT_XLSX}: {name} declares a DTD")
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ValidationError(f"{_NOT_XLSX}: {name} is not XML ({exc})") from None


def _local(name: str) -> str:
    return name.rpartition("}")[2]


def _pick_sheet(book: zipfile.ZipFile, wanted: str | None) -> tuple[str, str]:
    """The sheet's name and the zip part holding it: the first worksheet, or the named one."""
    rels = {
        rel.get("Id"): rel
        for rel in _xml(book, "xl/_rels/workbook.xml.rels").iter()
        if _local(rel.tag) == "Relationship"
    }
    sheets = []
    for element in _xml(book, "xl/workbook.xml").iter():
        if _local(element.tag) != "sheet":
            continue
        rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
        rel = rels.get(rid)
        if rel is None or not (rel.get("Type") or "").endswith("/worksheet"):
            continue  # a chart sheet, or a sheet without its part
        target = rel.get("Target") or ""
        part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
            posixpath.join("xl", target))
        sheets.append((element.get("name") or "", part))
    if not sheets:
        raise ValidationError(f"{_NOT_XLSX}: it has no worksheet")
    if wanted is None or not wanted.strip():
        return sheets[0]
    for name, part in sheets:
        if name == wanted.strip():
            return name, part
    names = ", ".join(repr(name) for name, _ in sheets)
    raise ValidationError(
        f"the workbook has no sheet named {wanted.strip()!r}",
        [{"field": "sheet", "message": f"no sheet {wanted.strip()!r}; the workbook has {names}"}],
    )


def _scan_sheet(book: zipfile.ZipFile, part: str) -> dict[tuple[int, int], str]:
    """Where the sheet's values are, found by streaming its XML before calamine loads it:
    refuses it over MAX_LINES rows, MAX_XLSX_COLUMNS columns or MAX_XLSX_CELLS cells, and
    returns the cells whose saved value is unusable (an error value, a formula never saved).
    """
    # One start handler, no end handler and flat state (~4 s for 100,000 rows of 14 cells).
    at = [-1, -1]  # the current row and column, 0-based
    cell = [None, None, False, False]  # position, type, has a formula, has a value
    box = [None, None, -1, -1]  # top, left, bottom, right of the cells with values
    count, bad = [0], {}

    def close_cell():
        where, kind, formula, value = cell
        cell[0] = None
        if formula and not value:
            bad[where] = "a formula without a saved value: open and save the workbook in Excel"
        elif kind == "e":
            bad[where] = "an Excel error value (such as #N/A or #DIV/0!)"
        elif not value:
            return  # a formatted but empty cell
        row, col = where
        count[0] += 1
        if box[0] is None:
            box[:] = [row, col, row, col]
        else:
            box[0], box[1] = min(box[0], row), min(box[1], col)
            box[2], box[3] = max(box[2], row), max(box[3], col)
        if box[2] - box[0] > MAX_LINES:
            raise ValidationError(
                f"the sheet has more than {MAX_LINES} rows; a manifest has at most {MAX_LINES}"
                " lines",
                [{"field": "sheet", "message": f"row {box[2] + 1} is past the limit"}],
            )
        if box[3] - box[1] >= MAX_XLSX_COLUMNS:
            raise ValidationError(
                f"the sheet has more than {MAX_XLSX_COLUMNS} columns",
                [{"field": "sheet",
                  "message": f"column {_column_letter(box[3])} is past the limit"}],
            )
        if count[0] > MAX_XLSX_CELLS:
            raise ValidationError(f"the sheet has more than {MAX_XLSX_CELLS} cells")

    def start(tag, attrs):
        tag = tag[tag.rfind(" ") + 1:]
        if tag == "c":
            if cell[0] is not None:
                close_cell()
            ref = attrs.get("r")
            if ref:
                at[0], at[1] = _cell_ref(ref)
            else:
                at[1] += 1
            cell[:] = [(at[0], at[1]), attrs.get("t"), False, False]
        elif tag == "v" or tag == "is":
            cell[3] = True
        elif tag == "f":
            cell[2] = True
        elif tag == "row":
            if cell[0] is not None:
                close_cell()
            r = attrs.get("r")
            at[0] = int(r) - 1 if r and r.isdigit() else at[0] + 1
            at[1] = -1

    def refuse(*_):
        raise ValidationError(f"{_NOT_XLSX}: {part} declares a DTD")

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = refuse
    try:
        with book.open(part) as stream:
            while chunk := stream.read(1 << 20):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except KeyError:
        raise ValidationError(f"{_NOT_XLSX}: the sheet part {part} is missing") from None
    except expat.ExpatError as exc:
        raise ValidationError(f"{_NOT_XLSX}: {part} is not XML ({exc})") from None
    if cell[0] is not None:
        close_cell()
    if box[0] is not None and (box[2] - box[0] + 1) * (box[3] - box[1] + 1) > MAX_XLSX_CELLS:
        raise ValidationError(f"the sheet spans more than {MAX_XLSX_CELLS} cells")
    return bad


_COLUMNS: dict[str, int] = {}


def _cell_ref(ref: str) -> tuple[int, int]:
    """``"C12"`` -> ``(11, 2)``, 0-based; a reference past XFD1048576 is refused."""
    letters = ref.rstrip("0123456789")
    digits = ref[len(letters):]
    col = _COLUMNS.get(letters)
    if col is None:
        col = 0
        for letter in letters if re.fullmatch(r"[A-Z]{1,3}", letters) else "?":
            col = col * 26 + ord(letter) - ord("A") + 1
        if not 1 <= col <= 16384:
            raise ValidationError(f"{_NOT_XLSX}: a cell reference {ref[:20]!r} is not valid")
        if len(_COLUMNS) < 20_000:
            _COLUMNS[letters] = col - 1
        col -= 1
    if not (digits.isdigit() and len(digits) <= 7 and 1 <= int(digits) <= 1_048_576):
        raise ValidationError(f"{_NOT_XLSX}: a cell reference {ref[:20]!r} is not valid")
    return int(digits) - 1, col


def _column_letter(col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _read_sheet(data: bytes, name: str) -> tuple[tuple[int, int], list[list]]:
    """Where the sheet's values start (0-based row and column) and the values, through
    calamine: the saved values of formulas, never evaluated."""
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        values = book.get_sheet_by_name(name)
        if values.start is None or not values.height:
            return (0, 0), []
        return tuple(values.start), values.to_python(skip_empty_area=True)  # from start on
    except python_calamine.CalamineError as exc:
        raise ValidationError(f"the workbook cannot be read: {exc}") from None
    except BaseException as exc:  # a panic in the Rust reader (pyo3's PanicException)
        if type(exc).__name__ != "PanicException":
            raise
        raise ValidationError("the workbook cannot be read") from None


def _cell_text(value, field: str | None) -> str:
    """A cell as the text the user typed: numbers without Excel's float artefacts."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        # Excel keeps 15 significant digits: 0.1+0.2 is 0.3, 12.0 is 12, 8.4713E+09 is 8471300000
        text = format(Decimal(format(value, ".15g")), "f")
        width = _ZERO_WIDTHS.get(field, {}).get(len(text)) if text.isdigit() else None
        return text.zfill(width) if width else text
    return str(value)


def validate(manifest: object) -> dict:
    """Check a parsed or JSON manifest; return it normalised, or raise with every problem."""
    if not isinstance(manifest, dict):
        raise ValidationError("the manifest must be a JSON object with manifest_no and lines")
    errors = []
    head = {
        "manifest_no": _text(
            manifest.get("manifest_no"), "manifest_no", None, errors, required=True
        ),
        "bill_no": _text(manifest.get("bill_no"), "bill_no", None, errors),
    }
    raw_lines = manifest.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        errors.append({"field": "lines", "message": "a non-empty list of lines is required"})
        raise ValidationError("the manifest is invalid", errors)
    if len(raw_lines) > MAX_LINES:
        raise ValidationError(f"a manifest has at most {MAX_LINES} lines")
    lines, seen = [], {}
    for index, raw in enumerate(raw_lines, start=1):
        if not isinstance(raw, dict):
            errors.append({"row": index, "message": "a line must be an object"})
            continue
        row = raw.get("row", index)
        unknown = set(raw) - set(LINE_FIELDS) - {"row", "manifest_no"}
        errors += [{"row": row, "field": k, "message": "unknown field"} for k in sorted(unknown)]
        line = _validate_line(raw, row, errors)
        if line.get("line_no") is not None:
            if line["line_no"] in seen:
                errors.append(
                    {
                        "row": row,
                        "field": "line_no",
                        "message": f"line {line['line_no']} already appears in row "
                        f"{seen[line['line_no']]}",
                    }
                )
            seen.setdefault(line["line_no"], row)
        lines.append(line)
    if errors:
        raise ValidationError(
            f"the manifest has {len(errors)} error(s); nothing was stored", errors
        )
    return {**head, "lines": lines}


def _validate_line(raw: dict, row: int, errors: list) -> dict:
    line = {
        "line_no": _integer(raw.get("line_no"), "line_no", row, errors, minimum=1),
        "sku": _text(raw.get("sku"), "sku", row, errors, required=True),
        "name": _text(raw.get("name"), "name", row, errors, required=True),
        "declared_qty": _integer(raw.get("declared_qty"), "declared_qty", row, errors, minimum=1),
        "bill_no": _text(raw.get("bill_no"), "bill_no", row, errors),
        "unit": _text(raw.get("unit"), "unit", row, errors),
        "gtin": _gtin(raw.get("gtin"), row, errors),
    }
    for field, (pattern, expected) in _PATTERNS.items():
        value = _text(raw.get(field), field, row, errors)
        value = value.upper() if value else value
        if value and not pattern.match(value):
            errors.append(
                {"row": row, "field": field, "message": f"expected {expected}, got {value!r}"}
            )
        line[field] = value
    for field in ("unit_value", "gross_weight_kg", "net_weight_kg"):
        line[field] = _decimal(raw.get(field), field, row, errors)
    return line


def _where(row, field) -> dict:
    return {"field": field} if row is None else {"row": row, "field": field}


def _text(value, field, row, errors, *, required=False):
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a number typed where text is expected (a JSON sku of 1234)
    where = {} if row is None else {"row": row}
    pattern = _NUMBER_PATTERN if field in ("manifest_no", "bill_no") else None
    return Fields(where, errors).text(
        value, field, required=required, max_length=_TEXT_LIMITS.get(field, 64),
        pattern=pattern, hint="letters, digits and . _ / - only, starting with a letter or digit")


def _integer(value, field, row, errors, *, minimum):
    if value is None or value == "":
        errors.append({**_where(row, field), "message": "required"})
        return None
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        errors.append({**_where(row, field), "message": "must be a whole number"})
        return None
    text = str(value).strip()
    if isinstance(value, float):
        if not value.is_integer():
            errors.append({**_where(row, field), "message": f"must be a whole number, got {value}"})
            return None
        text = str(int(value))
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        errors.append({**_where(row, field), "message": f"must be a whole number, got {text!r}"})
        return None
    number = int(text)
    if number < minimum:
        errors.append(
            {**_where(row, field), "message": f"must be at least {minimum}, got {number}"}
        )
        return None
    if number > MAX_QTY:
        errors.append({**_where(row, field), "message": f"must be at most {MAX_QTY}"})
        return None
    return number


def _decimal(value, field, row, errors):
    where = {} if row is None else {"row": row}
    number = Fields(where, errors).decimal(value, field, required=False)
    return None if number is None else str(number)


def _gtin(value, row, errors):
    value = _text(value, "gtin", row, errors)
    if value is None:
        return None
    if not re.fullmatch(r"[0-9]{8}|[0-9]{12,14}", value):
        errors.append({"row": row, "field": "gtin", "message": "a GTIN has 8, 12, 13 or 14 digits"})
    elif not _gs1_check_ok(value):
        errors.append(
            {"row": row, "field": "gtin", "message": f"GTIN check digit is wrong: {value}"}
        )
    return value


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
                f"manifest {manifest['manifest_no']} already exists",
                [{"field": "manifest_no", "message": "already imported"}],
            )
        manifest_id = db.execute(
            "INSERT INTO manifests (manifest_no, bill_no, status, created_at, created_by)"
            " VALUES (?, ?, ?, ?, ?)",
            [manifest["manifest_no"], manifest["bill_no"], workflow.INITIAL, now(), user_id],
        ).lastrowid
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
        raise NotFoundError(f"no manifest with id {manifest_id}")
    return row


def list_lines(db: Database, manifest_id: int) -> list[dict]:
    """The manifest's lines in line order."""
    return list(
        db.query(
            f"SELECT id, {', '.join(LINE_FIELDS)} FROM manifest_lines WHERE manifest_id = ?"
            " ORDER BY line_no",
            [manifest_id],
        )
    )


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
            f"the manifest has no line {line_no}",
            [{"field": "line_no", "message": f"no line {line_no}"}],
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
