"""A refused form says what is wrong under the field concerned, in Chinese and English (api.js
showFieldErrors), and the flash says the rest; a missing page is a page in both languages."""

from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, describe_violations, screenshot, sign_in

WAIT = 20_000


def test_the_labels_form_puts_each_message_under_its_field(desk, site):
    manifest = site.cleared_manifest()
    sign_in(desk, "operator")
    desk.goto(f"/labels?manifest={manifest['id']}")
    desk.fill("#issue-count", "0")
    desk.click("#issue-submit")
    message = desk.locator("#issue [data-field-error=count]")
    expect(message).to_contain_text("应为 1 到 10000 之间的整数，收到的是 0", timeout=WAIT)
    expect(message).to_contain_text("a whole number from 1 to 10000, got 0")
    expect(message.locator("[lang=zh-Hans]")).to_have_count(1)
    count = desk.locator("#issue-count")
    expect(count).to_have_attribute("aria-invalid", "true")
    assert message.get_attribute("id") in count.get_attribute("aria-describedby").split()
    # The message sits right after the count's label, not in the flash's list.
    assert desk.evaluate("document.querySelector('#issue-count').closest('label')"
                         ".nextElementSibling.dataset.fieldError") == "count"
    expect(desk.locator("#flash li")).to_have_count(0)
    expect(desk.locator("#flash")).to_contain_text("无法发放标签")

    # Past the allowance: the refusal in both languages in the flash, the limit under the count.
    desk.fill("#issue-count", "9")
    desk.click("#issue-submit")
    expect(message).to_contain_text("第 1 项最多还可发放 8 张", timeout=WAIT)
    expect(message).to_contain_text("at most 8 on line 1")
    expect(desk.locator("#flash")).to_contain_text("主管可以多发")
    expect(desk.locator("#flash")).to_contain_text("A supervisor can issue more")
    expect(desk.locator("#flash")).to_have_attribute("data-code", "label_allowance_exceeded")
    screenshot(desk, "labels-field-error-desk")

    # A good request clears the messages.
    desk.fill("#issue-count", "1")
    desk.click("#issue-submit")
    expect(desk.locator("#flash")).to_contain_text("Issued 1 label(s)", timeout=WAIT)
    expect(desk.locator("[data-field-error]")).to_have_count(0)
    expect(count).not_to_have_attribute("aria-invalid", "true")


def test_the_gate_form_says_which_field_is_missing_in_both_languages(phone, site):
    sign_in(phone, "operator")
    phone.goto("/gate")
    phone.fill("#pass-form input[name=weighbridge_kg]", "12000")
    phone.click("[data-testid=check-pass]")
    message = phone.locator("#pass-form [data-field-error=plate]")
    expect(message).to_contain_text("请填写车牌号或 IC 卡号", timeout=WAIT)
    expect(message).to_contain_text("give the plate or the IC card")
    expect(phone.locator("#pass-form input[name=plate]")).to_have_attribute("aria-invalid",
                                                                            "true")
    expect(phone.locator("#flash")).to_contain_text("过卡请求内容有误")
    screenshot(phone, "gate-field-error-phone")


def test_a_missing_page_is_a_page_in_both_languages_with_a_way_back(desk, site):
    sign_in(desk, "operator")
    desk.goto("/manifests/999999")
    heading = desk.locator("h1")
    expect(heading).to_have_text("页面不存在 Page not found")
    expect(desk.locator("[data-testid=error-zh]")).to_have_text("没有编号为 999999 的舱单")
    expect(desk.locator("[data-testid=error-en]")).to_have_text("no manifest with id 999999")
    assert desk.locator("[data-testid=error-zh]").get_attribute("lang") == "zh-Hans"
    violations = axe_violations(desk)
    assert not violations, describe_violations(violations)
    screenshot(desk, "error-404-desk")
    desk.click("text=回到货物列表")
    desk.wait_for_url(site.base + "/")
    expect(desk.locator("h1")).not_to_have_text("页面不存在 Page not found")
