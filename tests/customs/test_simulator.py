"""The customs simulator and our client, over real HTTP on 127.0.0.1: the transport, the modes,
the receipt sequence and numbers, the state file and the CLI. The receipt flow through the
domain is tests/customs/test_receipt_flow.py (in-process)."""

import http.client
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from customs_sim import serve
from customs_sim.fake import FakeCustomsClient
from tally.customs.client import CustomsClient, CustomsRejected, CustomsUnavailable, Delivery
from tally.customs.message_xml import parse_xml, render_xml

ROOT = Path(__file__).resolve().parents[2]
SEQ_NO = re.compile(r"20\d{2}\d{14}")
BOND_INVT_NO = re.compile(r"QD4230\d{2}I\d{9}")
PASSPORT_NO = re.compile(r"Z4230I\d{6}\d{12}")
MANAGE_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


GOLDEN = ROOT / "tests" / "tally" / "golden"


def inventory(number="E2026000001", *, dcl_typecd="1", flag="1", qty=10, seq_no=None) -> dict:
    """A schema-valid INV101 of one line (the golden list's first), ``qty`` declared."""
    golden = json.loads((GOLDEN / "inv101.json").read_text(encoding="utf-8"))
    head = {**golden["head"], "etpsInnerInvtNo": number}
    if seq_no:
        head["seqNo"] = seq_no
    line = {k: v for k, v in golden["lines"][0].items() if v is not None}
    return {"envelope": golden["envelope"], "SysId": golden["SysId"],
            "OperCusRegCode": golden["OperCusRegCode"], "head": head,
            "lines": [{**line, "dclQty": qty}], "DelcareFlag": flag, "dclTypecd": dcl_typecd}


def passport(number, quantities: dict, *, bind="3", vehicle="沪A12345") -> dict:
    """A schema-valid SAS121 (the golden one's head): quantities {bondInvtNo: qty of its
    line 1}."""
    golden = json.loads((GOLDEN / "sas121.json").read_text(encoding="utf-8"))
    head = {**golden["head"], "etpsPreentNo": number, "bindTypecd": bind,
            "rltNo": "\\".join(quantities), "vehicleNo": vehicle, "totalWt": "9510"}
    line = golden["lines"][0]
    lines = [{**line, "passportSeqNo": i, "rltNo": bond_no, "rltGdsSeqno": 1, "dclQty": qty}
             for i, (bond_no, qty) in enumerate(quantities.items(), start=1)]
    return {"envelope": golden["envelope"], "OperCusRegCode": golden["OperCusRegCode"],
            "head": head, "lines": lines,
            "acmp": [{"rltTbTypecd": "1", "rltNo": bond_no} for bond_no in quantities],
            "DelcareFlag": "1", "dclTypecd": "1"}


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


def control(sim, path="/_control", **body) -> dict:
    status, answer = call(sim, "POST", path, body)
    assert status == 200, answer
    return answer


def received(sim) -> dict:
    return call(sim, "GET", "/_control/received")[1]


def answer_of(delivery: Delivery) -> dict:
    return delivery.body["CommonResponeMessage"]


def results(receipts, seq_no=None) -> list[tuple[str, str]]:
    return [(r["message_type"], r["HdeApprResult"]["manageResult"]) for r in receipts
            if seq_no in (None, r["HdeApprResult"]["etpsPreentNo"])]


def approved_list(client, number="E2026000001", qty=10) -> str:
    """Declare a one-line inventory list (approved at once) and return its bondInvtNo."""
    seq_no = answer_of(client.send_inventory(inventory(number, qty=qty),
                                             idempotency_key=number))["SeqNo"]
    [approval] = [r for r in client.fetch_receipts()
                  if r["HdeApprResult"]["etpsPreentNo"] == seq_no
                  and r["HdeApprResult"]["manageResult"] == "1"]
    return approval["HdeApprResult"]["businessId"]


# -- the receipt sequence ---------------------------------------------------------------------

