"""The production server (web/server.py) over real sockets: `tally serve` with its sync workers."""

import json
import socket

import pytest

from bench.servers import free_port, start_service, start_simulator


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("server")
    db_path = str(tmp / "tally.db")
    sim_port, port = free_port(), free_port()
    sim = start_simulator(sim_port)
    log = tmp / "serve.log"
    server = start_service(db_path, port, f"http://127.0.0.1:{sim_port}", log_path=str(log))
    yield port, log
    server.stop()
    sim.stop()


def exchange(port: int, request: bytes) -> bytes:
    """Send a raw request and read until the server closes; the client never closes first."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_says_where_it_serves_and_with_which_worker(served):
    port, log = served
    text = log.read_text()
    assert f"serving on http://127.0.0.1:{port}" in text
    assert "Using worker: web.server.SyncWorker" in text


def test_answer_whole_then_closed_by_the_server(served):
    port, _ = served
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
