"""The real receipt flow at the domain level, against the simulated customs through the
in-process client (customs_sim.fake): CommonResponeMessage -> INV201 Y/Z -> 1-5, SAS121 ->
SAS221, the gate's SAS223 and SAS224, all keyed on the SeqNo."""

import json

import pytest

from customs_sim.fake import FakeCustomsClient
from tally import declaration, outbox, receipts, release_orders, workflow
from tally.config import DEFAULTS, site_settings
from tally.errors import ConflictError
from tests.conftest import confirm_counted

SETTINGS = site_settings(DEFAULTS)


def sync(db, client) -> int:
    """What the outbox worker does: deliver what is due, then pull the receipt feed."""
    for message in outbox.claim_due(db, lease_seconds=5):
        outbox.deliver(db, client, message, base=0, maximum=0)
    return outbox.pull_receipts(db, client)


def status(db, mid) -> str:
    return workflow.current_status(db, mid).value


@pytest.fixture
def declared(db, mid, customs_client):
    """The list approved (1): the consignment is declared."""
    confirm_counted(db, mid)
    sync(db, customs_client)
    assert status(db, mid) == "declared"
    return mid


def release(db, mid, client, **body) -> dict:
    """A release order created for the consignment: ours alone until its truck is bound."""
    order = release_orders.create_release_order(
        db, {"bind_type": "2", "manifests": [mid], **body}, user_id=None, settings=SETTINGS)
    assert sync(db, client) == 0 and order["status"] == "created"  # nothing sent yet
    return order


def bind(db, order: dict, client) -> dict:
    """The truck associated: the release order is declared with it (SAS121), then customs'
    receipts are pulled."""
    release_orders.associate_vehicle(
        db, order["etps_preent_no"], {"plate": "沪A12345", "tare_wt": 8000, "frame_wt": 1500},
        user_id=None, settings=SETTINGS)
    sync(db, client)
    return release_orders.get_release_order(db, order["etps_preent_no"])


@pytest.mark.parametrize(("mode", "expected", "final"), [
    ("ok", [("INV201", "Y"), ("INV201", "1")], "declared"),
    ("pre-deducted", [("INV201", "Y"), ("INV201", "4")], "declared"),
    ("not-deducted", [("INV201", "Y"), ("INV201", "5")], "declared"),
    ("returned", [("INV201", "Y"), ("INV201", "3")], "returned"),
    ("store-fail", [("INV201", "Z")], "returned"),
    ("review", [("INV201", "Y"), ("INV201", "2")], "tallied"),
])
def test_each_result_of_the_inventory_list(db, mid, customs_core, customs_client, mode,
                                           expected, final):
    customs_core.set_mode(mode, count=1)
    confirm_counted(db, mid)
    assert sync(db, customs_client) == len(expected)
    [message] = outbox.sync_status(db, mid)["messages"]
    assert len(message["seq_no"]) == 18 and message["seq_no"].isdigit()
    assert [(r["type"], r["status"]) for r in message["receipts"]] == expected
    assert status(db, mid) == final
    bond_no = declaration.bond_invt_no(db, mid)
    if final == "declared":  # 1, 4 and 5 approve: the bondInvtNo comes with the approval
        assert bond_no.startswith("QD4230") and len(bond_no) == 18
    else:
        assert bond_no is None


def test_a_manual_review_waits_then_the_approval_declares(db, mid, customs_core,
                                                          customs_client):
    customs_core.set_mode("review", count=1)
    confirm_counted(db, mid)
    sync(db, customs_client)
    assert status(db, mid) == "tallied"
    [message] = outbox.sync_status(db, mid)["messages"]
    customs_core.decide({"seqNo": message["seq_no"], "result": "1"})
    assert sync(db, customs_client) == 1
    assert status(db, mid) == "declared"
    names = [e["name"] for e in json_events(db, mid)]
    assert "customs-manual-review" in names


def json_events(db, mid) -> list[dict]:
    return [{"name": row[0], **json.loads(row[1])} for row in db.execute(
        "SELECT name, details FROM events WHERE manifest_id = ? ORDER BY id", [mid])]


