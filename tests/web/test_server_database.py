"""The production server (`tally serve`, one worker) when its PostgreSQL database is slow to
answer or down: a request waiting on the database holds up no request that does not need that
part of it, and every request is answered within a bound, never left hanging."""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.client import HTTPConnection

import psycopg
import pytest

from bench.ingest_bench import _prepare
from bench.servers import Process, free_port, start_service, start_simulator, tally
from tally.pg import CONNECTION_WAIT_S
from tests.pgcluster import Cluster

PROMPT_S = 1.0  # an answer that needs no waiting part of the database comes within this
SECRET_KEY = "database-trouble-" + "7" * 48


def call(base: str, method: str, path: str, body=None, headers=None) -> tuple[int, dict, float]:
    """(status, JSON body, seconds taken) of one request."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    return status, json.loads(raw), time.monotonic() - started


def scan(base: str, mid: int, code: str, headers: dict, client_scan_id: str | None = None):
    return call(base, "POST", f"/api/manifests/{mid}/scans",
                {"code": code, "client_scan_id": client_scan_id or uuid.uuid4().hex},
                headers)


class Served:
    """`tally serve` with one worker on a PostgreSQL database, a consignment ready to tally."""

    def __init__(self, url: str, tmp):
        self.url = url
        env = {"TALLY_DATABASE": url, "TALLY_SECRET_KEY": SECRET_KEY}
        tally("migrate", env=env)
        self.token = tally("token", "create", "--user", "dock", "--role", "supervisor",
                           env=env).split()[-1]
        sim_port, port = free_port(), free_port()
        self.sim = start_simulator(sim_port)
        self.server = start_service(url, port, f"http://127.0.0.1:{sim_port}",
                                    log_path=str(tmp / "serve.log"), TALLY_WORKERS="1",
                                    TALLY_SECRET_KEY=SECRET_KEY)
        self.port, self.base = port, f"http://127.0.0.1:{port}"
        self.mid, self.codes = _prepare(self.base, self.token, 20, line_count=2)
        self.bearer = {"Authorization": f"Bearer {self.token}"}

    def signed_in(self) -> dict:
        """The headers of a page's request: the session cookie and its CSRF token."""
        connection = HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("POST", "/login", f"token={self.token}",
                           {"Content-Type": "application/x-www-form-urlencoded"})
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 302
        cookie = answer.getheader("Set-Cookie").split(";")[0]
        connection.request("GET", "/", headers={"Cookie": cookie})
        page = connection.getresponse().read().decode()
        connection.close()
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
        return {"Cookie": cookie, "X-CSRF-Token": csrf}

    def stop(self) -> None:
        self.server.stop()
        self.sim.stop()


def test_a_scan_waiting_on_a_locked_table_holds_up_no_other_scan(pg_url, tmp_path):
    """The handheld page's scans identify their caller from the sessions table in a thread:
    while that table is locked (a long migration, an operator's open transaction), a scanner
    with a bearer token goes on scanning on the same worker, and the page's scan is answered,
    counted once, when the lock is gone."""
    served = Served(pg_url, tmp_path)
    try:
        session = served.signed_in()
        first, page_code, *others = served.codes
        assert scan(served.base, served.mid, first, served.bearer)[0] == 200
        page_answer = []
        with psycopg.connect(pg_url, autocommit=True) as holder, \
                psycopg.connect(pg_url, autocommit=True) as watcher:
            holder.execute("BEGIN")
            holder.execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
            page = threading.Thread(target=lambda: page_answer.append(
                scan(served.base, served.mid, page_code, session, "page-1")))
            page.start()
            _wait_for_lock_wait(watcher)
            for code in others[:5]:
                status, body, took = scan(served.base, served.mid, code, served.bearer)
                assert (status, body["results"][0]["outcome"]) == (200, "counted")
                assert took < PROMPT_S, took
            status, body, took = call(served.base, "GET", "/healthz")
            assert (status, body, took < PROMPT_S) == (200, {"ok": True}, True)
            assert page.is_alive() and not page_answer  # still waiting for the lock
            holder.execute("ROLLBACK")
            page.join(30)
        [(status, body, _)] = page_answer
        assert (status, body["results"][0]["outcome"]) == (200, "counted")
        assert scan(served.base, served.mid, page_code, session, "page-1")[1] == body
        status, report, _ = call(served.base, "GET", f"/api/manifests/{served.mid}/reconciliation",
                                 headers=served.bearer)
        assert status == 200 and report["totals"]["counted"] == 7
    finally:
        served.stop()


