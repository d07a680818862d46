"""Scanner bursts on the handheld page in real Chromium: keys at scanner speed are a scan wherever
the focus is (and leave the focused field as it was), a person's slow keys stay the field's, the
result panel is cleared as a scan starts, and a scan that was not recorded looks and sounds so."""

import re

from playwright.sync_api import expect

from tally.units import make_code
from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_scan import RESULT, WAIT, expect_result, issue, ledger, open_scan, wedge

NOTE = "[data-testid=result-note]"
BOX = "[data-testid=box]"
MANUAL = "[data-testid=manual-code]"
SCANS = re.compile(r"/api/manifests/\d+/scans$")
# The frequencies scan.js plays per tone.
TONES = {"ok": [1400], "bad": [200], "queued": [520, 390], "error": [440, 330, 220]}

# Records the result panel's outcomes as they change, and every oscillator the page starts
# (added to the page before its own scripts; the page's CSP does not apply to it).
RECORDER = """
window.__oscillators = [];
const create = BaseAudioContext.prototype.createOscillator;
BaseAudioContext.prototype.createOscillator = function () {
  const oscillator = create.call(this);
  window.__oscillators.push(oscillator);
  return oscillator;
};
document.addEventListener("DOMContentLoaded", () => {
  const result = document.getElementById("result");
  window.__outcomes = [];
  if (!result) return;
  new MutationObserver(() => window.__outcomes.push(result.dataset.outcome))
    .observe(result, { attributes: true, attributeFilter: ["data-outcome"] });
});
"""


def tones(page) -> list[float]:
    """The frequencies played since the last call."""
    return page.evaluate("""() => window.__oscillators.splice(0)
        .map((o) => Math.round(o.frequency.value))""")


def outcomes(page) -> list[str]:
    """The panel's outcomes since the last call, repeats folded."""
    seen = page.evaluate("() => window.__outcomes.splice(0)")
    return [o for n, o in enumerate(seen) if n == 0 or seen[n - 1] != o]


def field_state(page, selector: str) -> dict:
    return page.eval_on_selector(selector, """e => ({value: e.value ?? null,
        checked: e.checked ?? null, focused: document.activeElement === e})""")


def test_a_burst_is_a_scan_in_every_field_and_leaves_it_as_it_was(phone, site):
    site.cleared_manifest()  # a second consignment in the select, for its type-ahead below
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    codes = issue(site, mid, 1, 8, "BOX-1") + issue(site, mid, 2, 7) + issue(site, mid, 3, 6)
    sign_in(phone, "operator")
    open_scan(phone, f"manifest={mid}&box=BOX-1")
    wedge(phone, codes[0])
    expect_result(phone, "counted", codes[0])
    phone.fill(MANUAL, "U00")  # a code half typed by hand, kept through the scans
    url = phone.url

    # Every control a person can focus on the page, the header's links and buttons included.
    count = phone.evaluate("""() => {
      const all = [...document.querySelectorAll("a[href], button, input, select, textarea")]
        .filter((e) => !e.disabled && e.getClientRects().length > 0);
      all.forEach((e, n) => { e.dataset.burstTarget = n; });
      return all.length;
    }""")
    kinds = phone.eval_on_selector_all("[data-burst-target]", "all => all.map((e) => e.id"
                                       " || e.dataset.testid || e.tagName.toLowerCase())")
    assert {"manifest", "box", "blind", "manual-code", "manual-submit", "camera-toggle"} <= set(
        kinds), kinds
    assert count < len(codes)

    for n, kind in enumerate(kinds):
        target, code = f"[data-burst-target='{n}']", codes[n + 1]
        phone.focus(target)
        before = field_state(phone, target)
        wedge(phone, code)
        expect_result(phone, "counted", code)
        assert field_state(phone, target) == before, kind  # same value, still focused
        rows = ledger(site, mid)
        assert len(rows) == n + 2 and rows[-1]["code"] == code, kind  # recorded once
        assert phone.url == url, kind  # no link followed, no form sent, no setting changed
        if kind == "box":
            screenshot(phone, "scan-burst-in-box-phone")

    # A code the consignment select takes as type-ahead (its first key picks another "MF-..."
    # consignment at once): still a scan of this consignment, and the select is set back.
    phone.eval_on_selector("[data-testid=manifest]", """select => { window.picked = [];
        select.addEventListener("change", () => window.picked.push(select.value)); }""")
    phone.focus("[data-testid=manifest]")
    wedge(phone, "MF-NOT-A-LABEL")
    expect_result(phone, "unknown", "MF-NOT-A-LABEL")
    picked = phone.evaluate("window.picked")
    assert len(picked) == 2 and picked[0] != str(mid) and picked[1] == str(mid), picked
    assert phone.input_value("[data-testid=manifest]") == str(mid)
    assert phone.url == url
    assert phone.input_value(MANUAL) == "U00"
    assert phone.input_value(BOX) == "BOX-1"
    rows = ledger(site, mid)
    assert len(rows) == count + 2
    assert len({r["client_scan_id"] for r in rows}) == len(rows)
    assert [r["code"] for r in rows][:-1] == codes[: count + 1]  # each once, in order


