"""The reconciliation report in real Chromium: table, chart, the confirm flow, exports, print."""

import re
from pathlib import Path

import pypdfium2
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.conftest import MANIFEST_CSV, WRITE_OFF, passing_inspection

WAIT = 20_000  # ms


def short_on_line_2(site) -> dict:
    """A consignment ready to tally with every unit labelled and scanned but one of line 2."""
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    operator = site.api["operator"]
    for line_no, count in ((1, 3), (2, 1), (3, 1)):
        status, body = operator.call("POST", f"/api/manifests/{mid}/labels",
                                     json_body={"line_no": line_no, "count": count})
        assert status == 201, body
        for label in body["labels"]:
            status, scanned = operator.call(
                "POST", f"/api/manifests/{mid}/scans",
                json_body={"code": label["code"], "client_scan_id": f"r-{mid}-{label['code']}",
                           "device": "HH-01"})
            assert status == 200, scanned
    return manifest


def pdf_page_count(data: bytes) -> int:
    document = pypdfium2.PdfDocument(data)
    try:
        image = document[0].render(scale=1).to_pil().convert("L")
        assert image.getextrema()[0] < 100  # not a blank page
        return len(document)
    finally:
        document.close()


def test_report_confirm_flow(desk, site):
    manifest = short_on_line_2(site)
    mid = manifest["id"]
    sign_in(desk, "supervisor")
    desk.goto(f"/manifests/{mid}/report")
    rows = desk.locator("[data-testid=lines] tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(1).locator("[data-testid=line-status]")).to_have_text("短少 Short")
    expect(rows.nth(0).locator("[data-testid=line-status]")).to_have_text("相符 Match")
    expect(desk.locator("[data-testid=total-counted]")).to_have_text("5")
    expect(desk.locator("[data-testid=progress]")).to_contain_text("5 / 6 (83 %)")
    chart = desk.locator("[data-testid=chart] svg")
    expect(chart.locator("rect")).to_have_count(6)  # declared and counted for 3 lines
    expect(chart.locator("g[data-line='2'] rect.counted")).to_have_attribute("fill", "#b00020")

    # Refused while line 2's short is unexplained: the lines are listed.
    desk.click("[data-testid=confirm]")
    desk.click("[data-testid=confirm-yes]")
    refused = desk.locator("[data-testid=confirm-refused]")
    expect(refused).to_be_visible(timeout=WAIT)
    expect(refused).to_contain_text("line 2: difference -1 is not explained")
    expect(desk.locator("tr[data-line='2']")).to_have_class("line-short unexplained refused")
    screenshot(desk, "report-refused-desk")

    # Recording the discrepancy: choosing line 2 suggests short, never the quantity; a refusal
    # keeps the form.
    desk.select_option("#d-line", "2")
    assert desk.input_value("#d-kind") == "short" and desk.input_value("#d-qty") == ""
    desk.fill("#d-note", "箱内只有 1 件 box held 1")
    desk.fill("#d-disposition", "按实收 Settle on actual received")
    desk.click("#d-submit")
    qty_error = desk.locator("#discrepancy [data-field-error=qty]")
    expect(qty_error).to_contain_text("a whole number of at least 1 is required", timeout=WAIT)
    expect(qty_error).to_contain_text("必须填写不小于 1 的整数")
    expect(desk.locator("#d-qty")).to_have_attribute("aria-invalid", "true")
    assert desk.input_value("#d-note") == "箱内只有 1 件 box held 1"
    assert desk.input_value("#d-disposition") == "按实收 Settle on actual received"
    desk.fill("#d-qty", "1")
    desk.click("#d-submit")
    expect(desk.locator("#flash")).to_contain_text("Recorded discrepancy", timeout=WAIT)
    expect(desk.locator("[data-field-error]")).to_have_count(0)
    line_2 = desk.locator("tr[data-line='2']")
    expect(line_2).to_contain_text("已说明 Explained")
    expect(line_2).to_contain_text("按实收 Settle on actual received")
    expect(desk.locator("[data-testid=balanced]")).to_be_visible()
    expect(desk.locator("[data-testid=records] tbody tr:not(.fix-row)")).to_have_count(1)
    expect(desk.locator("[data-testid=chart] svg rect")).to_have_count(6)  # redrawn
    screenshot(desk, "report-desk")

    # The browser's print, through the print stylesheet: controls gone, the report on A4.
    desk.emulate_media(media="print")
    expect(desk.locator("#discrepancy-card")).to_be_hidden()
    screenshot(desk, "report-print-desk")
    printed = desk.pdf(format="A4", print_background=True)
    assert pdf_page_count(printed) >= 1
    desk.emulate_media(media="screen")

    desk.click("[data-testid=confirm]")
    desk.click("[data-testid=confirm-yes]")
    expect(desk.locator("[data-testid=tally-confirmed]")).to_contain_text("理货已确认",
                                                                          timeout=WAIT)
    # The outbox worker may already have the list approved by the simulator: either is right.
    expect(desk.locator("[data-testid=status]")).to_contain_text(re.compile("Tallied|Declared"))
    expect(desk.locator("[data-testid=discrepancy-form]")).to_have_count(0)
    expect(desk.locator("[data-testid=confirm]")).to_have_count(0)
    expect(desk.locator("#flash")).to_contain_text("Tally confirmed")

    # "Printing a PDF": the report's own PDF, and the XLSX, as the manager downloads them.
    with desk.expect_download(timeout=WAIT) as download:
        desk.click("[data-testid=export-pdf]")
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"%PDF") and pdf_page_count(data) >= 1
    assert download.value.suggested_filename == f"reconciliation-{manifest['manifest_no']}.pdf"
    with desk.expect_download(timeout=WAIT) as download:
        desk.click("[data-testid=export-xlsx]")
    assert Path(download.value.path()).read_bytes().startswith(b"PK")
    screenshot(desk, "report-confirmed-desk")


