"""Manifests from Excel: .xlsx workbooks built here with xlsxwriter, read by parse_xlsx."""

import io
import re
import zipfile

import pytest
import xlsxwriter

from tally import manifests, workbooks
from tally.errors import ValidationError

ENGLISH = ["manifest_no", "line_no", "bill_no", "sku", "name", "gtin", "hs_code",
           "origin_country", "declared_qty", "unit", "unit_value", "currency",
           "gross_weight_kg", "net_weight_kg"]
CHINESE = ["舱单号", "序号", "提运单号", "货号", "商品名称", "条码", "商品编码", "原产国",
           "数量", "计量单位", "单价", "币制", "毛重(KG)", "净重(KG)"]
ROWS = [
    ["MF-X1", 1, "BL-1", "SKU-MILK", "婴儿奶粉 900g", "9300633603168", "1901101000", "AU", 3,
     "122", "28.50", "USD", "3.6", "2.7"],
    ["MF-X1", 2, "BL-1", "SKU-DIAPER", "纸尿裤 L", "4902011713725", "9619001100", "JP", 2,
     "011", "15.20", "USD", "3.0", "2.8"],
]


def workbook(rows, *, sheets=("Sheet1",), target=None, edit=None) -> bytes:
    """An .xlsx with ``rows`` on the sheet ``target`` (the first by default); ``edit(sheet)``
    writes anything else (formulas, numbers)."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    for name in sheets:
        sheet = book.add_worksheet(name)
        if name == (target or sheets[0]):
            for r, row in enumerate(rows):
                sheet.write_row(r, 0, row)
            if edit:
                edit(sheet)
        else:
            sheet.write_row(0, 0, ["not", "the", "manifest"])
    book.close()
    return out.getvalue()


def errors_of(data: bytes, sheet=None) -> list[dict]:
    with pytest.raises(ValidationError) as info:
        manifests.validate(workbooks.parse_xlsx(data, sheet))
    return info.value.errors


def rewrite(data: bytes, change) -> bytes:
    """The workbook, its sheet XML passed through ``change``: what xlsxwriter will not write."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                part = change(part)
            target.writestr(info.filename, part)
    return out.getvalue()


def test_english_headers_give_what_the_csv_gives(db):
    parsed = workbooks.parse_xlsx(workbook([ENGLISH, *ROWS]))
    assert parsed["manifest_no"] == "MF-X1" and parsed["bill_no"] == "BL-1"
    assert [line["row"] for line in parsed["lines"]] == [2, 3]
    imported = manifests.import_manifest(db, parsed, user_id=None)
    assert [line["declared_qty"] for line in imported["lines"]] == [3, 2]
    assert imported["lines"][0]["name"] == "婴儿奶粉 900g"
    assert imported["lines"][1]["unit"] == "011"
    assert imported["lines"][0]["unit_value"] == "28.50"


def test_chinese_and_bilingual_headers():
    chinese = workbooks.parse_xlsx(workbook([CHINESE, *ROWS]))
    english = workbooks.parse_xlsx(workbook([ENGLISH, *ROWS]))
    assert chinese == english
    bilingual = ["舱单号 Manifest No.", "行 Line", "料号 SKU", "品名 Name", "数量 Qty",
                 "原产国(地区)", "HS编码"]
    parsed = workbooks.parse_xlsx(workbook([bilingual, ["M1", 1, "S", "N", 2, "CN", "850440"]]))
    assert parsed["lines"][0] | {"row": 0} == {
        "row": 0, "manifest_no": "M1", "line_no": "1", "sku": "S", "name": "N",
        "declared_qty": "2", "origin_country": "CN", "hs_code": "850440",
    }


def test_every_header_name_maps_to_one_column():
    for field, names in manifests.HEADER_NAMES.items():
        assert field in manifests.REQUIRED + manifests.OPTIONAL
        for name in names:
            assert manifests.column_field(name) == field, name
    assert manifests.column_field("数量 Weight") is None  # halves that disagree
    assert manifests.column_field("colour") is None


def test_csv_takes_chinese_headers_too():
    text = ",".join(CHINESE[:5] + ["数量"]) + "\nM1,1,BL,S,奶粉,2\n"
    assert manifests.parse_csv(text.encode())["lines"][0]["declared_qty"] == "2"


def test_named_sheet_and_unknown_sheet():
    data = workbook([CHINESE, *ROWS], sheets=("封面 Cover", "舱单", "Notes"), target="舱单")
    with pytest.raises(ValidationError) as first:  # the first sheet is not the manifest
        workbooks.parse_xlsx(data)
    assert "header" in first.value.message
    assert len(workbooks.parse_xlsx(data, "舱单")["lines"]) == 2
    with pytest.raises(ValidationError) as info:
        workbooks.parse_xlsx(data, "Sheet9")
    assert info.value.errors == [
        {"field": "sheet",
         "message": "no sheet 'Sheet9'; the workbook has '封面 Cover', '舱单', 'Notes'"}
    ]


