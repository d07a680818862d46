"""Job barcodes and box labels over HTTP: the box list, box labels before each box's unit labels
in the PDF, ZPL and print job, one box's label alone, the job barcode on the pages and the
inspection record sheet, and who may ask."""

import io
import re
from pathlib import Path

import pypdfium2
import pytest
from PIL import Image
from pyzbar.pyzbar import ZBarSymbol
from pyzbar.pyzbar import decode as zbar_decode

from labels.decode import decode_image
from labels.render import job_size_mm
from tally import labelling, units
from tests.conftest import auth
from tests.web.test_api import issue
from tests.web.test_exports import FakePrinter

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"
CODE = re.compile(r"\^FD>:([UJB])>5([0-9]{12})\^FS")  # ZPL ^BC data of our codes


def zbar(image: Image.Image) -> list[str]:
    return [r.data.decode() for r in zbar_decode(image.convert("L"), symbols=[ZBarSymbol.CODE128])]


def pdf_codes(pdf: bytes) -> list[str]:
    """The code on each page of a one-label-a-page PDF, page by page."""
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [code for page in document for code in zbar(page.render(scale=300 / 72).to_pil())]
    finally:
        document.close()


def zpl_codes(zpl: str) -> list[str]:
    return [letter + digits for letter, digits in CODE.findall(zpl)]


@pytest.fixture
def packed(as_, manifest):
    """Labels issued to two boxes and none: BOX-A (line 1 x2, later line 2 x1), BOX-B (line 2
    x1), no box (line 3 x1). Box ids follow first labelling: BOX-A 1, BOX-B 2."""
    mid = manifest["id"]
    a = issue(as_, mid, 1, 2, "BOX-A")
    b = issue(as_, mid, 2, 1, "BOX-B")
    loose = issue(as_, mid, 3, 1)
    a_late = issue(as_, mid, 2, 1, "BOX-A")
    return {"mid": mid, "A": units.box_code(1), "B": units.box_code(2), "a": a + a_late,
            "b": b, "loose": loose}


# --- the box list -----------------------------------------------------------------------------


def test_boxes_are_listed_in_the_order_first_labelled_with_codes_and_counts(as_, packed):
    mid = packed["mid"]
    answer = as_("operator").get(f"/api/manifests/{mid}/boxes")
    assert answer.status_code == 200
    assert answer.json == {"boxes": [
        {"box_no": "BOX-A", "code": packed["A"], "labels": 3},
        {"box_no": "BOX-B", "code": packed["B"], "labels": 1}]}
    # A voided label no longer counts toward its box.
    voided = as_("supervisor").post(f"/api/labels/{packed['a'][0]}/void", json={"reason": "torn"})
    assert voided.status_code == 200
    assert as_("operator").get(f"/api/manifests/{mid}/boxes").json["boxes"][0]["labels"] == 2
    assert as_("operator").get("/api/manifests/999999/boxes").status_code == 404


def test_a_consignment_without_boxes_lists_none(as_, manifest):
    issue(as_, manifest["id"], 1, 1)
    assert as_("operator").get(f"/api/manifests/{manifest['id']}/boxes").json == {"boxes": []}


# --- box labels in the print job --------------------------------------------------------------


def test_pdf_puts_each_box_label_before_its_units_and_loose_units_last(as_, packed):
    mid, a, b = packed["mid"], packed["a"], packed["b"]
    pdf = as_("operator").get(f"/api/manifests/{mid}/labels.pdf?dpi=300")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf_codes(pdf.data) == [packed["A"], *a, packed["B"], *b, *packed["loose"]]
    by_line = as_("operator").get(f"/api/manifests/{mid}/labels.pdf?line_no=2").data
    assert pdf_codes(by_line) == [packed["A"], a[2], packed["B"], *b]
    by_box = as_("operator").get(f"/api/manifests/{mid}/labels.pdf?box_no=BOX-B").data
    assert pdf_codes(by_box) == [packed["B"], *b]
    loose = as_("operator").get(f"/api/manifests/{mid}/labels.pdf?line_no=3").data
    assert pdf_codes(loose) == packed["loose"]  # no box, no box label
    units_only = as_("operator").get(f"/api/manifests/{mid}/labels.pdf?box_labels=0").data
    assert pdf_codes(units_only) == sorted([*a, *b, *packed["loose"]])  # code order


