"""The inspection page (查验) in real Chromium: pallets, customs checks, the signature pad, the
refused submit that keeps every value, the fumigation task and the record sheet."""

import base64
import io

from PIL import Image
from playwright.sync_api import expect

from tally.ippc import MarkError, parse_mark
from tests.browser.conftest import PHONE, screenshot, sign_in
from tests.conftest import MANIFEST_CSV


def draw_signature(page, selector: str) -> None:
    """Sign on the pad with the mouse: a few strokes across the canvas."""
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    for stroke in (((0.1, 0.6), (0.25, 0.3), (0.4, 0.7), (0.55, 0.35), (0.7, 0.65), (0.9, 0.4)),
                   ((0.2, 0.8), (0.8, 0.75))):
        page.mouse.move(x + w * stroke[0][0], y + h * stroke[0][1])
        page.mouse.down()
        for fx, fy in stroke[1:]:
            page.mouse.move(x + w * fx, y + h * fy, steps=6)
        page.mouse.up()


def has_ink(png: bytes) -> bool:
    """Dark pixels on the signature once composited on white (a transparent pad is not ink)."""
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    gray = Image.alpha_composite(white, image).convert("L")
    return sum(gray.histogram()[:100]) > 200


def test_inspection_at_phone_size_refused_then_fumigated(phone, site):
    manifest = site.new_manifest()
    mid = manifest["id"]
    sign_in(phone, "operator")
    phone.goto(f"/manifests/{mid}/inspection")
    assert manifest["manifest_no"] in phone.inner_text("[data-testid=consignment-head]")
    assert phone.locator("[data-testid=check-row]").count() == 3
    phone.fill("input[name=location]", "Bay 3")
    phone.press("input[name=location]", "Enter")  # next field, not a premature submit
    assert phone.evaluate("document.activeElement.name") == "ciq_officer"
    assert not phone.locator("[data-testid=form-errors]").is_visible()
    phone.fill("input[name=ciq_officer]", "Zhang Wei")
    phone.fill("input[name=customs_officer]", "Li Na")
    pallet = phone.locator("[data-testid=pallet]").first
    assert pallet.locator("input[name=pallet_no]").input_value() == "P1"
    pallet.locator("select[name=material]").select_option("wood")
    assert "No IPPC mark" in pallet.locator("[data-testid=mark-hint]").inner_text()
    # A second pallet with a valid mark: the hint says what the mark means while typing.
    phone.click("[data-testid=add-pallet]")
    second = phone.locator("[data-testid=pallet]").nth(1)
    assert second.locator("input[name=pallet_no]").input_value() == "P2"
    second.locator("input[name=mark_text]").fill("IPPC CN-000123 HT DB")
    hint = second.locator("[data-testid=mark-hint]").inner_text()
    assert "CN" in hint and "000123" in hint and "heat treatment" in hint and "debarked" in hint
    phone.click("[data-testid=add-pallet]")
    assert phone.locator("[data-testid=pallet]").nth(2).locator(
        "input[name=pallet_no]").input_value() == "P3"
    phone.locator("[data-testid=pallet]").nth(2).locator(".remove-pallet").click()
    assert phone.locator("[data-testid=pallet]").count() == 2
    # A failed check shows its note field; back to pass hides it.
    row = phone.locator("[data-testid=check-row]").first
    row.locator("button.verdict[data-aspect=origin]").click()
    assert row.locator("input[data-note=origin]").is_visible()
    row.locator("button.verdict[data-aspect=origin]").click()
    assert not row.locator("input[data-note=origin]").is_visible()
    phone.fill("input[name=escort_name]", "Wang Fang")
    screenshot(phone, "inspection-form-phone")

    # Wood without a mark set to 'pass': refused, the reason beside the form, nothing lost.
    phone.click("[data-testid=submit]")
    errors = phone.locator("[data-testid=form-errors]")
    errors.wait_for(state="visible")
    assert "IPPC mark" in errors.inner_text() and "pallet P1" in errors.inner_text()
    assert "IPPC mark" in pallet.locator("[data-testid=pallet-errors]").inner_text()
    assert phone.locator("#flash").is_visible()
    assert phone.input_value("input[name=location]") == "Bay 3"
    assert phone.input_value("input[name=customs_officer]") == "Li Na"
    assert phone.input_value("input[name=escort_name]") == "Wang Fang"
    assert pallet.locator("select[name=material]").input_value() == "wood"
    assert pallet.locator("select[name=disposition]").input_value() == "pass"
    assert second.locator("input[name=mark_text]").input_value() == "IPPC CN-000123 HT DB"
    status, listed = site.api["operator"].call("GET", f"/api/manifests/{mid}/inspections")
    assert listed["inspections"] == []  # nothing was stored
    screenshot(phone, "inspection-refused-phone")

    # Fumigate instead, sign with the mouse on the pad: recorded, pending on the fumigation.
    pallet.locator("select[name=disposition]").select_option("fumigate")
    draw_signature(phone, "[data-testid=signature-pad]")
    phone.click("[data-testid=submit]")
    result = phone.locator("[data-testid=result]")
    result.wait_for()
    assert result.get_attribute("data-result") == "pending"
    assert not phone.locator("[data-testid=inspection-form]").is_visible()
    unmet = phone.inner_text("[data-testid=unmet]")
    assert "P1: fumigate not recorded done" in unmet and "signed" not in unmet
    assert "Wang Fang" in phone.inner_text("[data-testid=escort-signed]")
    assert not phone.locator("[data-testid=sign-section]").is_visible()
    records = phone.locator("[data-testid=pallet-record]")
    assert "heat treatment" in records.nth(1).inner_text()
    assert "wood packaging without an IPPC mark" in records.nth(0).inner_text()
    screenshot(phone, "inspection-recorded-phone")

    # The fumigation is done: the inspection passes.
    records.nth(0).locator("input[data-task]").fill("熏蒸 SF 24 h, certificate F-88")
    records.nth(0).locator("[data-testid=task-done]").click()
    phone.wait_for_selector("[data-testid=result][data-result=passed]")
    assert "F-88" in phone.inner_text("[data-testid=task-status]")
    assert "Inspected" in phone.inner_text("[data-testid=status]")
    assert phone.locator("[data-testid=task-done]").count() == 0
    screenshot(phone, "inspection-passed-phone")

    # The record sheet is a PDF; the stored signature has ink.
    href = phone.get_attribute("[data-testid=record-pdf]", "href")
    response = phone.request.get(href)
    assert response.status == 200 and response.body().startswith(b"%PDF")
    _, listed = site.api["operator"].call("GET", f"/api/manifests/{mid}/inspections")
    iid = listed["inspections"][-1]["id"]
    status, png = site.api["operator"].call(
        "GET", f"/api/manifests/{mid}/inspections/{iid}/signature.png")
    assert status == 200 and png.startswith(b"\x89PNG")
    assert has_ink(png)

    phone.goto(f"/manifests/{mid}")
    assert "Inspected" in phone.inner_text("[data-testid=status]")

    # Past inspection the page shows the record read-only, with the PDF.
    phone.goto(f"/manifests/{mid}/inspection")
    phone.wait_for_selector("[data-testid=result][data-result=passed]")
    assert phone.locator("[data-testid=inspection-form]").count() == 0
    assert phone.locator("[data-testid=record-pdf]").is_visible()


