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

from tally.config import DEFAULTS, site_settings
from tally.customs.client import (
    CustomsClient,
    CustomsRejected,
    CustomsUnavailable,
    Delivery,
)
from tally.customs.messages import build_sas121, build_sas223, parse_xml, render_xml
from tally.customs.simulator import serve

ROOT = Path(__file__).resolve().parents[2]
BOND_INVT_NO = re.compile(r"QD4230\d{2}I\d{9}")
PASSPORT_NO = re.compile(r"HP4230\d{2}I\d{15}")


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


# -- write-off: white card, manifest, tally status ------------------------------------------------

def test_white_card_write_off_and_normal_tally_status(sim, client):
    card = client.verify_white_card("WC-88001", "TO-2026-0001", "沪A12345")
    assert card["verified"] is True and card["whiteCardNo"] == "WC-88001"
    assert card["transferOrderNo"] == "TO-2026-0001" and card["vehicleNo"] == "沪A12345"

    done = client.write_off_manifest("MF-2026-0001", "BL-7788", "TO-2026-0001", "WC-88001")
    assert done["writtenOff"] is True and done["manifestNo"] == "MF-2026-0001"
    assert done["writtenOffAt"]
    # Idempotent: the same manifest again gets the same answer.
    again = client.write_off_manifest("MF-2026-0001", "BL-7788", "TO-2026-0001", "WC-88001")
    assert again == done

    status = client.tally_status("MF-2026-0001")
    assert status == {"manifestNo": "MF-2026-0001", "tallyStatus": "正常理货",
                      "text": "接受申报_正常理货", "normal": True, "reason": None,
                      "writtenOff": True}


def test_configured_abnormal_tally_status(sim, client):
    status, answer = call(sim, "POST", "/_control/tally-status", {
        "manifestNo": "MF-2026-0002", "status": "非正常理货", "text": "接受申报_非正常理货",
        "reason": "短卸 3 件"})
    assert status == 200 and answer["normal"] is False

    seen = client.tally_status("MF-2026-0002")
    assert (seen["tallyStatus"], seen["text"], seen["normal"], seen["reason"]) == (
        "非正常理货", "接受申报_非正常理货", False, "短卸 3 件")
    assert seen["writtenOff"] is False
    assert client.tally_status("MF-2026-0001")["normal"] is True  # other manifests: normal
    # The text defaults to customs' receipt form.
    call(sim, "POST", "/_control/tally-status", {"manifestNo": "M3", "status": "溢卸"})
    assert client.tally_status("M3")["text"] == "接受申报_溢卸"


def test_invalid_white_card_is_409(sim, client):
    status, _ = call(sim, "POST", "/_control/white-cards",
                     {"whiteCardNo": "WC-1", "valid": False, "reason": "白卡已挂失"})
    assert status == 200
    with pytest.raises(CustomsRejected) as e:
        client.verify_white_card("WC-1", "TO-1")
    assert e.value.status == 409
    assert e.value.body == {"ok": False, "status": 409, "error": "white card WC-1 is not valid: "
                            "白卡已挂失", "errors": ["white card WC-1 is not valid: 白卡已挂失"]}
    assert "白卡已挂失" in e.value.detail and "白卡已挂失" in str(e.value)

    call(sim, "POST", "/_control/white-cards", {"whiteCardNo": "WC-1", "valid": True})
    assert client.verify_white_card("WC-1", "TO-1")["verified"] is True


@pytest.mark.parametrize(
    "verify, write_off, error",
    [
        (None, ("MF-1", "BL-1", "TO-1", "WC-1"),
         "white card WC-1 has not been verified: verify it first"),
        (("WC-1", "TO-1"), ("MF-1", "BL-1", "TO-2", "WC-1"),
         "white card WC-1 was verified for transfer order TO-1, not TO-2"),
    ],
)
def test_write_off_needs_the_verified_white_card(client, verify, write_off, error):
    if verify:
        client.verify_white_card(*verify)
    with pytest.raises(CustomsRejected) as e:
        client.write_off_manifest(*write_off)
    assert e.value.status == 409 and e.value.body["error"] == error


