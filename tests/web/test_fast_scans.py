"""The scan hot path (web/fast_scans.py) answers exactly as the Flask view does.

The same requests go to two fresh databases, one through the hot path and one through Flask
(``?blind=0`` sends a request to Flask, as any query string does): every answer (status, body,
headers) and the ledgers that result must be identical.
"""

import json
import os
import socket
import threading
import time

import pytest
from gunicorn import util as gunicorn_util
from gunicorn.config import Config
from gunicorn.glogging import Logger
from werkzeug.test import EnvironBuilder

from tally import labelling
from tally.db import close_db, migrate, open_db
from tally.users import create_user_token
from tests.conftest import MANIFEST_CSV, auth, clear_over_http
from tests.web.test_server import scan_request
from web import create_app
from web.db import close_all, db_for
from web.server import SyncWorker


class Side:
    """One app on its own database, with an operator token and the test manifest ready to tally."""

    def __init__(self, path, customs_url):
        db = open_db(path)
        migrate(db)
        tokens = {role: create_user_token(db, f"{role}-user", role)
                  for role in ("operator", "supervisor")}
        close_db(db)
        self.path = path
        self.app = create_app({"TESTING": True, "DATABASE": path, "CUSTOMS_URL": customs_url})
        self.client = self.app.test_client()
        self.headers = auth(tokens["operator"])

        def as_(role):
            client, headers = self.client, auth(tokens[role])

            class As:
                def __getattr__(self, method):
                    return lambda url, **kw: getattr(client, method)(url, headers=headers, **kw)
            return As()

        imported = as_("supervisor").post("/api/manifests", data=MANIFEST_CSV.encode(),
                                          content_type="text/csv").json
        clear_over_http(as_, imported)
        self.mid = imported["id"]
        labels = as_("operator").post(f"/api/manifests/{self.mid}/labels",
                                      json={"line_no": 1, "count": 4}).json["labels"]
        self.codes = [label["code"] for label in labels]
        other = as_("supervisor").post(
            "/api/manifests", data=MANIFEST_CSV.replace("MF-TEST-1", "MF-OTHER").encode(),
            content_type="text/csv").json
        clear_over_http(as_, other)
        self.other_code = as_("operator").post(f"/api/manifests/{other['id']}/labels",
                                               json={"line_no": 1, "count": 1}
                                               ).json["labels"][0]["code"]

    def post(self, body=None, *, query="", headers=None, data=None, content_type=None):
        url = f"/api/manifests/{self.mid}/scans{query}"
        kwargs = {"json": body} if data is None else {"data": data, "content_type": content_type}
        return self.client.post(url, headers={**self.headers, **(headers or {})}, **kwargs)

    def ledger(self):
        db = open_db(self.path)
        try:
            return db.execute(
                "SELECT client_scan_id, seq, code, outcome, result FROM scans ORDER BY id"
            ).fetchall()
        finally:
            close_db(db)


@pytest.fixture
def sides(tmp_path, customs):
    fast, flask = Side(str(tmp_path / "fast.db"), customs.url), Side(
        str(tmp_path / "flask.db"), customs.url)
    yield fast, flask
    close_all()


def requests(side):
    """The requests, as (kwargs for Side.post); codes are the side's own (they are equal)."""
    c = side.codes
    bad_check = c[0][:-1] + str((int(c[0][-1]) + 1) % 10)
    return [
        {"body": {"code": c[0], "client_scan_id": "s-1", "device": "HH-01"}},
        {"body": {"code": c[0], "client_scan_id": "s-1", "device": "HH-01"}},  # replay
        {"body": {"code": c[0], "client_scan_id": "s-2"}},  # duplicate
        {"body": {"code": c[1], "client_scan_id": "s-1"}},  # id reused for another code: 409
        {"body": {"code": bad_check, "client_scan_id": "s-3"}},
        {"body": {"code": "U000000009999", "client_scan_id": "s-4"}},
        {"body": {"code": "  " + c[1].lower() + " ", "client_scan_id": "s-5"}},
        {"body": {"code": side.other_code, "client_scan_id": "s-6"}},
        {"body": {"code": "4006381333931", "client_scan_id": "s-7"}},
        {"body": {"scans": [{"code": x, "client_scan_id": f"b-{i}"} for i, x in
                            enumerate(c + c[:2])]}},
        {"body": {"scans": [{"code": c[2], "client_scan_id": "b-9"}, {"code": ""},
                            {"client_scan_id": "b-9"}, 7]}},
        {"body": {"scans": []}},
        {"body": {"scans": [{"code": c[3], "client_scan_id": f"x-{i}"} for i in range(1001)]}},
        {"body": {"code": c[3]}},
        {"body": ["not", "an", "object"]},
        {"body": None, "data": b"null", "content_type": "application/json"},
        {"data": b"{not json", "content_type": "application/json"},
        {"data": b"", "content_type": "application/json"},
        {"body": {"code": c[3], "client_scan_id": "s-8"}, "headers": {"Authorization": "Bearer x"}},
        {"body": {"code": c[3], "client_scan_id": "s-9"},
         "headers": {"Authorization": "Bearer "}},
    ]