def test_common_response_then_inv201_stored_then_approved(sim, client):
    delivery = client.send_inventory(inventory(), idempotency_key="k1")
    assert isinstance(delivery, Delivery) and delivery.status == 200
    answer = answer_of(delivery)
    assert SEQ_NO.fullmatch(answer["SeqNo"]) and answer["DealFlag"] == "0"
    assert answer["EtpsPreentNo"] == "E2026000001"
    assert answer["CheckInfo"] == "保税核注清单申报服务调用成功"
    stored, approved = client.fetch_receipts()
    for receipt in (stored, approved):
        assert receipt["message_type"] == "INV201"
        assert receipt["HdeApprResult"]["etpsPreentNo"] == answer["SeqNo"]
        assert receipt["BondInvtBsc"]["invtPreentNo"] == answer["SeqNo"]
        assert MANAGE_DATE.fullmatch(receipt["HdeApprResult"]["manageDate"])
        assert re.fullmatch(r"CUS0000E010000\d{25}", receipt["message_id"])
    assert stored["HdeApprResult"]["manageResult"] == "Y"
    assert stored["HdeApprResult"]["businessId"] == ""  # the number comes with the approval
    assert approved["HdeApprResult"]["manageResult"] == "1"
    assert BOND_INVT_NO.fullmatch(approved["HdeApprResult"]["businessId"])
    assert approved["BondInvtBsc"]["bondInvtNo"] == approved["HdeApprResult"]["businessId"]
    assert approved["BondInvtBsc"]["vrfdedMarkcd"] == "2"  # 1 approved and deducted
    assert [r["id"] for r in (stored, approved)] == [1, 2]
    assert client.fetch_receipts(after=1) == [approved] and client.fetch_receipts(2) == []


@pytest.mark.parametrize(("mode", "expected", "deducted"), [
    ("store-fail", [("INV201", "Z")], None),
    ("returned", [("INV201", "Y"), ("INV201", "3")], None),
    ("review", [("INV201", "Y"), ("INV201", "2")], None),
    ("pre-deducted", [("INV201", "Y"), ("INV201", "4")], "1"),
    ("not-deducted", [("INV201", "Y"), ("INV201", "5")], "0"),
])
def test_each_mode_gives_its_result(sim, client, mode, expected, deducted):
    control(sim, mode=mode, count=1, reason="申报要素不全")
    client.send_inventory(inventory(), idempotency_key="k1")
    receipts = client.fetch_receipts()
    assert results(receipts) == expected
    last = receipts[-1]
    if deducted:
        assert last["BondInvtBsc"]["vrfdedMarkcd"] == deducted
        assert BOND_INVT_NO.fullmatch(last["HdeApprResult"]["businessId"])
    else:
        assert last["HdeApprResult"]["businessId"] == ""
    if mode in ("store-fail", "returned"):
        assert last["HdeApprResult"]["rmk"] == "申报要素不全"
    assert call(sim, "GET", "/_control")[1]["mode"] == "ok"  # count 1: used up


def test_a_manual_review_ends_when_customs_decides(sim, client):
    control(sim, mode="review", count=1)
    seq_no = answer_of(client.send_inventory(inventory(), idempotency_key="k1"))["SeqNo"]
    assert results(client.fetch_receipts()) == [("INV201", "Y"), ("INV201", "2")]
    status, refused = call(sim, "POST", "/_control/review", {"seqNo": "1" * 18, "result": "1"})
    assert status == 400 and "manual review" in refused["error"]
    control(sim, "/_control/review", seqNo=seq_no, result="5")
    assert results(client.fetch_receipts(2)) == [("INV201", "5")]
    status, _ = call(sim, "POST", "/_control/review", {"seqNo": seq_no, "result": "1"})
    assert status == 400  # decided already