def test_write_off_with_other_documents_is_409(client):
    client.verify_white_card("WC-1", "TO-1")
    client.write_off_manifest("MF-1", "BL-1", "TO-1", "WC-1")
    with pytest.raises(CustomsRejected) as e:
        client.write_off_manifest("MF-1", "BL-9", "TO-1", "WC-1")
    assert "already written off with bill BL-1" in e.value.body["error"]


def test_white_card_for_another_transfer_order_is_409(client):
    client.verify_white_card("WC-1", "TO-1")
    with pytest.raises(CustomsRejected) as e:
        client.verify_white_card("WC-1", "TO-2")
    assert e.value.body["error"] == "white card WC-1 was verified for transfer order TO-1, not TO-2"


@pytest.mark.parametrize(
    "path, body, error",
    [
        ("/api/white-cards/verify", {"whiteCardNo": "WC-1"}, "transferOrderNo is required"),
        ("/api/white-cards/verify", [], "body must be a JSON object"),
        ("/api/manifests/write-off", {"manifestNo": "M", "transferOrderNo": "T"},
         "whiteCardNo is required"),
        ("/api/manifests/write-off", {"manifestNo": "M", "transferOrderNo": "T",
                                      "whiteCardNo": "W", "billNo": 7}, "billNo must be text"),
        ("/_control/white-cards", {"whiteCardNo": "WC-1"}, "valid must be true or false"),
        ("/_control/tally-status", {"manifestNo": "M"}, "status is required"),
    ],
)
def test_bad_write_off_requests_are_400(sim, path, body, error):
    status, answer = call(sim, "POST", path, body)
    assert status == 400 and error in answer["error"]


# -- release orders (SAS121) ----------------------------------------------------------------------

SETTINGS = site_settings(DEFAULTS)


def approved_list(client, number="E2026000001", qty=10, key=None) -> str:
    """Declare a one-line inventory list (approved at once) and return its bondInvtNo."""
    delivery = client.send_inventory(inventory(number, qty=qty), idempotency_key=key or number)
    return delivery.body["receipts"][0]["bondInvtNo"]


def release_order(preent_no, quantities, *, bind="3", vehicle="沪A12345") -> dict:
    """A SAS121 payload from messages.build_sas121: quantities {bondInvtNo: qty of line 1}."""
    lines = [{"bondInvtNo": bond_no, "gds_seqno": 1, "sku": "SKU-001", "hs_code": "3304990099",
              "name": "面霜", "unit": "007", "qty": qty, "gross_wt": None, "net_wt": None}
             for bond_no, qty in quantities.items()]
    truck = {"vehicleNo": vehicle, "vehicleWt": "8000", "vehicleFrameWt": "1500"}
    return build_sas121(etps_preent_no=preent_no, lists=[{"bondInvtNo": n} for n in quantities],
                        lines=lines, bind_typecd=bind, passport_typecd="2", settings=SETTINGS,
                        vehicle=truck if vehicle else None)


def declare_passport(client, payload, key=None) -> dict:
    """Send one release order; its SAS221 stored receipt."""
    number = payload["head"]["etpsPreentNo"]
    delivery = client.send_message("SAS121", payload, idempotency_key=key or number)
    [receipt] = delivery.body["receipts"]
    return receipt


@pytest.mark.parametrize("bind, lists", [("1", 2), ("2", 1), ("3", 1)])
def test_release_order_of_each_bind_type(sim, client, bind, lists):
    numbers = [approved_list(client, f"E20260000{i}", qty=10) for i in range(lists)]
    stored = declare_passport(client, release_order("RO1", dict.fromkeys(numbers, 10), bind=bind))

    assert (stored["type"], stored["stage"], stored["status"]) == ("SAS221", "stored", "Y")
    assert PASSPORT_NO.fullmatch(stored["passportNo"]) and len(stored["passportNo"]) == 24
    assert stored["documentNo"] == stored["passportNo"] and stored["etpsPreentNo"] == "RO1"
    receipts = client.fetch_receipts("RO1", kind="SAS121")
    assert [(r["type"], r["status"]) for r in receipts] == [("SAS221", "Y"), ("SAS221", "1")]
    assert receipts[1]["stage"] == "approval" and receipts[1]["stucd"] == "1"
    assert receipts[1]["documentNo"] == stored["passportNo"]
    payload = received(sim)["received"][-1]
    assert payload["kind"] == "SAS121" and payload["payload"]["head"]["bindTypecd"] == bind


