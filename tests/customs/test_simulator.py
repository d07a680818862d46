"""The customs simulator and our client, over real HTTP on 127.0.0.1."""

import http.client
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tally.customs.client import (
    CustomsClient,
    CustomsRejected,
    CustomsUnavailable,
    Delivery,
)
from tally.customs.simulator import serve

ROOT = Path(__file__).resolve().parents[2]
BOND_INVT_NO = re.compile(r"QD4230\d{2}I\d{9}")


def inventory(number="E2026000001", *, dcl_typecd="1", flag="1", qty=10) -> dict:
    """A small INV101-shaped message."""
    return {
        "head": {
            "etpsInnerInvtNo": number,
            "putrecNo": "T3105W000293",
            "invtType": "8",
            "supvModecd": "1210",
            "impexpMarkcd": "I",
        },
        "lines": [
            {
                "gdsSeqno": 1,
                "gdsMtno": "SKU-001",
                "gdecd": "3304990099",
                "gdsNm": "面霜",
                "dclQty": qty,
                "dclUnitcd": "007",
            }
        ],
        "DelcareFlag": flag,
        "dclTypecd": dcl_typecd,
    }


def call(sim, method, path, body=None, headers=None, raw=None) -> tuple[int, dict]:
    """One plain HTTP request to the simulator (control routes and malformed requests)."""
    conn = http.client.HTTPConnection(sim.host, sim.port, timeout=5)
    try:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers or {})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def control(sim, **body) -> dict:
    status, answer = call(sim, "POST", "/_control", body)
    assert status == 200, answer
    return answer


def received(sim) -> dict:
    return call(sim, "GET", "/_control/received")[1]


@pytest.fixture
def sim():
    with serve() as simulator:
        yield simulator


@pytest.fixture
def client(sim):
    return CustomsClient(sim.url, timeout=5)


def test_stored_then_approved(sim, client):
    delivery = client.send_inventory(inventory(), idempotency_key="k1")

    assert isinstance(delivery, Delivery)
    assert delivery.status == 200 and delivery.duration_ms > 0
    [stored] = delivery.body["receipts"]
    assert stored["type"] == "INV200" and stored["status"] == "Y"
    assert stored["message"] == "入库成功"
    assert stored["etpsInnerInvtNo"] == "E2026000001"
    assert BOND_INVT_NO.fullmatch(stored["bondInvtNo"]) and len(stored["bondInvtNo"]) == 18

    receipts = client.fetch_receipts("E2026000001")
    assert [(r["type"], r["status"]) for r in receipts] == [("INV200", "Y"), ("INV201", "1")]
    assert receipts[1]["bondInvtNo"] == stored["bondInvtNo"]
    assert received(sim)["received"][0]["payload"] == inventory()


def test_approval_comes_after_approve_after_seconds():
    with serve(approve_after=0.5) as sim:
        client = CustomsClient(sim.url, timeout=5)
        client.send_inventory(inventory(), idempotency_key="k1")
        assert [r["type"] for r in client.fetch_receipts("E2026000001")] == ["INV200"]
        deadline = time.monotonic() + 5
        while len(receipts := client.fetch_receipts("E2026000001")) < 2:
            assert time.monotonic() < deadline, "no INV201 within 5 s"
            time.sleep(0.1)
        assert receipts[1]["type"] == "INV201" and receipts[1]["status"] == "1"


def test_same_key_twice_is_stored_once(sim, client):
    first = client.send_inventory(inventory(), idempotency_key="k1")
    second = client.send_inventory(inventory(), idempotency_key="k1")

    assert second.body == first.body
    seen = received(sim)
    assert seen["count"] == 1 and seen["attempts"] == 2
    assert seen["received"][0]["idempotencyKey"] == "k1"


def test_same_key_with_another_payload_is_rejected(client):
    client.send_inventory(inventory(qty=10), idempotency_key="k1")
    with pytest.raises(CustomsRejected) as e:
        client.send_inventory(inventory(qty=9), idempotency_key="k1")
    assert e.value.status == 422


def test_change_declaration_is_a_new_version(sim, client):
    first = client.send_inventory(inventory(), idempotency_key="k1")
    change = client.send_inventory(inventory(dcl_typecd="2", qty=9), idempotency_key="k2")

    [receipt] = change.body["receipts"]
    assert receipt["status"] == "Y" and receipt["version"] == 2
    assert receipt["bondInvtNo"] == first.body["receipts"][0]["bondInvtNo"]
    assert received(sim)["count"] == 2
    receipts = client.fetch_receipts("E2026000001")
    assert [(r["type"], r["version"]) for r in receipts] == [
        ("INV200", 1),
        ("INV201", 1),
        ("INV200", 2),
        ("INV201", 2),
    ]