def test_both_paths_answer_alike(sides):
    fast, flask = sides
    for fast_request, flask_request in zip(requests(fast), requests(flask), strict=True):
        a = fast.post(**fast_request)
        b = flask.post(**flask_request, query="?blind=0")
        assert (a.status_code, a.json) == (b.status_code, b.json), fast_request
        assert a.headers.get("Content-Type") == b.headers.get("Content-Type")
        assert a.headers.get("WWW-Authenticate") == b.headers.get("WWW-Authenticate")
    assert fast.ledger() == flask.ledger()
    assert [row[3] for row in fast.ledger()][:3] == ["counted", "duplicate", "invalid"]


def test_void_unit_and_unknown_manifest_alike(sides):
    fast, flask = sides
    for side in sides:
        db = open_db(side.path)
        labelling.void_unit(db, side.codes[3], reason="torn", user_id=None)
        close_db(db)
    answers = []
    for side, query in ((fast, ""), (flask, "?blind=0")):
        void = side.post({"code": side.codes[3], "client_scan_id": "v-1"}, query=query)
        missing = side.client.post(f"/api/manifests/999/scans{query}", headers=side.headers,
                                   json={"code": side.codes[0], "client_scan_id": "m-1"})
        answers.append([(r.status_code, r.json) for r in (void, missing)])
    assert answers[0] == answers[1]
    assert answers[0][0][1]["results"][0]["outcome"] == "void"
    assert answers[0][1][0] == 404


def test_which_requests_take_the_hot_path(app):
    hot = app.wsgi_app
    base = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/manifests/7/scans",
            "HTTP_AUTHORIZATION": "Bearer t", "CONTENT_TYPE": "application/json; charset=utf-8",
            "CONTENT_LENGTH": "40"}
    assert hot._match(base).group(1) == "7"
    for change in ({"QUERY_STRING": "blind=1"}, {"REQUEST_METHOD": "GET"},
                   {"HTTP_AUTHORIZATION": ""}, {"CONTENT_TYPE": "multipart/form-data; b=x"},
                   {"CONTENT_LENGTH": ""}, {"CONTENT_LENGTH": str(10**9)},
                   {"PATH_INFO": "/api/manifests/7/scans/1"}):
        assert hot._match({**base, **change}) is None, change


def environ_of(side, request: dict, query: str = "") -> dict:
    """The WSGI environ of ``side.post(**request)``."""
    kwargs = ({"json": request["body"]} if "data" not in request
              else {"data": request["data"], "content_type": request["content_type"]})
    return EnvironBuilder(path=f"/api/manifests/{side.mid}/scans", query_string=query,
                          method="POST", headers={**side.headers, **request.get("headers", {})},
                          **kwargs).get_environ()


def answer_together(app, environs: list[dict]) -> list:
    """(status code, JSON body) per request from one ``answer_together`` call; None for the
    requests it leaves to the app."""
    statuses = {}

    def start_response(index):
        return lambda status, headers, exc_info=None: statuses.__setitem__(index, status)

    answers = app.answer_together([(environ, start_response(i))
                                   for i, environ in enumerate(environs)])
    return [None if answer is None else (int(statuses[i].split()[0]), json.loads(b"".join(answer)))
            for i, answer in enumerate(answers)]


def test_requests_answered_together_answer_as_one_after_another(sides):
    # All of requests() in one group: a replay, a reused client id and a duplicate among them.
    fast, flask = sides
    environs = [environ_of(fast, request) for request in requests(fast)]
    together = answer_together(fast.app, [*environs, environ_of(fast, requests(fast)[0], "x=1")])
    assert together[-1] is None  # not the hot path's: left to Flask
    for answer, mine, request in zip(together, requests(fast), requests(flask), strict=False):
        if answer is None:  # left to the app (an empty body has no Content-Length here)
            response = fast.post(**mine)
            answer = (response.status_code, response.json)
        alone = flask.post(**request, query="?blind=0")
        assert answer == (alone.status_code, alone.json), request
    assert fast.ledger() == flask.ledger()