def test_one_ticket_many_trucks_split_within_the_list_quantity(client):
    bond_no = approved_list(client, qty=10)
    first = declare_passport(client, release_order("RO1", {bond_no: 6}))
    second = declare_passport(client, release_order("RO2", {bond_no: 3}, vehicle="沪B22222"))
    assert first["status"] == second["status"] == "Y"
    assert first["passportNo"] != second["passportNo"]

    with pytest.raises(CustomsRejected) as e:
        declare_passport(client, release_order("RO3", {bond_no: 2}, vehicle="沪C33333"))
    assert e.value.status == 409
    assert e.value.body["error"] == (f"line gdsSeqno 1 of inventory list {bond_no}: 2 exceeds "
                                     "the declarable quantity; 1 remaining of 10")
    # The last unit still fits.
    assert declare_passport(client, release_order("RO3", {bond_no: 1}))["status"] == "Y"


def test_a_returned_release_order_gives_its_quantity_back(sim, client):
    bond_no = approved_list(client, qty=10)
    control(sim, mode="returned", count=1, reason="车牌与卡口不符")
    declare_passport(client, release_order("RO1", {bond_no: 10}))
    approval = client.fetch_receipts("RO1", kind="SAS121")[1]
    assert (approval["status"], approval["reason"]) == ("3", "车牌与卡口不符")

    assert declare_passport(client, release_order("RO2", {bond_no: 10}))["status"] == "Y"
    # The returned one may be declared again (a new version, same passportNo), once the goods
    # are free; here they are taken.
    with pytest.raises(CustomsRejected, match="0 remaining of 10"):
        declare_passport(client, release_order("RO1", {bond_no: 10}), key="RO1-2")


def test_release_order_for_an_unapproved_list_is_409(sim, client):
    control(sim, mode="review", count=1)
    under_review = approved_list(client, "E2026000001")
    with pytest.raises(CustomsRejected) as e:
        declare_passport(client, release_order("RO1", {under_review: 1}))
    assert e.value.status == 409
    assert e.value.body["error"] == (f"inventory list {under_review} is not approved "
                                     "(no INV201 1 yet)")

    with pytest.raises(CustomsRejected) as e:
        declare_passport(client, release_order("RO1", {"QD423026I999999999": 1}))
    assert e.value.body["error"] == "inventory list QD423026I999999999 is unknown to customs"
    # A refusal is not remembered under the key: nothing was stored.
    assert all(entry["kind"] == "INV101" for entry in received(sim)["received"])


def test_release_order_waits_for_the_approval_receipt():
    with serve(approve_after=30) as sim:
        client = CustomsClient(sim.url, timeout=5)
        bond_no = approved_list(client)
        with pytest.raises(CustomsRejected, match="is not approved"):
            declare_passport(client, release_order("RO1", {bond_no: 1}))


def test_release_order_for_a_returned_list_is_409(sim, client):
    control(sim, mode="returned", count=1, reason="商品编码与备案不符")
    bond_no = approved_list(client)
    with pytest.raises(CustomsRejected) as e:
        declare_passport(client, release_order("RO1", {bond_no: 1}))
    assert e.value.body["error"] == (f"inventory list {bond_no} was returned (退单): "
                                     "商品编码与备案不符")


def test_a_second_live_release_order_under_the_same_number_is_refused(client):
    bond_no = approved_list(client)
    declare_passport(client, release_order("RO1", {bond_no: 1}))
    refused = declare_passport(client, release_order("RO1", {bond_no: 2}), key="other")
    assert (refused["status"], refused["documentNo"]) == ("Z", None)


