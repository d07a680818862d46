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
from tests.conftest import MANIFEST_CSV
from tests.http import Api

CHROMIUM = os.environ.get("TALLY_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 900}
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
        return manifest


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site")
    db_path = str(tmp / "browser.db")
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