@pytest.mark.parametrize(
    "first, second, expected",
    [
        # etpsInnerInvtNo is unique: a second "new" under another key is refused, not stored.
        (inventory(), inventory(), "Z"),
        (None, inventory(dcl_typecd="2"), "Z"),
        (None, inventory(dcl_typecd="3"), "Z"),
        # A draft (暂存) is not a live declaration: declaring it afterwards is fine.
        (inventory(flag="0"), inventory(), "Y"),
    ],
)
def test_store_failed_receipts(sim, client, first, second, expected):
    if first:
        client.send_inventory(first, idempotency_key="k1")
    [receipt] = client.send_inventory(second, idempotency_key="k2").body["receipts"]
    assert receipt["status"] == expected
    assert (receipt["bondInvtNo"] is None) == (expected == "Z")


def test_draft_gets_no_approval(client):
    delivery = client.send_inventory(inventory(flag="0"), idempotency_key="k1")
    assert delivery.body["receipts"][0]["message"] == "暂存成功"
    assert [r["type"] for r in client.fetch_receipts("E2026000001")] == ["INV200"]


def test_down_hangs_up_without_status(sim, client):
    control(sim, mode="down")
    with pytest.raises(CustomsUnavailable) as e:
        client.send_inventory(inventory(), idempotency_key="k1")
    assert e.value.status is None
    with pytest.raises(CustomsUnavailable):
        client.fetch_receipts("E2026000001")
    seen = received(sim)
    assert seen["count"] == 0 and seen["attempts"] == 1


def test_error_for_count_requests_then_ok(sim, client):
    control(sim, mode="error", count=2)
    for _ in range(2):
        with pytest.raises(CustomsUnavailable) as e:
            client.send_inventory(inventory(), idempotency_key="k1")
        assert e.value.status == 503
        assert json.loads(e.value.detail)["status"] == 503

    assert client.send_inventory(inventory(), idempotency_key="k1").status == 200
    assert call(sim, "GET", "/_control")[1]["mode"] == "ok"
    seen = received(sim)
    assert seen["count"] == 1 and seen["attempts"] == 3


def test_mode_set_at_start():
    with serve(mode="error", count=1) as sim:
        client = CustomsClient(sim.url, timeout=5)
        with pytest.raises(CustomsUnavailable):
            client.send_inventory(inventory(), idempotency_key="k1")
        assert client.send_inventory(inventory(), idempotency_key="k1").status == 200


@pytest.mark.parametrize(
    "mode, status, message",
    [("returned", "3", "退单"), ("review", "2", "转人工审核")],
)
def test_returned_and_manual_review(sim, client, mode, status, message):
    control(sim, mode=mode, count=1, reason="申报数量与实收不符")
    # A receipts poll does not use up a mode that decides a declaration's outcome.
    assert client.fetch_receipts("E2026000001") == []
    [stored] = client.send_inventory(inventory(), idempotency_key="k1").body["receipts"]
    assert stored["status"] == "Y"

    approval = client.fetch_receipts("E2026000001")[1]
    assert (approval["type"], approval["status"], approval["message"]) == (
        "INV201",
        status,
        message,
    )
    assert approval.get("reason") == ("申报数量与实收不符" if mode == "returned" else None)
    assert call(sim, "GET", "/_control")[1]["mode"] == "ok"


def test_returned_list_may_be_declared_again(sim, client):
    control(sim, mode="returned", count=1)
    client.send_inventory(inventory(), idempotency_key="k1")
    [again] = client.send_inventory(inventory(qty=9), idempotency_key="k2").body["receipts"]
    assert again["status"] == "Y" and again["version"] == 2
    assert client.fetch_receipts("E2026000001")[-1]["status"] == "1"


def test_slow_answer_times_out_but_arrives(sim):
    control(sim, mode="slow", delay=0.3, count=1)
    impatient = CustomsClient(sim.url, timeout=0.1)
    with pytest.raises(CustomsUnavailable) as e:
        impatient.send_inventory(inventory(), idempotency_key="k1")
    assert e.value.status is None

    # A timeout is not a refusal: customs stored it anyway, and the retry under the same key
    # gets the stored answer instead of a second copy.
    deadline = time.monotonic() + 5
    while received(sim)["count"] == 0:
        assert time.monotonic() < deadline, "slow request never stored"
        time.sleep(0.05)
    retry = CustomsClient(sim.url, timeout=5).send_inventory(inventory(), idempotency_key="k1")
    assert retry.body["receipts"][0]["status"] == "Y"
    assert received(sim)["count"] == 1


def test_stop_does_not_wait_for_a_slow_request():
    sim = serve(mode="slow", delay=30)
    try:
        with pytest.raises(CustomsUnavailable):
            CustomsClient(sim.url, timeout=0.2).send_inventory(inventory(), idempotency_key="k1")
    finally:
        started = time.monotonic()
        sim.stop()
    assert time.monotonic() - started < 5


def test_garbled_200_is_unavailable(sim, client):
    control(sim, mode="garbled", count=1)
    with pytest.raises(CustomsUnavailable) as e:
        client.send_inventory(inventory(), idempotency_key="k1")
    assert e.value.status == 200 and "<html>" in e.value.detail