def test_operator_sees_no_confirm_button(phone, site):
    manifest = short_on_line_2(site)
    sign_in(phone, "operator")
    phone.goto(f"/manifests/{manifest['id']}/report")
    expect(phone.locator("[data-testid=lines] tbody tr")).to_have_count(3)
    expect(phone.locator("[data-testid=confirm]")).to_have_count(0)
    expect(phone.locator("[data-testid=confirm-needs-supervisor]")).to_be_visible()
    expect(phone.locator("[data-testid=discrepancy-form]")).to_be_visible()
    expect(phone.locator("[data-testid=chart] svg rect")).to_have_count(6)
    # An operator records the short from the phone: line 2 and short are suggested, and the
    # quantity is typed.
    assert phone.input_value("#d-line") == "2" and phone.input_value("#d-kind") == "short"
    assert phone.input_value("#d-qty") == ""
    phone.fill("#d-qty", "1")
    phone.fill("#d-disposition", "按实收 Settle on actual received")
    phone.click("#d-submit")
    expect(phone.locator("#flash")).to_contain_text("Recorded discrepancy", timeout=WAIT)
    expect(phone.locator("tr[data-line='2']")).to_contain_text("已说明 Explained")
    expect(phone.locator("[data-testid=records] tbody tr")).to_have_count(1)
    expect(phone.locator("[data-testid=confirm]")).to_have_count(0)
    expect(phone.locator("[data-testid=correct-needs-supervisor]")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "report-phone")