def test_inspection_at_desk_failed_check_then_signed_later(desk, site):
    manifest = site.new_manifest()
    mid = manifest["id"]
    sign_in(desk, "operator")
    desk.goto(f"/manifests/{mid}/inspection")
    pallet = desk.locator("[data-testid=pallet]").first
    pallet.locator("select[name=material]").select_option("plastic")
    assert not pallet.locator("input[name=mark_text]").is_visible()
    row = desk.locator("[data-testid=check-row]").nth(1)
    row.locator("button.verdict[data-aspect=quantity]").click()
    desk.fill("input[name=location]", "Bay 7")
    screenshot(desk, "inspection-form-desk")

    # A failed check without its note is refused; with the note, recorded as failed.
    desk.click("[data-testid=submit]")
    desk.locator("[data-testid=form-errors]").wait_for(state="visible")
    assert "line no 2, quantity.note" in desk.inner_text("[data-testid=form-errors]")
    assert row.locator("input[data-note=quantity]").get_attribute("aria-invalid") == "true"
    row.locator("input[data-note=quantity]").fill("1 carton missing")
    desk.click("[data-testid=submit]")
    desk.wait_for_selector("[data-testid=result][data-result=failed]")
    unmet = desk.inner_text("[data-testid=unmet]")
    assert "line 2: quantity check failed (1 carton missing)" in unmet
    assert "not signed" in unmet

    # The escort signs afterwards on the record's own pad; a sign without a name is refused.
    draw_signature(desk, "[data-testid=sign-pad]")
    desk.click("[data-testid=sign-submit]")
    desk.wait_for_selector("#flash:not([hidden])")
    assert "name" in desk.inner_text("#flash")
    desk.fill("#sign-name", "Wang Fang")
    desk.click("[data-testid=sign-submit]")
    desk.wait_for_selector("[data-testid=escort-signed]")
    assert "not signed" not in desk.inner_text("[data-testid=unmet]")
    screenshot(desk, "inspection-recorded-desk")

    # A new inspection starts from the recorded values; all checks pass: inspected.
    desk.click("[data-testid=new-inspection]")
    assert desk.input_value("input[name=location]") == "Bay 7"
    assert row.locator("input[data-note=quantity]").input_value() == "1 carton missing"
    row.locator("button.verdict[data-aspect=quantity]").click()
    desk.fill("input[name=escort_name]", "Wang Fang")
    draw_signature(desk, "[data-testid=signature-pad]")
    desk.click("[data-testid=submit]")
    desk.wait_for_selector("[data-testid=result][data-result=passed]")
    _, state = site.api["operator"].call("GET", f"/api/manifests/{mid}/workflow")
    assert state["status"] == "inspected"
    desk.set_viewport_size(PHONE)
    screenshot(desk, "inspection-readonly-phone-width")