def test_the_approval_comes_after_approve_after_seconds():
    with serve(approve_after=0.3) as sim:
        client = CustomsClient(sim.url, timeout=5)
        client.send_inventory(inventory(), idempotency_key="k1")
        assert results(client.fetch_receipts()) == [("INV201", "Y")]
        deadline = time.monotonic() + 5
        while len(receipts := client.fetch_receipts()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert results(receipts) == [("INV201", "Y"), ("INV201", "1")]


def test_draft_is_stored_and_never_reviewed(client):
    client.send_inventory(inventory(flag="0"), idempotency_key="k1")
    assert results(client.fetch_receipts()) == [("INV201", "Y")]


# -- SeqNo: re-declaring, changing, refusing -----------------------------------------------------

def test_a_returned_list_is_declared_again_under_its_seq_no(sim, client):
    control(sim, mode="returned", count=1)
    seq_no = answer_of(client.send_inventory(inventory(), idempotency_key="k1"))["SeqNo"]
    again = answer_of(client.send_inventory(inventory(seq_no=seq_no), idempotency_key="k2"))
    assert again["SeqNo"] == seq_no and again["DealFlag"] == "0"
    assert results(client.fetch_receipts(), seq_no) == [
        ("INV201", "Y"), ("INV201", "3"), ("INV201", "Y"), ("INV201", "1")]
    assert [(r["seqNo"], r["version"]) for r in received(sim)["received"]] == [
        (seq_no, 1), (seq_no, 2)]


@pytest.mark.parametrize(("message", "check_info"), [
    (lambda seq: inventory(), "与系统已有记录"),  # same etpsInnerInvtNo, no SeqNo
    (lambda seq: inventory(seq_no=seq), "未退单"),  # approved: not to be declared again
    (lambda seq: inventory(seq_no="2026" + "9" * 14), "不存在"),
    (lambda seq: inventory("E-OTHER", seq_no=seq), "属于企业内部编号"),
    (lambda seq: inventory(seq_no=seq, dcl_typecd="2"), "chgTmsCnt"),  # a change needs it
])
def test_refused_imports_answer_deal_flag_minus_one(sim, client, message, check_info):
    seq_no = answer_of(client.send_inventory(inventory(), idempotency_key="k1"))["SeqNo"]
    client.fetch_receipts()  # the approval is out
    with pytest.raises(CustomsRejected) as e:
        client.send_inventory(message(seq_no), idempotency_key="k2")
    refused = e.value.body["CommonResponeMessage"]
    assert refused["DealFlag"] == "-1" and "SeqNo" not in refused
    assert check_info in refused["CheckInfo"] and check_info in e.value.detail
    assert received(sim)["count"] == 1


@pytest.mark.parametrize(("kind", "message", "element"), [
    ("INV101", lambda: inventory(qty=0), "DclQty"),                     # > 0
    ("INV101", lambda: {**inventory(), "SysId": "Z9"}, "SysId"),        # Z7 or Z8
    ("INV101", lambda: _without(inventory(), "icCardNo"), "IcCardNo"),  # required
    ("SAS121", lambda: _without(passport("RO1", {"QD423026I000000001": 1}), "vehicleWt"),
     "VehicleWt"),                                                       # declared with its truck
    ("SAS121", lambda: _without(passport("RO1", {"QD423026I000000001": 1}), "totalNetWt"),
     "TotalNetWt"),
])
def test_a_message_that_fails_its_schema_is_refused_by_deal_flag(sim, client, kind, message,
                                                                 element):
    # The same XSDs our outbox checks with (tally/customs/schemas): customs does not import it.
    with pytest.raises(CustomsRejected) as e:
        client.send_message(kind, message(), idempotency_key="k1")
    refused = e.value.body["CommonResponeMessage"]
    assert refused["DealFlag"] == "-1" and "SeqNo" not in refused
    assert refused["CheckInfo"].startswith("报文格式校验不通过") and element in refused["CheckInfo"]
    assert received(sim)["count"] == 0


def test_an_xml_message_that_fails_its_schema_is_refused_too(sim):
    text = render_xml("SAS121", _without(passport("RO1", {"QD423026I000000001": 1}),
                                         "vehicleNo"), message_id="M1",
                      send_time="2026-01-01T00:00:00")
    conn = http.client.HTTPConnection(sim.host, sim.port, timeout=5)
    conn.request("POST", "/api/passports", body=text.encode(),
                 headers={"Content-Type": "application/xml", "Idempotency-Key": "x1"})
    response = conn.getresponse()
    answer = json.loads(response.read())["CommonResponeMessage"]
    conn.close()
    assert response.status == 200 and answer["DealFlag"] == "-1"
    assert "VehicleNo" in answer["CheckInfo"] and received(sim)["count"] == 0


def _without(payload: dict, field: str) -> dict:
    del payload["head"][field]
    return payload


def test_a_change_of_an_approved_list_counts_its_changes(sim, client):
    seq_no = answer_of(client.send_inventory(inventory(), idempotency_key="k1"))["SeqNo"]
    client.fetch_receipts()
    change = inventory(seq_no=seq_no, dcl_typecd="2", qty=8)
    change["head"]["chgTmsCnt"] = "1"
    client.send_inventory(change, idempotency_key="k2")
    last = client.fetch_receipts()[-1]
    assert last["HdeApprResult"]["tmsCnt"] == "1" and last["BondInvtBsc"]["dclTypecd"] == "2"


# -- idempotency and validation --------------------------------------------------------------------

def test_same_key_twice_is_stored_once(sim, client):
    first = client.send_inventory(inventory(), idempotency_key="k1")
    second = client.send_inventory(inventory(), idempotency_key="k1")
    assert first.body == second.body and received(sim)["count"] == 1
    assert received(sim)["attempts"] == 2


def test_same_key_with_another_payload_is_rejected(client):
    client.send_inventory(inventory(), idempotency_key="k1")
    with pytest.raises(CustomsRejected) as e:
        client.send_inventory(inventory(qty=11), idempotency_key="k1")
    assert e.value.status == 422


@pytest.mark.parametrize(("change", "error"), [
    (lambda p: p["head"].pop("etpsInnerInvtNo"), "head.etpsInnerInvtNo is required"),
    (lambda p: p["lines"][0].pop("dclQty"), "lines[0].dclQty is required"),
    (lambda p: p.update(DelcareFlag="2"), "DelcareFlag must be '0' (draft) or '1' (declare)"),
    (lambda p: p.update(dclTypecd="4"), "dclTypecd must be '1' (new), '2' (change) or '3'"
                                        " (delete)"),
    (lambda p: p["head"].update(seqNo="12345"), "head.seqNo must be the 18-digit number "
                                                "customs gave the message"),
])
def test_bad_payload_is_400(sim, client, change, error):
    payload = inventory()
    change(payload)
    with pytest.raises(CustomsRejected) as e:
        client.send_inventory(payload, idempotency_key="k1")
    assert e.value.status == 400 and error in json.loads(e.value.detail)["errors"]
    assert received(sim)["count"] == 0


@pytest.mark.parametrize(("raw", "headers", "error"), [
    (b"{not json", {"Idempotency-Key": "k1"}, "body is not JSON"),
    (b"[]", {"Idempotency-Key": "k1"}, "body must be a JSON object"),
    (json.dumps(inventory()).encode(), {}, "Idempotency-Key header is required"),
])
def test_malformed_request_is_400(sim, raw, headers, error):
    status, body = call(sim, "POST", "/api/inventories", headers=headers, raw=raw)
    assert status == 400 and error in body["errors"]


@pytest.mark.parametrize("body", [{"mode": "nap"}, {"mode": "error", "count": 0},
                                  {"mode": "slow", "delay": -1},
                                  {"mode": "returned", "reason": ""}, []])
def test_bad_control_is_400(sim, body):
    status, answer = call(sim, "POST", "/_control", body)
    assert status == 400 and answer["ok"] is False
    assert call(sim, "GET", "/_control")[1]["mode"] == "ok"


def test_unknown_route_is_404(sim):
    assert call(sim, "GET", "/api/nothing")[0] == 404
    assert call(sim, "POST", "/api/gate-passes", {})[0] == 404  # SAS223 is customs', not ours


def test_xml_messages_are_accepted(sim, client):
    text = render_xml("INV101", inventory(), sender_id="DXPENT0000018755", message_id="M1",
                      send_time="2026-01-01T00:00:00")
    conn = http.client.HTTPConnection(sim.host, sim.port, timeout=5)
    conn.request("POST", "/api/inventories", body=text.encode(),
                 headers={"Content-Type": "application/xml", "Idempotency-Key": "x1"})
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()
    assert response.status == 200 and answer["CommonResponeMessage"]["DealFlag"] == "0"
    assert received(sim)["received"][0]["payload"] == parse_xml(text)[1]


# -- failure modes --------------------------------------------------------------------------

def test_down_hangs_up_and_error_is_503_for_count_requests(sim, client):
    control(sim, mode="down", count=1)
    with pytest.raises(CustomsUnavailable) as e:
        client.send_inventory(inventory(), idempotency_key="k1")
    assert e.value.status is None
    control(sim, mode="error", count=2)
    for _ in range(2):
        with pytest.raises(CustomsUnavailable) as e:
            client.fetch_receipts()
        assert e.value.status == 503
    assert client.send_inventory(inventory(), idempotency_key="k1").status == 200
    assert received(sim)["count"] == 1  # "down" read it, then hung up without storing it


def test_slow_answer_times_out_but_arrives(sim):
    control(sim, mode="slow", delay=0.3, count=1)
    with pytest.raises(CustomsUnavailable):
        CustomsClient(sim.url, timeout=0.1).send_inventory(inventory(), idempotency_key="k1")
    deadline = time.monotonic() + 5
    while received(sim)["count"] == 0:
        assert time.monotonic() < deadline, "slow request never stored"
        time.sleep(0.05)
    retry = CustomsClient(sim.url, timeout=5).send_inventory(inventory(), idempotency_key="k1")
    assert answer_of(retry)["DealFlag"] == "0" and received(sim)["count"] == 1


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
        client.fetch_receipts()
    assert e.value.status == 200 and "<html>" in e.value.detail


def test_outcome_modes_wait_for_a_declaration(sim, client):
    control(sim, mode="returned", count=1)
    client.fetch_receipts()
    client.tally_status("MF-1")
    client.send_inventory(inventory(), idempotency_key="k1")
    assert results(client.fetch_receipts())[-1] == ("INV201", "3")


def test_connection_refused_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CustomsUnavailable) as e:
        CustomsClient(f"http://127.0.0.1:{port}", timeout=2).fetch_receipts()
    assert isinstance(e.value.__cause__, ConnectionRefusedError)


