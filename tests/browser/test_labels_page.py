"""The labels page in real Chromium: issue, preview, download the PDF, reprint a copy."""

from pathlib import Path

import pypdfium2
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in

WAIT = 20_000  # ms: generous, the server renders PNGs and PDFs while the test waits

PREVIEW_LOADED = """(count) => {
  const images = [...document.querySelectorAll('#preview img')];
  return images.length === count && images.every((i) => i.complete && i.naturalWidth > 0);
}"""


def pdf_pages(path: Path) -> tuple[int, bytes]:
    data = path.read_bytes()
    document = pypdfium2.PdfDocument(data)
    try:
        return len(document), data
    finally:
        document.close()


def test_issue_preview_download_and_reprint(desk, site):
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    sign_in(desk, "operator")
    desk.goto("/labels")
    desk.select_option("#choose-manifest", str(mid))  # choosing opens the consignment
    desk.wait_for_url(f"**/labels?manifest={mid}")
    expect(desk.locator("[data-testid=lines] tbody tr")).to_have_count(3)
    assert desk.input_value("#issue-count") == "3"  # declared 3, none issued yet
    expect(desk.locator("[data-testid=send-printer]")).to_be_disabled()
    expect(desk.locator("[data-testid=no-printer]")).to_contain_text("TALLY_PRINTER")

    # A refused issue keeps what was typed and says why.
    desk.fill("#issue-count", "0")
    desk.fill("#issue-box", "BOX-1")
    desk.click("#issue-submit")
    count_error = desk.locator("#issue [data-field-error=count]")  # beside the field (api.js)
    expect(count_error).to_contain_text("a whole number from 1", timeout=WAIT)
    assert desk.input_value("#issue-box") == "BOX-1"
    # Past the declared 3 and the surplus allowance of 5: refused, saying what is left.
    desk.fill("#issue-count", "9")
    desk.click("#issue-submit")
    expect(desk.locator("#flash")).to_contain_text("8 more can be issued", timeout=WAIT)
    expect(desk.locator("#flash")).to_contain_text("A supervisor can issue more")
    expect(desk.locator("[data-testid=issued-1]")).to_have_text("0")

    desk.fill("#issue-count", "3")
    desk.click("#issue-submit")
    expect(desk.locator("#flash")).to_contain_text("Issued 3 label(s) for line 1", timeout=WAIT)
    expect(desk.locator("[data-testid=issued-1]")).to_have_text("3")
    expect(desk.locator("#issued-total")).to_have_text("3")
    assert desk.input_value("#issue-count") == ""  # line 1 is fully labelled now
    assert desk.input_value("#print-line") == "1" and desk.input_value("#print-box") == "BOX-1"
    expect(desk.locator("[data-testid=selection]")).to_contain_text("3 张标签 label(s)",
                                                                    timeout=WAIT)
    desk.wait_for_function(PREVIEW_LOADED, arg=3, timeout=WAIT)
    codes = desk.eval_on_selector_all("#preview img", "images => images.map(i => i.dataset.code)")
    assert len(set(codes)) == 3

    # Line 2 via its row's button: the count follows the line.
    desk.click("tr[data-line='2'] button.pick")
    assert desk.input_value("#issue-line") == "2" and desk.input_value("#issue-count") == "2"

    with desk.expect_download(timeout=WAIT) as download:
        desk.click("#download-pdf")
    assert download.value.suggested_filename == f"labels-{mid}.pdf"
    pages, data = pdf_pages(Path(download.value.path()))
    # One page per label on a label roll: BOX-1's box label, then its 3 unit labels.
    assert data.startswith(b"%PDF") and pages == 4

    desk.select_option("#print-sheet", "a4")
    desk.select_option("#print-line", "")
    with desk.expect_download(timeout=WAIT) as download:
        desk.click("#download-pdf")
    assert pdf_pages(Path(download.value.path()))[0] == 1  # three labels on one A4 sheet
    screenshot(desk, "labels-desk")

    # Reprint: the scanner's Enter asks for the reason first, nothing typed is lost.
    desk.fill("#reprint-code", codes[0].lower())
    desk.press("#reprint-code", "Enter")
    expect(desk.locator("#flash")).to_contain_text("reason")
    assert desk.input_value("#reprint-code") == codes[0].lower()
    desk.fill("#reprint-reason", "污损 Smudged")
    desk.click("#reprint-submit")
    result = desk.locator("[data-testid=reprint-result]")
    expect(result).to_contain_text(f"Copy 1 of {codes[0]}", timeout=WAIT)
    image = result.locator("img[data-testid=reprint-image]")
    assert image.get_attribute("src").startswith(f"/api/labels/{codes[0]}.png?copy=1&")
    desk.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=reprint-image]');"
        " return i && i.complete && i.naturalWidth > 0; }", timeout=WAIT)
    original = desk.request.get(f"/api/labels/{codes[0]}.png").body()
    copy = desk.request.get(f"/api/labels/{codes[0]}.png?copy=1").body()
    assert copy != original  # the copy carries its COPY 1 / 副本 mark
    with desk.expect_download(timeout=WAIT) as download:
        result.locator("text=副本 PDF").click()
    assert pdf_pages(Path(download.value.path()))[0] == 1
    # An unknown code is refused readably; the reason stays for the next try.
    desk.fill("#reprint-code", "U000000000000")
    desk.click("#reprint-submit")
    expect(desk.locator("#flash")).to_contain_text("no unit with code", timeout=WAIT)
    assert desk.input_value("#reprint-reason") == "污损 Smudged"
    screenshot(desk, "labels-reprint-desk")


def test_labels_page_on_a_phone(phone, site):
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    status, body = site.api["operator"].call("POST", f"/api/manifests/{mid}/labels",
                                             json_body={"line_no": 2, "count": 2,
                                                        "box_no": "BOX-7"})
    assert status == 201, body
    sign_in(phone, "operator")
    phone.goto(f"/labels?manifest={mid}")
    expect(phone.locator("[data-testid=issued-2]")).to_have_text("2")
    phone.select_option("#issue-line", "2")
    assert phone.input_value("#issue-count") == ""  # declared 2, issued 2
    phone.select_option("#issue-line", "3")
    assert phone.input_value("#issue-count") == "1"
    phone.wait_for_function(PREVIEW_LOADED, arg=2, timeout=WAIT)
    # The page fits the phone: nothing wider than the screen.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "labels-phone")
    phone.goto("/labels?manifest=999999")
    expect(phone.locator("[data-testid=page-error]")).to_contain_text("999999")
    screenshot(phone, "labels-choose-phone")
