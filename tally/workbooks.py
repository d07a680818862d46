"""Manifests (舱单) as .xlsx workbooks: read into what ``manifests.parse_csv`` returns, so both
go through the same header handling and row checks (``manifests.read_table``)."""

import datetime
import io
import math
import posixpath
import re
import zipfile
import zlib
from decimal import Decimal
from xml.etree import ElementTree
from xml.parsers import expat

import python_calamine

from tally import manifests
from tally.catalogue import say
from tally.errors import ValidationError

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
            say("manifest_empty"),
            [{"field": "sheet", "message": say("sheet_empty", sheet=name)}],
        )
    fields = [manifests.column_field(_cell_text(cell, None)) for cell in table[0]]
    keep = [  # a column with neither header nor values (a spacer, a deleted column) is not one
        i for i, field in enumerate(fields)
        if field is not None or any(_cell_text(row[i], None).strip() for row in table)
    ]
    rows = [
        (top + n + 1, [_cell_text(row[i], fields[i]) for i in keep])
        for n, row in enumerate(table)
    ]
    _, errors = manifests.check_header(rows[0][1])
    if errors:
        raise ValidationError(say("workbook_header_wrong"), errors)
    errors = [
        {"row": r + 1, "field": fields[c - left] or _column_letter(c), "message": message}
        for (r, c), message in sorted(bad.items())
        if r > top and 0 <= c - left < len(fields)
    ]
    if errors:
        raise ValidationError(
            say("workbook_cells", count=len(errors)),
            errors,
        )
    return manifests.read_table(rows, "workbook")