@pytest.mark.parametrize(("mode", "code", "zh", "en"), [
    ("returned", "receipt_list_returned", "海关退单（核注清单 INV201 3）：商品编码与备案不符",
     "customs returned the inventory list (INV201 3): the HS code differs from the account "
     "book"),
    ("store-fail", "receipt_list_store_failed",
     "海关入库失败（核注清单 INV201 Z）：表体商品备案序号在账册中不存在",
     "customs could not store the inventory list (INV201 Z): a line's item number is not in "
     "the account book"),
])
def test_refusals_carry_their_reasons_in_both_languages(db, mid, customs_core, customs_client,
                                                        mode, code, zh, en):
    customs_core.set_mode(mode, count=1)
    confirm_counted(db, mid)
    sync(db, customs_client)
    [refusal] = receipts.refusals(db, mid)
    assert (refusal["code"], refusal["message_zh"], refusal["message"]) == (code, zh, en)


@pytest.mark.parametrize("mode", ["returned", "store-fail"])
def test_a_refused_list_is_declared_again_under_the_same_seq_no(db, mid, customs_core,
                                                                 customs_client, mode):
    customs_core.set_mode(mode, count=1)
    confirm_counted(db, mid)
    sync(db, customs_client)
    assert status(db, mid) == "returned"
    corrected = declaration.correct_list(
        db, mid, {"changes": [{"gdsSeqno": 1, "gdecd": "1901109000"}]}, user_id=None)
    first, second = outbox.sync_status(db, mid)["messages"]
    # Re-declaring a returned list is dclTypecd 1 with the SeqNo of the first declaration.
    assert corrected["payload"]["dclTypecd"] == "1"
    assert corrected["payload"]["head"]["seqNo"] == first["seq_no"]
    sync(db, customs_client)
    first, second = outbox.sync_status(db, mid)["messages"]
    assert second["seq_no"] == first["seq_no"]
    assert [(r["type"], r["status"]) for r in second["receipts"]] == [("INV201", "Y"),
                                                                      ("INV201", "1")]
    assert status(db, mid) == "declared"
    versions = customs_core.received()["received"]
    assert [(v["seqNo"], v["version"]) for v in versions] == [(first["seq_no"], 1),
                                                              (first["seq_no"], 2)]


def test_a_new_declaration_of_a_known_number_is_refused_by_deal_flag(db, mid, customs_core,
                                                                     customs_client):
    confirm_counted(db, mid)
    sync(db, customs_client)
    [message] = list(db.query("SELECT payload FROM outbox"))
    payload = json.loads(message["payload"])
    # The same etpsInnerInvtNo without its SeqNo: customs refuses to import it (DealFlag -1).
    status_code, answer = customs_core.receive("INV101", payload, "another-key")
    assert status_code == 200
    refused = answer["CommonResponeMessage"]
    assert refused["DealFlag"] == "-1" and "SeqNo" not in refused
    assert "重复" in refused["CheckInfo"]


def test_not_deducted_counts_as_approved_through_release_and_gate(db, mid, customs_core,
                                                                  customs_client):
    customs_core.set_mode("not-deducted", count=1)
    confirm_counted(db, mid)
    sync(db, customs_client)
    assert status(db, mid) == "declared"
    order = release(db, mid, customs_client)
    assert status(db, mid) == "declared" and order["receipts"] == []
    order = bind(db, order, customs_client)
    [sas121] = [json.loads(m["payload"]) for m in db.query(
        "SELECT payload FROM outbox WHERE kind = 'SAS121'")]
    assert sas121["head"]["vehicleNo"] == "沪A12345" and sas121["head"]["totalWt"] == \
        order["total_wt"]
    assert [(r["type"], r["status"]) for r in order["receipts"]] == [("SAS221", "Y"),
                                                                     ("SAS221", "1")]
    assert order["status"] == "approved" and order["passport_no"].startswith("Z4230I")
    assert len(order["passport_no"]) == 24 and status(db, mid) == "released"
    assert [e[0] for e in db.execute(
        "SELECT name FROM events WHERE manifest_id = ? AND name LIKE 'status-%' ORDER BY id",
        [mid])][-2:] == ["status-vehicle-bound", "status-released"]
    # Customs' gate lane lets the truck through: SAS223 passes the order, the goods entered.
    sas223 = customs_core.pass_gate({"passportNo": order["passport_no"], "secdPassId": "G2"})
    assert sas223["message_type"] == "SAS223"
    assert sas223["SasPassportBsc"]["sasPassportPreentNo"] == \
        sas223["HdeApprResult"]["etpsPreentNo"]
    assert sync(db, customs_client) == 1
    order = release_orders.get_release_order(db, order["passport_no"])
    assert order["status"] == "passed" and status(db, mid) == "entered"
    assert order["customs_pass_id"] == "G2"
    assert order["customs_pass_time"] == sas223["SasPassportBsc"]["secdPassTime"]


