"""Browser tests: the real server and customs simulator as processes, driven in real headless
Chromium (Debian's package) through Playwright. Screenshots go to tests/screenshots/ (ignored by
git): look at them before calling a page done."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from bench.servers import ROOT, free_port, start_service, start_simulator, tally
from tests.conftest import ENGINES, MANIFEST_CSV, PG_TEMPLATE
from tests.http import Api

CHROMIUM = os.environ.get("TALLY_CHROMIUM", "/usr/bin/chromium")
# axe-core, fetched and checked against the registry's integrity by `make test` (the Makefile's
# AXE_JS); TALLY_AXE_JS points elsewhere.
AXE_JS = Path(os.environ.get("TALLY_AXE_JS", ROOT / ".cache" / "axe-core" / "axe.min.js"))
AXE_URL = "/__tests__/axe.min.js"  # answered by the test itself (page.route), never the server
# The narrowest phone the pages are laid out for (CSS pixels).
NARROWEST = 360
SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 768}  # a common laptop screen
PASSWORD = "browser-test-pw"
# Chromium as root in a container, with no background traffic to hosts we cannot reach.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-features=Translate,MediaRouter"]


class Site:
    """The running service: its URL, an API client per role, and a fresh consignment maker."""

    def __init__(self, base: str, customs: str, tokens: dict):
        self.base, self.customs, self.tokens = base, customs, tokens
        self.api = {role: Api(base, token) for role, token in tokens.items()}

    def new_manifest(self, csv_text: str = MANIFEST_CSV) -> dict:
        """Import a consignment with a unique manifest number (status arrived)."""
        number = f"MF-{uuid.uuid4().hex[:8].upper()}"
        status, manifest = self.api["supervisor"].call(
            "POST", "/api/manifests", data=csv_text.replace("MF-TEST-1", number).encode(),
            content_type="text/csv")
        assert status == 201, manifest
        return manifest

    def cleared_manifest(self, csv_text: str = MANIFEST_CSV) -> dict:
        """A consignment inspected and written off: ready to tally."""
        from tests.conftest import WRITE_OFF, passing_inspection

        manifest = self.new_manifest(csv_text)
        mid = manifest["id"]
        status, body = self.api["operator"].call(
            "POST", f"/api/manifests/{mid}/inspections",
            json_body=passing_inspection([line["line_no"] for line in manifest["lines"]]))
        assert status == 201, body
        status, body = self.api["supervisor"].call("POST", f"/api/manifests/{mid}/write-off",
                                                   json_body=WRITE_OFF)
        assert status == 200, body
        self.customs_data(manifest)
        return manifest

    def customs_data(self, manifest: dict) -> None:
        """The company settings and an account book with the manifest's SKUs, so that its
        tally can be confirmed and its inventory list built."""
        from tally.demo import DEMO_SETTINGS
        from tests.conftest import book_items

        status, body = self.api["admin"].call("PUT", "/api/settings", json_body=DEMO_SETTINGS)
        assert status == 200, body
        status, book = self.api["supervisor"].call("GET", "/api/account-book")
        status, body = self.api["supervisor"].call("POST", "/api/account-book", json_body={
            "items": book_items(manifest["lines"], book["items"])})
        assert status == 201, body


@pytest.fixture(scope="session", params=ENGINES)
def site(request, tmp_path_factory):
    """The service as a browser meets it, once on each engine (on PostgreSQL, a database of its
    own on the session's cluster)."""
    tmp = tmp_path_factory.mktemp("site")
    db_path = str(tmp / "browser.db")
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        cluster.create_database("tally_browser", template=PG_TEMPLATE)
        db_path = cluster.url("tally_browser")
    env = {**os.environ, "TALLY_DATABASE": db_path}
    tally("migrate", env=env)
    tokens = {}
    for role in ("operator", "supervisor", "admin"):
        tokens[role] = tally("token", "create", "--user", f"{role}-1", "--role", role,
                             env=env).strip().splitlines()[-1]
        subprocess.run([sys.executable, "-m", "web.cli", "password", "set", "--user",
                        f"{role}-1"], input=PASSWORD + "\n", text=True, env=env, cwd=ROOT,
                       check=True, capture_output=True)
    sim_port, port = free_port(), free_port()
    simulator = start_simulator(sim_port, log_path=str(tmp / "sim.log"))
    server = start_service(db_path, port, f"http://127.0.0.1:{sim_port}",
                           log_path=str(tmp / "server.log"), TALLY_OUTBOX_POLL_INTERVAL="0.1",
                           TALLY_RECEIPT_POLL_INTERVAL="0.3", TALLY_OUTBOX_BACKOFF_BASE="0.2")
    try:
        yield Site(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}", tokens)
    finally:
        server.stop()
        simulator.stop()


@pytest.fixture(scope="session")
def browser_engine():
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(browser_engine):
    browser = browser_engine.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
    yield browser
    browser.close()


@pytest.fixture
def phone(browser, site):
    """A phone-sized page (390 x 844, touch)."""
    context = browser.new_context(base_url=site.base, viewport=PHONE, has_touch=True,
                                  is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def desk(browser, site):
    """A desk-sized page."""
    context = browser.new_context(base_url=site.base, viewport=DESK)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, role: str = "supervisor") -> None:
    """Sign in through the form as that role's test user."""
    page.goto("/login")
    page.fill("input[name=name]", f"{role}-1")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_selector("[data-testid=signed-in-user]")


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as tests/screenshots/<name>.png."""
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def width_at_narrowest(page) -> int:
    """The document's width with the page narrowed to NARROWEST pixels (its size is put back
    after): more than NARROWEST means the page scrolls sideways on the narrowest phone."""
    size = page.viewport_size
    page.set_viewport_size({"width": NARROWEST, "height": size["height"]})
    try:
        return page.evaluate("document.documentElement.scrollWidth")
    finally:
        page.set_viewport_size(size)


def axe_violations(page, impacts=("serious", "critical")) -> list[dict]:
    """The axe-core violations of the page as shown, of those impacts."""
    if not AXE_JS.is_file():
        pytest.fail(f"{AXE_JS} is missing: `make test` fetches axe-core (the Makefile's AXE_JS), "
                    "or set TALLY_AXE_JS to an axe.min.js", pytrace=False)
    if not page.evaluate("typeof window.axe === 'object'"):
        # From the page's own origin: the pages' Content-Security-Policy (script-src 'self')
        # refuses an inline script, and the page is checked with its real policy.
        page.route(AXE_URL, lambda route: route.fulfill(path=AXE_JS,
                                                        content_type="text/javascript"))
        try:
            page.add_script_tag(url=AXE_URL)
        finally:
            page.unroute(AXE_URL)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v["impact"] in impacts]


def describe_violations(violations: list[dict]) -> str:
    """The violations as readable lines: rule, impact, help, then each element and what fails."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"]:
            lines.append(f"  {' '.join(map(str, node['target']))}: {node['html'][:160]}")
            summary = node.get("failureSummary", "").replace("\n", " ").strip()
            if summary:
                lines.append(f"    {summary[:300]}")
    return "\n".join(lines)


