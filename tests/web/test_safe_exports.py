"""Exports and downloads are safe (issue 11, item 2): spreadsheet cells never run as formulas
(OWASP CSV injection) and a hostile manifest_no never breaks or forges Content-Disposition."""

import csv
import io
import re
import xml.etree.ElementTree as ET
import zipfile
from urllib.parse import unquote

import pypdfium2
import pytest
from werkzeug.http import parse_options_header

from tests.conftest import clear_over_http
from tests.web.test_api import issue
from tests.web.test_cli import run
from web.downloads import content_disposition, spreadsheet_cell, spreadsheet_row

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
HYPERLINK = '=HYPERLINK("http://x.example","y")'
CALC = "+cmd|' /C calc'!A0"
SUM = "@SUM(1)"

# line_no -> (sku, name); the TAB and CR ones are stored directly (an import trims them).
IMPORTED = {1: ("=cmd|' /C calc'!A0", HYPERLINK), 2: ("SKU-2", CALC), 3: ("-SKU-3", SUM),
            4: ("SKU-4", 'plain, "quoted" name')}
STORED = {5: ("\tSKU-5", "\r=1+2"), 6: ("SKU-6", "=1+2\r\n@SUM(1)")}
LINES = {**IMPORTED, **STORED}


def neutral(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@pytest.fixture
def hostile(as_, db):
    """A manifest whose manifest_no, bill_no, skus and names are spreadsheet formulas."""
    body = {"manifest_no": "MF-FORMULA", "bill_no": "BL-1",
            "lines": [{"line_no": n, "sku": sku, "name": name, "declared_qty": n}
                      for n, (sku, name) in IMPORTED.items()]}
    response = as_("supervisor").post("/api/manifests", json=body)
    assert response.status_code == 201, response.json
    mid = response.json["id"]
    # The import refuses such numbers now; stored anyway (an older database), they stay inert.
    db.execute("UPDATE manifests SET manifest_no = ?, bill_no = ? WHERE id = ?",
               ["=1+1", SUM, mid])
    for n, (sku, name) in STORED.items():
        db.execute("INSERT INTO manifest_lines (manifest_id, line_no, sku, name, declared_qty)"
                   " VALUES (?, ?, ?, ?, ?)", [mid, n, sku, name, n])
    return mid


def test_cells_are_neutralised_in_one_place():
    assert [spreadsheet_cell(v) for v in ("=1", "+1", "-1", "@a", "\tx", "\rx", "a=b", "")] == [
        "'=1", "'+1", "'-1", "'@a", "'\tx", "'\rx", "a=b", ""]
    assert spreadsheet_row([3, -2, 1.5, None, "-2"]) == [3, -2, 1.5, "", "'-2"]


def test_reconciliation_csv_cells_cannot_run(as_, hostile):
    response = as_("operator").get(f"/api/manifests/{hostile}/reconciliation?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"), newline="")))
    assert rows[0][:3] == ["line_no", "sku", "name"]
    lines = {int(row[0]): row for row in rows[1:-1]}
    assert sorted(lines) == sorted(LINES)
    for n, (sku, name) in LINES.items():
        row = lines[n]
        assert row[1] == neutral(sku) and row[2] == neutral(name), row
        # quantities stay numbers: a negative difference is not prefixed
        assert row[3:6] == [str(n), "0", str(-n)], row
    assert lines[4][2] == 'plain, "quoted" name'  # quoted by the csv module, read back whole
    total = sum(LINES)
    assert rows[-1][:6] == ["total", "", "", str(total), "0", str(-total)]
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), row
            assert not cell.startswith("-") or re.fullmatch(r"-\d+", cell), row


def _xlsx_strings(book: zipfile.ZipFile) -> list[str]:
    root = ET.fromstring(book.read("xl/sharedStrings.xml"))
    texts = ["".join(t.text or "" for t in si.iter(f"{MAIN}t")) for si in root.iter(f"{MAIN}si")]
    # xlsxwriter writes control characters as _xHHHH_ escapes (ECMA-376 ST_Xstring)
    return [re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m[1], 16)), t) for t in texts]


def _xlsx_cells(book: zipfile.ZipFile, sheet: str, strings: list[str]) -> dict:
    """ref -> (type, value, formula) of every cell of a worksheet."""
    cells = {}
    for c in ET.fromstring(book.read(f"xl/worksheets/{sheet}.xml")).iter(f"{MAIN}c"):
        kind, v, f = c.get("t"), c.find(f"{MAIN}v"), c.find(f"{MAIN}f")
        value = None if v is None else v.text
        if kind == "s":
            value = strings[int(value)]
        cells[c.get("r")] = (kind, value, None if f is None else f.text)
    return cells