@pytest.mark.parametrize(
    "change, error",
    [
        (lambda p: p["head"].pop("etpsInnerInvtNo"), "head.etpsInnerInvtNo is required"),
        (lambda p: p.pop("head"), "head.etpsInnerInvtNo is required"),
        (lambda p: p.update(lines=[]), "lines must be a non-empty list"),
        (lambda p: p.pop("lines"), "lines must be a non-empty list"),
        (lambda p: p["lines"][0].pop("dclQty"), "lines[0].dclQty is required"),
        (lambda p: p["lines"][0].pop("gdsSeqno"), "lines[0].gdsSeqno is required"),
        (lambda p: p["lines"].append("x"), "lines[1].gdsSeqno is required"),
        (lambda p: p.update(DelcareFlag="2"), "DelcareFlag must be '0' (draft) or '1' (declare)"),
        (
            lambda p: p.update(dclTypecd="4"),
            "dclTypecd must be '1' (new), '2' (change) or '3' (delete)",
        ),
    ],
)
def test_bad_payload_is_rejected(sim, client, change, error):
    payload = inventory()
    change(payload)
    with pytest.raises(CustomsRejected) as e:
        client.send_inventory(payload, idempotency_key="k1")
    assert e.value.status == 400
    body = json.loads(e.value.detail)
    assert error in body["errors"] and body["ok"] is False and body["status"] == 400
    assert received(sim)["count"] == 0


@pytest.mark.parametrize(
    "raw, headers, error",
    [
        (b"{not json", {"Idempotency-Key": "k1"}, "body is not JSON"),
        (b"[]", {"Idempotency-Key": "k1"}, "body must be a JSON object"),
        (json.dumps(inventory()).encode(), {}, "Idempotency-Key header is required"),
    ],
)
def test_malformed_request_is_400(sim, raw, headers, error):
    status, body = call(sim, "POST", "/api/inventories", headers=headers, raw=raw)
    assert status == 400 and error in body["errors"]


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "nap"},
        {"mode": "error", "count": 0},
        {"mode": "error", "count": "2"},
        {"mode": "slow", "delay": -1},
        {"mode": "returned", "reason": ""},
        [],
    ],
)
def test_bad_control_is_400(sim, body):
    status, answer = call(sim, "POST", "/_control", body)
    assert status == 400 and answer["ok"] is False
    assert call(sim, "GET", "/_control")[1]["mode"] == "ok"


def test_unknown_route_is_404(sim):
    assert call(sim, "GET", "/api/nothing")[0] == 404
    assert call(sim, "POST", "/api/nothing", {})[0] == 404


def test_reset_forgets_everything(sim, client):
    client.send_inventory(inventory(), idempotency_key="k1")
    control(sim, mode="down")
    assert call(sim, "POST", "/_control/reset", {})[0] == 200

    assert received(sim) == {"count": 0, "attempts": 0, "received": []}
    assert client.fetch_receipts("E2026000001") == []
    assert client.send_inventory(inventory(), idempotency_key="k1").status == 200


def test_receipts_for_unknown_list_are_empty(client):
    assert client.fetch_receipts("E/unknown 1") == []


def test_state_file_survives_restart(tmp_path):
    state = tmp_path / "customs.json"
    with serve(state_path=state) as sim:
        first = CustomsClient(sim.url).send_inventory(inventory(), idempotency_key="k1")
        bond_no = first.body["receipts"][0]["bondInvtNo"]

    with serve(state_path=state) as sim:
        client = CustomsClient(sim.url)
        assert received(sim)["count"] == 1
        assert client.fetch_receipts("E2026000001")[0]["bondInvtNo"] == bond_no
        assert client.send_inventory(inventory(), idempotency_key="k1").body == first.body
        other = client.send_inventory(inventory("E2026000002"), idempotency_key="k2")
        # The serial goes on from where it stopped: no bondInvtNo is handed out twice.
        assert other.body["receipts"][0]["bondInvtNo"][-9:] == "000000002"
        assert received(sim)["count"] == 2


def test_cli_prints_url_and_keeps_state(tmp_path):
    state = tmp_path / "customs.json"
    command = [sys.executable, "-m", "tally.customs.simulator", "--port", "0", "--quiet"]
    command += ["--state", str(state)]
    # Killed and started again, the CLI still knows key k1: the resend is not stored twice.
    for _run in range(2):
        with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
            try:
                url = proc.stdout.readline().strip()
                assert url.startswith("http://127.0.0.1:")
                client = CustomsClient(url, timeout=5)
                client.send_inventory(inventory(), idempotency_key="k1")
                assert [r["status"] for r in client.fetch_receipts("E2026000001")] == ["Y", "1"]
            finally:
                proc.terminate()
    with serve(state_path=state) as sim:
        seen = received(sim)
    assert seen["count"] == 1 and seen["attempts"] == 2


def test_connection_refused_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port any more.
    with pytest.raises(CustomsUnavailable) as e:
        CustomsClient(f"http://127.0.0.1:{port}", timeout=2).fetch_receipts("E2026000001")
    assert e.value.status is None and isinstance(e.value.__cause__, ConnectionRefusedError)


def test_client_needs_an_http_url():
    with pytest.raises(ValueError):
        CustomsClient("ftp://customs.example")


def test_customs_package_does_not_import_flask():
    code = (
        "import sys, tally.customs.client, tally.customs.simulator; "
        "assert 'flask' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