def _open_xlsx(data: bytes) -> zipfile.ZipFile:
    """The workbook's zip, every part of it unpacked once within the bounds, or refused."""
    if data[:8] == _OLE_MAGIC:
        raise ValidationError(
            say("workbook_old_or_locked")
        )
    if not data.startswith(ZIP_MAGIC):
        raise ValidationError(say("workbook_not_zip"))
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
        parts = book.infolist()
        names = [part.filename for part in parts]
        if len(parts) > MAX_XLSX_PARTS or len(set(names)) != len(names):
            raise ValidationError(say("workbook_damaged", detail="too many or repeated parts"))
        if sum(part.file_size for part in parts) > MAX_XLSX_UNPACKED:
            raise ValidationError(say("workbook_too_large", mb=MAX_XLSX_UNPACKED // 2**20))
        if "xl/workbook.xml" not in names or "xl/workbook.bin" in names:
            raise ValidationError(say("workbook_damaged", detail="it has no xl/workbook.xml"
                                      " (is it an .xlsb, .ods or .docx?)"))
        for part in parts:  # a size or CRC that does not match its data is refused here
            with book.open(part) as stream:
                while stream.read(1 << 20):
                    pass
    except ValidationError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
            NotImplementedError, ValueError) as exc:
        raise ValidationError(say("workbook_damaged", detail=f"the zip is damaged ({exc})")
                              ) from None
    return book


def _xml(book: zipfile.ZipFile, name: str) -> ElementTree.Element:
    """A small part parsed; no DTD, so no entities to expand."""
    try:
        data = book.read(name)
    except KeyError:
        raise ValidationError(say("workbook_damaged", detail=f"the part {name} is missing")
                              ) from None
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValidationError(say("workbook_damaged", detail=f"{name} declares a DTD"))
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise ValidationError(say("workbook_damaged", detail=f"{name} is not XML ({exc})")
                              ) from None


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
        raise ValidationError(say("workbook_damaged", detail="it has no worksheet"))
    if wanted is None or not wanted.strip():
        return sheets[0]
    for name, part in sheets:
        if name == wanted.strip():
            return name, part
    names = ", ".join(repr(name) for name, _ in sheets)
    raise ValidationError(
        say("sheet_unknown", sheet=wanted.strip()),
        [{"field": "sheet", "message": say("sheet_unknown_item", sheet=wanted.strip(),
                                           names=names)}],
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
            bad[where] = say("formula_without_value")
        elif kind == "e":
            bad[where] = say("excel_error_value")
        elif not value:
            return  # a formatted but empty cell
        row, col = where
        count[0] += 1
        if box[0] is None:
            box[:] = [row, col, row, col]
        else:
            box[0], box[1] = min(box[0], row), min(box[1], col)
            box[2], box[3] = max(box[2], row), max(box[3], col)
        limit = manifests.MAX_LINES
        if box[2] - box[0] > limit:
            raise ValidationError(
                say("sheet_too_many_rows", limit=limit),
                [{"field": "sheet", "message": say("row_past_limit", row=box[2] + 1)}],
            )
        if box[3] - box[1] >= MAX_XLSX_COLUMNS:
            raise ValidationError(
                say("sheet_too_many_columns", limit=MAX_XLSX_COLUMNS),
                [{"field": "sheet",
                  "message": say("column_past_limit", column=_column_letter(box[3]))}],
            )
        if count[0] > MAX_XLSX_CELLS:
            raise ValidationError(say("sheet_too_many_cells", limit=MAX_XLSX_CELLS))

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
        raise ValidationError(say("workbook_damaged", detail=f"{part} declares a DTD"))

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = refuse
    try:
        with book.open(part) as stream:
            while chunk := stream.read(1 << 20):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except KeyError:
        raise ValidationError(say("workbook_damaged",
                                  detail=f"the sheet part {part} is missing")) from None
    except expat.ExpatError as exc:
        raise ValidationError(say("workbook_damaged", detail=f"{part} is not XML ({exc})")
                              ) from None
    if cell[0] is not None:
        close_cell()
    if box[0] is not None and (box[2] - box[0] + 1) * (box[3] - box[1] + 1) > MAX_XLSX_CELLS:
        raise ValidationError(say("sheet_spans_too_many", limit=MAX_XLSX_CELLS))
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
            raise ValidationError(say("workbook_damaged",
                                  detail=f"a cell reference {ref[:20]!r} is not valid"))
        if len(_COLUMNS) < 20_000:
            _COLUMNS[letters] = col - 1
        col -= 1
    if not (digits.isdigit() and len(digits) <= 7 and 1 <= int(digits) <= 1_048_576):
        raise ValidationError(say("workbook_damaged",
                                  detail=f"a cell reference {ref[:20]!r} is not valid"))
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
        raise ValidationError(say("workbook_unreadable", detail=f": {exc}")) from None
    except BaseException as exc:  # a panic in the Rust reader (pyo3's PanicException)
        if type(exc).__name__ != "PanicException":
            raise
        raise ValidationError(say("workbook_unreadable", detail="")) from None


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




def xlsx_rows(data: bytes, column_field, sheet: str | None = None,
              zero_widths: dict[str, str] | None = None) -> list[tuple[int, list[str]]]:
    """``(row number, cells as text)`` of a workbook's first (or named) sheet, the header row
    first, within the same bounds and cell checks as manifests; for other tables than the
    manifest (the account book: tally/account_book.py). ``column_field`` names a header cell's
    column; ``zero_widths`` maps a column to the manifest field whose dropped leading zeros it
    shares (an HS code, a unit code)."""
    book = _open_xlsx(data)
    name, part = _pick_sheet(book, sheet)
    bad = _scan_sheet(book, part)
    (top, left), table = _read_sheet(data, name)
    if not table:
        raise ValidationError(say("manifest_empty"),
                              [{"field": "sheet", "message": say("sheet_empty", sheet=name)}])
    fields = [column_field(_cell_text(cell, None)) for cell in table[0]]
    widths = zero_widths or {}
    keep = [i for i, field in enumerate(fields)
            if field is not None or any(_cell_text(row[i], None).strip() for row in table)]
    errors = [
        {"row": r + 1, "field": fields[c - left] or _column_letter(c), "message": message}
        for (r, c), message in sorted(bad.items())
        if r > top and 0 <= c - left < len(fields)
    ]
    if errors:
        raise ValidationError(say("workbook_cells", count=len(errors)), errors)
    return [(top + n + 1, [_cell_text(row[i], widths.get(fields[i])) for i in keep])
            for n, row in enumerate(table)]