def test_numbers_stored_as_floats_read_back_as_typed():
    header = ["manifest_no", "line_no", "sku", "name", "declared_qty", "hs_code", "gtin",
              "unit", "unit_value", "gross_weight_kg"]

    def numbers(sheet):
        sheet.write_row(1, 0, ["MF-N", 1.0, 123456.0, "Milk", 12.0, 8471300000.0,
                               9300633603168.0, 11.0, 28.5, 0.1 + 0.2])
        sheet.write_row(2, 0, ["MF-N", 2.0, "S2", "Serum", 3.0, 901210000.0, 33984006706.0,
                               142.0, 1e2, 1.5e1])

    parsed = workbooks.parse_xlsx(workbook([header], edit=numbers))
    first, second = parsed["lines"]
    assert first["line_no"] == "1" and first["declared_qty"] == "12"
    assert first["sku"] == "123456"
    assert first["hs_code"] == "8471300000"  # not 8471300000.0 nor 8.4713E+09
    assert first["gtin"] == "9300633603168"
    assert first["unit"] == "011"  # Excel dropped the leading zero of the unit code
    assert first["unit_value"] == "28.5" and first["gross_weight_kg"] == "0.3"
    assert second["hs_code"] == "0901210000"  # chapter 09: the leading zero is restored
    assert second["gtin"] == "0033984006706"
    assert second["unit_value"] == "100" and second["gross_weight_kg"] == "15"
    valid = manifests.validate(parsed)
    assert [line["declared_qty"] for line in valid["lines"]] == [12, 3]


def test_a_fractional_quantity_is_a_row_error():
    rows = [ENGLISH[:5] + ["declared_qty"], ["M1", 1, "BL", "S", "N", 12.5]]
    assert errors_of(workbook(rows)) == [
        {"row": 2, "field": "declared_qty",
         "message": "a whole number from 1 to 10000000, got '12.5'"}
    ]


def test_a_formula_gives_its_saved_value_never_evaluated():
    def formulas(sheet):
        sheet.write_row(1, 0, ["MF-F", 1, "BL", "S1", "N"])
        sheet.write_formula(1, 5, "=2*6", None, 12)  # Excel saved 12
        sheet.write_row(2, 0, ["MF-F", 2, "BL", "S2", "N"])
        sheet.write_formula(2, 5, "=2*6", None, 7)  # a saved value that is not 2*6
    parsed = workbooks.parse_xlsx(workbook([ENGLISH[:5] + ["declared_qty"]], edit=formulas))
    assert [line["declared_qty"] for line in parsed["lines"]] == ["12", "7"]


def test_formula_without_saved_value_and_error_values_are_row_errors():
    def cells(sheet):
        sheet.write_row(1, 0, ["MF-F", 1, "BL", "S1", "N"])
        sheet.write_formula(1, 5, "=2*6", None, 12)
        sheet.write_row(2, 0, ["MF-F", 2, "BL", "S2", "N"])
        sheet.write_formula(2, 5, "=1/0", None, "#DIV/0!")

    def drop_saved_value(xml: bytes) -> bytes:  # as a writer that never calculates leaves it
        return re.sub(rb'(<c r="F2"[^>]*>)(<f>[^<]*</f>)<v>[^<]*</v>', rb"\1\2", xml)

    data = rewrite(workbook([ENGLISH[:5] + ["declared_qty"]], edit=cells), drop_saved_value)
    with pytest.raises(ValidationError) as info:
        workbooks.parse_xlsx(data)
    assert [(e["row"], e["field"]) for e in info.value.errors] == [
        (2, "declared_qty"), (3, "declared_qty")
    ]
    assert "formula without a saved value" in info.value.errors[0]["message"]
    assert "error value" in info.value.errors[1]["message"]


def test_bad_rows_are_reported_like_the_csv_ones():
    rows = [ENGLISH[:5] + ["declared_qty", "hs_code"],
            ["M1", 1, "BL", "S1", "A", -2, "8471"],
            ["M1", 1, "BL", "S2", "B", 1.5, ""],
            ["M1", "x", "BL", "", "C", "abc", ""],
            [],  # a blank row is skipped, as in a CSV
            ["M1", 4, "BL", "S4", "D", 0, ""]]
    csv_text = "\n".join(",".join(str(c) for c in row) for row in rows) + "\n"
    with pytest.raises(ValidationError) as from_csv:
        manifests.validate(manifests.parse_csv(csv_text.encode()))
    assert errors_of(workbook(rows)) == from_csv.value.errors
    assert {(e["row"], e["field"]) for e in from_csv.value.errors} == {
        (2, "declared_qty"), (2, "hs_code"), (3, "declared_qty"), (3, "line_no"),
        (4, "line_no"), (4, "sku"), (4, "declared_qty"), (6, "declared_qty"),
    }


