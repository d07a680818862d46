"""The handheld scanner page in real Chromium: keyboard-wedge reads at scanner speed, blind
counting, camera frames from Chromium's fake camera decoded by the server, the offline queue."""

import io
import json
import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import CHROMIUM, FLAGS, PASSWORD, PHONE, screenshot, sign_in

WAIT = 20_000  # ms
RESULT = "[data-testid=result]"
PENDING = "[data-testid=pending-count]"
GS = "\x1d"


def issue(site, mid: int, line_no: int, count: int, box_no: str | None = None) -> list[str]:
    status, body = site.api["operator"].call(
        "POST", f"/api/manifests/{mid}/labels",
        json_body={"line_no": line_no, "count": count, "box_no": box_no})
    assert status == 201, body
    return [label["code"] for label in body["labels"]]


def counted(site, mid: int) -> dict[int, int]:
    status, report = site.api["operator"].call("GET", f"/api/manifests/{mid}/reconciliation")
    assert status == 200, report
    return {line["line_no"]: line["counted"] for line in report["lines"]}


def ledger(site, mid: int) -> list[dict]:
    status, body = site.api["operator"].call("GET", f"/api/manifests/{mid}/scans")
    assert status == 200, body
    return body["scans"]


def open_scan(page, query: str) -> None:
    page.goto(f"/scan?{query}")
    page.wait_for_selector("#scan[data-queue-ready='1']")


def wedge(page, text: str, end: str = "Enter") -> None:
    """A keyboard-wedge read: the keys at scanner speed, then Enter or Tab (into the focused
    element, if any: tests/browser/test_scan_bursts.py)."""
    page.keyboard.type(text, delay=5)
    page.keyboard.press(end)


def expect_result(page, outcome: str, code: str | None = None) -> None:
    # The code first: the panel may still show the same outcome for the scan before.
    if code is not None:
        expect(page.locator("[data-testid=result-code]")).to_have_text(code, timeout=WAIT)
    expect(page.locator(RESULT)).to_have_attribute("data-outcome", outcome, timeout=WAIT)


