"""The API's description page (/api/docs): Swagger UI served by the service itself renders every
operation under the site's Content-Security-Policy, signed in or not."""

from tests.browser.conftest import screenshot


def test_the_docs_page_renders_the_operations_without_csp_violations(desk, site):
    problems = []
    desk.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
    desk.on("pageerror", lambda e: problems.append(str(e)))
    requests = []
    desk.on("request", lambda r: requests.append(r.url))
    desk.goto("/api/docs")
    scan = desk.locator(".opblock-post .opblock-summary-path",
                        has_text="/api/manifests/{manifest_id}/scans")
    scan.first.wait_for()
    assert desk.locator(".opblock").count() >= 45
    desk.locator("#operations-scans-scan .opblock-summary").click()
    desk.locator("#operations-scans-scan .opblock-body").wait_for()
    assert desk.locator("#operations-scans-scan").get_by_text("multipart/form-data").count()
    screenshot(desk, "api-docs-desk")
    assert not problems, problems
    assert all(url.startswith(site.base) for url in requests), requests
