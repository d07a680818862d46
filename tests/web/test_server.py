"""The production server (web/server.py, web/gateway.py) over real sockets: `tally serve`.

The server runs with 1 s head and body timeouts so that the slow-client tests take seconds.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from bench.ingest_bench import _prepare
from bench.servers import (
    Process,
    free_port,
    service_env,
    start_service,
    start_simulator,
    wait_http,
)
from tally.db import close_db, open_db

TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("server")
    db_path = str(tmp / "tally.db")
    sim_port, port = free_port(), free_port()
    sim = start_simulator(sim_port)
    log = tmp / "serve.log"
    customs = f"http://127.0.0.1:{sim_port}"
    timeouts = {"TALLY_HEAD_TIMEOUT": str(TIMEOUT_S), "TALLY_BODY_TIMEOUT": str(TIMEOUT_S)}
    server = start_service(db_path, port, customs, log_path=str(log), TALLY_ACCESS_LOG="1",
                           **timeouts)
    token = subprocess.run(
        [sys.executable, "-m", "web.cli", "token", "create", "--user", "t", "--role", "admin"],
        env=service_env(db_path, port, customs), capture_output=True, text=True, check=True,
    ).stdout.split()[-1]
    manifest_id, codes = _prepare(f"http://127.0.0.1:{port}", token, 400, line_count=2)
    yield port, log, token, manifest_id, codes, db_path
    server.stop()
    sim.stop()


def exchange(port: int, request: bytes, split_at: int | None = None) -> bytes:
    """Send a raw request and read until the server closes (asked to by ``Connection: close``
    when the request does not say otherwise)."""
    if b"\r\nconnection:" not in request.lower():
        request = request.replace(b"\r\n", b"\r\nConnection: close\r\n", 1)
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


def parts(answer: bytes) -> tuple[bytes, object]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, json.loads(body) if body else None


def scan_request(manifest_id: int, token: str, body, **headers: str) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    extra = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
    return (
        f"POST /api/manifests/{manifest_id}/scans HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode() + data


def test_says_where_it_serves_and_with_which_server(served):
    port, log, *_ = served
    text = log.read_text()
    assert f"serving on http://127.0.0.1:{port}" in text
    assert "Starting granian" in text


def test_keep_alive_serves_scan_after_scan_on_one_connection(served):
    port, _, token, manifest_id, codes, _ = served
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        reader = sock.makefile("rb")
        for i, code in enumerate(codes[:3]):
            sock.sendall(scan_request(manifest_id, token,
                                      {"code": code, "client_scan_id": f"ka-{i}"}))
            assert reader.readline().startswith(b"HTTP/1.1 200")
            length = 0
            while (line := reader.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert json.loads(reader.read(length))["results"][0]["outcome"] == "counted"


def test_a_body_refused_unread_does_not_destroy_the_answer(served):
    body = b"x" * 300_000
    head, payload = parts(exchange(
        served[0],
        b"POST /api/manifests HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body,
    ))
    assert head.startswith(b"HTTP/1.1 401") and payload["status"] == 401


def test_a_scan_without_a_valid_token_gets_the_error_shape(served):
    head, payload = parts(exchange(served[0], scan_request(1, "nope", b"{}")))
    assert head.startswith(b"HTTP/1.1 401")
    assert b'www-authenticate: bearer realm="tally"' in head.lower()
    assert payload == {"ok": False, "status": 401, "code": "token_unknown",
                       "error": "unknown or revoked token", "error_zh": "令牌无效或已吊销",
                       "errors": []}


def test_chunked_split_head_and_http_1_0_are_read(served):
    port, _, token, manifest_id, codes, _ = served
    body = json.dumps({"code": codes[10], "client_scan_id": "chunked-1"}).encode()
    chunked = scan_request(manifest_id, token, b"{}").replace(
        b"Content-Length: 2\r\n\r\n{}",
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body),
    )
    head, payload = parts(exchange(port, chunked))
    assert head.startswith(b"HTTP/1.1 200") and payload["results"][0]["outcome"] == "counted"
    split = scan_request(manifest_id, token, {"code": codes[11], "client_scan_id": "split-1"})
    head, payload = parts(exchange(port, split, split_at=split.index(b"\r\n") + 5))
    assert payload["results"][0]["outcome"] == "counted"
    assert exchange(port, b"GET /healthz HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200")
    assert exchange(port, b"GET /a b c\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 400")


def test_head_answer_has_no_body(served):
    answer = exchange(served[0], b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b""


def test_bodies_are_bounded_before_they_are_parsed(served):
    port, _, token, manifest_id, *_ = served
    # Over the upload limit: refused from its Content-Length, nothing of it read.
    head, payload = parts(exchange(port, (
        f"POST /api/manifests/{manifest_id}/scans HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {10**9}\r\n\r\n").encode()))
    assert head.startswith(b"HTTP/1.1 413") and payload["status"] == 413
    # Over the JSON limit: 413; nested past our depth or past the parser's: 422.
    head, payload = parts(exchange(port, scan_request(
        manifest_id, token, b'{"code": "' + b"A" * (3 * 1024 * 1024) + b'"}')))
    assert head.startswith(b"HTTP/1.1 413") and "JSON" in payload["error"]
    for depth in (20, 5000):
        head, payload = parts(exchange(port, scan_request(manifest_id, token, b"[" * depth)))
        assert head.startswith(b"HTTP/1.1 422"), depth
        assert payload["error"] in ("the body is not valid JSON",
                                    "the JSON body nests deeper than 8 levels")
    # The token is checked first: a deep body with a wrong token is a 401, not parsed.
    head, _ = parts(exchange(port, scan_request(manifest_id, "wrong", b"[" * 5000)))
    assert head.startswith(b"HTTP/1.1 401")


def _open(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if data:
        sock.sendall(data)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closed the connection within ``seconds``, and what it sent first."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
        return True, received
    except TimeoutError:
        return False, received
    except ConnectionResetError:
        return True, received


def test_stalled_clients_cost_nothing_and_are_closed_after_the_timeouts(served):
    port, log, token, manifest_id, codes, _ = served
    half_body = scan_request(manifest_id, token, {"code": codes[20], "client_scan_id": "hb"})
    stalled = (
        [_open(port, b"") for _ in range(200)]  # idle
        + [_open(port, b"POST /api/manifests/1/scans HTTP/1.1\r\nHost: x\r\n")  # half a head
           for _ in range(200)]
        + [_open(port, half_body[:-5]) for _ in range(50)]  # half a body
    )
    try:
        # While they are open, the service answers everyone else at once.
        times = []
        for i, code in enumerate(codes[30:60]):
            started = time.monotonic()
            head, payload = parts(exchange(port, scan_request(
                manifest_id, token, {"code": code, "client_scan_id": f"during-{i}"})))
            assert payload["results"][0]["outcome"] == "counted"
            head, payload = parts(exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
            assert payload == {"ok": True}
            times.append(time.monotonic() - started)
        assert sorted(times)[len(times) // 2] < 0.05 and max(times) < 0.5, times
        # Then the server closes each after its timeout: the half bodies with a 408.
        results = [_closed_within(sock, TIMEOUT_S + 5) for sock in stalled]
        assert all(closed for closed, _ in results)
        assert all(sent.startswith(b"HTTP/1.1 408") for _, sent in results[-50:])
        assert all(sent == b"" for _, sent in results[:400])
    finally:
        for sock in stalled:
            sock.close()
    text = log.read_text()
    assert "did not arrive within 1 s" in text and "Traceback" not in text


def test_an_idle_kept_alive_connection_is_closed_after_the_head_timeout(served):
    sock = _open(served[0], b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    with sock:
        closed, sent = _closed_within(sock, TIMEOUT_S + 5)
    assert closed and sent.startswith(b"HTTP/1.1 200")


def test_a_flood_of_garbage_does_not_change_anyone_elses_scans(served):
    port, _, token, manifest_id, codes, db_path = served
    garbage = [
        scan_request(manifest_id, token, b"[" * 5000 + b"x"),  # nested, bad token below too
        scan_request(manifest_id, "wrong", b"[" * 5000),
        scan_request(manifest_id, token, b'{"code": "\xff\xfe", "client_scan_id": "g"}'),
        scan_request(manifest_id, token, {"code": codes[0]}).replace(  # a body cut short
            b"Content-Length: ", b"Content-Length: 9"),
        b"POST /api/manifests/%d/scans HTTP/1.1\r\nHost: x\r\n\x00\x01\r\n\r\n" % manifest_id,
    ]
    stop = threading.Event()
    flood_answers = []

    def flood():
        while not stop.is_set():
            for request in garbage:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                        sock.sendall(request)
                        sock.shutdown(socket.SHUT_WR)
                        flood_answers.append(sock.recv(64)[:12])
                except OSError:
                    pass

    flooders = [threading.Thread(target=flood) for _ in range(4)]
    for thread in flooders:
        thread.start()
    answers = {}
    try:
        deadline = time.monotonic() + 4
        for i, code in enumerate(codes[100:300]):
            if time.monotonic() > deadline:
                break
            body = {"scans": [{"code": code, "client_scan_id": f"fair-{i}"}]}
            head, payload = parts(exchange(port, scan_request(manifest_id, token, body)))
            answers[f"fair-{i}"] = (code, payload["results"][0]["outcome"])
    finally:
        stop.set()
        for thread in flooders:
            thread.join()
    assert len(answers) >= 20 and len(flood_answers) >= 20
    assert all(outcome == "counted" for _, outcome in answers.values())
    assert not any(answer.startswith(b"HTTP/1.1 5") for answer in flood_answers)
    conn = open_db(db_path)
    recorded = {r[0]: r[1] for r in conn.execute(
        "SELECT client_scan_id, code FROM scans WHERE client_scan_id LIKE 'fair-%'")}
    stray = conn.execute("SELECT count(*) FROM scans WHERE client_scan_id = 'g'").fetchone()[0]
    close_db(conn)
    assert recorded == {cid: code for cid, (code, _) in answers.items()}
    assert stray == 0


def test_serve_answers_only_once_the_embedded_simulator_does(tmp_path):
    # No TALLY_CUSTOMS_URL: `tally serve` starts the simulator and waits for it before serving,
    # so that a write-off right after start does not find customs unreachable.
    env = {k: v for k, v in os.environ.items() if k != "TALLY_CUSTOMS_URL"}
    port, log = free_port(), tmp_path / "serve.log"
    server = Process([sys.executable, "-m", "web.cli", "serve"],
                     {**env, "TALLY_DATABASE": str(tmp_path / "t.db"), "TALLY_PORT": str(port)},
                     str(log))
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=server.proc)
        lines = log.read_text().splitlines()
        [simulator_line] = [line for line in lines if "customs simulator" in line]
        url = simulator_line.split(" on ")[-1]
        assert lines.index(simulator_line) < lines.index(f"serving on http://127.0.0.1:{port}")
        with urllib.request.urlopen(url + "/_control", timeout=1) as answer:
            assert answer.status == 200
    finally:
        server.stop()


def worker_pids(server_pid: int) -> list[int]:
    """The outbox workers `tally serve` (``server_pid``) has started and that are running."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if parent == server_pid and command[-2:] == [b"worker", b""]:
            found.append(int(entry.name))
    return found


