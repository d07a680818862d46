"""Every error answers the one shape with a stable code and its text in English and Chinese; a
browser asking for a page gets an HTML error page instead, an /api/ caller always JSON; times
show in the warehouse's zone."""

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import python_calamine

from tests.conftest import MANIFEST_CSV

CJK = re.compile(r"[\u4e00-\u9fff]")
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}

# (role, method, path, request kwargs, status, code, an item's (field, code) or None)
CASES = [
    (None, "get", "/api/manifests", {}, 401, "token_required", None),
    ("bad", "get", "/api/manifests", {}, 401, "token_unknown", None),
    ("operator", "get", "/api/manifests/999", {}, 404, "manifest_not_found", None),
    ("operator", "get", "/api/nowhere", {}, 404, "route_not_found", None),
    ("operator", "get", "/api/manifests/{ready}/tally/confirm", {}, 405, "method_not_allowed",
     None),
    ("operator", "post", "/api/manifests/{ready}/tally/confirm", {}, 403, "role_required", None),
    ("operator", "post", "/api/manifests/{arrived}/labels", {"json": {"line_no": 1, "count": 1}},
     409, "tally_not_open", None),
    ("operator", "post", "/api/manifests/{ready}/labels", {"json": {"line_no": 1, "count": 500}},
     409, "label_allowance_exceeded", ("count", "allowance_left")),
    ("operator", "post", "/api/manifests/{ready}/discrepancies",
     {"json": {"line_no": 1, "kind": "short", "qty": "two"}}, 422, "discrepancy_invalid",
     ("qty", "integer_invalid")),
    ("operator", "post", "/api/manifests/{ready}/scans",
     {"json": {"code": "U000000000017", "client_scan_id": "bad id!"}}, 422, "scan_invalid",
     ("client_scan_id", "client_scan_id_form")),
    ("operator", "post", "/api/manifests/{ready}/scans", {"data": "{", "content_type":
     "application/json"}, 422, "body_invalid_json", None),
    ("supervisor", "post", "/api/manifests", {"data": MANIFEST_CSV, "content_type": "text/csv"},
     409, "manifest_exists", ("manifest_no", "already_imported")),
    ("supervisor", "post", "/api/manifests", {"json": {"manifest_no": "MF-X", "lines": [
        {"line_no": 1, "sku": "S", "name": "N", "declared_qty": 0}]}}, 422, "manifest_errors",
     ("declared_qty", "integer_range_invalid")),
    ("operator", "post", "/api/gate/passes", {"json": {"weighbridge_kg": 1000}}, 422,
     "gate_invalid", ("plate", "plate_or_card")),
    ("operator", "post", "/api/gate/passes", {"json": {"plate": "沪A00001", "weighbridge_kg": 10}},
     409, "gate_refused", (None, "gate_no_order")),
]


@pytest.fixture
def arrived(as_):
    """A second manifest, imported only: its tally is not open."""
    csv = MANIFEST_CSV.replace("MF-TEST-1", "MF-ARRIVED")
    response = as_("supervisor").post("/api/manifests", data=csv, content_type="text/csv")
    assert response.status_code == 201, response.json
    return response.json


def request(client, tokens, role, method, path, kwargs):
    headers = {} if role is None else {
        "Authorization": f"Bearer {tokens.get(role, 'nonsense')}"}
    return getattr(client, method)(path, headers=headers, **kwargs)


@pytest.mark.parametrize(("role", "method", "path", "kwargs", "status", "code", "item"), CASES)
def test_every_error_has_the_one_shape_with_a_code_and_both_languages(
        client, tokens, manifest, arrived, role, method, path, kwargs, status, code, item):
    path = path.format(ready=manifest["id"], arrived=arrived["id"])
    response = request(client, tokens, role, method, path, kwargs)
    body = response.json
    assert response.status_code == status, body
    assert response.mimetype == "application/json"
    assert list(body)[:6] == ["ok", "status", "code", "error", "error_zh", "errors"]
    assert body["ok"] is False and body["status"] == status and body["code"] == code
    assert body["error"] and body["error"] != body["error_zh"]
    assert CJK.search(body["error_zh"]), body["error_zh"]
    for problem in body["errors"]:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", problem["code"])
        assert problem["message"] and CJK.search(problem["message_zh"]), problem
    if item is not None:
        field, item_code = item
        assert any(p.get("field") == field and p["code"] == item_code for p in body["errors"]), \
            body["errors"]