IPPC_SAMPLES = [
    "IPPC CN-000123 HT", "CN 000123 HT DB", "CN-000123-HT", "DE-NW-49123 HT", "ippc\nUS-12345\nMB",
    "ＣＮ－０００１２３ ＨＴ", "CN—000123 SF", "HT/DB CN-1", "CN000123 HT", "XX-1 HT", "CHN-123 HT",
    "CN-123", "CN-123 KD HT", "CN-123 HT HT", "", "   ", "123 HT", "CN HT", "(IPPC) CN-000123, SF",
]


def test_the_page_reads_ippc_marks_as_the_server_does(desk, site):
    """The live hint is a port of tally.ippc.parse_mark: the same verdict and problems."""
    manifest = site.new_manifest()
    sign_in(desk, "operator")
    desk.goto(f"/manifests/{manifest['id']}/inspection")
    answers = desk.evaluate("(texts) => texts.map((t) => ippcParse(t))", IPPC_SAMPLES)
    for text, got in zip(IPPC_SAMPLES, answers, strict=True):
        try:
            mark = parse_mark(text)
        except MarkError as exc:
            assert not got["ok"] and got["problems"] == exc.problems, (text, got)
        else:
            assert got["ok"], (text, got)
            assert (got["country"], got["producer"], got["treatments"], got["debarked"]) == (
                mark.country, mark.producer, list(mark.treatments), mark.debarked), text


