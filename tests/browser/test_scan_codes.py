"""The codes around the unit labels on the handheld page, in real Chromium at a phone's and a
desk's size: a job barcode opens its consignment, a box label sets the box, a unit of another box
is flagged with the box it belongs to, a product's EAN shows its line and counts nothing (and
prints a unit label for a unit that lost its own), a GS1 carton barcode (typed by a 2D scanner or
photographed) becomes the carton whose batch and expiry the next units take."""

import io
import json
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from playwright.sync_api import expect

from bench.carton import photographed_carton
from tally.units import job_code, make_code
from tests.browser.conftest import (
    CHROMIUM,
    DESK,
    FLAGS,
    PHONE,
    axe_violations,
    describe_violations,
    screenshot,
    sign_in,
)
from tests.browser.test_scan import (
    GS,
    RESULT,
    WAIT,
    background,
    counted,
    expect_result,
    issue,
    ledger,
    open_scan,
    wedge,
    y4m_of,
)
from tests.browser.test_scan_bursts import RECORDER, TONES, tones

NOTE = "[data-testid=result-note]"
BOX = "[data-testid=box]"
CARTON = "[data-testid=carton]"
CARTON_TEXT = "[data-testid=carton-text]"
MILK_GTIN = "09300633603168"  # line 1 of tests/conftest.py's MANIFEST_CSV
STRANGER_EAN = "4006381333931"  # a valid EAN-13 on no line of it
BLUE, AMBER, RED = "rgb(11, 79, 138)", "rgb(242, 169, 0)", "rgb(176, 0, 32)"
SIZES = {"phone": PHONE, "desk": DESK}


@pytest.fixture(params=sorted(SIZES))
def view(request, browser, site):
    """A page at a phone's size (390 x 844, touch) and at a desk's (1366 x 768)."""
    size = request.param
    options = ({"has_touch": True, "is_mobile": True, "device_scale_factor": 2}
               if size == "phone" else {})
    context = browser.new_context(base_url=site.base, viewport=SIZES[size], **options)
    context.add_init_script(RECORDER)
    page = context.new_page()
    page.size_name = size
    yield page
    context.close()


def today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def yymmdd(day: date) -> str:
    return day.strftime("%y%m%d")


def wedge_gs1(page, text: str) -> None:
    """A 2D scanner's read of a GS1 element string: GS sent as Ctrl+], then Enter."""
    for n, piece in enumerate(text.split(GS)):
        if n:
            page.keyboard.press("Control+BracketRight")
        page.keyboard.type(piece, delay=5)
    page.keyboard.press("Enter")


def box_codes(site, mid: int) -> dict[str, str]:
    status, body = site.api["operator"].call("GET", f"/api/manifests/{mid}/boxes")
    assert status == 200, body
    return {box["box_no"]: box["code"] for box in body["boxes"]}


def lots(site, mid: int) -> dict[int, list[tuple]]:
    status, report = site.api["operator"].call("GET", f"/api/manifests/{mid}/reconciliation")
    assert status == 200, report
    return {line["line_no"]: [(lot["batch"], lot["expiry"], lot["counted"])
                              for lot in line["lots"]] for line in report["lines"]}


