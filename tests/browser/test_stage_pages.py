"""Where a consignment stands, on every page, in real Chromium at phone and desk sizes: not open yet
(inspection, write-off pending), counting not started, counting, closed (tallied); every form a
page leaves out says why; the discrepancy form never comes with a quantity filled in."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.conftest import MANIFEST_CSV

WAIT = 20_000  # ms
DECLARED = {1: 12, 2: 8, 3: 6, 4: 10}  # 36 units, as the demo consignment
CSV_36 = MANIFEST_CSV.splitlines()[0] + "\n" + "".join(
    f"MF-TEST-1,{n},BL-1,SKU-{n},Item {n},,,AU,{qty},,,,,\n" for n, qty in DECLARED.items())
NOT_OPEN = "理货未开始：查验、核销待完成 The tally opens after inspection and write-off"
NOT_WRITTEN_OFF = "理货未开始：核销待完成 The tally opens after write-off"
NOT_COUNTED = ("理货未开始计数，0 / 36：先发放标签，再扫描 Counting not started, 0 / 36: "
               "issue labels, then scan")
CONFIRMED = "理货已确认 The tally is confirmed: nothing more can be recorded"
NOT_COUNTED_YET = "未计数 Not counted yet"


@pytest.fixture(params=["phone", "desk"])
def view(request):
    """The page at phone size, then at desk size, and the size's name for screenshots."""
    return request.getfixturevalue(request.param), request.param


def label_and_scan(site, mid: int, counts: dict[int, int]) -> None:
    """Issue ``counts`` labels per line and scan them all in one batch."""
    operator = site.api["operator"]
    codes = []
    for line_no, count in counts.items():
        status, body = operator.call("POST", f"/api/manifests/{mid}/labels",
                                     json_body={"line_no": line_no, "count": count})
        assert status == 201, body
        codes += [label["code"] for label in body["labels"]]
    status, body = operator.call("POST", f"/api/manifests/{mid}/scans", json_body={"scans": [
        {"code": code, "client_scan_id": f"st-{mid}-{code}"} for code in codes]})
    assert status == 200, body


def open_scan(page, mid: int) -> None:
    page.goto(f"/scan?manifest={mid}")
    page.wait_for_selector("#scan[data-queue-ready='1']")


def fits(page, size: str) -> None:
    if size == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= 390


def expect_not_counted_lines(page) -> None:
    """Every line neutral: neither short nor over, nothing flagged unexplained."""
    statuses = page.locator("[data-testid=lines] tbody [data-testid=line-status]")
    expect(statuses).to_have_count(len(DECLARED))
    assert statuses.all_inner_texts() == [NOT_COUNTED_YET] * len(DECLARED)
    expect(page.locator("[data-testid=lines] [data-testid=unexplained]")).to_have_count(0)
    expect(page.locator("[data-testid=lines] tr.line-short")).to_have_count(0)
    expect(page.locator("[data-testid=unbalanced]")).to_have_count(0)
    expect(page.locator("[data-testid=lines] tfoot")).to_contain_text(NOT_COUNTED_YET)


