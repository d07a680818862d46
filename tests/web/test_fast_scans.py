"""The scan hot path (web/fast_scans.py) answers exactly as the Flask view does.

The same requests go to two fresh databases, one through the hot path and one through Flask
(``?blind=0`` sends a request to Flask, as any query string does): every answer (status, body,
headers) and the ledgers that result must be identical.
"""

import pytest

from tally import labelling
from tally.db import close_db, migrate, open_db
from tally.users import create_user_token
from tests.conftest import MANIFEST_CSV, auth, clear_over_http
from web import create_app
from web.db import close_all


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
