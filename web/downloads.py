"""Safe downloads: spreadsheet cells that never run as formulas, and a Content-Disposition that
survives any file name (quotes, CR/LF, ``;``, emoji) a user may have typed into a manifest.

Every CSV and XLSX the service writes, and every Content-Disposition it sets, goes through this
module (tests/web/test_safe_exports.py).
"""

import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import quote

# OWASP, CSV injection: a cell beginning with one of these is read as a formula (or, for TAB
# and CR, lets one be smuggled past a naive check) by Excel, LibreOffice and Google Sheets.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# xlsxwriter options for every workbook: a plain ``write()`` of text never becomes a formula, a
# hyperlink or a number. Text is also written with ``write_string`` (see ``write_text``).
SAFE_WORKBOOK = {
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}


def spreadsheet_text(text: str) -> str:
    """Text that a spreadsheet shows as text: prefixed with ``'`` if it could start a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def spreadsheet_cell(value: object) -> object:
    """One CSV cell: text neutralised, real numbers (quantities) left as numbers, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return value
    return spreadsheet_text(str(value))


def spreadsheet_row(values: Iterable[object]) -> list:
    """A CSV row for ``csv.writer.writerow``: every cell through ``spreadsheet_cell``."""
    return [spreadsheet_cell(value) for value in values]


def write_text(sheet, row: int, column: int, value: object, cell_format=None) -> None:
    """Text into an xlsxwriter worksheet, always as a string cell (never a formula or a URL)."""
    sheet.write_string(row, column, "" if value is None else str(value), cell_format)


def plain_text(text: str) -> str:
    """Text without control characters (CR, LF, TAB, NUL...): for titles and file names."""
    return "".join("_" if unicodedata.category(c) == "Cc" else c for c in text)


_UNSAFE_FALLBACK = re.compile(r"[^A-Za-z0-9._-]")


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """A Content-Disposition value for a download named ``filename`` (RFC 6266).

    ``filename=`` is an ASCII fallback for old clients: only letters, digits, ``.``, ``-`` and
    ``_`` (anything else becomes ``_``), so no quote, CR/LF or ``;`` of user text can end the
    parameter or the header. ``filename*=UTF-8''...`` (RFC 5987) carries the real name,
    percent-encoded; control characters and path separators in it become ``_``.
    """
    real = plain_text(filename).replace("/", "_").replace("\\", "_")
    fallback = _UNSAFE_FALLBACK.sub("_", real).lstrip(".") or "download"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(real, safe='')}"


def download_headers(filename: str, *, inline: bool = False) -> dict:
    """``{"Content-Disposition": ...}`` for a Flask ``Response(headers=...)``."""
    return {"Content-Disposition": content_disposition(filename, inline=inline)}