def test_job_and_box_barcodes_open_the_consignment_and_set_the_box(view, site):
    first = site.cleared_manifest()
    other = site.cleared_manifest()
    arrived = site.new_manifest()  # not inspected: takes no scans
    mid = other["id"]
    box_a = issue(site, mid, 1, 2, "BOX-A")
    box_b = issue(site, mid, 2, 1, "BOX-B")
    box_c = issue(site, first["id"], 1, 1, "BOX-C")
    sign_in(view, "operator")
    open_scan(view, f"manifest={first['id']}")
    tones(view)

    # The job barcode of another consignment, read at scanner speed: that consignment is open.
    wedge(view, job_code(mid))
    expect_result(view, "job", job_code(mid))
    expect(view.locator(RESULT)).to_have_class(re.compile(r"\btone-info\b"))
    assert background(view, RESULT) == BLUE
    expect(view.locator("[data-testid=result-line]")).to_contain_text(other["manifest_no"])
    assert view.input_value("[data-testid=manifest]") == str(mid)
    expect(view).to_have_url(re.compile(rf"manifest={mid}(&|$)"))
    expect(view.locator("[data-testid=line-count-1]")).to_have_text("0 / 3")
    assert tones(view) == [880, 1320]
    screenshot(view, f"scan-job-opened-{view.size_name}")

    # Its box label: the box is set.
    wedge(view, box_codes(site, mid)["BOX-A"])
    expect_result(view, "box", box_codes(site, mid)["BOX-A"])
    expect(view.locator(BOX)).to_have_value("BOX-A")
    expect(view).to_have_url(re.compile(r"box=BOX-A"))
    expect(view.locator(NOTE)).to_contain_text("2 label(s) issued")

    # A unit of BOX-B scanned into BOX-A: counted, amber, its own sound, and where it belongs.
    tones(view)
    wedge(view, box_b[0])
    expect_result(view, "counted", box_b[0])
    expect(view.locator(RESULT)).to_have_class(re.compile(r"\btone-box\b"))
    assert background(view, RESULT) == AMBER
    expect(view.locator(NOTE)).to_have_text(
        "属于箱 BOX-B，不是箱 BOX-A Belongs to box BOX-B, not BOX-A")
    assert tones(view) == [1050, 525]
    screenshot(view, f"scan-other-box-{view.size_name}")
    wedge(view, box_a[0])
    expect_result(view, "counted", box_a[0])
    expect(view.locator(RESULT)).to_have_class(re.compile(r"\btone-ok\b"))
    expect(view.locator(NOTE)).to_have_text("")
    wedge(view, box_b[0])  # again: a duplicate, still said to be from another box
    expect_result(view, "duplicate", box_b[0])
    expect(view.locator(NOTE)).to_contain_text("Belongs to box BOX-B, not BOX-A")

    # The box label of the first consignment's box: back to that consignment, said so.
    code_c = box_codes(site, first["id"])["BOX-C"]
    wedge(view, code_c)
    expect_result(view, "box", code_c)
    expect(view.locator(NOTE)).to_contain_text(
        f"Switched to consignment {first['manifest_no']}")
    assert view.input_value("[data-testid=manifest]") == str(first["id"])
    expect(view.locator(BOX)).to_have_value("BOX-C")
    wedge(view, box_c[0])
    expect_result(view, "counted", box_c[0])
    expect(view.locator(NOTE)).to_have_text("")

    # A consignment whose tally is not open: said, in both languages, with its status; the
    # page stays where it was.
    wedge(view, job_code(arrived["id"]))
    expect_result(view, "job_closed", job_code(arrived["id"]))
    expect(view.locator(NOTE)).to_contain_text(
        f"Consignment {arrived['manifest_no']} takes no scans: 到货 Arrived")
    expect(view.locator(NOTE)).to_contain_text("理货未开始")
    assert view.input_value("[data-testid=manifest]") == str(first["id"])
    expect(view.locator(BOX)).to_have_value("BOX-C")
    # A job barcode naming no consignment: not found, in red.
    nobody = make_code(99_999_999_999, "J")
    wedge(view, nobody)
    expect_result(view, "not_found", nobody)
    assert background(view, RESULT) == RED
    screenshot(view, f"scan-job-not-found-{view.size_name}")

    # Only the unit labels reached the ledgers.
    assert [r["code"] for r in ledger(site, mid)] == [box_b[0], box_a[0], box_b[0]]
    assert [r["code"] for r in ledger(site, first["id"])] == [box_c[0]]
    assert ledger(site, arrived["id"]) == []
    outcomes = view.eval_on_selector_all("[data-testid=recent-item]",
                                         "items => items.map(i => i.dataset.outcome)")
    assert outcomes == ["not_found", "job_closed", "counted", "box", "duplicate", "counted",
                        "counted", "box", "job"]