def _wait_for_lock_wait(watcher: psycopg.Connection, timeout: float = 10.0) -> None:
    """Until a backend waits for a lock on the sessions table: the page's scan is stuck."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = watcher.execute(
            "SELECT count(*) FROM pg_locks WHERE relation = 'sessions'::regclass"
            " AND NOT granted").fetchone()[0]
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("no request came to wait for the sessions table")


@pytest.fixture
def own_cluster():
    """A cluster of this test's own, which it stops and starts: durable, as in production, so
    that an immediate stop loses nothing committed."""
    with Cluster(durable=True, name="outage") as cluster:
        cluster.create_database("tally")
        yield cluster


def test_with_the_database_down_every_request_is_answered_and_nothing_is_lost(own_cluster,
                                                                           tmp_path):
    """The database stopped: scans and the health check are answered 503 in the one error
    shape once the wait for a connection is over, not left hanging; a static file, which needs
    no database, is served at once meanwhile. Once the database is back, the scan retried with
    the same client scan id is counted, once."""
    served = Served(own_cluster.url("tally"), tmp_path)
    try:
        code = served.codes[0]
        own_cluster.stop(mode="immediate")
        answers = {}
        threads = [threading.Thread(target=lambda name=name, request=request: answers.update(
            {name: request()})) for name, request in (
                ("scan", lambda: scan(served.base, served.mid, code, served.bearer, "down-1")),
                ("health", lambda: call(served.base, "GET", "/healthz")))]
        for thread in threads:
            thread.start()
        time.sleep(0.2)  # both are waiting for a connection now
        started = time.monotonic()
        with urllib.request.urlopen(served.base + "/static/app.css", timeout=10) as response:
            assert response.status == 200 and response.read()
        assert time.monotonic() - started < PROMPT_S
        for thread in threads:
            thread.join(60)
        for name in ("scan", "health"):
            status, body, took = answers[name]
            assert (status, body["ok"], body["code"]) == (503, False, "database_unavailable"), (
                name, body)
            assert took < CONNECTION_WAIT_S + 2, (name, took)
        own_cluster.start()
        deadline = time.monotonic() + 30
        while (answer := scan(served.base, served.mid, code, served.bearer, "down-1"))[0] != 200:
            assert answer[0] == 503 and time.monotonic() < deadline, answer
            time.sleep(0.5)
        assert answer[1]["results"][0]["outcome"] == "counted"
        again = scan(served.base, served.mid, code, served.bearer, "down-1")
        assert again[:2] == answer[:2]
        status, report, _ = call(served.base, "GET", f"/api/manifests/{served.mid}/reconciliation",
                                 headers=served.bearer)
        assert status == 200 and report["totals"]["counted"] == 1
    finally:
        served.stop()


def test_an_outbox_worker_started_before_its_database_waits_for_it(own_cluster, tmp_path):
    """A machine booting, or a failover under way: the worker tries again until the database
    answers, then delivers; it does not die and leave the outbox undelivered."""
    url = own_cluster.url("tally")
    tally("migrate", env={"TALLY_DATABASE": url})
    own_cluster.stop()
    log = tmp_path / "worker.log"
    worker = Process([sys.executable, "-m", "web.cli", "worker"],
                     {**os.environ, "TALLY_DATABASE": url, "TALLY_SECRET_KEY": SECRET_KEY,
                      "TALLY_CUSTOMS_URL": "http://127.0.0.1:9"}, str(log))
    try:
        _wait_for_text(log, "the database cannot be reached")
        assert worker.proc.poll() is None
        own_cluster.start()
        _wait_for_text(log, "outbox worker delivering to http://127.0.0.1:9")
        assert worker.proc.poll() is None
    finally:
        worker.stop()
    assert worker.proc.returncode == 0


def _wait_for_text(path, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and text in path.read_text()):
        assert time.monotonic() < deadline, path.read_text() if path.exists() else "no log"
        time.sleep(0.1)


def test_serve_started_with_the_database_down_says_so_and_exits():
    """For its service manager to start it again, rather than serve without knowing whether
    the schema is current."""
    url = f"postgresql://tally@127.0.0.1:{free_port()}/tally"
    done = subprocess.run([sys.executable, "-m", "web.cli", "serve"], capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "TALLY_DATABASE": url,
                               "TALLY_SECRET_KEY": SECRET_KEY,
                               "TALLY_CUSTOMS_URL": "http://127.0.0.1:9"})
    assert done.returncode == 1
    assert f"tally serve: the database {url} cannot be reached" in done.stderr
    assert "Traceback" not in done.stderr