def background(page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor")


def corrupt(code: str) -> str:
    """The code with its last (check) digit off by one: a misread the Damm digit catches."""
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def test_wedge_scans_each_outcome(phone, site):
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    milk = issue(site, mid, 1, 3, "BOX-1")
    diapers = issue(site, mid, 2, 1, "BOX-2")
    sign_in(phone, "operator")
    open_scan(phone, f"manifest={mid}&box=BOX-1")
    expect(phone.locator("[data-testid=line-count-1]")).to_have_text("0 / 3")
    assert "Ready to scan" in phone.inner_text(RESULT)
    screenshot(phone, "scan-idle-phone")

    # No field has the focus: the page takes the scanner's keys itself.
    assert phone.evaluate("document.activeElement === document.body")
    wedge(phone, milk[0])
    expect_result(phone, "counted", milk[0])
    expect(phone.locator(RESULT)).to_have_class(re.compile(r"\btone-ok\b"))
    assert background(phone, RESULT) == "rgb(10, 122, 47)"  # green
    expect(phone.locator("[data-testid=result-line]")).to_have_text(
        "第 1 行 Line 1 · 婴儿奶粉 900g · 1 / 3")
    expect(phone.locator("[data-testid=line-count-1]")).to_have_text("1 / 3")
    expect(phone.locator("[data-testid=result-note]")).to_have_text("")
    screenshot(phone, "scan-counted-phone")

    wedge(phone, milk[1], end="Tab")  # scanners configured to end with Tab
    expect_result(phone, "counted", milk[1])
    expect(phone.locator("[data-testid=line-count-1]")).to_have_text("2 / 3")
    wedge(phone, diapers[0])
    expect_result(phone, "counted", diapers[0])
    expect(phone.locator("[data-testid=line-count-2]")).to_have_text("1 / 2")
    # Counted all the same, in amber with the box it belongs to: it was labelled for another box.
    expect(phone.locator("[data-testid=result-note]")).to_have_text(
        "属于箱 BOX-2，不是箱 BOX-1 Belongs to box BOX-2, not BOX-1")
    expect(phone.locator(RESULT)).to_have_class(re.compile(r"\btone-box\b"))
    assert background(phone, RESULT) == "rgb(242, 169, 0)"  # amber

    wedge(phone, milk[0])  # the same label again
    expect_result(phone, "duplicate", milk[0])
    expect(phone.locator(RESULT)).to_have_class(re.compile(r"\btone-warn\b"))
    assert background(phone, RESULT) == "rgb(242, 169, 0)"  # amber
    assert "Already counted" in phone.inner_text("[data-testid=result-note]")
    expect(phone.locator("[data-testid=line-count-1]")).to_have_text("2 / 3")
    screenshot(phone, "scan-duplicate-phone")

    # A GS1 carton barcode of the milk (GTIN + lot, the group separator sent as Ctrl+]): not a
    # scan, the carton the next units come from (tests/browser/test_scan_codes.py).
    phone.keyboard.type("0109300633603168", delay=5)
    phone.keyboard.press("Control+BracketRight")
    phone.keyboard.type("10LOT42", delay=5)
    phone.keyboard.press("Enter")
    expect_result(phone, "carton", "0109300633603168<GS>10LOT42")
    expect(phone.locator(RESULT)).to_have_class(re.compile(r"\btone-info\b"))
    expect(phone.locator("[data-testid=carton-text]")).to_contain_text("Batch LOT42")

    wedge(phone, corrupt(milk[2]))
    expect_result(phone, "invalid", corrupt(milk[2]))
    assert background(phone, RESULT) == "rgb(176, 0, 32)"  # red
    assert "Check digit" in phone.inner_text("[data-testid=result-note]")
    expect(phone.locator("[data-testid=recent-item]")).to_have_count(6)

    # A person typing a code slowly into no field is not a scanner: nothing is sent.
    phone.keyboard.type(milk[2], delay=200)
    phone.keyboard.press("Enter")
    expect(phone.locator("[data-testid=recent-item]")).to_have_count(6)
    expect_result(phone, "invalid", corrupt(milk[2]))

    # Typing by hand goes in the manual field, at a person's pace; its Enter sends the code.
    phone.click("[data-testid=manual-code]")
    phone.keyboard.type(milk[2].lower(), delay=120)
    phone.keyboard.press("Enter")
    expect_result(phone, "counted", milk[2])
    expect(phone.locator("[data-testid=result-note]")).to_contain_text("batch LOT42")
    expect(phone.locator("[data-testid=manual-code]")).to_have_value("")
    expect(phone.locator("[data-testid=line-count-1]")).to_have_text("3 / 3")
    expect(phone.locator("[data-testid=recent-item]")).to_have_count(7)
    outcomes = phone.eval_on_selector_all("[data-testid=recent-item]",
                                          "items => items.map(i => i.dataset.outcome)")
    assert outcomes == ["counted", "invalid", "carton", "duplicate", "counted", "counted",
                        "counted"]

    assert counted(site, mid) == {1: 3, 2: 1, 3: 0}
    rows = ledger(site, mid)
    assert [r["outcome"] for r in rows] == ["counted", "counted", "counted", "duplicate",
                                            "invalid", "counted"]
    assert json.loads(rows[-1]["result"])["lot"] == {"batch": "LOT42", "expiry": None}
    assert len({r["client_scan_id"] for r in rows}) == 6
    assert rows[0]["device"].startswith("web-")


def test_blind_count_hides_declared_quantities(desk, site):
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    codes = issue(site, mid, 1, 2)
    sign_in(desk, "operator")
    open_scan(desk, f"manifest={mid}")
    expect(desk.locator("[data-testid=line-count-1]")).to_have_text("0 / 3")
    screenshot(desk, "scan-idle-desk")
    wedge(desk, codes[0])
    expect_result(desk, "counted", codes[0])
    screenshot(desk, "scan-counted-desk")
    wedge(desk, codes[0])
    expect_result(desk, "duplicate", codes[0])
    screenshot(desk, "scan-duplicate-desk")

    desk.check("[data-testid=blind]")
    expect(desk.locator("[data-testid=progress]")).to_be_hidden()
    expect(desk.locator("[data-testid^=line-count]")).to_have_count(0)
    assert "blind=1" in desk.url
    with desk.expect_response(re.compile(r"/scans\?blind=1$")) as answer:
        wedge(desk, codes[1])
    assert answer.value.json()["results"][0].keys() == {"client_scan_id", "code", "outcome",
                                                         "line_no", "box_no"}
    expect_result(desk, "counted", codes[1])
    fraction = re.compile(r"\d+\s*/\s*\d+")
    assert not fraction.search(desk.inner_text(RESULT))
    assert not fraction.search(desk.inner_text("[data-testid=recent]"))  # earlier ones too
    assert "Line 1" in desk.inner_text("[data-testid=result-line]")
    screenshot(desk, "scan-blind-desk")

    # Blind mode and the consignment are remembered: on reload, and on /scan with no query.
    desk.reload()
    desk.wait_for_selector("#scan[data-queue-ready='1']")
    assert desk.is_checked("[data-testid=blind]")
    expect(desk.locator("[data-testid=progress]")).to_be_hidden()
    desk.goto("/scan")
    desk.wait_for_selector("#scan[data-queue-ready='1']")
    assert desk.input_value("[data-testid=manifest]") == str(mid)
    assert f"manifest={mid}" in desk.url and "blind=1" in desk.url
    desk.uncheck("[data-testid=blind]")
    expect(desk.locator("[data-testid=line-count-1]")).to_have_text("2 / 3")
    assert counted(site, mid)[1] == 2


def test_offline_scans_wait_and_replay_once(phone, site):
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    codes = issue(site, mid, 1, 3)
    sign_in(phone, "operator")
    open_scan(phone, f"manifest={mid}")
    expect(phone.locator(PENDING)).to_have_text("0")

    phone.context.set_offline(True)
    for n, code in enumerate(codes, start=1):
        wedge(phone, code)
        expect_result(phone, "queued", code)
        expect(phone.locator(PENDING)).to_have_text(str(n))
    expect(phone.locator(RESULT)).to_have_class(re.compile(r"\btone-queued\b"))
    expect(phone.locator("[data-testid=recent-item][data-outcome=queued]")).to_have_count(3)
    expect(phone.locator("[data-testid=network]")).to_contain_text("Offline")
    screenshot(phone, "scan-offline-phone")
    assert counted(site, mid)[1] == 0  # nothing reached the server

    phone.context.set_offline(False)
    expect(phone.locator(PENDING)).to_have_text("0", timeout=WAIT)
    expect(phone.locator("[data-testid=recent-item][data-outcome=counted]")).to_have_count(3)
    expect(phone.locator("[data-testid=line-count-1]")).to_have_text("3 / 3")
    expect(phone.locator("#flash")).to_contain_text("Sent 3 queued scan(s): 3 counted")
    assert counted(site, mid)[1] == 3
    rows = ledger(site, mid)
    assert sorted(r["code"] for r in rows) == sorted(codes)
    assert [r["code"] for r in rows] == codes  # replayed in the order scanned

    # After a reload nothing is left to send, and nothing is sent again.
    posts = []
    phone.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    phone.reload()
    phone.wait_for_selector("#scan[data-queue-ready='1']")
    expect(phone.locator(PENDING)).to_have_text("0")
    stored = phone.evaluate("""() => new Promise((resolve, reject) => {
        const open = indexedDB.open('tally-scan-queue');
        open.onsuccess = () => {
          const count = open.result.transaction('scans').objectStore('scans').count();
          count.onsuccess = () => resolve(count.result);
        };
        open.onerror = () => reject(open.error);
    })""")
    assert stored == 0 and posts == []
    assert len(ledger(site, mid)) == 3


def test_refusals_are_readable_and_an_expired_session_keeps_the_scan(phone, site):
    arrived = site.new_manifest()  # not inspected: its tally is not open
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    code = issue(site, mid, 3, 1)[0]
    sign_in(phone, "operator")
    open_scan(phone, f"manifest={arrived['id']}")
    expect(phone.locator("[data-testid=closed-note]")).to_be_visible()
    wedge(phone, "U000000000017")
    expect_result(phone, "error", "U000000000017")
    # In both languages: the API's Chinese, then its English.
    expect(phone.locator("[data-testid=result-note]")).to_contain_text("理货尚未开始")
    expect(phone.locator("[data-testid=result-note]")).to_contain_text(
        "the tally is not open yet (arrived)")
    expect(phone.locator("#flash")).to_contain_text("scans are not accepted")
    assert background(phone, RESULT) == "rgb(29, 31, 36)"  # dark
    # A refused hand-typed code stays in the field.
    phone.fill("[data-testid=manual-code]", "U000000000017")
    phone.click("[data-testid=manual-submit]")
    expect(phone.locator("[data-testid=recent-item][data-outcome=error]")).to_have_count(2)
    expect(phone.locator("[data-testid=manual-code]")).to_have_value("U000000000017")

    phone.select_option("[data-testid=manifest]", str(mid))
    expect(phone.locator("[data-testid=closed-note]")).to_be_hidden()
    phone.context.clear_cookies()  # the session expires
    wedge(phone, code)
    expect_result(phone, "queued", code)
    expect(phone.locator(PENDING)).to_have_text("1")
    link = phone.locator("[data-testid=queue-problem] [data-testid=sign-in-again]")
    expect(link).to_be_visible()
    # The consignment by its manifest number, not by the database's id.
    expect(phone.locator("[data-testid=queue-problem]")).to_contain_text(
        f"Queued scans of consignment {manifest['manifest_no']} were refused")
    link.click()
    phone.fill("input[name=name]", "operator-1")
    phone.fill("input[name=password]", PASSWORD)
    phone.click("button[type=submit].primary")
    phone.wait_for_url(re.compile(rf"/scan\?manifest={mid}"))
    expect(phone.locator(PENDING)).to_have_text("0", timeout=WAIT)
    assert counted(site, mid)[3] == 1


# ---- the camera: Chromium's fake capture device playing a y4m file of a printed label ----

def y4m_of(image: Image.Image, frames: int = 20) -> bytes:
    """A YUV4MPEG2 clip (1280x720, 4:2:0, full-range) of the image pasted on white, jiggling
    by a pixel or two from frame to frame like a hand-held phone."""
    width, height = 1280, 720
    out = [f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()]
    for n in range(frames):
        canvas = Image.new("RGB", (width, height), "white")
        canvas.paste(image, ((width - image.width) // 2 + n % 3, (height - image.height) // 2
                             + n % 2))
        rgb = np.asarray(canvas, dtype=np.float32)
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        y = 0.299 * r + 0.587 * g + 0.114 * b
        u = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
        v = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b

        def quarter(plane):
            return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))

        out.append(b"FRAME\n")
        for plane in (y, quarter(u), quarter(v)):
            out.append(np.clip(np.rint(plane), 0, 255).astype(np.uint8).tobytes())
    return b"".join(out)