def test_a_person_typing_keeps_the_fields_and_the_box_check_is_never_silent(phone, site):
    # The box check compares each answer's box_no with the box chosen when the unit was scanned.
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    box1 = issue(site, mid, 1, 2, "BOX-1")
    box2 = issue(site, mid, 2, 2, "BOX-2")
    sign_in(phone, "operator")
    open_scan(phone, f"manifest={mid}&box=BOX-1")

    # The box changed by hand, at a person's speed, and a label scanned a moment later: the
    # scan takes none of the typed keys and leaves them in the field; Enter then applies the box.
    phone.click(BOX)
    phone.keyboard.press("Control+A")
    phone.keyboard.type("BOX-2", delay=150)
    phone.wait_for_timeout(150)
    wedge(phone, box2[0])
    expect_result(phone, "counted", box2[0])
    expect(phone.locator(NOTE)).to_have_text(
        "属于箱 BOX-2，不是箱 BOX-1 Belongs to box BOX-2, not BOX-1")
    assert phone.input_value(BOX) == "BOX-2"
    phone.keyboard.press("Enter")
    expect(phone).to_have_url(re.compile(r"box=BOX-2"))
    assert phone.input_value(BOX) == "BOX-2"
    assert phone.evaluate("document.activeElement === document.body")
    # The shown scan was made into BOX-1: it stays flagged.
    expect(phone.locator(NOTE)).to_have_text(
        "属于箱 BOX-2，不是箱 BOX-1 Belongs to box BOX-2, not BOX-1")
    wedge(phone, box1[0])
    expect_result(phone, "counted", box1[0])
    expect(phone.locator(NOTE)).to_have_text(
        "属于箱 BOX-1，不是箱 BOX-2 Belongs to box BOX-1, not BOX-2")

    # A box no label was issued to (a typing slip): every scan is flagged with its own box.
    phone.fill(BOX, "")
    phone.click(BOX)
    phone.keyboard.type("BOX-9", delay=150)
    phone.keyboard.press("Enter")
    expect(phone).to_have_url(re.compile(r"box=BOX-9"))
    wedge(phone, box1[1])
    expect_result(phone, "counted", box1[1])
    expect(phone.locator(NOTE)).to_have_text(
        "属于箱 BOX-1，不是箱 BOX-9 Belongs to box BOX-1, not BOX-9")
    expect(phone.locator(RESULT)).to_have_class(re.compile(r"\btone-box\b"))
    screenshot(phone, "scan-box-other-phone")

    # A code typed by hand into the manual field is sent by its Enter, and the field emptied.
    phone.click(MANUAL)
    phone.keyboard.type(box2[1], delay=150)
    phone.keyboard.press("Enter")
    expect_result(phone, "counted", box2[1])
    expect(phone.locator(MANUAL)).to_have_value("")
    assert [r["code"] for r in ledger(site, mid)] == [box2[0], box1[0], box1[1], box2[1]]


