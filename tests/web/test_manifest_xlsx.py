"""POST /api/manifests with an .xlsx workbook: raw body, multipart, sheet choice, refusals."""

import io

import xlsxwriter

from tally.workbooks import XLSX_MIMETYPE

HEADER = ["舱单号", "序号", "提运单号", "货号", "商品名称", "商品编码", "原产国", "数量",
          "计量单位", "单价", "币制"]


def workbook(manifest_no: str, *, qty=3.0, sheet="舱单", cover=False) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    if cover:
        book.add_worksheet("Cover").write(0, 0, "Packing list and manifest")
    rows = book.add_worksheet(sheet)
    rows.write_row(0, 0, HEADER)
    rows.write_row(1, 0, [manifest_no, 1, "BL-9", "SKU-MILK", "婴儿奶粉 900g", 1901101000.0,
                          "AU", qty, 122, 28.5, "USD"])
    rows.write_row(2, 0, [manifest_no, 2, "BL-9", "SKU-TEA", "绿茶", 902109000.0, "CN", 2.0,
                          "035", "9.80", "USD"])
    book.close()
    return out.getvalue()


def test_raw_xlsx_body(as_):
    created = as_("supervisor").post("/api/manifests", data=workbook("MF-XL-1"),
                                     content_type=XLSX_MIMETYPE)
    assert created.status_code == 201, created.json
    lines = created.json["lines"]
    assert created.json["bill_no"] == "BL-9"
    assert [(line["declared_qty"], line["hs_code"], line["unit"]) for line in lines] == [
        (3, "1901101000", "122"), (2, "0902109000", "035")
    ]


def test_raw_body_with_a_named_sheet(as_):
    data = workbook("MF-XL-2", cover=True)
    first = as_("supervisor").post("/api/manifests", data=data, content_type=XLSX_MIMETYPE)
    assert first.status_code == 422 and first.json["error"] == "the workbook header is wrong"
    named = as_("supervisor").post("/api/manifests?sheet=舱单", data=data,
                                   content_type=XLSX_MIMETYPE)
    assert named.status_code == 201, named.json
    missing = as_("supervisor").post("/api/manifests?sheet=Nope", data=data,
                                     content_type=XLSX_MIMETYPE)
    assert missing.status_code == 422
    assert missing.json["errors"][0]["field"] == "sheet"


def test_multipart_upload_by_name_or_by_magic(as_):
    by_name = as_("supervisor").post(
        "/api/manifests", data={"file": (io.BytesIO(workbook("MF-XL-3")), "舱单.xlsx")}
    )
    assert by_name.status_code == 201, by_name.json
    by_magic = as_("supervisor").post(  # a browser that sends no useful name
        "/api/manifests", data={"file": (io.BytesIO(workbook("MF-XL-4")), "upload")}
    )
    assert by_magic.status_code == 201, by_magic.json
    sheet_field = as_("supervisor").post(
        "/api/manifests",
        data={"file": (io.BytesIO(workbook("MF-XL-5", cover=True)), "m.xlsx"), "sheet": "舱单"},
    )
    assert sheet_field.status_code == 201, sheet_field.json


def test_bad_rows_answer_422_in_the_error_shape(as_):
    response = as_("supervisor").post("/api/manifests", data=workbook("MF-XL-6", qty=12.5),
                                      content_type=XLSX_MIMETYPE)
    assert response.status_code == 422
    assert response.json["ok"] is False and response.json["status"] == 422
    assert response.json["errors"] == [
        {"row": 2, "field": "declared_qty",
         "message": "a whole number from 1 to 10000000, got '12.5'",
         "code": "integer_range_invalid",
         "message_zh": "应为 1 到 10000000 之间的整数，收到的是 '12.5'"}
    ]
    assert as_("operator").get("/api/manifests").json["manifests"] == []


def test_what_is_not_an_xlsx_answers_422(as_):
    renamed = as_("supervisor").post(
        "/api/manifests", data={"file": (io.BytesIO(b"manifest_no,line_no\nM,1\n"), "m.xlsx")}
    )
    assert renamed.status_code == 422
    assert "not an .xlsx workbook" in renamed.json["error"]
    garbage = as_("supervisor").post("/api/manifests", data=b"PK\x03\x04" + b"\xff" * 500,
                                     content_type=XLSX_MIMETYPE)
    assert garbage.status_code == 422 and "damaged" in garbage.json["error"]
    assert as_("operator").post("/api/manifests", data=workbook("MF-XL-7"),
                                content_type=XLSX_MIMETYPE).status_code == 403