# Every page, for the checks that apply to all of them (tests/browser/test_accessibility.py,
# test_layout.py): name, path ({mid} is the consignment's id), the consignment's state (None:
# the page takes none), and what shows the page is drawn. The API docs page is Swagger UI's.
CONSIGNMENT_STATES = ("arrived", "held", "counting", "released")
PAGES = [
    ("sign-in", "/login", None, "input[name=password]"),
    ("consignments", "/", None, "[data-testid=consignments]"),
    ("gate", "/gate", None, "[data-testid=association]"),
    *((name, path, state, ready) for state in CONSIGNMENT_STATES for name, path, ready in (
        ("consignment", "/manifests/{mid}", "[data-testid=history]"),
        ("inspection", "/manifests/{mid}/inspection", "[data-testid=consignment-head]"),
        ("labels", "/labels?manifest={mid}", "[data-testid=choose]"),
        ("scan", "/scan?manifest={mid}", "#scan[data-queue-ready='1']"),
        ("report", "/manifests/{mid}/report", "[data-testid=summary]"),
    )),
]
PAGE_IDS = [f"{name}-{state}" if state else name for name, _, state, _ in PAGES]


@pytest.fixture(scope="session")
def consignments(site) -> dict:
    """A consignment in each of CONSIGNMENT_STATES, by state: its manifest id. Arrived (nothing
    done); held (inspected: a wood pallet to fumigate, a failed check); counting (inspected,
    written off, some units labelled and scanned, some not, a discrepancy recorded); released
    (tallied, declared, with an approved release order and a long history)."""
    from tests.browser.test_gate_page import approved_release_order  # the gate test's path
    from tests.conftest import passing_inspection

    held = site.new_manifest()
    inspection = passing_inspection([line["line_no"] for line in held["lines"]])
    inspection["pallets"] = [{"pallet_no": "P1", "material": "wood", "disposition": "fumigate"}]
    inspection["checks"][0]["quantity"] = {"result": "fail", "note": "1 carton missing"}
    status, body = site.api["operator"].call("POST", f"/api/manifests/{held['id']}/inspections",
                                             json_body=inspection)
    assert status == 201, body

    counting = site.cleared_manifest()
    mid, operator = counting["id"], site.api["operator"]
    status, issued = operator.call("POST", f"/api/manifests/{mid}/labels",
                                   json_body={"line_no": 1, "count": 2})
    assert status == 201, issued
    status, scanned = operator.call("POST", f"/api/manifests/{mid}/scans", json_body={
        "scans": [{"code": label["code"], "client_scan_id": f"state-{label['code']}"}
                  for label in issued["labels"]]})
    assert status == 200, scanned
    status, record = site.api["supervisor"].call(
        "POST", f"/api/manifests/{mid}/discrepancies", json_body={
            "line_no": 2, "kind": "short", "qty": 1, "note": "纸箱破损 carton arrived torn",
            "disposition": "settle on actual received 按实收"})
    assert status == 201, record
    released, _order = approved_release_order(site)
    return {"arrived": site.new_manifest()["id"], "held": held["id"], "counting": mid,
            "released": released["id"]}


@pytest.fixture(scope="session")
def signed_in_views(browser, site):
    """One page per size (phone, desk), signed in as a supervisor once for the session; and one
    signed out, for the sign-in page."""
    contexts, views = [], {}
    for size, options in (("phone", {"viewport": PHONE, "has_touch": True, "is_mobile": True,
                                     "device_scale_factor": 2}),
                          ("desk", {"viewport": DESK})):
        for signed in (True, False):
            context = browser.new_context(base_url=site.base, **options)
            contexts.append(context)
            page = context.new_page()
            if signed:
                sign_in(page, "supervisor")
            views[size, signed] = page
    yield views
    for context in contexts:
        context.close()


def open_page(views: dict, consignments: dict, size: str, page_id: str):
    """The page of PAGES called ``page_id`` at ``size`` (phone, desk), drawn and settled."""
    name, path, state, ready = PAGES[PAGE_IDS.index(page_id)]
    page = views[size, name != "sign-in"]
    page.set_viewport_size(PHONE if size == "phone" else DESK)
    page.goto(path.format(mid=consignments.get(state)))
    page.wait_for_selector(ready, state="attached")
    page.wait_for_load_state("networkidle")
    return page