def test_the_signature_pad_takes_a_finger_at_the_screens_pixel_ratio(phone, site):
    """Touch events (a finger) draw too, and the pad's backing store is CSS size x DPR."""
    manifest = site.new_manifest()
    sign_in(phone, "operator")
    phone.goto(f"/manifests/{manifest['id']}/inspection")
    pad = phone.locator("[data-testid=signature-pad]")
    pad.scroll_into_view_if_needed()
    size = phone.evaluate("""() => { const c = document.querySelector('#form-pad');
        const r = c.getBoundingClientRect();
        return {w: c.width, h: c.height, cw: r.width, ch: r.height, dpr: devicePixelRatio}; }""")
    assert size["dpr"] == 2 and size["w"] == round(size["cw"] * 2) and size["h"] == round(
        size["ch"] * 2)
    assert size["cw"] >= 300 and size["ch"] >= 200  # room for a finger at phone size
    box = pad.bounding_box()
    scrolled = phone.evaluate("scrollY")
    cdp = phone.context.new_cdp_session(phone)
    points = [(box["x"] + box["width"] * f, box["y"] + box["height"] * (0.3 + 0.4 * (i % 2)))
              for i, f in enumerate((0.1, 0.3, 0.5, 0.7, 0.9))]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart",
                                          "touchPoints": [{"x": points[0][0], "y": points[0][1]}]})
    for x, y in points[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove",
                                              "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    url = phone.evaluate("() => formPad.toDataURL()")
    assert url and url.startswith("data:image/png;base64,")
    png = base64.b64decode(url.split(",", 1)[1])
    assert has_ink(png)
    assert Image.open(io.BytesIO(png)).size == (size["w"], size["h"])
    assert phone.evaluate("scrollY") == scrolled  # the page stays put under the finger
    phone.click("#form-pad-clear")
    assert phone.evaluate("() => formPad.isEmpty()")


def test_a_long_manifest_is_checked_page_by_page(desk, site):
    """450 lines on three pages: what is set on one page is kept while turning to another, and
    the record carries a check for every line."""
    header = MANIFEST_CSV.splitlines()[0]
    lines = "".join(f"MF-TEST-1,{n},BL-1,SKU-{n},Item {n},,,AU,1,,,,,\n" for n in range(1, 451))
    mid = site.new_manifest(f"{header}\n{lines}")["id"]
    sign_in(desk, "operator")
    desk.goto(f"/manifests/{mid}/inspection")
    rows = desk.locator("[data-testid=check-row]")
    assert rows.count() == 200
    desk.locator("[data-testid=pallet] select[name=material]").first.select_option("plastic")
    line_3 = desk.locator("tr[data-line-no='3']")
    line_3.locator("button.verdict[data-aspect=origin]").click()
    line_3.locator("input[data-note=origin]").fill("made elsewhere")

    desk.click("[data-testid=checks-pager] a[data-page='3']")
    expect(rows.first).to_have_attribute("data-line-no", "401")
    assert rows.count() == 50 and desk.url.endswith("?page=3")
    desk.locator("tr[data-line-no='450'] button.verdict[data-aspect=value]").click()
    desk.locator("[data-testid=checks-pager]").scroll_into_view_if_needed()
    screenshot(desk, "inspection-pages-desk")
    desk.click("[data-testid=checks-pager] a[data-page='1']")
    expect(rows.first).to_have_attribute("data-line-no", "1")
    assert line_3.locator("input[data-note=origin]").input_value() == "made elsewhere"
    assert line_3.locator("button.verdict[data-aspect=origin]").get_attribute(
        "aria-pressed") == "true"

    # Line 450's failed check has no note: refused, though its page is not the one shown.
    desk.click("[data-testid=submit]")
    errors = desk.locator("[data-testid=form-errors]")
    expect(errors).to_contain_text("line no 450, value.note")
    desk.click("[data-testid=checks-pager-bottom] a[data-page='3']")
    expect(rows.first).to_have_attribute("data-line-no", "401")
    desk.locator("tr[data-line-no='450'] input[data-note=value]").fill("priced low")
    desk.click("[data-testid=submit]")
    desk.wait_for_selector("[data-testid=result][data-result=failed]")
    expect(desk.locator("[data-testid=checks-summary]")).to_contain_text(
        "2 项不合格 failed in 2 line(s); 其余 448 行合格")
    _, listed = site.api["operator"].call("GET", f"/api/manifests/{mid}/inspections")
    checks = listed["inspections"][-1]["checks"]
    assert len(checks) == 450
    failed = {(c["line_no"], aspect, c[aspect]["note"]) for c in checks for aspect in
              ("nature", "origin", "condition", "quantity", "value")
              if c[aspect]["result"] == "fail"}
    assert failed == {(3, "origin", "made elsewhere"), (450, "value", "priced low")}
