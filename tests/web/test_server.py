"""The production server (web/server.py) over real sockets: `tally serve` with its sync workers."""

import json
import socket
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime

import pytest
from gunicorn.config import Config
from gunicorn.workers.workertmp import WorkerTmp

from bench.ingest_bench import _prepare
from bench.servers import free_port, service_env, start_service, start_simulator
from web.server import SyncWorker, http_date_cached


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("server")
    db_path = str(tmp / "tally.db")
    sim_port, port = free_port(), free_port()
    sim = start_simulator(sim_port)
    log = tmp / "serve.log"
    customs = f"http://127.0.0.1:{sim_port}"
    server = start_service(db_path, port, customs, log_path=str(log), TALLY_ACCESS_LOG="-")
    token = subprocess.run(
        [sys.executable, "-m", "web.cli", "token", "create", "--user", "t", "--role", "admin"],
        env=service_env(db_path, port, customs), capture_output=True, text=True, check=True,
    ).stdout.split()[-1]
    manifest_id, codes = _prepare(f"http://127.0.0.1:{port}", token, 20, line_count=2)
    yield port, log, token, manifest_id, codes
    server.stop()
    sim.stop()


def exchange(port: int, request: bytes, split_at: int | None = None) -> bytes:
    """Send a raw request and read until the server closes; the client never closes first.

    ``split_at`` sends the request in two parts with a pause between, so that the server's first
    read has only the first part.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        if split_at is None:
            sock.sendall(request)
        else:
            sock.sendall(request[:split_at])
            time.sleep(0.2)
            sock.sendall(request[split_at:])
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_says_where_it_serves_and_with_which_worker(served):
    port, log, *_ = served
    text = log.read_text()
    assert f"serving on http://127.0.0.1:{port}" in text
    assert "Using worker: web.server.SyncWorker" in text


def test_answer_whole_then_closed_by_the_server(served):
    port = served[0]
    answer = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"connection: close" in head.lower()
    assert json.loads(body) == {"ok": True}


def test_unread_request_body_does_not_destroy_the_answer(served):
    # Refused before its body is read: the server must drain, not reset, or the 401 is lost.
    body = b"x" * 300_000
    answer = exchange(
        served[0],
        b"POST /api/manifests HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body,
    )
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401")
    assert json.loads(payload)["status"] == 401


def test_scan_hot_path_through_the_server(served):
    answer = exchange(
        served[0],
        b"POST /api/manifests/1/scans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    )
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 UNAUTHORIZED")
    assert b'www-authenticate: bearer realm="tally"' in head.lower()
    assert json.loads(payload) == {
        "ok": False, "status": 401, "error": "unknown or revoked token", "errors": []}


def without_date(answer: bytes) -> bytes:
    return b"\r\n".join(line for line in answer.split(b"\r\n") if not line.startswith(b"Date: "))


def scan_request(manifest_id: int, token: str, body: dict, **headers: str) -> bytes:
    data = json.dumps(body).encode()
    extra = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
    return (
        f"POST /api/manifests/{manifest_id}/scans HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode() + data


def test_simple_and_general_reads_answer_alike(served):
    # Whole in the first read: web/http1.py reads it. Cut inside its headers: gunicorn's parser.
    port, log, token, manifest_id, codes = served
    requests = [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/manifests?limit=5 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
        % token.encode(),
        b"GET /api/manifests/%d/scans?after_id=0 HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer %s\r\n\r\n" % (manifest_id, token.encode()),
        b"GET /nowhere%20at%20all HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /api/manifests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
        b"Content-Type: text/csv\r\nContent-Length: 7\r\n\r\nno,csv\n" % token.encode(),
        # A scan counted through one path is replayed through the other: the same answer.
        scan_request(manifest_id, token, {"code": codes[0], "client_scan_id": "a-1"}),
        scan_request(manifest_id, token, {"scans": [
            {"code": code, "client_scan_id": f"b-{i}"} for i, code in enumerate(codes[1:6])]}),
        scan_request(manifest_id, "wrong", {"code": codes[7], "client_scan_id": "c-1"}),
    ]
    for request in requests:
        whole = exchange(port, request)
        split = exchange(port, request, split_at=request.index(b"\r\n") + 5)
        assert whole.startswith(b"HTTP/1.1 ") and without_date(whole) == without_date(split)
    counted = json.loads(exchange(port, requests[6]).partition(b"\r\n\r\n")[2])["results"]
    assert [r["outcome"] for r in counted] == ["counted"] * 5


def test_requests_only_gunicorn_reads(served):
    port, log, token, manifest_id, codes = served
    # Chunked: the scan is counted once, through Flask (the hot path takes only a known length).
    body = json.dumps({"code": codes[10], "client_scan_id": "d-1"}).encode()
    chunked = scan_request(manifest_id, token, {}).replace(
        b"Content-Length: 2\r\n\r\n{}",
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body),
    )
    answer = exchange(port, chunked)
    assert answer.startswith(b"HTTP/1.1 200")
    assert b'"outcome":"counted"' in answer
    # HTTP/1.0 and a bad request line: gunicorn's answers.
    assert exchange(port, b"GET /healthz HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")
    assert exchange(port, b"GET /a b c\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 400")
    # Over gunicorn's limits: its answers too (the strict reader declines, never refuses).
    long_uri = b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert exchange(port, long_uri).startswith(b"HTTP/1.1 414")
    many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 101 + b"\r\n"
    assert exchange(port, many).startswith(b"HTTP/1.1 431")
    # A client that connects and goes away before sending a byte costs the server nothing.
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
        b"HTTP/1.1 200")


def test_head_answer_has_no_body(served):
    answer = exchange(served[0], b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b""


def test_both_reads_are_in_the_access_log(served):
    port, log, *_ = served
    exchange(port, b"GET /healthz?whole=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    exchange(port, b"GET /healthz?split=1 HTTP/1.1\r\nHost: x\r\n\r\n", split_at=10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = log.read_text()
        if '"GET /healthz?whole=1 HTTP/1.1" 200' in text and (
            '"GET /healthz?split=1 HTTP/1.1" 200' in text
        ):
            break
        time.sleep(0.1)
    else:
        pytest.fail("both requests should be in the access log")


def test_date_header_is_formatted_once_a_second():
    assert http_date_cached(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    before = int(time.time())
    date = http_date_cached()
    after = time.time()
    assert before <= parsedate_to_datetime(date).timestamp() <= after
    assert http_date_cached() in (date, http_date_cached(time.time()))


def test_worker_tells_the_arbiter_it_is_alive_at_most_once_a_second():
    worker = SyncWorker.__new__(SyncWorker)  # just what notify() uses: gunicorn's heartbeat file
    worker.tmp, worker.notified = WorkerTmp(Config()), 0.0
    try:
        worker.notify()
        first = worker.tmp.last_update()
        time.sleep(0.05)
        worker.notify()
        assert worker.tmp.last_update() == first
        worker.notified -= 1.0
        worker.notify()
        assert worker.tmp.last_update() > first
    finally:
        worker.tmp.close()