def test_client_needs_an_http_url_and_a_known_kind(client):
    with pytest.raises(ValueError):
        CustomsClient("ftp://customs.example")
    with pytest.raises(ValueError):
        client.send_message("SAS223", {}, idempotency_key="k")  # a receipt, never sent by us


# -- release orders, the gate lane ----------------------------------------------------------

def test_release_order_sas221_then_the_gate_sas223(sim, client):
    bond_no = approved_list(client)
    answer = answer_of(client.send_message("SAS121", passport("RO1", {bond_no: 10}),
                                           idempotency_key="RO1"))
    assert answer["CheckInfo"] == "核放单申报服务调用成功"
    seq_no = answer["SeqNo"]
    stored, approved = [r for r in client.fetch_receipts()
                        if r["HdeApprResult"]["etpsPreentNo"] == seq_no]
    assert results([stored, approved]) == [("SAS221", "Y"), ("SAS221", "1")]
    passport_no = approved["HdeApprResult"]["businessId"]
    assert PASSPORT_NO.fullmatch(passport_no) and len(passport_no) == 24
    bsc = approved["SasPassportBsc"]
    assert (bsc["passportNo"], bsc["sasPassportPreentNo"], bsc["stucd"]) == (
        passport_no, seq_no, "1")
    assert bsc["rltNo"] == bond_no
    sas223 = control(sim, "/_control/gate", passportNo=passport_no, passCollectWt="9500")
    assert sas223["message_type"] == "SAS223"
    assert sas223["HdeApprResult"]["etpsPreentNo"] == seq_no
    gate = sas223["SasPassportBsc"]
    assert gate["stucd"] == "2" and MANAGE_DATE.fullmatch(gate["passTime"])
    assert gate["wtError"] == "10"  # totalWt − passCollectWt
    assert client.fetch_receipts()[-1] == sas223
    status, again = call(sim, "POST", "/_control/gate", {"passportNo": passport_no})
    assert status == 400 and "already" in again["error"]


