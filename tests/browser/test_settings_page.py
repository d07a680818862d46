"""The settings page in real Chromium: the admin saves the company settings (a wrong credit
code is shown under its field, nothing saved), imports the account book (every bad row listed),
and the page neither scrolls sideways at 360 px nor has serious accessibility findings; other
roles are refused."""

from tally.demo import DEMO_BOOK
from tests.browser.conftest import (
    axe_violations,
    describe_violations,
    screenshot,
    sign_in,
    width_at_narrowest,
)


def check_layout(page, name: str) -> None:
    assert width_at_narrowest(page) <= 360
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)
    screenshot(page, name)


def test_settings_page_phone_and_desk(phone, desk, site, tmp_path):
    sign_in(phone, "admin")
    phone.goto("/settings")
    assert phone.locator("nav a[aria-current=page]").inner_text() == "设置 Settings"
    check_layout(phone, "settings-phone")

    # A mistyped credit code: the message under its field, in both languages; nothing saved.
    phone.fill("input[name=operating_sccd]", "913302017532977857")
    phone.fill("input[name=sys_id]", "Z8")
    phone.click("#settings-form button[type=submit]")
    error = phone.locator("#settings-form [data-field-error=operating_sccd]")
    error.wait_for()
    assert "校验码" in error.inner_text() and "should be 6, not 7" in error.inner_text()
    assert phone.get_attribute("input[name=operating_sccd]", "aria-invalid") == "true"
    status, shown = site.api["admin"].call("GET", "/api/settings")
    assert {s["key"]: s["value"] for s in shown["settings"]}["operating_sccd"] != \
        "913302017532977857"
    check_layout(phone, "settings-refused-phone")

    # Corrected: saved, the flash says what changed.
    phone.fill("input[name=operating_sccd]", "913302017532977856")
    phone.click("#settings-form button[type=submit]")
    phone.locator("#flash.info").wait_for()
    assert "operating_sccd" in phone.inner_text("#flash")
    status, shown = site.api["admin"].call("GET", "/api/settings")
    assert {s["key"]: s["value"] for s in shown["settings"]}["operating_sccd"] == \
        "913302017532977856"

    # The account book at the desk: a bad file lists its rows, a good one replaces the book.
    sign_in(desk, "admin")
    desk.goto("/settings")
    bad = tmp_path / "bad-book.csv"
    bad.write_text(DEMO_BOOK.replace(",101,", ",x,").replace(",0.12,", ",0,"), encoding="utf-8")
    desk.set_input_files("#book-form input[name=file]", str(bad))
    desk.click("#book-form button[type=submit]")
    desk.locator("#flash:not([hidden])").wait_for()
    flash = desk.inner_text("#flash")
    assert "row 2, putrec_seqno" in flash and "row 5, lawf_qty_per_unit" in flash
    good = tmp_path / "book.csv"
    good.write_text(DEMO_BOOK, encoding="utf-8")
    desk.set_input_files("#book-form input[name=file]", str(good))
    with desk.expect_navigation():
        desk.click("#book-form button[type=submit]")
    assert "4 个料号 items" in desk.inner_text("[data-testid=book-count]")
    assert "SKU-MILK-900" in desk.inner_text("[data-testid=book-items]")
    check_layout(desk, "settings-desk")
    # The book table on a phone: stacked rows, no sideways scrolling.
    phone.goto("/settings")
    check_layout(phone, "settings-book-phone")


def test_settings_page_is_the_admins(desk):
    sign_in(desk, "supervisor")
    assert desk.locator("nav a", has_text="Settings").count() == 0
    response = desk.goto("/settings")
    assert response.status == 403
