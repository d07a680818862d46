"""The front door (web/front.py): what applies to every request, the scan endpoint included."""

import pytest

from tests.conftest import auth


@pytest.fixture
def labels(as_, manifest):
    response = as_("operator").post(f"/api/manifests/{manifest['id']}/labels",
                                    json={"line_no": 1, "count": 3})
    return [label["code"] for label in response.json["labels"]]


@pytest.fixture
def signed_in(client, tokens):
    """The test client signed in on the pages (a session cookie); its CSRF token."""
    response = client.post("/login", data={"token": tokens["operator"]})
    assert response.status_code == 302
    with client.session_transaction() as session:
        return session["csrf"]


def test_flask_keeps_no_app_wide_hook_a_route_could_skip(app):
    # App-wide concerns live in Front.before; Flask's own hooks would not run for the scan
    # endpoint, which is answered beside Flask.
    assert not app.before_request_funcs.get(None)
    assert not app.after_request_funcs.get(None)


def test_session_scans_need_the_csrf_header(client, signed_in, manifest, labels):
    path = f"/api/manifests/{manifest['id']}/scans"
    scan = {"code": labels[0], "client_scan_id": "s-1"}
    refused = client.post(path, json=scan)
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json["error"]
    wrong = client.post(path, json=scan, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    counted = client.post(path, json=scan, headers={"X-CSRF-Token": signed_in})
    assert counted.status_code == 200 and counted.json["results"][0]["outcome"] == "counted"
    # Reading needs no CSRF header, and the refused tries recorded nothing.
    ledger = client.get(path)
    assert [s["client_scan_id"] for s in ledger.json["scans"]] == ["s-1"]


def test_the_scan_endpoint_applies_the_same_checks_as_every_api_call(client, tokens, manifest,
                                                                    labels):
    path = f"/api/manifests/{manifest['id']}/scans"
    scan = {"code": labels[0], "client_scan_id": "c-1"}
    assert client.post(path, json=scan).status_code == 401
    assert client.post(path, json=scan, headers=auth("not-a-token")).status_code == 401
    blind = client.post(path + "?blind=2", json=scan, headers=auth(tokens["operator"]))
    assert blind.status_code == 422 and blind.json["errors"][0]["field"] == "blind"
    counted = client.post(path + "?blind=1", json=scan, headers=auth(tokens["operator"]))
    assert counted.json["results"] == [{"client_scan_id": "c-1", "code": labels[0],
                                        "outcome": "counted", "line_no": 1,
                                        "box_no": None}]
    # Unknown API paths are not told apart from known ones without a caller.
    assert client.get("/api/nothing-here").status_code == 401
    assert client.get("/api/nothing-here", headers=auth(tokens["operator"])).status_code == 404


def test_only_a_trusted_bearer_token_is_identified_without_the_database(app, tokens):
    """The gateway identifies every other caller of the scan endpoint in a thread, so that a
    database slow to answer never stalls its event loop (web/gateway.py)."""
    from tally.users import authenticate
    from web.auth import identified_at_once
    from web.db import db_for

    token = tokens["operator"]
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert not identified_at_once({})  # a session's cookie: read from the database
    assert not identified_at_once({"HTTP_AUTHORIZATION": "Bearer tly_never_issued"})
    authenticate(db_for(app.config["DATABASE"]), token)
    assert identified_at_once(bearer)
    assert not identified_at_once({"HTTP_AUTHORIZATION": f"Basic {token}"})