def test_an_arrived_consignment_is_not_open_yet_on_every_page(view, site):
    page, size = view
    manifest = site.new_manifest(CSV_36)
    mid = manifest["id"]
    inspection = f"/manifests/{mid}/inspection"
    sign_in(page, "supervisor")

    # The scan page: not "closed", but not open yet, with what is pending and where to do it.
    open_scan(page, mid)
    note = page.locator("[data-testid=closed-note]")
    expect(note).to_be_visible()
    expect(note).to_contain_text(NOT_OPEN)
    expect(note).to_contain_text("不可扫描 No scans")
    expect(note).not_to_contain_text("关闭")
    expect(note).not_to_contain_text("closed")
    expect(note.locator("[data-testid=stage-link]")).to_have_attribute("href", inspection)
    expect(page.locator("[data-testid=manifest] option:checked")).to_contain_text(
        "不可扫描 no scans")
    fits(page, size)
    screenshot(page, f"stage-arrived-scan-{size}")
    page.select_option("[data-testid=manifest]", "")
    expect(note).to_be_hidden()

    # The consignment page says where it stands and links the inspection.
    page.goto(f"/manifests/{mid}")
    stage = page.locator("[data-testid=stage]")
    expect(stage).to_have_attribute("data-stage", "not_open_yet")
    expect(stage).to_contain_text(NOT_OPEN)
    expect(stage.locator("[data-testid=stage-link]")).to_have_attribute("href", inspection)
    fits(page, size)
    screenshot(page, f"stage-arrived-consignment-{size}")

    # The report: nothing counted yet, and both missing forms say why.
    page.goto(f"/manifests/{mid}/report")
    expect_not_counted_lines(page)
    expect(page.locator("[data-testid=summary] [data-testid=stage]")).to_contain_text(NOT_OPEN)
    expect(page.locator("[data-testid=discrepancy-form]")).to_have_count(0)
    expect(page.locator("[data-testid=confirm]")).to_have_count(0)
    for missing in ("discrepancy-unavailable", "confirm-unavailable"):
        reason = page.locator(f"[data-testid={missing}]")
        expect(reason).to_be_visible()
        expect(reason).to_contain_text(NOT_OPEN)
        expect(reason.locator("[data-testid=stage-link]")).to_have_attribute("href", inspection)
    fits(page, size)
    screenshot(page, f"stage-arrived-report-{size}")

    # The labels page: no issue form, and why.
    page.goto(f"/labels?manifest={mid}")
    expect(page.locator("#issue")).to_have_count(0)
    expect(page.locator("[data-testid=tally-closed]")).to_contain_text(NOT_OPEN)
    expect(page.locator("main")).to_contain_text(
        "Labels are issued once the tally opens")
    screenshot(page, f"stage-arrived-labels-{size}")
    # The consignment chooser shows this consignment, not another one that happens to be first.
    expect(page.locator("#choose-manifest option:checked")).to_have_text(
        re.compile(re.escape(manifest["manifest_no"])))

    # The link goes to the step that is pending.
    page.goto(f"/manifests/{mid}/report")
    page.locator("[data-testid=discrepancy-unavailable] [data-testid=stage-link]").click()
    expect(page).to_have_url(re.compile(rf"/manifests/{mid}/inspection$"))


def test_an_inspected_consignment_waits_for_the_write_off(phone, site):
    from tests.conftest import passing_inspection

    mid = site.new_manifest(CSV_36)["id"]
    status, body = site.api["operator"].call("POST", f"/api/manifests/{mid}/inspections",
                                             json_body=passing_inspection(DECLARED))
    assert status == 201, body
    sign_in(phone, "operator")
    open_scan(phone, mid)
    note = phone.locator("[data-testid=closed-note]")
    expect(note).to_contain_text(NOT_WRITTEN_OFF)
    screenshot(phone, "stage-inspected-scan-phone")
    # The write-off has no page: the link opens the consignment's next step, which names it.
    note.locator("[data-testid=stage-link]").click()
    expect(phone).to_have_url(re.compile(rf"/manifests/{mid}#next-step$"))
    expect(phone.locator("[data-testid=next-action]")).to_contain_text("核销 Write off")
    # On the consignment page itself the stage links nowhere: its next step is right there.
    expect(phone.locator("[data-testid=stage]")).to_contain_text(NOT_WRITTEN_OFF)
    expect(phone.locator("[data-testid=stage] [data-testid=stage-link]")).to_have_count(0)