@pytest.mark.parametrize(
    "change, error",
    [
        (lambda p: p["head"].update(bindTypecd="4"), "head.bindTypecd must be '1'"),
        (lambda p: p["head"].pop("etpsPreentNo"), "head.etpsPreentNo is required"),
        (lambda p: p["head"].update(ioTypecd="X"), "head.ioTypecd must be 'I' or 'E'"),
        (lambda p: p.update(lines=[]), "lines must be a non-empty list"),
        (lambda p: p["lines"][0].update(dclQty=0), "lines[0].dclQty must be a number > 0"),
        (lambda p: p["lines"][0].pop("rltGdsSeqno"), "lines[0].rltGdsSeqno is required"),
        (lambda p: p.update(dclTypecd="2"), "dclTypecd must be '1'"),
        (lambda p: p["lines"][0].update(rltNo="QD2"),
         "bindTypecd 3 (one ticket, many trucks, 一票多车) relates exactly one inventory list,"
         " got 2"),
    ],
)
def test_bad_release_order_is_400(sim, client, change, error):
    payload = release_order("RO1", {"QD423026I000000001": 1})
    change(payload)
    with pytest.raises(CustomsRejected) as e:
        client.send_message("SAS121", payload, idempotency_key="k1")
    assert e.value.status == 400 and error in e.value.body["error"]


# -- the gate (SAS223) ----------------------------------------------------------------------------

def gate_pass(passport_no, *, vehicle="沪A12345", io="I", preent_no="RO1") -> dict:
    return build_sas223(passport_no=passport_no, etps_preent_no=preent_no, vehicle_no=vehicle,
                        vehicle_ic_no=None, io_typecd=io, gate_code="4230G01",
                        pass_time="2026-03-01T14:05:00+08:00", weighbridge_wt="9500",
                        total_wt="9500", wt_error=None)


def approved_passport(client, preent_no="RO1", qty=10, *, vehicle="沪A12345") -> str:
    bond_no = approved_list(client, f"E-{preent_no}", qty=qty)
    return declare_passport(client, release_order(preent_no, {bond_no: qty},
                                                  vehicle=vehicle))["passportNo"]


def test_gate_pass_then_a_second_pass_is_409(sim, client):
    passport_no = approved_passport(client)
    delivery = client.send_message("SAS223", gate_pass(passport_no), idempotency_key="g1")
    [receipt] = delivery.body["receipts"]
    assert (receipt["type"], receipt["status"], receipt["stucd"]) == ("SAS223", "Y", "2")
    assert receipt["documentNo"] == passport_no
    assert receipt["passTime"] == "2026-03-01T14:05:00+08:00"
    # The gate receipt is among the release order's receipts.
    assert client.fetch_receipts("RO1", kind="SAS121")[-1] == receipt

    # The same pass again (a retry) is answered as before; another pass is refused.
    again = client.send_message("SAS223", gate_pass(passport_no), idempotency_key="g1")
    assert again.body == delivery.body
    with pytest.raises(CustomsRejected) as e:
        client.send_message("SAS223", gate_pass(passport_no), idempotency_key="g2")
    assert e.value.status == 409
    assert e.value.body["error"] == (f"release order {passport_no} already passed the gate at "
                                     "2026-03-01T14:05:00+08:00")


def test_gate_pass_of_an_unknown_or_unapproved_release_order_is_409(sim, client):
    with pytest.raises(CustomsRejected) as e:
        client.send_message("SAS223", gate_pass("HP423026I000000000000099"), idempotency_key="g1")
    assert e.value.body["error"] == "no release order has passportNo HP423026I000000000000099"

    bond_no = approved_list(client)
    control(sim, mode="review", count=1)
    passport_no = declare_passport(client, release_order("RO1", {bond_no: 1}))["passportNo"]
    with pytest.raises(CustomsRejected) as e:
        client.send_message("SAS223", gate_pass(passport_no), idempotency_key="g2")
    assert e.value.body["error"] == (f"release order {passport_no} is not approved (no SAS221 1): "
                                     "the gate cannot pass it")


@pytest.mark.parametrize(
    "vehicle, io, error",
    [
        ("沪Z99999", "I", "truck 沪Z99999 is not the vehicle of release order {no} (沪A12345)"),
        ("沪A12345", "E", "release order {no} is for direction I, the truck passed E"),
    ],
)
def test_gate_pass_of_another_truck_is_409(client, vehicle, io, error):
    passport_no = approved_passport(client)
    with pytest.raises(CustomsRejected) as e:
        client.send_message("SAS223", gate_pass(passport_no, vehicle=vehicle, io=io),
                            idempotency_key="g1")
    assert e.value.body["error"] == error.format(no=passport_no)