def test_zpl_puts_each_box_label_before_its_units(as_, packed):
    mid, a, b = packed["mid"], packed["a"], packed["b"]
    zpl = as_("operator").get(f"/api/manifests/{mid}/labels.zpl").data.decode()
    assert zpl_codes(zpl) == [packed["A"], *a, packed["B"], *b, *packed["loose"]]
    assert zpl.count("^XA") == 7 and "箱 Box BOX-A" in zpl and "3 张标签 labels" in zpl
    by_line = as_("operator").get(f"/api/manifests/{mid}/labels.zpl?line_no=2&dpi=300")
    assert zpl_codes(by_line.data.decode()) == [packed["A"], a[2], packed["B"], *b]
    units_only = as_("operator").get(f"/api/manifests/{mid}/labels.zpl?box_labels=0")
    assert zpl_codes(units_only.data.decode()) == sorted([*a, *b, *packed["loose"]])
    bad = as_("operator").get(f"/api/manifests/{mid}/labels.zpl?box_labels=yes")
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "box_labels"


def test_the_listing_stays_unit_labels_in_code_order(as_, packed):
    listed = as_("operator").get(f"/api/manifests/{packed['mid']}/labels").json["labels"]
    assert [label["code"] for label in listed] == sorted(
        [*packed["a"], *packed["b"], *packed["loose"]])


def test_print_job_sends_box_labels_before_their_units(app, as_, packed):
    printer = FakePrinter()
    app.config["PRINTER"] = f"127.0.0.1:{printer.port}"
    try:
        sent = as_("operator").post(f"/api/manifests/{packed['mid']}/labels/print",
                                    json={"line_no": 2})
        assert sent.status_code == 200, sent.json
        assert sent.json == {"sent": 4, "printer": app.config["PRINTER"], "box_labels": 2}
        assert printer.received.wait(10)
        assert zpl_codes(printer.jobs[0].decode()) == [
            packed["A"], packed["a"][2], packed["B"], *packed["b"]]
    finally:
        printer.close()
    events = as_("operator").get(f"/api/manifests/{packed['mid']}/events").json["events"]
    printed = [e["details"] for e in events if e["name"] == "labels-printed"]
    assert printed[0]["count"] == 4 and printed[0]["box_labels"] == 2
    assert printed[0]["first_code"] == packed["A"]


def test_print_job_without_box_labels_and_reprints_by_code_carry_none(app, as_, packed):
    printer = FakePrinter()
    app.config["PRINTER"] = f"127.0.0.1:{printer.port}"
    try:
        sent = as_("operator").post(f"/api/manifests/{packed['mid']}/labels/print",
                                    json={"codes": packed["b"]})
        assert sent.status_code == 200 and sent.json["box_labels"] == 0
        assert printer.received.wait(10)
        assert zpl_codes(printer.jobs[0].decode()) == packed["b"]
    finally:
        printer.close()
    refused = as_("operator").post(f"/api/manifests/{packed['mid']}/labels/print",
                                   json={"box_labels": "no"})
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json["errors"]} == {"box_labels"}


def test_box_labels_count_toward_the_listing_bound(as_, manifest, monkeypatch):
    mid = manifest["id"]
    issue(as_, mid, 1, 3, "BOX-1")
    issue(as_, mid, 2, 1, "BOX-2")
    monkeypatch.setattr(labelling, "MAX_LABELS_LISTED", 5)
    # 4 unit labels fit the bound of 5; with their 2 box labels, 6 do not.
    too_many = as_("operator").get(f"/api/manifests/{mid}/labels.pdf")
    assert too_many.status_code == 413 and too_many.json["errors"][0]["field"] == "line_no"
    assert as_("operator").get(f"/api/manifests/{mid}/labels.zpl").status_code == 413
    assert as_("operator").get(f"/api/manifests/{mid}/labels.zpl?box_labels=0").status_code == 200
    assert as_("operator").get(f"/api/manifests/{mid}/labels.zpl?box_no=BOX-1").status_code == 200
    monkeypatch.setattr(labelling, "MAX_LABELS_LISTED", 3)
    assert as_("operator").get(f"/api/manifests/{mid}/labels.zpl?box_no=BOX-1").status_code == 413


