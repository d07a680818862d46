"""Outbox delivery to the customs simulator over real HTTP (loopback), no Flask."""

import json
import threading

import pytest

import customs_sim
from tally import manifests, outbox
from tally.config import DEFAULTS
from tally.customs.client import CustomsClient
from tally.db import close_db, open_db
from tests.conftest import MANIFEST_CSV, clear_for_tally, confirm_counted

CONFIG = {
    **DEFAULTS,
    "OUTBOX_BACKOFF_BASE": 0.05,
    "OUTBOX_BACKOFF_MAX": 0.2,
    "OUTBOX_POLL_INTERVAL": 0.02,
    "RECEIPT_POLL_INTERVAL": 0.05,
    "CUSTOMS_TIMEOUT": 2.0,
}


@pytest.fixture
def sim():
    with customs_sim.serve() as server:
        yield server


@pytest.fixture
def confirmed(db, sim):
    """A manifest tallied with every unit counted and confirmed: one INV101 in the outbox."""
    mid = manifests.import_manifest(db, manifests.parse_csv(MANIFEST_CSV.encode()), user_id=None)[
        "id"
    ]
    clear_for_tally(db, mid, CustomsClient(sim.url, timeout=2))
    confirm_counted(db, mid)
    return mid


def deliver_all(db, client):
    outcomes = []
    for message in outbox.claim_due(db, lease_seconds=5):
        outcomes.append(outbox.deliver(db, client, message, base=0, maximum=0))
    return outcomes


def test_delivery_retries_then_lands_exactly_once(db, sim, confirmed):
    client = CustomsClient(sim.url, timeout=2)
    sim.set_mode("down", count=1)
    assert deliver_all(db, client) == ["retry"]
    sim.set_mode("error", count=1)
    assert deliver_all(db, client) == ["retry"]
    assert deliver_all(db, client) == ["delivered"]
    assert deliver_all(db, client) == []
    log = outbox.sync_status(db, confirmed)["messages"][0]
    assert [a["outcome"] for a in log["attempt_log"]] == ["retry", "retry", "delivered"]
    assert [a["http_status"] for a in log["attempt_log"]] == [None, 503, 200]
    assert log["status"] == "delivered" and log["attempts"] == 3
    # The answer is the CommonResponeMessage: its SeqNo, the receipts follow in the feed.
    assert log["receipts"] == [] and len(log["seq_no"]) == 18 and log["seq_no"].isdigit()
    received = sim.received()
    assert received["count"] == 1
    payload = received["received"][0]["payload"]
    assert payload["head"]["supvModecd"] == "1210"
    assert [line["dclQty"] for line in payload["lines"]] == [3, 2, 1]
    assert outbox.pull_receipts(db, client, confirmed) == 2
    statuses = [
        (r["type"], r["status"])
        for r in outbox.sync_status(db, confirmed)["messages"][0]["receipts"]
    ]
    assert statuses == [("INV201", "Y"), ("INV201", "1")]
    assert outbox.pull_receipts(db, client, confirmed) == 0  # nothing new in the feed


def test_a_lapsed_claim_is_sent_again_with_the_same_key(db, sim, confirmed):
    client = CustomsClient(sim.url, timeout=2)
    [claimed] = outbox.claim_due(db, lease_seconds=0)  # the worker "dies" holding it
    [again] = outbox.claim_due(db, lease_seconds=5)
    assert again["idempotency_key"] == claimed["idempotency_key"]
    assert outbox.deliver(db, client, claimed, base=0, maximum=0) == "delivered"
    assert outbox.deliver(db, client, again, base=0, maximum=0) == "delivered"
    assert sim.received()["count"] == 1


def test_a_message_failing_its_schema_is_marked_failed_and_never_sent(db, sim, confirmed):
    db.execute("UPDATE outbox SET payload = ?", [json.dumps({"head": {}, "lines": []})])
    assert deliver_all(db, CustomsClient(sim.url, timeout=2)) == ["rejected"]
    message = outbox.sync_status(db, confirmed)["messages"][0]
    assert message["status"] == "failed" and message["attempt_log"][0]["http_status"] is None
    assert "INV101 does not match its schema" in message["last_error"]
    assert sim.received()["count"] == 0


def test_worker_thread_delivers_and_pulls_receipts(db, db_path, sim, confirmed):
    sim.set_mode("error", count=2)
    stop = threading.Event()
    worker_db = open_db(db_path)  # the worker has its own connection, as in `tally worker`
    worker = threading.Thread(
        target=outbox.run_worker,
        args=(worker_db, CustomsClient(sim.url, timeout=2), stop),
        kwargs={"config": CONFIG},
    )
    worker.start()
    try:
        for _ in range(200):
            receipts = outbox.sync_status(db, confirmed)["messages"][0]["receipts"]
            if ("INV201", "1") in [(r["type"], r["status"]) for r in receipts]:
                break
            stop.wait(0.05)
        else:
            pytest.fail("the worker did not deliver and pull the approval")
    finally:
        stop.set()
        worker.join()
        close_db(worker_db)
    assert sim.received()["count"] == 1


def test_backoff_doubles_and_is_capped():
    assert 0.8 <= outbox.backoff(1, base=1, maximum=60) <= 1.2
    assert 6.4 <= outbox.backoff(4, base=1, maximum=60) <= 9.6
    assert outbox.backoff(30, base=1, maximum=60) <= 72
