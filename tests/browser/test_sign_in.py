"""Signing in and the consignment pages, in real Chromium."""

from tests.browser.conftest import PASSWORD, screenshot, sign_in


def test_sign_in_with_password_then_token(phone, site):
    phone.goto("/")
    assert phone.url.endswith("/login?next=/")
    screenshot(phone, "login-phone")
    phone.fill("input[name=name]", "operator-1")
    phone.fill("input[name=password]", "wrong password")
    phone.click("button[type=submit].primary")
    assert "wrong password" in phone.inner_text("[data-testid=login-error]")
    assert phone.input_value("input[name=name]") == "operator-1"  # what was typed stays
    phone.fill("input[name=password]", PASSWORD)
    phone.click("button[type=submit].primary")
    assert phone.inner_text("[data-testid=signed-in-user]") == "operator-1 · operator"
    phone.click("text=退出 Sign out")
    phone.goto("/login")
    phone.click("summary")
    phone.fill("input[name=token]", site.tokens["supervisor"])
    phone.click("text=用令牌登录 Sign in with token")
    assert phone.inner_text("[data-testid=signed-in-user]") == "supervisor-1 · supervisor"


def test_consignment_page_shows_what_blocks(desk, phone, site):
    manifest = site.new_manifest()
    for page, size in ((desk, "desk"), (phone, "phone")):
        sign_in(page)
        page.goto("/")
        assert manifest["manifest_no"] in page.inner_text("[data-testid=consignments]")
        screenshot(page, f"consignments-{size}")
        page.click(f"text={manifest['manifest_no']}")
        assert "Arrived" in page.inner_text("[data-testid=status]")
        assert "no inspection is recorded" in page.inner_text("[data-testid=blocked]")
        screenshot(page, f"consignment-{size}")