def test_bursts_without_enter(phone, site):
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    codes = issue(site, mid, 1, 3)
    sign_in(phone, "operator")
    open_scan(phone, f"manifest={mid}")

    # A few fast keys in a field with no Enter may be a quick typist: they stay in the field, and
    # the panel, "Scanning…" for a moment, is as it was.
    phone.focus(BOX)
    phone.keyboard.type("AB12", delay=5)
    phone.wait_for_timeout(900)  # past the 500 ms a burst waits for its Enter
    assert phone.input_value(BOX) == "AB12"
    expect(phone.locator("[data-testid=result-outcome]")).to_have_text("准备扫描 Ready to scan")
    assert phone.get_attribute(RESULT, "data-outcome") is None

    # A scanner set up with no Enter: a unit code long enough is a scan all the same.
    phone.fill(BOX, "")
    phone.evaluate("document.activeElement.blur()")
    phone.keyboard.type(codes[0], delay=5)
    expect_result(phone, "counted", codes[0])
    phone.focus(BOX)
    phone.keyboard.type(codes[1], delay=5)
    expect_result(phone, "counted", codes[1])
    assert phone.input_value(BOX) == ""
    phone.keyboard.type("AB12", delay=5)
    phone.wait_for_timeout(900)  # past the 500 ms a burst waits for its Enter
    assert phone.input_value(BOX) == "AB12"
    expect_result(phone, "counted", codes[1])

    # The same keys on the page itself are told, not dropped in silence.
    phone.fill(BOX, "")
    phone.evaluate("document.activeElement.blur()")
    phone.keyboard.type("AB12", delay=5)
    expect_result(phone, "error")
    expect(phone.locator(NOTE)).to_contain_text("AB12")
    expect(phone.locator(NOTE)).to_contain_text("not taken as a scan")
    assert "Counted" not in phone.inner_text(RESULT)
    assert [r["code"] for r in ledger(site, mid)] == codes[:2]


def test_the_panel_clears_as_a_scan_starts_and_failures_look_and_sound_distinct(phone, site):
    arrived = site.new_manifest()  # not inspected: it refuses scans
    manifest = site.cleared_manifest()
    mid = manifest["id"]
    codes = issue(site, mid, 1, 4)
    phone.context.add_init_script(RECORDER)
    sign_in(phone, "operator")
    open_scan(phone, f"manifest={mid}")
    wedge(phone, codes[0])
    expect_result(phone, "counted", codes[0])
    assert tones(phone) == TONES["ok"]
    outcomes(phone)

    # The server is slow: while the answer is awaited the panel shows the new scan, never the
    # last one's "Counted".
    held = []
    phone.route(SCANS, lambda route: held.append(route))
    phone.focus(BOX)
    wedge(phone, codes[1])
    expect(phone.locator(RESULT)).to_have_attribute("data-outcome", "sending")
    expect(phone.locator("[data-testid=result-code]")).to_have_text(codes[1])
    assert "Counted" not in phone.inner_text(RESULT)
    assert len(held) == 1
    screenshot(phone, "scan-sending-phone")
    held[0].continue_()
    expect_result(phone, "counted", codes[1])
    phone.unroute(SCANS)
    # Cleared at the burst's fourth key, before its Enter: scanning, then sending, then the answer.
    assert outcomes(phone) == ["scanning", "sending", "counted"]
    assert tones(phone) == TONES["ok"]

    # A server fault: the scan is kept for later, and says so in its own colour and sound.
    phone.route(SCANS, lambda route: route.fulfill(status=500, json={
        "ok": False, "status": 500, "error": "internal error"}))
    wedge(phone, codes[2])
    expect_result(phone, "queued", codes[2])
    expect(phone.locator(NOTE)).to_contain_text("Server error (500)")
    expect(phone.locator(RESULT)).to_have_class(re.compile(r"\btone-queued\b"))
    assert tones(phone) == TONES["queued"]
    phone.unroute(SCANS)
    expect(phone.locator("[data-testid=pending-count]")).to_have_text("0", timeout=WAIT)

    # Refused (here the scan reaches a consignment whose tally is not open): not recorded, dark,
    # with the failure sound; the field keeps its value.
    phone.route(SCANS, lambda route: route.continue_(
        url=route.request.url.replace(f"/manifests/{mid}/", f"/manifests/{arrived['id']}/")))
    tones(phone)
    wedge(phone, codes[3])
    expect_result(phone, "error", codes[3])
    expect(phone.locator(NOTE)).to_contain_text("理货尚未开始")
    expect(phone.locator(RESULT)).to_have_class(re.compile(r"\btone-error\b"))
    assert tones(phone) == TONES["error"]
    assert phone.input_value(BOX) == ""
    screenshot(phone, "scan-refused-phone")
    phone.unroute(SCANS)

    # A code of no unit of this system: recorded, and answered in red with the low tone.
    stranger = make_code(99_999_999_999)  # a well-formed code never issued
    wedge(phone, stranger)
    expect_result(phone, "unknown", stranger)
    assert tones(phone) == TONES["bad"]
    assert [r["outcome"] for r in ledger(site, mid)] == ["counted", "counted", "counted",
                                                         "unknown"]