def test_a_product_barcode_counts_nothing_and_prints_a_unit_label(view, site):
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    sign_in(view, "operator")
    open_scan(view, f"manifest={mid}&box=BOX-1")

    wedge(view, MILK_GTIN[1:])  # the EAN-13 on the tin
    expect_result(view, "product", MILK_GTIN[1:])
    expect(view.locator(RESULT)).to_have_class(re.compile(r"\btone-info\b"))
    assert background(view, RESULT) == BLUE  # not the green of a count
    line = view.locator("[data-testid=product-line]")
    expect(line).to_have_count(1)
    expect(line).to_contain_text("第 1 行 Line 1 · SKU-MILK · 婴儿奶粉 900g · 0 / 3")
    screenshot(view, f"scan-product-{view.size_name}")
    assert ledger(site, mid) == []
    assert counted(site, mid) == {1: 0, 2: 0, 3: 0}

    # The unit lost its label: one more is issued into the chosen box and, with no printer
    # configured here, its PDF is opened (and linked).
    view.click("[data-testid=print-unit-label]")
    status = view.locator("[data-testid=print-status]")
    expect(status).to_contain_text("No label printer", timeout=WAIT)
    code = re.search(r"U\d{12}", status.inner_text()).group(0)
    answer, labels = site.api["operator"].call("GET", f"/api/manifests/{mid}/labels?line_no=1")
    assert answer == 200
    assert [(label["code"], label["box_no"]) for label in labels["labels"]] == [(code, "BOX-1")]
    href = view.get_attribute("[data-testid=print-pdf]", "href")
    assert href == f"/api/labels/{code}.pdf"
    answer, pdf = site.api["operator"].call("GET", href)
    assert answer == 200 and pdf[:5] == b"%PDF-"
    screenshot(view, f"scan-product-printed-{view.size_name}")
    violations = axe_violations(view)  # the panel's lines, button and link on its blue
    assert not violations, describe_violations(violations)
    assert ledger(site, mid) == []  # issuing counts nothing either

    wedge(view, code)
    expect_result(view, "counted", code)
    expect(view.locator("[data-testid=line-count-1]")).to_have_text("1 / 3")

    # A product on no line of this consignment: amber, and still nothing counted.
    wedge(view, STRANGER_EAN)
    expect_result(view, "product_absent", STRANGER_EAN)
    assert background(view, RESULT) == AMBER
    expect(view.locator(NOTE)).to_contain_text(
        f"Not on this consignment ({manifest['manifest_no']})")
    expect(view.locator("[data-testid=product-line]")).to_have_count(0)

    # Blind: the line without its counts.
    view.check("[data-testid=blind]")
    wedge(view, MILK_GTIN[1:])
    expect_result(view, "product", MILK_GTIN[1:])
    expect(line).to_have_text(re.compile(r"Line 1 · SKU-MILK"))
    assert not re.search(r"\d+\s*/\s*\d+", view.inner_text(RESULT))
    assert [r["code"] for r in ledger(site, mid)] == [code]
    assert counted(site, mid) == {1: 1, 2: 0, 3: 0}