@pytest.mark.parametrize(("inspection", "result", "stucd"), [("refused", "2", "6"),
                                                             ("released", "3", "2")])
def test_the_gate_inspection_gives_sas224(sim, client, inspection, result, stucd):
    bond_no = approved_list(client)
    client.send_message("SAS121", passport("RO1", {bond_no: 10}), idempotency_key="RO1")
    passport_no = client.fetch_receipts()[-1]["HdeApprResult"]["businessId"]
    sas224 = control(sim, "/_control/gate", passportNo=passport_no, inspection=inspection)
    assert sas224["message_type"] == "SAS224"
    assert sas224["HdeApprResult"]["manageResult"] == result
    assert sas224["SasPassportBsc"]["stucd"] == stucd
    again = passport("RO2", {bond_no: 10}, vehicle="沪B22222")
    if inspection == "refused":  # a refused order gives its quantity back
        assert answer_of(client.send_message("SAS121", again, idempotency_key="RO2"))[
            "DealFlag"] == "0"
    else:
        with pytest.raises(CustomsRejected) as e:
            client.send_message("SAS121", again, idempotency_key="RO2")
        assert "exceeds the declarable quantity" in e.value.detail


def test_the_gate_takes_only_approved_release_orders(sim, client):
    bond_no = approved_list(client)
    control(sim, mode="review", count=1)
    client.send_message("SAS121", passport("RO1", {bond_no: 10}), idempotency_key="RO1")
    status, answer = call(sim, "POST", "/_control/gate", {"passportNo": "RO1"})
    assert status == 400 and "not approved" in answer["error"]
    status, answer = call(sim, "POST", "/_control/gate", {"passportNo": "Z-unknown"})
    assert status == 400 and "no release order" in answer["error"]