@pytest.fixture
def camera_scene(browser_engine, site, tmp_path):
    """A consignment with one label, and a Chromium whose camera films that printed label."""
    manifest = site.cleared_manifest()
    code = issue(site, manifest["id"], 1, 1, "BOX-1")[0]
    status, png = site.api["operator"].call("GET", f"/api/labels/{code}.png?dpi=300")
    assert status == 200
    label = Image.open(io.BytesIO(png)).convert("RGB")
    label = label.resize((label.width * 8 // 5, label.height * 8 // 5), Image.NEAREST)
    clip = tmp_path / "label.y4m"
    clip.write_bytes(y4m_of(label))
    browser = browser_engine.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=FLAGS + ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                      f"--use-file-for-fake-video-capture={clip}"])
    context = browser.new_context(base_url=site.base, viewport=PHONE, has_touch=True,
                                  is_mobile=True, device_scale_factor=2)
    context.grant_permissions(["camera"])
    # Decode on the server, as on a browser without BarcodeDetector (Chromium on Linux).
    context.add_init_script("delete window.BarcodeDetector;")
    try:
        yield context.new_page(), manifest["id"], code
    finally:
        context.close()
        browser.close()


def test_camera_frames_count_a_label_once(camera_scene, site):
    page, mid, code = camera_scene
    sign_in(page, "operator")
    open_scan(page, f"manifest={mid}&box=BOX-1")
    with page.expect_response(re.compile(r"/api/manifests/\d+/scans$"), timeout=WAIT) as sent:
        page.click("[data-testid=camera-toggle]")
        expect(page.locator("[data-testid=camera]")).to_be_visible()
        expect(page.locator("[data-testid=camera-mode]")).to_contain_text("server")
    assert sent.value.ok
    expect_result(page, "counted", code)
    size = page.evaluate("[document.querySelector('video').videoWidth,"
                         " document.querySelector('video').videoHeight]")
    assert size == [1280, 720]
    frames = int(page.get_attribute("[data-testid=camera]", "data-frames"))
    # The label stays in view for more than the 3 s debounce: it is never sent again.
    page.wait_for_function(
        f"() => document.querySelector('[data-testid=camera]').dataset.frames >= {frames + 8}",
        timeout=WAIT)
    screenshot(page, "scan-camera-phone")
    page.click("[data-testid=camera-stop]")
    expect(page.locator("[data-testid=camera]")).to_be_hidden()
    assert page.evaluate("document.querySelector('video').srcObject === null")

    rows = ledger(site, mid)
    assert [(r["code"], r["outcome"], r["source"]) for r in rows] == [(code, "counted", "image")]
    assert rows[0]["image_sha256"]
    assert json.loads(rows[0]["result"])["declared"] == 3
    assert counted(site, mid)[1] == 1
    expect(page.locator("[data-testid=recent-item]")).to_have_count(1)