def test_an_outbox_worker_that_stopped_is_started_again(tmp_path):
    # Without its worker the service would go on acknowledging releases whose customs
    # messages wait in the outbox for a restart that nobody knows is needed.
    sim_port, port = free_port(), free_port()
    sim = start_simulator(sim_port)
    log = tmp_path / "serve.log"
    server = start_service(str(tmp_path / "t.db"), port, f"http://127.0.0.1:{sim_port}",
                           log_path=str(log))
    try:
        deadline = time.monotonic() + 20
        while not (first := worker_pids(server.proc.pid)):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        os.kill(first[0], signal.SIGKILL)
        while (now := worker_pids(server.proc.pid)) in ([], first):
            assert time.monotonic() < deadline + 10, "no worker was started again"
            time.sleep(0.1)
        assert "the outbox worker stopped (exit status -9); starting it again" in log.read_text()
        while "outbox worker delivering to" not in log.read_text().split("starting it again")[1]:
            assert time.monotonic() < deadline + 20
            time.sleep(0.1)
        assert len(now) == 1
    finally:
        server.stop()
        sim.stop()
    assert worker_pids(server.proc.pid) == []


def test_serve_refuses_outbox_settings_it_could_not_deliver_with(tmp_path):
    # Rather than serve and leave every customs message waiting in the outbox.
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", "serve"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "TALLY_DATABASE": str(tmp_path / "t.db"), "TALLY_PORT": "9",
             "TALLY_CUSTOMS_URL": "http://127.0.0.1:9", "TALLY_CUSTOMS_TRANSPORT": "files"})
    assert done.returncode == 2
    assert "tally serve: TALLY_CUSTOMS_TRANSPORT=files needs TALLY_CUSTOMS_OUTBOX_DIR" in (
        done.stderr)