def test_release_order_goods_are_checked_against_the_approved_lists(sim, client):
    bond_no = approved_list(client, qty=10)
    client.send_message("SAS121", passport("RO1", {bond_no: 6}), idempotency_key="RO1")
    with pytest.raises(CustomsRejected) as e:
        client.send_message("SAS121", passport("RO2", {bond_no: 5}, vehicle="沪B1"),
                            idempotency_key="RO2")
    assert "4 remaining of 10" in e.value.detail
    with pytest.raises(CustomsRejected) as e:
        client.send_message("SAS121", passport("RO3", {"QD423026I999999999": 1}),
                            idempotency_key="RO3")
    assert "unknown to customs" in e.value.detail


# -- write-off -------------------------------------------------------------------------------

def test_white_card_write_off_and_tally_status(sim, client):
    assert client.verify_white_card("WC-1", "TO-1", "沪A12345")["verified"] is True
    done = client.write_off_manifest("MF-1", "BL-1", "TO-1", "WC-1")
    assert done["writtenOff"] is True
    assert client.write_off_manifest("MF-1", "BL-1", "TO-1", "WC-1") == done
    status = client.tally_status("MF-1")
    assert status["normal"] is True and status["text"] == "接受申报_正常理货"
    control(sim, "/_control/tally-status", manifestNo="MF-1", status="非正常理货")
    assert client.tally_status("MF-1")["normal"] is False
    control(sim, "/_control/white-cards", whiteCardNo="WC-2", valid=False)
    with pytest.raises(CustomsRejected) as e:
        client.verify_white_card("WC-2", "TO-2")
    assert e.value.status == 409