def test_reconciliation_xlsx_has_no_user_formulas(as_, hostile, db):
    # SKUs no account book takes: the export is all this test needs.
    clear_over_http(as_, {"id": hostile, "lines": [{"line_no": n} for n in LINES]}, book=False)
    recorded = as_("operator").post(f"/api/manifests/{hostile}/discrepancies", json={
        "line_no": 1, "kind": "short", "qty": 1, "note": HYPERLINK, "disposition": CALC})
    assert recorded.status_code == 201, recorded.json
    response = as_("operator").get(f"/api/manifests/{hostile}/reconciliation?format=xlsx")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.data)) as book:
        for name in book.namelist():
            if name.endswith((".xml", ".rels")):
                ET.fromstring(book.read(name))  # every part is well-formed XML
        strings = _xlsx_strings(book)
        sheet1 = _xlsx_cells(book, "sheet1", strings)
        sheet2 = _xlsx_cells(book, "sheet2", strings)
    # The header block: manifest_no and bill_no are text cells, not formulas.
    assert sheet1["C3"] == ("s", "=1+1", None)
    assert sheet1["C4"] == ("s", SUM, None)
    # The line table: sku and name are stored as they are, as strings; quantities are numbers.
    rows = {int(float(v)): ref[1:] for ref, (t, v, f) in sheet1.items()
            if ref[0] == "A" and t is None and v is not None}
    assert sorted(rows) == sorted(LINES)
    for n, (sku, name) in LINES.items():
        row = rows[n]
        assert sheet1[f"B{row}"] == ("s", sku, None) and sheet1[f"C{row}"] == ("s", name, None)
        assert sheet1[f"D{row}"] == (None, str(n), None)
    # The only formulas are the SUM totals the service writes itself.
    formulas = {ref: f for ref, (t, v, f) in sheet1.items() if f is not None}
    assert sorted(ref[0] for ref in formulas) == ["D", "E", "F"]
    assert all(re.fullmatch(r"SUM\([DEF]\d+:[DEF]\d+\)", f) for f in formulas.values())
    assert not any(f is not None or t == "str" for t, v, f in sheet2.values())
    assert ("s", HYPERLINK, None) in sheet2.values() and ("s", CALC, None) in sheet2.values()


def test_cli_report_csv_cells_cannot_run(hostile, db_path):
    result = run("report", str(hostile), "--format", "csv", db_path=db_path)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
    skus = {int(row[0]): row[1] for row in rows[1:]}
    assert skus == {n: neutral(sku) for n, (sku, _) in LINES.items()}
    assert all(row[4] == str(-int(row[2])) for row in rows[1:])  # differences stay numbers


HOSTILE_NOS = [
    'MF"; filename="evil.exe',
    "MF\r\nSet-Cookie: session=x",
    "MF;1 2",
    "MF-📦-1",
    "舱单-1",
    "../../etc/passwd",
]


def _filename(response, real: str) -> None:
    """One Content-Disposition: an ASCII-safe filename= and a filename* of the real name."""
    assert response.status_code == 200, response.data[:300]
    for name, value in response.headers.items():
        assert value.isascii() and "\r" not in value and "\n" not in value, (name, value)
    [value] = response.headers.getlist("Content-Disposition")
    match = re.fullmatch(r"(inline|attachment); filename=\"([A-Za-z0-9._-]+)\"; "
                         r"filename\*=UTF-8''([A-Za-z0-9%._~-]+)", value)
    assert match, value
    expected = re.sub(r"[\x00-\x1f\x7f/\\]", "_", real)
    assert match[2] == re.sub(r"[^A-Za-z0-9._-]", "_", expected).lstrip(".")
    assert unquote(match[3], errors="strict") == expected
    assert value.count("filename=") == 1 and value.count("filename*=") == 1
    assert parse_options_header(value)[1] == {"filename": expected}


@pytest.mark.parametrize("manifest_no", HOSTILE_NOS)
def test_hostile_manifest_no_downloads(as_, manifest, db, manifest_no):
    mid = manifest["id"]
    code = issue(as_, mid, 1, 1)[0]
    [inspection] = as_("operator").get(f"/api/manifests/{mid}/inspections").json["inspections"]
    db.execute("UPDATE manifests SET manifest_no = ? WHERE id = ?", [manifest_no, mid])
    base = f"/api/manifests/{mid}"
    for kind in ("csv", "xlsx", "pdf"):
        response = as_("operator").get(f"{base}/reconciliation?format={kind}")
        _filename(response, f"reconciliation-{manifest_no}.{kind}")
    record = as_("operator").get(f"{base}/inspections/{inspection['id']}/record.pdf")
    _filename(record, f"inspection-{manifest_no}-{inspection['id']}.pdf")
    document = pypdfium2.PdfDocument(record.data)
    try:
        assert len(document) >= 1
    finally:
        document.close()
    _filename(as_("operator").get(f"{base}/labels.pdf"), f"labels-{mid}.pdf")
    _filename(as_("operator").get(f"{base}/labels.zpl"), f"labels-{mid}.zpl")
    _filename(as_("operator").get(f"/api/labels/{code}.pdf"), f"label-{code}.pdf")


def test_content_disposition_plain_names_unchanged():
    assert content_disposition("reconciliation-MF-TEST-1.csv") == (
        "attachment; filename=\"reconciliation-MF-TEST-1.csv\"; "
        "filename*=UTF-8''reconciliation-MF-TEST-1.csv")
    assert content_disposition("labels-7.pdf", inline=True).startswith(
        'inline; filename="labels-7.pdf"; ')
    assert content_disposition('a"b;c\r\nd 😀.csv') == (
        "attachment; filename=\"a_b_c__d__.csv\"; "
        "filename*=UTF-8''a%22b%3Bc__d%20%F0%9F%98%80.csv")