def test_release_order_without_a_vehicle_passes_the_truck_the_site_checked(client):
    passport_no = approved_passport(client, vehicle=None)
    delivery = client.send_message("SAS223", gate_pass(passport_no, vehicle="沪D44444"),
                                   idempotency_key="g1")
    assert delivery.body["receipts"][0]["status"] == "Y"


# -- XML, idempotency, failure modes, what was received -------------------------------------------

def post_xml(sim, path, text, key="x1") -> tuple[int, dict]:
    return call(sim, "POST", path, raw=text.encode("utf-8"),
                headers={"Content-Type": "application/xml; charset=utf-8", "Idempotency-Key": key})


def xml_of(message_type, payload) -> str:
    return render_xml(message_type, payload, sender_id="3105960001", message_id="M1",
                      send_time="20260301120000")


def test_xml_messages_are_accepted_and_stored_as_dicts(sim, client):
    status, answer = post_xml(sim, "/api/inventories", xml_of("INV101", inventory()))
    assert status == 200 and answer["receipts"][0]["status"] == "Y"
    bond_no = answer["receipts"][0]["bondInvtNo"]
    assert answer["receipts"][0]["documentNo"] == bond_no

    passport = release_order("RO1", {bond_no: 4})
    status, answer = post_xml(sim, "/api/passports", xml_of("SAS121", passport))
    assert status == 200 and answer["receipts"][0]["type"] == "SAS221"
    passport_no = answer["receipts"][0]["passportNo"]

    status, answer = post_xml(sim, "/api/gate-passes", xml_of("SAS223", gate_pass(passport_no)))
    assert status == 200 and answer["receipts"][0]["type"] == "SAS223"

    stored = received(sim)["received"]
    assert [entry["kind"] for entry in stored] == ["INV101", "SAS121", "SAS223"]
    assert stored[0]["payload"] == parse_xml(xml_of("INV101", inventory()))[1]
    assert stored[0]["payload"]["lines"][0]["dclQty"] == "10"  # XML values are text
    assert stored[1]["payload"]["head"]["bindTypecd"] == "3"


@pytest.mark.parametrize(
    "path, text, error",
    [
        ("/api/passports", "<Signature><Object>", "body is not a SAS121 message: not well-formed"),
        ("/api/inventories", None, "this route takes INV101 messages, got SAS223"),
    ],
)
def test_bad_xml_is_400(sim, path, text, error):
    text = text or xml_of("SAS223", gate_pass("HP423026I000000000000001"))
    status, answer = post_xml(sim, path, text)
    assert status == 400 and error in answer["error"]


@pytest.mark.parametrize("kind", ["SAS121", "SAS223"])
def test_idempotency_per_route(sim, client, kind):
    passport_no = approved_passport(client, "RO0")
    bond_no = approved_list(client, "E-RO1")
    payloads = {"SAS121": lambda qty: release_order("RO1", {bond_no: qty}),
                "SAS223": lambda qty: gate_pass(passport_no, vehicle="沪A12345")}
    first = client.send_message(kind, payloads[kind](1), idempotency_key="same")
    second = client.send_message(kind, payloads[kind](1), idempotency_key="same")
    assert second.body == first.body
    kinds = [entry["kind"] for entry in received(sim)["received"]]
    assert kinds.count(kind) == (2 if kind == "SAS121" else 1)  # RO0 and RO1, or one pass
    if kind == "SAS121":
        with pytest.raises(CustomsRejected) as e:
            client.send_message(kind, payloads[kind](2), idempotency_key="same")
        assert e.value.status == 422


def test_keys_are_per_route(sim, client):
    # One key on two routes is two messages, not a clash.
    bond_no = approved_list(client, key="k1")
    stored = declare_passport(client, release_order("RO1", {bond_no: 1}), key="k1")
    assert stored["status"] == "Y"


