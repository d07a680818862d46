"""Phone first: every page fits the narrowest phone (360 px) without sideways scrolling, at
phone and desk sizes; the navigation shows every section there; tables stay readable; the
pages' files come versioned, long-cached and compressed from the real server."""

import gzip
import re
import urllib.request
from pathlib import Path

import pytest

from tests.browser.conftest import (
    NARROWEST,
    PAGE_IDS,
    open_page,
    screenshot,
    width_at_narrowest,
)

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"


@pytest.mark.parametrize("size", ["phone", "desk"])
@pytest.mark.parametrize("page_id", PAGE_IDS)
def test_every_page_fits_the_narrowest_phone(signed_in_views, consignments, size, page_id):
    page = open_page(signed_in_views, consignments, size, page_id)
    width = width_at_narrowest(page)
    size_before = page.viewport_size
    page.set_viewport_size({"width": NARROWEST, "height": size_before["height"]})
    # Nor does anything stick out of its card (or a table out of its box) within the page.
    sticking_out = page.evaluate("""() => [...document.querySelectorAll('.card, table')]
        .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
        .map(e => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}`
                  + ` ${e.scrollWidth} > ${e.clientWidth}`)""")
    if size == "phone" or width > NARROWEST or sticking_out:
        screenshot(page, f"narrowest-{page_id}-{size}")
    page.set_viewport_size(size_before)
    assert width <= NARROWEST, f"{page_id} is {width} px wide at {NARROWEST} px"
    assert not sticking_out, f"{page_id} at {NARROWEST} px: {sticking_out}"


SECTIONS = ["货物 Consignments", "扫描 Scan", "标签 Labels", "卡口 Gate"]


@pytest.mark.parametrize("page_id", ["consignments", "gate", "scan-counting"])
def test_the_navigation_shows_every_section_on_the_narrowest_phone(
        signed_in_views, consignments, page_id):
    page = open_page(signed_in_views, consignments, "phone", page_id)
    page.set_viewport_size({"width": NARROWEST, "height": 844})
    links = page.locator("header.top nav a")
    assert links.all_inner_texts() == SECTIONS
    for link in links.all():
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= NARROWEST, link.inner_text()
        assert box["height"] >= 40  # a finger's target
        # Nothing covers or clips it: the link itself is what a tap at its centre hits.
        assert link.evaluate("""a => { const r = a.getBoundingClientRect();
            return a.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2));
        }"""), link.inner_text()
    current = page.locator("header.top nav a[aria-current=page]")
    expected = {"consignments": SECTIONS[0], "scan-counting": SECTIONS[1], "gate": SECTIONS[3]}
    assert current.all_inner_texts() == [expected[page_id]]
    screenshot(page, f"nav-{page_id}-360")


def test_the_consignments_tables_read_as_rows_on_a_phone(signed_in_views, consignments):
    page = open_page(signed_in_views, consignments, "phone", "consignment-released")
    page.set_viewport_size({"width": NARROWEST, "height": 844})
    orders = page.locator("[data-testid=release-orders]")
    assert orders.locator("tbody tr").count() == 1
    card = orders.locator("xpath=ancestor::section[1]")
    assert orders.bounding_box()["width"] <= card.bounding_box()["width"]
    number = orders.locator("td.order-no")
    assert re.match(r"Z\d{4}[IE]\d{18}", number.inner_text())  # the customs' number, whole
    assert number.evaluate("td => td.scrollWidth <= td.clientWidth")  # shown whole
    # Each value says what it is: the column's name comes before it.
    status = orders.locator("td[data-label]").first
    assert status.evaluate("td => getComputedStyle(td, '::before').content") == '"状态 Status: "'
    assert status.inner_text() == "approved"

    history = page.locator("[data-testid=history]")
    rows = history.locator("tbody tr")
    assert rows.count() >= 5  # arrived ... released
    width = history.bounding_box()["width"]
    for row in rows.all():
        # When and who on one line, the change under it across the card: no one-word columns.
        assert row.locator("td.when").evaluate("td => td.getClientRects().length") == 1
        assert row.locator("td.change").bounding_box()["width"] >= 0.9 * width
    assert "→" in rows.first.locator("td.change").inner_text()
    screenshot(page, "consignment-released-360")


def test_the_consignments_tables_stay_tables_at_the_desk(signed_in_views, consignments):
    page = open_page(signed_in_views, consignments, "desk", "consignment-released")
    for testid in ("release-orders", "history"):
        table = page.locator(f"[data-testid={testid}]")
        assert table.locator("thead").is_visible()
        assert table.evaluate("t => getComputedStyle(t).display") == "table"
    screenshot(page, "consignment-released-desk")


def fetch(url: str, **headers: str):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        return r.status, r.headers, r.read()


def test_the_real_server_sends_versioned_files_compressed_and_long_cached(site):
    _, _, html = fetch(site.base + "/login")
    urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', html.decode())
    assert any(url.startswith("/static/app.css?v=") for url in urls), urls
    for url in urls:
        name = url.split("?")[0].removeprefix("/static/")
        status, headers, body = fetch(site.base + url, **{"Accept-Encoding": "gzip"})
        assert status == 200
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert headers["Content-Encoding"] == "gzip" and headers["Vary"] == "Accept-Encoding"
        assert gzip.decompress(body) == (STATIC / name).read_bytes()
        # The same file without its version: the current bytes, revalidated before each use.
        status, headers, body = fetch(site.base + "/static/" + name)
        assert headers["Cache-Control"] == "no-cache" and "Content-Encoding" not in headers
        assert body == (STATIC / name).read_bytes()


def test_the_browser_keeps_the_pages_files_between_pages(desk):
    # Chromium takes them brotli-compressed once; the next page takes them from its cache.
    encodings = {}
    desk.on("response", lambda r: encodings.setdefault(
        r.url.split("/static/")[-1].split("?")[0], r.headers.get("content-encoding"))
        if "/static/" in r.url else None)
    desk.goto("/login")
    assert encodings == {"app.css": "br", "api.js": "br"}
    desk.goto("/login?next=/gate")  # another page with the same files
    sizes = desk.evaluate("""() => performance.getEntriesByType('resource')
        .filter(e => e.name.includes('/static/'))
        .map(e => [e.name.split('/static/')[1].split('?')[0], e.transferSize])""")
    assert sorted(sizes) == [["api.js", 0], ["app.css", 0]]  # 0 bytes: from the cache