def test_sas223_confirms_a_pass_our_gate_already_made(db, declared, customs_core,
                                                      customs_client):
    from tally import gate

    order = bind(db, release(db, declared, customs_client), customs_client)
    result = gate.record_gate_pass(db, {"plate": "沪A12345",
                                                "weighbridge_kg": float(order["total_wt"])},
                                   user_id=None, tolerance_kg=50)
    assert result["outcome"] == "pass" and status(db, declared) == "entered"
    assert customs_core.received()["count"] == 2  # our gate sends nothing: INV101 + SAS121
    customs_core.pass_gate({"passportNo": order["passport_no"]})
    assert sync(db, customs_client) == 1
    order = release_orders.get_release_order(db, order["passport_no"])
    assert order["status"] == "passed" and order["customs_pass_time"]
    assert "gate-pass-confirmed" in [r[0] for r in db.execute(
        "SELECT name FROM events WHERE release_order_id = ?", [order["id"]])]


@pytest.mark.parametrize(("inspection", "order_status", "final"), [
    ("refused", "refused", "released"),
    ("released", "passed", "entered"),
])
def test_sas224_disposes_of_the_truck_inspected_at_the_gate(db, declared, customs_core,
                                                            customs_client, inspection,
                                                            order_status, final):
    order = bind(db, release(db, declared, customs_client), customs_client)
    sas224 = customs_core.pass_gate({"passportNo": order["passport_no"],
                                     "inspection": inspection})
    assert sas224["message_type"] == "SAS224"
    assert sas224["HdeApprResult"]["manageResult"] == {"refused": "2", "released": "3"}[
        inspection]
    sync(db, customs_client)
    assert release_orders.get_release_order(db, order["passport_no"])["status"] == order_status
    assert status(db, declared) == final
    refused = [r["code"] for r in receipts.refusals(db, declared)]
    assert refused == (["receipt_gate_refused"] if inspection == "refused" else [])
    if inspection == "refused":  # its goods are free for another release order
        assert release_orders.remaining_quantities(db, declared) == {1: 3, 2: 2, 3: 1}


def test_a_release_order_without_weights_is_not_declared(db, declared, customs_client):
    # SAS121 requires every goods line's gross and net weight, > 0 [G]: refused before sending.
    order = release(db, declared, customs_client)
    db.execute("UPDATE release_order_lines SET net_wt = NULL WHERE id = (SELECT min(id) FROM"
               " release_order_lines)")
    with pytest.raises(ConflictError) as caught:
        bind(db, order, customs_client)
    assert caught.value.message.code == "release_order_weights_missing"
    assert "毛重或净重" in caught.value.message.zh
    assert release_orders.get_release_order(db, order["etps_preent_no"])["status"] == "created"
    assert status(db, declared) == "declared"
    assert db.execute("SELECT count(*) FROM outbox WHERE kind = 'SAS121'").fetchone()[0] == 0