def test_the_main_refusals_read_well_in_chinese(client, tokens, manifest, arrived):
    closed = request(client, tokens, "operator", "post", f"/api/manifests/{arrived['id']}/scans",
                     {"json": {"code": "U000000000017", "client_scan_id": "c-1"}})
    assert closed.status_code == 409 and closed.json["code"] == "tally_not_open"
    assert closed.json["error"].startswith("the tally is not open yet (arrived)")
    assert closed.json["error_zh"] == "理货尚未开始（到货）：查验尚未通过，之后还需核销；不接受扫描"
    role = request(client, tokens, "operator", "post",
                   f"/api/manifests/{manifest['id']}/tally/confirm", {})
    assert role.json["error_zh"] == "此操作需要主管角色；operator-user 是理货员"
    missing = request(client, tokens, "operator", "get", "/api/manifests/999", {})
    assert missing.json["error_zh"] == "没有编号为 999 的舱单"


def test_messages_name_the_manifest_number_not_its_id(client, tokens, manifest):
    mid = manifest["id"]
    for path, code in ((f"/api/manifests/{mid}/inspections/999", "inspection_not_found"),
                       (f"/api/manifests/{mid}/inventory", "no_inventory_list")):
        answer = request(client, tokens, "operator", "get", path, {})
        assert answer.status_code == 404 and answer.json["code"] == code, answer.json
        assert "MF-TEST-1" in answer.json["error"] and "MF-TEST-1" in answer.json["error_zh"]


def test_unmet_conditions_of_the_next_steps_carry_code_and_chinese(as_, arrived):
    state = as_("operator").get(f"/api/manifests/{arrived['id']}/workflow").json
    unmet = state["next_actions"][0]["unmet"]
    assert unmet and all(u["code"] and CJK.search(u["message_zh"]) for u in unmet)
    assert {"no_inspection"} <= {u["code"] for u in unmet}


def test_a_browser_gets_an_html_error_page_and_the_api_json(client, tokens, as_, manifest):
    assert client.post("/login", data={"token": tokens["operator"]}).status_code == 302
    page = client.get("/manifests/999", headers=BROWSER)
    assert page.status_code == 404 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert re.search(r"<h1[^>]*><span lang=\"zh-Hans\">页面不存在</span> Page not found</h1>", html)
    assert "没有编号为 999 的舱单" in html and "no manifest with id 999" in html
    assert 'data-code="manifest_not_found"' in html and 'href="/"' in html
    assert 'data-testid="signed-in-user"' in html  # in the site's layout, signed in
    unknown = client.get("/no/such/page", headers=BROWSER)
    assert unknown.status_code == 404 and unknown.mimetype == "text/html"
    # The same request to the API, or without a browser's Accept, answers JSON.
    api = client.get("/api/manifests/999", headers=BROWSER)
    assert api.status_code == 404 and api.mimetype == "application/json"
    assert api.json["code"] == "manifest_not_found"
    plain = client.get("/manifests/999", headers={"Accept": "application/json"})
    assert plain.status_code == 404 and plain.json["error_zh"] == "没有编号为 999 的舱单"


def test_a_browser_not_signed_in_is_sent_to_sign_in(client):
    answer = client.get("/manifests/999", headers=BROWSER)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")


def test_a_wrong_password_is_said_in_both_languages_under_the_field(client):
    page = client.post("/login", data={"name": "nobody", "password": "wrong-password"})
    html = page.get_data(as_text=True)
    assert page.status_code == 401
    assert "用户名不存在或密码错误" in html and "unknown user or wrong password" in html
    assert 'aria-describedby="login-error"' in html


def test_pages_and_the_report_export_show_times_in_the_warehouse_zone(as_, client, tokens,
                                                                     manifest):
    mid = manifest["id"]
    recorded = as_("operator").post(f"/api/manifests/{mid}/discrepancies",
                                    json={"line_no": 2, "kind": "short", "qty": 1})
    assert recorded.status_code == 201, recorded.json
    stored = datetime.fromisoformat(recorded.json["created_at"].replace("Z", "+00:00"))
    local = (stored + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    assert client.post("/login", data={"token": tokens["operator"]}).status_code == 302
    report = client.get(f"/manifests/{mid}/report").get_data(as_text=True)
    assert f"{local} +08:00" in report
    consignment = client.get(f"/manifests/{mid}").get_data(as_text=True)
    assert "+08:00" in consignment and '<meta name="tally-timezone" content="Asia/Shanghai">' \
        in consignment
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(as_("operator").get(
        f"/api/manifests/{mid}/reconciliation?format=xlsx").data))
    rows = book.get_sheet_by_name("Discrepancies").to_python()
    column = next(i for i, h in enumerate(rows[0]) if str(h).startswith("记录时间"))
    assert rows[0][column] == "记录时间 Recorded at (UTC+08:00 Asia/Shanghai)"
    shown = rows[1][column]
    expected = stored.astimezone(UTC).replace(tzinfo=None) + timedelta(hours=8)
    assert abs(shown - expected) < timedelta(seconds=1), (shown, expected)


def test_an_unknown_time_zone_stops_the_start(db_path):
    from web import create_app

    with pytest.raises(ValueError, match="TALLY_TIMEZONE='Mars/Olympus'"):
        create_app({"DATABASE": db_path, "TIMEZONE": "Mars/Olympus"})