def test_a_group_that_fails_as_a_whole_answers_each_request_alone(sides):
    fast, _ = sides
    db = open_db(fast.path)  # a database that refuses one scan: a failure the code cannot foresee
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON scans WHEN NEW.code = 'REFUSED'"
               " BEGIN SELECT RAISE(ABORT, 'refused'); END")
    close_db(db)
    reads = [(fast.codes[0], "f-1"), ("REFUSED", "f-2"), (fast.codes[1], "f-3")]
    answers = answer_together(fast.app, [
        environ_of(fast, {"body": {"code": code, "client_scan_id": cid}}) for code, cid in reads])
    assert [status for status, _ in answers] == [200, 500, 200]
    assert answers[1][1]["error"] == "internal error: the request was not completed"
    assert [(row[0], row[3]) for row in fast.ledger()] == [("f-1", "counted"), ("f-3", "counted")]


def test_a_worker_answers_the_connections_waiting_together(sides, monkeypatch):
    """One accept() of web/server.py's worker answers every connection waiting: the simple scan
    requests together, then the page, the request only gunicorn reads and the late one alone."""
    fast, _ = sides
    for name in ("close_graceful", "http_date"):  # the worker patches these process-wide
        monkeypatch.setattr(gunicorn_util, name, getattr(gunicorn_util, name))
    cfg = Config()
    worker = SyncWorker(0, os.getpid(), [], None, 30, cfg, Logger(cfg))
    worker.prepare()
    worker.wsgi = fast.app
    token = fast.headers["Authorization"].split()[1]
    c = fast.codes

    def scan(code, cid, bearer=token):
        return scan_request(fast.mid, bearer, {"code": code, "client_scan_id": cid})

    body = json.dumps({"code": c[2], "client_scan_id": "w-4"}).encode()
    chunked = scan(c[2], "w-4").split(b"Content-Length")[0] + (
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    late = scan(c[3], "w-5")
    requests_sent = [scan(c[0], "w-1"), scan(c[0], "w-1"), scan(c[0], "w-2"),
                     scan(c[1], "w-3", "wrong"), b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                     chunked, None, scan(c[1], "w-6")]
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)  # as gunicorn's workers have it
        clients = [socket.create_connection(listener.getsockname(), timeout=5)
                   for _ in requests_sent]
        for client, request in zip(clients, requests_sent, strict=True):
            if request is not None:
                client.sendall(request)
        time.sleep(0.2)  # every request is in the server's socket buffers
        sender = threading.Timer(0.3, clients[6].sendall, [late])
        sender.start()
        worker.accept(listener)
        sender.join()
        with pytest.raises(BlockingIOError):
            listener.accept()  # none was left waiting
        answers = []
        for client in clients:
            client.settimeout(0)  # already answered and closed: nothing to wait for
            head, _, payload = b"".join(iter(lambda c=client: c.recv(65536), b"")).partition(
                b"\r\n\r\n")
            answers.append((int(head.split()[1]), json.loads(payload.split(b"\r\n")[1]
                                                             if b"chunked" in head.lower()
                                                             else payload)))
            client.close()
    worker.tmp.close()
    counted = [(status, body["results"][0]["outcome"], body["results"][0]["counted"])
               if "results" in body else (status, body) for status, body in answers]
    assert counted == [
        (200, "counted", 1), (200, "counted", 1), (200, "duplicate", 1),
        (401, {"ok": False, "status": 401, "error": "unknown or revoked token", "errors": []}),
        (200, {"ok": True}),
        (200, "counted", 3),  # after the group: the scans waiting together came first
        (200, "counted", 4),
        (200, "counted", 2),
    ]


def test_the_checkpoint_waits_until_the_answer_is_sent(sides):
    # A checkpoint copies the WAL back and fsyncs: the server runs it when it closes the answer
    # (after the connection), not while the scanner waits.
    fast, _ = sides
    db = db_for(fast.path)
    db.last_checkpoint = float("-inf")  # due now
    [answer] = fast.app.answer_together([(
        environ_of(fast, {"body": {"code": fast.codes[0], "client_scan_id": "k-1"}}),
        lambda status, headers, exc_info=None: None)])
    assert json.loads(b"".join(answer))["results"][0]["outcome"] == "counted"
    assert db.last_checkpoint == float("-inf")
    answer.close()
    assert db.last_checkpoint > 0
