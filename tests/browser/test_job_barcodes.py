"""The job barcode on the consignment and labels pages, and the labels page's box labels, in real
Chromium on a phone (390 x 844) and at a desk (1366 x 768): the barcode shown decodes to the
consignment's job code, prints at its own size, and each box is listed with its label's links."""

import pypdfium2
import pytest
from playwright.sync_api import expect
from pyzbar.pyzbar import ZBarSymbol
from pyzbar.pyzbar import decode as zbar_decode

from labels.decode import decode_image
from labels.render import MM_PER_INCH, job_size_mm
from tally import units
from tests.browser.conftest import screenshot, sign_in

WAIT = 20_000  # ms
VIEWS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True,
              "device_scale_factor": 2},
    "desk": {"viewport": {"width": 1366, "height": 768}},
}
CSS_PX_PER_MM = 96 / MM_PER_INCH
BARCODE_LOADED = """() => {
  const image = document.querySelector('[data-testid=job-barcode] img');
  return image && image.complete && image.naturalWidth > 0;
}"""


@pytest.fixture(params=list(VIEWS))
def view(request, browser, site):
    """(size name, page) for each of the two sizes."""
    context = browser.new_context(base_url=site.base, **VIEWS[request.param])
    page = context.new_page()
    yield request.param, page
    context.close()


def read(png: bytes) -> list[str]:
    """The Code128 codes labels.decode (the service's decoder) finds in a screenshot."""
    return [barcode.text for barcode in decode_image(png, formats=["Code128"])]


def check_job_barcode(page, manifest: dict, name: str) -> None:
    """The page's job barcode: its alt text, decoded from a screenshot, and its printed size."""
    code = units.job_code(manifest["id"])
    image = page.locator("[data-testid=job-barcode] img")
    expect(image).to_have_attribute(
        "alt", f"作业条码 Job barcode {code} · 舱单号 Manifest {manifest['manifest_no']}")
    expect(page.locator("[data-testid=job-barcode] figcaption")).to_contain_text(code)
    page.wait_for_function(BARCODE_LOADED, timeout=WAIT)
    assert read(image.screenshot()) == [code], name
    width = image.bounding_box()["width"]
    assert 200 <= width <= page.viewport_size["width"], name  # big enough, never off the screen
    # Printed: the SVG's own size in mm (0.375 mm modules), whatever the screen showed.
    page.emulate_media(media="print")
    try:
        printed = image.evaluate("i => [i.getBoundingClientRect().width,"
                                 " i.getBoundingClientRect().height]")
        mm = job_size_mm(code, manifest["manifest_no"])
        assert printed == pytest.approx([mm[0] * CSS_PX_PER_MM, mm[1] * CSS_PX_PER_MM], abs=0.5)
        assert image.is_visible()
    finally:
        page.emulate_media(media="screen")


def pdf_code(data: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(data)
    try:
        image = document[0].render(scale=300 / 72).to_pil().convert("L")
    finally:
        document.close()
    return [r.data.decode() for r in zbar_decode(image, symbols=[ZBarSymbol.CODE128])]


def test_job_barcode_and_box_labels(view, site):
    size, page = view
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    operator = site.api["operator"]
    for line_no, count, box_no in ((1, 2, "BOX-A"), (2, 1, "箱-B"), (3, 1, None)):
        status, body = operator.call("POST", f"/api/manifests/{mid}/labels", json_body={
            "line_no": line_no, "count": count, "box_no": box_no})
        assert status == 201, body
    status, listed = operator.call("GET", f"/api/manifests/{mid}/boxes")
    assert status == 200 and [box["box_no"] for box in listed["boxes"]] == ["BOX-A", "箱-B"]
    sign_in(page, "operator")

    page.goto(f"/manifests/{mid}")
    check_job_barcode(page, manifest, "consignment")
    screenshot(page, f"job-barcode-consignment-{size}")

    page.goto(f"/labels?manifest={mid}")
    check_job_barcode(page, manifest, "labels")
    rows = page.locator("[data-testid=boxes] tbody tr")
    expect(rows).to_have_count(2, timeout=WAIT)
    expect(page.locator("[data-testid=no-boxes]")).to_be_hidden()
    for row, box in zip(rows.all(), listed["boxes"], strict=True):
        expect(row.locator(".box-no")).to_have_text(box["box_no"])
        expect(row.locator("code")).to_have_text(box["code"])
        expect(row.locator("td").nth(1)).to_have_text(str(box["labels"]))
        pdf = row.locator("a.box-print")
        expect(pdf).to_contain_text("打印 Print PDF")
        expect(pdf).to_have_accessible_name(f"打印 Print PDF 箱 box {box['box_no']}")
        href = pdf.get_attribute("href")
        assert href.startswith(f"/api/boxes/{box['code']}.pdf?size=50x30")
        answer = page.request.get(href)
        assert answer.ok and answer.headers["content-type"] == "application/pdf"
        assert pdf_code(answer.body()) == [box["code"]]
        zpl = row.locator("a.box-zpl")
        assert zpl.get_attribute("download") == f"box-{box['code']}.zpl"
        assert box["code"] in page.request.get(zpl.get_attribute("href")).text().replace(">5", "")
    # The selection says the box labels go with the unit labels.
    expect(page.locator("[data-testid=selection]")).to_contain_text(
        "4 张标签 label(s) + 2 张箱标签 box label(s)", timeout=WAIT)
    # The links follow the size chosen for printing.
    page.select_option("#print-size", "60x40")
    expect(rows.first.locator("a.box-print")).to_have_attribute(
        "href", f"/api/boxes/{listed['boxes'][0]['code']}.pdf?size=60x40&dpi=203")

    # Labels issued to a new box: the list shows it at once, with its own box code.
    page.select_option("#issue-line", "3")
    page.fill("#issue-count", "1")
    page.fill("#issue-box", "BOX-C")
    page.click("#issue-submit")
    expect(page.locator("#flash")).to_contain_text("box BOX-C", timeout=WAIT)
    expect(rows).to_have_count(3, timeout=WAIT)
    status, again = operator.call("GET", f"/api/manifests/{mid}/boxes")
    expect(rows.nth(2).locator("code")).to_have_text(again["boxes"][2]["code"])
    assert again["boxes"][2] == {"box_no": "BOX-C", "code": again["boxes"][2]["code"],
                                 "labels": 1}
    # Nothing wider than the screen, nor than its card.
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    card = page.locator("[data-testid=boxes-card]").bounding_box()
    table = page.locator("[data-testid=boxes]").bounding_box()
    assert table["x"] >= card["x"] and table["x"] + table["width"] <= card["x"] + card["width"]
    page.locator("[data-testid=boxes-card]").scroll_into_view_if_needed()
    screenshot(page, f"job-barcode-labels-{size}")


def test_labels_page_says_when_there_are_no_boxes(desk, site):
    manifest = site.cleared_manifest()
    sign_in(desk, "operator")
    desk.goto(f"/labels?manifest={manifest['id']}")
    expect(desk.locator("[data-testid=no-boxes]")).to_be_visible(timeout=WAIT)
    expect(desk.locator("[data-testid=boxes]")).to_be_hidden()
    desk.wait_for_function(BARCODE_LOADED, timeout=WAIT)
    code = units.job_code(manifest["id"])
    assert read(desk.locator("[data-testid=job-barcode] img").screenshot()) == [code]