def test_header_errors_name_the_column():
    with pytest.raises(ValidationError) as info:
        workbooks.parse_xlsx(workbook([["舱单号", "序号", "货号", "colour", "数量", "Qty"],
                                       ["M", 1, "S", "red", 1, 1]]))
    assert info.value.message == "the workbook header is wrong"
    assert info.value.errors == [
        {"column": "colour", "message": "unknown column"},
        {"column": "name", "message": "required column is missing"},
        {"column": "declared_qty", "message": "column appears more than once: '数量', 'Qty'"},
    ]


def test_a_table_placed_lower_right_and_blank_columns():
    def placed(sheet):
        sheet.write_row(3, 2, ["manifest_no", "line_no", None, "sku", "name", "declared_qty"])
        sheet.write_row(4, 2, ["M1", 1, None, "S", "N", 0])
    with pytest.raises(ValidationError) as info:
        manifests.validate(workbooks.parse_xlsx(workbook([], edit=placed)))
    assert info.value.errors == [
        {"row": 5, "field": "declared_qty", "message": "a whole number from 1 to 10000000, got 0"}
    ]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"manifest_no,line_no\nM,1\n", "not an .xlsx"),  # a CSV renamed .xlsx
        (b"", "not an .xlsx"),
        (b"PK\x03\x04" + b"\x00" * 200, "damaged"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 200, "password-protected"),
    ],
)
def test_what_is_not_an_xlsx_is_refused(data, message):
    with pytest.raises(ValidationError) as info:
        workbooks.parse_xlsx(data)
    assert message in info.value.message


def test_other_zips_are_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("content.xml", "<office:document-content/>")  # an .ods
    with pytest.raises(ValidationError) as info:
        workbooks.parse_xlsx(out.getvalue())
    assert "xl/workbook.xml" in info.value.message
    truncated = workbook([ENGLISH, *ROWS])[:-300]
    with pytest.raises(ValidationError):
        workbooks.parse_xlsx(truncated)


def test_a_zip_bomb_is_refused_before_it_is_unpacked(monkeypatch):
    monkeypatch.setattr(workbooks, "MAX_XLSX_UNPACKED", 4 * 2**20)
    data = rewrite(workbook([ENGLISH, *ROWS]), lambda xml: xml + b" " * (8 * 2**20))
    assert len(data) < 100_000
    with pytest.raises(ValidationError) as info:
        workbooks.parse_xlsx(data)
    assert "unpacks to more than 4 MB" in info.value.message


def test_a_lying_crc_is_refused():
    data = bytearray(rewrite(workbook([ENGLISH, *ROWS]), lambda xml: xml))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("xl/worksheets/sheet1.xml")
    at = info.header_offset + 30 + len(info.filename) + len(info.extra) + 10
    data[at] ^= 0xFF  # one byte of the deflated sheet
    with pytest.raises(ValidationError) as caught:
        workbooks.parse_xlsx(bytes(data))
    assert "not an .xlsx" in caught.value.message


def test_a_dtd_is_refused():
    data = rewrite(workbook([ENGLISH, *ROWS]), lambda xml: xml.replace(
        b"?>", b'?><!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa">]>', 1))
    with pytest.raises(ValidationError) as info:
        workbooks.parse_xlsx(data)
    assert "DTD" in info.value.message


def test_a_workbook_over_the_row_bound(monkeypatch):
    monkeypatch.setattr(manifests, "MAX_LINES", 5)
    rows = [ENGLISH[:5] + ["declared_qty"]] + [["M", n, "B", f"S{n}", "N", 1] for n in range(1, 7)]
    with pytest.raises(ValidationError) as info:
        workbooks.parse_xlsx(workbook(rows))
    assert info.value.message == "the sheet has more than 5 rows; a manifest has at most 5 lines"
    assert len(workbooks.parse_xlsx(workbook(rows[:6]))["lines"]) == 5


def test_far_cells_are_refused_before_the_reader_allocates_them():
    """A1 plus XFD1048576 would make the reader allocate 17 billion cells and abort."""
    def far(sheet):
        sheet.write(1_048_575, 0, "x")
    with pytest.raises(ValidationError) as rows:
        workbooks.parse_xlsx(workbook([ENGLISH, *ROWS], edit=far))
    assert "more than 100000 rows" in rows.value.message

    def wide(sheet):
        sheet.write(0, 16_383, "x")
    with pytest.raises(ValidationError) as columns:
        workbooks.parse_xlsx(workbook([ENGLISH, *ROWS], edit=wide))
    assert columns.value.message == "the sheet has more than 32 columns"
    assert columns.value.errors[0]["message"] == "column XFD is past the limit"