def test_before_any_scan_counting_has_not_started(view, site):
    page, size = view
    mid = site.cleared_manifest(CSV_36)["id"]
    sign_in(page, "supervisor")

    # The consignment page: counting not started, not a difference per line.
    page.goto(f"/manifests/{mid}")
    expect(page.locator("[data-testid=stage]")).to_contain_text(NOT_COUNTED)
    expect(page.locator("[data-testid=stage] [data-testid=stage-link]")).to_have_attribute(
        "href", f"/labels?manifest={mid}")
    blocked = page.locator("[data-testid=blocked] li")
    expect(blocked).to_have_count(1)
    expect(blocked).to_have_text(NOT_COUNTED)
    expect(page.locator("main")).not_to_contain_text("is not explained")
    fits(page, size)
    screenshot(page, f"stage-not-counted-consignment-{size}")

    # The report: lines not counted yet, no quantity filled in for any line.
    page.goto(f"/manifests/{mid}/report")
    expect_not_counted_lines(page)
    expect(page.locator("[data-testid=summary] [data-testid=stage]")).to_contain_text(
        NOT_COUNTED)
    expect(page.locator("[data-testid=discrepancy-form]")).to_be_visible()
    assert page.input_value("#d-qty") == ""
    assert "unexplained" not in " ".join(page.locator("#d-line option").all_inner_texts())
    for line_no in DECLARED:
        page.select_option("#d-line", str(line_no))
        assert page.input_value("#d-qty") == ""
    fits(page, size)
    screenshot(page, f"stage-not-counted-report-{size}")
    # Confirming now is refused with the same words.
    page.click("[data-testid=confirm]")
    page.click("[data-testid=confirm-yes]")
    refused = page.locator("[data-testid=confirm-refused]")
    expect(refused).to_be_visible(timeout=WAIT)
    expect(refused.locator("li")).to_have_text([NOT_COUNTED])

    # One unit counted: now the differences are named, and still no quantity is filled in.
    label_and_scan(site, mid, {1: 1})
    page.goto(f"/manifests/{mid}/report")
    line_1 = page.locator("tr[data-line='1']")
    expect(line_1.locator("[data-testid=line-status]")).to_have_text("短少 Short")
    expect(line_1.locator("[data-testid=unexplained]")).to_contain_text("-11")
    expect(page.locator("[data-testid=unbalanced]")).to_be_visible()
    assert page.input_value("#d-line") == "1" and page.input_value("#d-kind") == "short"
    assert page.input_value("#d-qty") == ""
    page.select_option("#d-line", "4")
    assert page.input_value("#d-qty") == ""
    # The record is written only with a quantity typed in.
    page.click("#d-submit")
    # The quantity's message under the quantity (api.js showFieldErrors), the refusal in the flash.
    expect(page.locator("#discrepancy [data-field-error=qty]")).to_contain_text(
        "a whole number", timeout=WAIT)
    expect(page.locator("#flash")).to_contain_text("nothing was recorded")
    expect(page.locator("[data-testid=records] tbody tr[data-record]")).to_have_count(0)
    screenshot(page, f"stage-counting-report-{size}")
    page.goto(f"/manifests/{mid}")
    expect(page.locator("[data-testid=stage]")).to_contain_text(
        "理货中，已点 1 / 36 Counting: 1 / 36 counted")
    expect(page.locator("[data-testid=blocked]")).to_contain_text(
        "line 1: difference -11 is not explained")


def test_a_tallied_consignment_is_closed_on_every_page(view, site):
    page, size = view
    mid = site.cleared_manifest(CSV_36)["id"]
    label_and_scan(site, mid, DECLARED)
    status, body = site.api["supervisor"].call("POST", f"/api/manifests/{mid}/tally/confirm")
    assert status == 200, body
    sign_in(page, "supervisor")

    page.goto(f"/manifests/{mid}/report")
    expect(page.locator("[data-testid=tally-confirmed]")).to_be_visible()
    statuses = page.locator("[data-testid=lines] tbody [data-testid=line-status]")
    assert statuses.all_inner_texts() == ["相符 Match"] * len(DECLARED)
    expect(page.locator("[data-testid=discrepancy-form]")).to_have_count(0)
    expect(page.locator("[data-testid=confirm]")).to_have_count(0)
    for missing in ("discrepancy-unavailable", "confirm-unavailable"):
        reason = page.locator(f"[data-testid={missing}]")
        expect(reason).to_have_text(CONFIRMED)
        expect(reason).to_have_attribute("data-stage", "closed")
    fits(page, size)
    screenshot(page, f"stage-tallied-report-{size}")

    open_scan(page, mid)
    note = page.locator("[data-testid=closed-note]")
    expect(note).to_be_visible()
    expect(note).to_contain_text(CONFIRMED)
    expect(note).not_to_contain_text("理货未开始")
    expect(note.locator("[data-testid=stage-link]")).to_have_count(0)
    fits(page, size)
    screenshot(page, f"stage-tallied-scan-{size}")

    page.goto(f"/manifests/{mid}")
    expect(page.locator("[data-testid=stage]")).to_have_text(CONFIRMED)

    page.goto(f"/labels?manifest={mid}")
    expect(page.locator("#issue")).to_have_count(0)
    expect(page.locator("[data-testid=tally-closed]")).to_have_text(CONFIRMED)
    expect(page.locator("main")).to_contain_text(
        "the issued ones can still be downloaded and reprinted")