def test_a_truck_is_associated_once(db, declared, customs_client):
    order = bind(db, release(db, declared, customs_client), customs_client)
    with pytest.raises(ConflictError) as caught:
        release_orders.associate_vehicle(
            db, order["etps_preent_no"], {"plate": "沪B99999", "tare_wt": 1, "frame_wt": 1},
            user_id=None, settings=SETTINGS)
    assert caught.value.extra == {"current_status": "approved", "action": "bind_vehicle"}
    assert release_orders.get_release_order(db, order["etps_preent_no"])["vehicle_no"] == \
        "沪A12345"


@pytest.mark.parametrize(("mode", "status_after"), [("returned", "returned"),
                                                    ("store-fail", "returned"),
                                                    ("review", "applied")])
def test_sas221_refusals_of_a_release_order(db, declared, customs_core, customs_client, mode,
                                            status_after):
    customs_core.set_mode(mode, count=1, reason="车辆信息与卡口不符")
    order = bind(db, release(db, declared, customs_client), customs_client)
    assert order["status"] == status_after
    # A returned order frees its truck: the consignment is declared again, ready for another.
    assert status(db, declared) == ("vehicle_bound" if mode == "review" else "declared")
    if mode == "review":
        [message] = [m for m in outbox.sync_status(db, declared)["messages"]
                     if m["kind"] == "SAS121"]
        customs_core.decide({"seqNo": message["seq_no"], "result": "1"})
        sync(db, customs_client)
        assert release_orders.get_release_order(db, order["etps_preent_no"])["status"] == \
            "approved"
        assert status(db, declared) == "released"
    else:
        [refusal] = receipts.refusals(db, declared)
        assert "车辆信息与卡口不符" in refusal["message_zh"]
        assert "车辆信息与卡口不符" in refusal["message"]  # no English known: quoted as sent


def test_a_receipt_for_an_unknown_seq_no_is_recorded_and_ignored(db, declared,
                                                                 customs_client):
    feed = customs_client.fetch_receipts(0)
    approval = next(r for r in feed if r["HdeApprResult"]["manageResult"] == "1")
    stranger = json.loads(json.dumps(approval))
    stranger.update(message_id="CUS0000E01000020260101000000099999999", id=999)
    stranger["HdeApprResult"].update(etpsPreentNo="202600000099999999", manageResult="3",
                                     rmk="不是本企业的单证")
    assert receipts.record_receipts(db, [stranger]) == 1
    row = db.execute("SELECT applied, outbox_id, manifest_id FROM customs_receipts"
                     " WHERE message_id = ?", [stranger["message_id"]]).fetchone()
    assert row == (0, None, None)
    assert status(db, declared) == "declared" and receipts.refusals(db, declared) == []
    assert "customs-receipt-unmatched" in [r[0] for r in db.execute("SELECT name FROM events")]


def test_a_receipt_named_before_its_seq_no_was_known_applies_once_it_is(db, mid, customs_core):
    client = FakeCustomsClient(customs_core)
    confirm_counted(db, mid)
    [message] = outbox.claim_due(db, lease_seconds=5)
    # Customs stores the list, but its answer is lost: our side does not know the SeqNo yet.
    code, answer = customs_core.receive("INV101", json.loads(message["payload"]),
                                        message["idempotency_key"])
    assert code == 200
    assert outbox.pull_receipts(db, client) == 2
    assert status(db, mid) == "tallied"  # recorded, ignored: no message has that SeqNo
    # The retry (same key) gets the same answer; the waiting receipts now apply.
    assert outbox.deliver(db, client, message, base=0, maximum=0) == "delivered"
    assert status(db, mid) == "declared"
    assert outbox.sync_status(db, mid)["messages"][0]["seq_no"] == \
        answer["CommonResponeMessage"]["SeqNo"]


def test_a_receipt_fetched_twice_is_applied_once(db, mid, customs_client):
    confirm_counted(db, mid)
    assert sync(db, customs_client) == 2
    feed = customs_client.fetch_receipts(0)
    assert len(feed) == 2
    assert receipts.record_receipts(db, feed) == 0
    assert receipts.record_receipts(db, feed + feed) == 0
    assert db.execute("SELECT count(*) FROM customs_receipts").fetchone()[0] == 2
    assert [e["name"] for e in json_events(db, mid)].count("status-declared") == 1