def test_a_carton_sets_the_batch_and_expiry_of_the_next_units(view, site):
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    milk = issue(site, mid, 1, 3, "BOX-1")
    diapers = issue(site, mid, 2, 1, "BOX-1")
    sign_in(view, "operator")
    open_scan(view, f"manifest={mid}&box=BOX-1")

    # A 2D scanner's read of a carton expiring in 30 days (within the 90-day warning).
    soon = today() + timedelta(days=30)
    carton = f"]d201{MILK_GTIN}17{yymmdd(soon)}10LOT-A{GS}21S1"
    wedge_gs1(view, carton)
    expect_result(view, "carton", carton.replace(GS, "<GS>"))
    expect(view.locator(RESULT)).to_have_class(re.compile(r"\btone-warn\b"))
    expect(view.locator(CARTON)).to_be_visible()
    expect(view.locator(CARTON)).to_have_attribute("data-expiry", "soon")
    expect(view.locator(CARTON_TEXT)).to_contain_text(
        f"Batch LOT-A · 有效期 Expiry {soon.isoformat()} (还有 30 天 30 day(s) left)")
    expect(view.locator("[data-testid=product-line]")).to_contain_text("Line 1 · SKU-MILK")
    screenshot(view, f"scan-carton-soon-{view.size_name}")
    violations = axe_violations(view)  # the carton bar and its button
    assert not violations, describe_violations(violations)

    # The next unit takes its batch and expiry; a unit of another line records none (amber).
    with view.expect_response(re.compile(r"/scans$")) as sent:
        wedge(view, milk[0])
    assert sent.value.request.post_data_json["carton"] == carton
    expect_result(view, "counted", milk[0])
    assert sent.value.json()["results"][0]["lot"] == {"batch": "LOT-A", "expiry": soon.isoformat()}
    expect(view.locator(NOTE)).to_contain_text(f"batch LOT-A, expiry {soon.isoformat()}")
    wedge(view, diapers[0])
    expect_result(view, "counted", diapers[0])
    expect(view.locator(RESULT)).to_have_class(re.compile(r"\btone-warn\b"))
    expect(view.locator(NOTE)).to_contain_text("Batch not recorded")

    # An expired carton, as typed from its human-readable line: red, with the days past.
    past = today() - timedelta(days=10)
    hri = f"(01){MILK_GTIN}(17){yymmdd(past)}(10)LOT-OLD"
    wedge(view, hri)
    expect_result(view, "carton", hri)
    assert background(view, RESULT) == RED
    expect(view.locator(CARTON)).to_have_attribute("data-expiry", "expired")
    expect(view.locator(CARTON_TEXT)).to_contain_text("expired 10 day(s) ago")
    assert background(view, CARTON) == RED
    screenshot(view, f"scan-carton-expired-{view.size_name}")
    wedge(view, milk[1])
    expect_result(view, "counted", milk[1])
    expect(view.locator(NOTE)).to_contain_text("batch LOT-OLD")

    # Cleared by its button: the next unit carries no carton.
    view.click("[data-testid=carton-clear]")
    expect(view.locator(CARTON)).to_be_hidden()
    with view.expect_response(re.compile(r"/scans$")) as sent:
        wedge(view, milk[2])
    expect_result(view, "counted", milk[2])
    assert "carton" not in sent.value.request.post_data_json
    expect(view.locator(RESULT)).to_have_class(re.compile(r"\btone-ok\b"))

    # A box change ends the carton too.
    wedge_gs1(view, carton)
    expect(view.locator(CARTON)).to_be_visible()
    view.fill(BOX, "BOX-2")
    view.press(BOX, "Enter")
    expect(view.locator(CARTON)).to_be_hidden()

    assert lots(site, mid) == {1: [("LOT-OLD", past.isoformat(), 1),
                                   ("LOT-A", soon.isoformat(), 1)], 2: [], 3: []}
    assert [r["outcome"] for r in ledger(site, mid)] == ["counted"] * 4