@pytest.mark.parametrize(
    "mode, request_, expected",
    [
        ("error", lambda c: c.verify_white_card("WC-1", "TO-1"), 503),
        ("down", lambda c: c.write_off_manifest("M", "B", "T", "W"), None),
        ("garbled", lambda c: c.tally_status("M"), 200),
        ("error", lambda c: c.send_message("SAS121", release_order("RO1", {"QD1": 1}),
                                           idempotency_key="k"), 503),
        ("down", lambda c: c.send_message("SAS223", gate_pass("HP423026I000000000000001"),
                                          idempotency_key="k"), None),
        ("garbled", lambda c: c.fetch_receipts("RO1", kind="SAS121"), 200),
    ],
)
def test_failure_modes_apply_to_the_new_routes(sim, client, mode, request_, expected):
    control(sim, mode=mode, count=1)
    with pytest.raises(CustomsUnavailable) as e:
        request_(client)
    assert e.value.status == expected
    assert call(sim, "GET", "/_control")[1]["mode"] == "ok"  # the one request used it up


def test_returned_waits_for_a_declaration(sim, client):
    passport_no = approved_passport(client)
    control(sim, mode="returned", count=1)
    # Neither a gate pass nor write-off calls use up a mode that decides declarations.
    client.send_message("SAS223", gate_pass(passport_no), idempotency_key="g1")
    client.verify_white_card("WC-1", "TO-1")
    assert call(sim, "GET", "/_control")[1]["mode"] == "returned"
    approved_list(client, "E2")  # the next declaration gets it
    assert client.fetch_receipts("E2")[1]["status"] == "3"


def test_received_lists_every_kind_in_order(sim, client):
    passport_no = approved_passport(client)
    client.send_message("SAS223", gate_pass(passport_no), idempotency_key="g1")
    seen = received(sim)
    assert [entry["kind"] for entry in seen["received"]] == ["INV101", "SAS121", "SAS223"]
    assert seen["attempts"] == 3
    assert seen["received"][1]["passportNo"] == passport_no
    assert seen["received"][2]["idempotencyKey"] == "g1"


def test_reset_forgets_the_new_state_too(sim, client):
    approved_passport(client)
    client.verify_white_card("WC-1", "TO-1")
    call(sim, "POST", "/_control/reset", {})
    assert client.fetch_receipts("RO1", kind="SAS121") == []
    with pytest.raises(CustomsRejected, match="has not been verified"):
        client.write_off_manifest("M", "B", "TO-1", "WC-1")


def test_release_orders_survive_a_restart(tmp_path):
    state = tmp_path / "customs.json"
    with serve(state_path=state) as sim:
        client = CustomsClient(sim.url)
        passport_no = approved_passport(client)
        client.verify_white_card("WC-1", "TO-1")
    with serve(state_path=state) as sim:
        client = CustomsClient(sim.url)
        assert client.fetch_receipts("RO1", kind="SAS121")[0]["passportNo"] == passport_no
        client.write_off_manifest("M", "B", "TO-1", "WC-1")  # the card is still verified
        second = approved_passport(client, "RO2")
        assert second[-15:] == "000000000000002"  # the serial goes on


def test_a_state_file_of_format_1_is_still_read(tmp_path):
    state = tmp_path / "customs.json"
    version = {"version": 1, "idempotencyKey": "k1", "receivedTs": 1767225600.0,
               "DelcareFlag": "1", "dclTypecd": "1", "outcome": "1", "reason": None,
               "payload": inventory()}
    answer = {"fingerprint": "f", "status": 200, "body": {"receipts": []}}
    state.write_text(json.dumps({
        "format": 1, "serial": 1, "attempts": 1, "answers": {"k1": answer},
        "inventories": {"E2026000001": {"bondInvtNo": "QD423026I000000001",
                                        "versions": [version]}}}), encoding="utf-8")
    with serve(state_path=state) as sim:
        client = CustomsClient(sim.url)
        assert [r["status"] for r in client.fetch_receipts("E2026000001")] == ["Y", "1"]
        assert received(sim)["received"][0]["kind"] == "INV101"
        # The list is approved: a release order may carry its goods.
        stored = declare_passport(client, release_order("RO1", {"QD423026I000000001": 10}))
        assert stored["status"] == "Y"


def test_unknown_message_kinds_are_refused_by_the_client(client):
    with pytest.raises(ValueError, match="message kind must be one of INV101, SAS121, SAS223"):
        client.send_message("SAS999", {}, idempotency_key="k")
    with pytest.raises(ValueError, match="receipts are read per INV101 or SAS121"):
        client.fetch_receipts("RO1", kind="SAS223")