def test_supervisor_corrects_and_withdraws_records(desk, phone, site):
    manifest = short_on_line_2(site)
    mid = manifest["id"]
    sign_in(desk, "supervisor")
    desk.goto(f"/manifests/{mid}/report")
    line_2 = desk.locator("tr[data-line='2']")
    records = desk.locator("[data-testid=records] tbody tr[data-record]:not(.fix-row)")

    # A wrong record: short 2 on line 2, where one unit is missing.
    desk.select_option("#d-line", "2")
    desk.fill("#d-qty", "2")
    desk.fill("#d-note", "箱内只有 1 件 box held 1")
    desk.click("#d-submit")
    expect(desk.locator("#flash")).to_contain_text("Recorded discrepancy", timeout=WAIT)
    expect(line_2.locator("[data-testid=unexplained]")).to_contain_text("+1")
    # And a second record, damaged 1 on line 1, to be withdrawn.
    desk.select_option("#d-line", "1")
    desk.select_option("#d-kind", "damaged")
    desk.fill("#d-qty", "1")
    desk.click("#d-submit")
    expect(records).to_have_count(2, timeout=WAIT)
    wrong, damaged = records.nth(0), records.nth(1)
    wrong_id = wrong.get_attribute("data-record")
    damaged_id = damaged.get_attribute("data-record")

    # Correct: the form comes prefilled with the record; the reason is required.
    wrong.locator("[data-testid=correct]").click()
    form = desk.locator(f"#fix-{wrong_id} [data-testid=correct-form]")
    expect(form).to_be_visible()
    assert form.locator("[name=line_no]").input_value() == "2"
    assert form.locator("[name=line_no] option").evaluate_all(
        "options => options.map((o) => o.value)") == ["1", "2", "3", ""]  # this page's lines
    assert form.locator("[name=kind]").input_value() == "short"
    assert form.locator("[name=qty]").input_value() == "2"
    assert form.locator("[name=note]").input_value() == "箱内只有 1 件 box held 1"
    form.locator("[name=qty]").fill("1")
    form.locator("[name=disposition]").fill("按实收 Settle on actual received")
    form.locator("button[type=submit]").click()
    expect(desk.locator("#flash")).to_contain_text("reason is required")
    assert form.locator("[name=qty]").input_value() == "1"  # nothing typed is lost
    form.locator("[name=reason]").fill("数量录错 qty entered wrongly")
    screenshot(desk, "report-correct-form-desk")
    form.locator("button[type=submit]").click()
    expect(desk.locator("#flash")).to_contain_text(f"Corrected discrepancy #{wrong_id}",
                                                   timeout=WAIT)
    expect(line_2).to_contain_text("已说明 Explained")
    expect(records).to_have_count(3)
    old = desk.locator(f"[data-testid=records] tr[data-record='{wrong_id}']:not(.fix-row)")
    expect(old).to_have_class(re.compile("not-in-force"))
    expect(old.locator("[data-testid=in-force]")).to_contain_text("Replaced by #")
    expect(old.locator("[data-testid=correct]")).to_have_count(0)
    replacement = records.nth(2)
    expect(replacement.locator("[data-testid=corrects]")).to_have_text(
        re.compile(rf"更正 #\d+ replaces #{wrong_id}$"))
    expect(replacement).to_contain_text("数量录错 qty entered wrongly")
    expect(replacement.locator("[data-testid=in-force]")).to_contain_text("In force")

    # Withdraw the damaged record.
    damaged.locator("[data-testid=withdraw]").click()
    withdraw = desk.locator(f"#fix-{damaged_id} [data-testid=withdraw-form]")
    expect(withdraw).to_be_visible()
    expect(desk.locator(f"#fix-{damaged_id} [data-testid=correct-form]")).to_be_hidden()
    withdraw.locator("[name=reason]").fill("重复记录 recorded twice")
    withdraw.locator("button[type=submit]").click()
    expect(desk.locator("#flash")).to_contain_text(f"Withdrew discrepancy #{damaged_id}",
                                                   timeout=WAIT)
    expect(records).to_have_count(4)
    gone = desk.locator(f"[data-testid=records] tr[data-record='{damaged_id}']")
    expect(gone).to_have_class(re.compile("not-in-force"))
    expect(gone.locator("[data-testid=in-force]")).to_contain_text("Withdrawn by #")
    expect(records.nth(3).locator("[data-testid=corrects]")).to_have_text(
        re.compile(rf"撤销 #\d+ withdraws #{damaged_id}$"))
    expect(desk.locator("[data-testid=balanced]")).to_be_visible()
    # Only the replacement is left to correct.
    expect(desk.locator("[data-testid=records] [data-testid=correct]")).to_have_count(1)
    screenshot(desk, "report-corrections-desk")

    # A refused correction (the record was corrected meanwhile) shows the API's message.
    replacement_id = replacement.get_attribute("data-record")
    replacement.locator("[data-testid=withdraw]").click()
    status, _ = site.api["supervisor"].call(
        "POST", f"/api/manifests/{mid}/discrepancies",
        json_body={"corrects": int(replacement_id), "action": "reverse", "note": "elsewhere"})
    assert status == 201
    withdraw = desk.locator(f"#fix-{replacement_id} [data-testid=withdraw-form]")
    withdraw.locator("[name=reason]").fill("再撤销 again")
    withdraw.locator("button[type=submit]").click()
    expect(desk.locator("#flash")).to_contain_text("already corrected", timeout=WAIT)
    assert withdraw.locator("[name=reason]").input_value() == "再撤销 again"

    # An operator sees the records but no correct or withdraw buttons.
    sign_in(phone, "operator")
    phone.goto(f"/manifests/{mid}/report")
    expect(phone.locator("[data-testid=records] tbody tr")).to_have_count(5)
    expect(phone.locator("[data-testid=correct]")).to_have_count(0)
    expect(phone.locator("[data-testid=withdraw]")).to_have_count(0)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "report-corrections-phone")


def test_a_long_report_is_read_and_explained_page_by_page(desk, site):
    """450 lines on three pages: a discrepancy recorded on page 2 leaves the report on page 2."""
    header = MANIFEST_CSV.splitlines()[0]
    lines = "".join(f"MF-TEST-1,{n},BL-1,SKU-{n},Item {n},,,AU,1,,,,,\n" for n in range(1, 451))
    mid = site.new_manifest(f"{header}\n{lines}")["id"]
    status, body = site.api["operator"].call("POST", f"/api/manifests/{mid}/inspections",
                                             json_body=passing_inspection(range(1, 451)))
    assert status == 201, body
    status, body = site.api["supervisor"].call("POST", f"/api/manifests/{mid}/write-off",
                                               json_body=WRITE_OFF)
    assert status == 200, body
    sign_in(desk, "operator")
    desk.goto(f"/manifests/{mid}/report")
    rows = desk.locator("[data-testid=lines] tbody tr")
    expect(rows).to_have_count(200)
    expect(desk.locator("[data-testid=chart] svg rect")).to_have_count(400)
    desk.click("[data-testid=pager] a[data-page='2']")
    expect(rows.first).to_have_attribute("data-line", "201")
    assert desk.input_value("#d-line") == "201"  # nothing counted yet: this page's first line
    desk.select_option("#d-line", "250")
    desk.fill("#d-qty", "1")
    desk.fill("#d-note", "未到货 not arrived")
    desk.click("#d-submit")
    expect(desk.locator("#flash")).to_contain_text("Recorded discrepancy", timeout=WAIT)
    expect(rows.first).to_have_attribute("data-line", "201")
    expect(desk.locator("tr[data-line='250']")).to_contain_text("短少 Short 1")
    expect(desk.locator("[data-testid=pager]")).to_contain_text("201–400 / 450")
    screenshot(desk, "report-pages-desk")