# -- state, reset, CLI, the in-process fake --------------------------------------------------

def test_reset_forgets_everything(sim, client):
    client.send_inventory(inventory(), idempotency_key="k1")
    control(sim, mode="down")
    assert call(sim, "POST", "/_control/reset", {})[0] == 200
    assert received(sim) == {"count": 0, "attempts": 0, "received": []}
    assert client.fetch_receipts() == []


def test_state_file_survives_restart(tmp_path):
    state = tmp_path / "customs.json"
    with serve(state_path=state) as sim:
        client = CustomsClient(sim.url)
        first = client.send_inventory(inventory(), idempotency_key="k1")
        bond_no = client.fetch_receipts()[-1]["HdeApprResult"]["businessId"]
    with serve(state_path=state) as sim:
        client = CustomsClient(sim.url)
        assert client.send_inventory(inventory(), idempotency_key="k1").body == first.body
        assert client.fetch_receipts()[-1]["HdeApprResult"]["businessId"] == bond_no
        client.send_inventory(inventory("E2026000002"), idempotency_key="k2")
        # The serials go on from where they stopped: no number is handed out twice.
        assert client.fetch_receipts()[-1]["HdeApprResult"]["businessId"][-9:] == "000000002"


def test_an_older_state_file_is_kept_aside(tmp_path):
    state = tmp_path / "customs.json"
    state.write_text(json.dumps({"format": 2, "inventories": {}}))
    with serve(state_path=state) as sim:
        assert received(sim)["count"] == 0
    assert json.loads((tmp_path / "customs.json.format2").read_text())["format"] == 2


def test_cli_prints_url_and_keeps_state(tmp_path):
    state = tmp_path / "customs.json"
    command = [sys.executable, "-m", "web.cli", "customs-sim", "--port", "0", "--quiet",
               "--state", str(state)]
    for _run in range(2):  # killed and started again, it still knows key k1
        with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
            try:
                url = proc.stdout.readline().strip()
                assert url.startswith("http://127.0.0.1:")
                client = CustomsClient(url, timeout=5)
                client.send_inventory(inventory(), idempotency_key="k1")
                assert results(client.fetch_receipts()) == [("INV201", "Y"), ("INV201", "1")]
            finally:
                proc.terminate()
    with serve(state_path=state) as sim:
        seen = received(sim)
    assert seen["count"] == 1 and seen["attempts"] == 2


def test_the_simulator_and_the_client_do_not_import_flask():
    code = "import sys, customs_sim, customs_sim.fake; assert 'flask' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_the_fake_answers_as_the_http_client_does(sim, client):
    fake = FakeCustomsClient(sim.customs)  # the same customs, in-process
    over_http = client.send_inventory(inventory(), idempotency_key="k1")
    in_process = fake.send_inventory(inventory(), idempotency_key="k1")
    assert in_process.body == over_http.body and in_process.status == 200
    assert fake.fetch_receipts() == client.fetch_receipts()
    for mode, status in (("error", 503), ("garbled", 200), ("down", None)):
        sim.set_mode(mode, count=1)
        with pytest.raises(CustomsUnavailable) as e:
            fake.fetch_receipts()
        assert e.value.status == status
    sim.set_mode("slow", count=1)  # stored, answered too late: the retry gets the answer
    with pytest.raises(CustomsUnavailable):
        fake.send_inventory(inventory("E-SLOW"), idempotency_key="slow")
    assert sim.received()["count"] == 2
    retry = fake.send_inventory(inventory("E-SLOW"), idempotency_key="slow")
    assert answer_of(retry)["DealFlag"] == "0" and sim.received()["count"] == 2
    with pytest.raises(CustomsRejected) as e:
        fake.send_inventory(inventory(), idempotency_key="k2")  # the same number again
    assert e.value.body["CommonResponeMessage"]["DealFlag"] == "-1"
    with pytest.raises(CustomsRejected) as e:
        fake.send_inventory({"head": {}}, idempotency_key="k3")
    assert e.value.status == 400