# --- one box's label alone --------------------------------------------------------------------


def test_one_box_label_as_png_svg_pdf_and_zpl(as_, packed):
    code = packed["A"]
    png = as_("operator").get(f"/api/boxes/{code}.png?dpi=300&size=60x40")
    assert png.status_code == 200 and png.mimetype == "image/png"
    image = Image.open(io.BytesIO(png.data))
    assert image.size == (709, 472)  # 60 x 40 mm at 300 dpi
    assert zbar(image) == [code]
    assert [b.text for b in decode_image(png.data, formats=["Code128"])] == [code]
    svg = as_("operator").get(f"/api/boxes/{code}.svg")
    assert svg.mimetype == "image/svg+xml" and "箱 Box BOX-A" in svg.text
    assert "MF MF-TEST-1" in svg.text and "3 张标签 labels" in svg.text
    pdf = as_("operator").get(f"/api/boxes/{code}.pdf")
    assert pdf.mimetype == "application/pdf" and pdf_codes(pdf.data) == [code]
    assert f"box-{code}.pdf" in pdf.headers["Content-Disposition"]
    zpl = as_("operator").get(f"/api/boxes/{code}.zpl?dpi=300")
    assert zpl.mimetype == "application/zpl" and zpl_codes(zpl.data.decode()) == [code]
    assert zpl.data.count(b"^XA") == 1
    assert as_("operator").get(f"/api/boxes/{code}.png?size=5x3").status_code == 422
    assert as_("operator").get(f"/api/boxes/{code}.pdf?sheet=letter").status_code == 422


@pytest.mark.parametrize("code", [
    "B000000000000",          # the right shape, no such box
    "B000000000037",          # box 3: never labelled
    "B000000000014",          # box 1's code with a wrong check digit
    "U000000000013",          # a unit code (of a unit that exists)
    "J000000000013",          # a job code
    "BOX-A",                  # the box number, not its code
])
@pytest.mark.parametrize("ext", ["png", "svg", "pdf", "zpl"])
def test_unknown_box_codes_are_404(as_, packed, code, ext):
    answer = as_("operator").get(f"/api/boxes/{code}.{ext}")
    assert answer.status_code == 404 and answer.json["status"] == 404


def test_one_box_label_to_the_printer(app, as_, packed):
    code = packed["B"]
    app.config["PRINTER"] = None
    unset = as_("operator").post(f"/api/boxes/{code}/print", json={})
    assert unset.status_code == 409 and unset.json["errors"][0]["field"] == "printer"
    printer = FakePrinter()
    app.config["PRINTER"] = f"127.0.0.1:{printer.port}"
    try:
        assert as_("operator").post("/api/boxes/B000000000000/print", json={}).status_code == 404
        bad = as_("operator").post(f"/api/boxes/{code}/print", json={"dpi": 600})
        assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "dpi"
        # Only dpi and size apply: a unit selection in the body is ignored, not printed.
        sent = as_("operator").post(f"/api/boxes/{code}/print",
                                    json={"dpi": 300, "size": "60x40", "line_no": 1})
        assert sent.status_code == 200, sent.json
        assert sent.json == {"sent": 1, "printer": app.config["PRINTER"], "box_labels": 1}
        assert printer.received.wait(10)
        assert zpl_codes(printer.jobs[0].decode()) == [code]
        assert b"^PW709" in printer.jobs[0]  # 60 mm at 300 dpi
    finally:
        printer.close()


# --- roles ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/api/manifests/{mid}/boxes", "/api/manifests/{mid}/job.svg", "/api/manifests/{mid}/job.png",
    "/api/boxes/{box}.png", "/api/boxes/{box}.pdf", "/api/boxes/{box}.zpl",
    "/api/boxes/{box}.svg",
])
def test_reading_needs_a_signed_in_caller_of_any_role(client, tokens, packed, path):
    url = path.format(mid=packed["mid"], box=packed["A"])
    assert client.get(url).status_code == 401
    assert client.get(url, headers=auth("not-a-token")).status_code == 401
    for role in ("operator", "supervisor", "admin"):
        assert client.get(url, headers=auth(tokens[role])).status_code == 200, role