def test_lookups_offline_are_said_and_queued_units_keep_their_carton(view, site):
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    milk = issue(site, mid, 1, 2)
    sign_in(view, "operator")
    open_scan(view, f"manifest={mid}")
    far = today() + timedelta(days=400)
    carton = f"01{MILK_GTIN}17{yymmdd(far)}10LOT-Q"
    wedge(view, carton)
    expect_result(view, "carton", carton)
    expect(view.locator(CARTON)).to_have_attribute("data-expiry", "ok")

    view.context.set_offline(True)
    tones(view)
    # A code that must be looked up cannot be: red, sounded, listed, nothing recorded.
    wedge(view, job_code(mid))
    expect_result(view, "lookup_failed", job_code(mid))
    assert background(view, RESULT) == RED
    expect(view.locator(NOTE)).to_contain_text("Not looked up and nothing recorded")
    assert tones(view) == TONES["bad"]
    expect(view.locator("[data-testid=recent-item][data-outcome=lookup_failed]")).to_have_count(1)
    # A unit scan waits in the queue with its carton, and is recorded with it once online.
    wedge(view, milk[0])
    expect_result(view, "queued", milk[0])
    expect(view.locator("[data-testid=pending-count]")).to_have_text("1")
    screenshot(view, f"scan-lookup-offline-{view.size_name}")
    view.context.set_offline(False)
    expect(view.locator("[data-testid=pending-count]")).to_have_text("0", timeout=WAIT)
    rows = ledger(site, mid)
    assert [r["code"] for r in rows] == [milk[0]]
    assert json.loads(rows[0]["result"])["lot"] == {"batch": "LOT-Q", "expiry": far.isoformat()}
    assert lots(site, mid)[1] == [("LOT-Q", far.isoformat(), 1)]

    # A GS1 string that does not parse is recorded as the unknown code it is, with why, in
    # both languages.
    broken = f"01{MILK_GTIN}17999999"  # no such expiry date
    wedge(view, broken)
    expect_result(view, "unknown", broken)
    expect(view.locator(NOTE)).to_contain_text("The carton barcode cannot be read")
    assert [r["outcome"] for r in ledger(site, mid)] == ["counted", "unknown"]


# ---- the camera: a photographed GS1 DataMatrix carton label (bench/carton.py) ----

@pytest.fixture
def carton_camera(browser_engine, site, tmp_path):
    """A Chromium whose camera films a photographed carton label of the milk, decoded on the
    server (no BarcodeDetector), and the carton's expiry date."""
    expiry = today() + timedelta(days=200)
    photo = photographed_carton(MILK_GTIN, "LOT-CAM", yymmdd(expiry), "S9", seed=3)
    clip = tmp_path / "carton.y4m"
    clip.write_bytes(y4m_of(Image.open(io.BytesIO(photo)).convert("RGB"), frames=10))
    browser = browser_engine.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=FLAGS + ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                      f"--use-file-for-fake-video-capture={clip}"])
    context = browser.new_context(base_url=site.base, viewport=PHONE, has_touch=True,
                                  is_mobile=True, device_scale_factor=2)
    context.grant_permissions(["camera"])
    context.add_init_script("delete window.BarcodeDetector;")
    try:
        yield context.new_page(), expiry
    finally:
        context.close()
        browser.close()


def test_a_photographed_carton_label_sets_the_carton(carton_camera, site):
    page, expiry = carton_camera
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    milk = issue(site, mid, 1, 1)
    sign_in(page, "operator")
    open_scan(page, f"manifest={mid}")
    page.click("[data-testid=camera-toggle]")
    expect(page.locator("[data-testid=camera-mode]")).to_contain_text("server")
    expect(page.locator(RESULT)).to_have_attribute("data-outcome", "carton", timeout=WAIT)
    expect(page.locator(CARTON_TEXT)).to_contain_text(
        f"GTIN {MILK_GTIN} · 批号 Batch LOT-CAM · 有效期 Expiry {expiry.isoformat()}")
    expect(page.locator("[data-testid=result-code]")).to_contain_text("LOT-CAM<GS>21S9")
    screenshot(page, "scan-carton-camera-phone")
    page.click("[data-testid=camera-stop]")
    assert ledger(site, mid) == []  # a carton is no scan

    wedge(page, milk[0])
    expect_result(page, "counted", milk[0])
    expect(page.locator(NOTE)).to_contain_text("batch LOT-CAM")
    assert lots(site, mid)[1] == [("LOT-CAM", expiry.isoformat(), 1)]