def test_printing_a_box_label_needs_a_token_or_the_sessions_csrf_header(app, client, tokens,
                                                                       packed):
    url = f"/api/boxes/{packed['A']}/print"
    assert client.post(url, json={}).status_code == 401
    assert client.post("/login", data={"token": tokens["operator"]}).status_code == 302
    assert client.post(url, json={}).status_code == 403  # a session without X-CSRF-Token
    with client.session_transaction() as session:
        csrf = session["csrf"]
    app.config["PRINTER"] = None
    with_header = client.post(url, json={}, headers={"X-CSRF-Token": csrf})
    assert with_header.status_code == 409  # past the checks: no printer configured


# --- the job barcode --------------------------------------------------------------------------


def test_job_barcode_svg_and_png(as_, manifest):
    mid, code = manifest["id"], units.job_code(manifest["id"])
    svg = as_("operator").get(f"/api/manifests/{mid}/job.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert f"<title>{code} · 作业 Job MF-TEST-1</title>" in svg.text
    assert 'width="55.625mm" height="21.25mm"' in svg.text
    png = as_("operator").get(f"/api/manifests/{mid}/job.png?dpi=300")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert zbar(Image.open(io.BytesIO(png.data))) == [code]
    assert [b.text for b in decode_image(png.data, formats=["Code128"])] == [code]
    assert units.read_code(code) == ("job", mid)
    for path in ("job.svg", "job.png"):
        assert as_("operator").get(f"/api/manifests/999999/{path}").status_code == 404
    assert as_("operator").get(f"/api/manifests/{mid}/job.png?dpi=72").status_code == 422


def test_print_stylesheet_prints_the_job_barcode_at_its_own_size(manifest):
    width, height = job_size_mm(units.job_code(manifest["id"]), "MF-TEST-1")
    css = (STATIC / "job-barcode.css").read_text()
    print_rules = css[css.index("@media print"):]
    assert f"width: {width:g}mm; height: {height:g}mm;" in print_rules


@pytest.mark.parametrize("page", ["/manifests/{mid}", "/labels?manifest={mid}"])
def test_pages_show_the_job_barcode_image_with_alt_text(client, tokens, manifest, page):
    mid, code = manifest["id"], units.job_code(manifest["id"])
    assert client.post("/login", data={"token": tokens["operator"]}).status_code == 302
    html = client.get(page.format(mid=mid)).get_data(as_text=True)
    [img] = re.findall(r'<figure class="job-barcode"[^>]*>\s*(<img[^>]+>)', html)
    assert f'src="/api/manifests/{mid}/job.svg"' in img
    assert f'alt="作业条码 Job barcode {code} · 舱单号 Manifest MF-TEST-1"' in img
    assert re.search(r'href="/static/job-barcode\.css\?v=[0-9a-f]{12}"', html)


def test_labels_page_has_the_boxes_card(client, tokens, manifest):
    assert client.post("/login", data={"token": tokens["operator"]}).status_code == 302
    html = client.get(f"/labels?manifest={manifest['id']}").get_data(as_text=True)
    assert 'data-testid="boxes-card"' in html and 'id="boxes-body"' in html


def test_inspection_record_sheet_carries_the_job_barcode(as_, manifest):
    mid = manifest["id"]
    [inspection] = as_("operator").get(f"/api/manifests/{mid}/inspections").json["inspections"]
    pdf = as_("operator").get(f"/api/manifests/{mid}/inspections/{inspection['id']}/record.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    document = pypdfium2.PdfDocument(pdf.data)
    try:
        first = document[0].render(scale=200 / 72).to_pil()
    finally:
        document.close()
    assert zbar(first) == [units.job_code(mid)]
    out = io.BytesIO()
    first.save(out, "PNG")
    assert [b.text for b in decode_image(out.getvalue(), formats=["Code128"])] == [
        units.job_code(mid)]
