"""The transactional outbox: customs messages written with the change that causes them, then
delivered by a background worker with an idempotency key, retried with backoff while the customs
side is down, and every attempt and receipt recorded.

Delivery is at-least-once from our side and exactly-once at the customs side thanks to the key:
a worker killed mid-delivery leaves the message pending (its claim lapses) and a restarted worker
sends it again with the same key.
"""

import json
import logging
import random
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from tally import receipts as receipts_module
from tally.customs.client import CustomsClient, CustomsRejected, CustomsUnavailable
from tally.db import now, write
from tally.events import record_event

log = logging.getLogger(__name__)


def enqueue(db: Database, *, manifest_id: int | None, kind: str, payload: dict, key: str,
            release_order_id: int | None = None) -> int:
    """Add a message to the outbox inside the caller's transaction; return its id."""
    return db.execute(
        "INSERT INTO outbox (manifest_id, release_order_id, kind, idempotency_key, payload,"
        " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [manifest_id, release_order_id, kind, key, json.dumps(payload, ensure_ascii=False),
         now(), now()],
    ).lastrowid


def _at(seconds_from_now: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds_from_now)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def claim_due(db: Database, *, lease_seconds: float, limit: int = 10) -> list[dict]:
    """Take the pending messages that are due, pushing their next attempt past the lease.

    The lease keeps a second worker off a message in flight; if this worker dies, the lease
    lapses and the message is sent again (same idempotency key).
    """
    with write(db):
        rows = list(
            db.query(
                "SELECT id, manifest_id, release_order_id, kind, idempotency_key, payload, attempts"
            " FROM outbox"
                " WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?",
                [now(), limit],
            )
        )
        for row in rows:
            db.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE id = ?",
                [_at(lease_seconds), row["id"]],
            )
    return rows


def backoff(attempts: int, *, base: float, maximum: float) -> float:
    """Seconds to wait after the n-th failed attempt: doubling from base, capped, +-20 % jitter."""
    return min(maximum, base * 2 ** (attempts - 1)) * random.uniform(0.8, 1.2)


def deliver(
    db: Database, client: CustomsClient, message: dict, *, base: float, maximum: float
) -> str:
    """Send one claimed message and record the attempt; return delivered, retry or rejected."""
    started, t0 = now(), time.perf_counter()
    payload = json.loads(message["payload"])
    status, response, error = None, None, None
    try:
        delivery = client.send_message(message["kind"], payload,
                                       idempotency_key=message["idempotency_key"])
        outcome, status, response = "delivered", delivery.status, delivery.body
    except CustomsRejected as exc:
        outcome, status, error = "rejected", exc.status, str(exc.detail)[:2000]
    except CustomsUnavailable as exc:
        outcome, status, error = "retry", exc.status, str(exc.detail or exc)[:2000]
    duration = (time.perf_counter() - t0) * 1000
    attempts = message["attempts"] + 1
    with write(db):
        db.execute(
            "INSERT INTO outbox_attempts (outbox_id, started_at, duration_ms, http_status, outcome,"
            " error, response) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                message["id"],
                started,
                round(duration, 1),
                status,
                outcome,
                error,
                json.dumps(response, ensure_ascii=False) if response is not None else None,
            ],
        )
        if outcome == "delivered":
            db.execute(
                "UPDATE outbox SET status = 'delivered', attempts = ?, delivered_at = ?,"
                " last_error = NULL WHERE id = ?",
                [attempts, now(), message["id"]],
            )
            store_receipts(db, message, response.get("receipts", []))
            _message_event(db, message, "customs-message-delivered", attempts=attempts)
        elif outcome == "rejected":
            db.execute(
                "UPDATE outbox SET status = 'failed', attempts = ?, last_error = ? WHERE id = ?",
                [attempts, error, message["id"]],
            )
            _message_event(db, message, "customs-message-rejected", status=status, error=error)
        else:
            db.execute(
                "UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
                [
                    attempts,
                    error,
                    _at(backoff(attempts, base=base, maximum=maximum)),
                    message["id"],
                ],
            )
    return outcome


def _message_event(db: Database, message: dict, name: str, **details) -> None:
    """An audit event about one outbox message (written by the system, not a user)."""
    record_event(db, name, user_id=None, manifest_id=message.get("manifest_id"),
                 release_order_id=message.get("release_order_id"), kind=message["kind"],
                 outbox_id=message["id"], **details)


def message_version(db: Database, message: dict) -> int:
    """1 for a subject's first message of this kind, 2 for the change declaration after it..."""
    subject = "manifest_id" if message.get("manifest_id") is not None else "release_order_id"
    return db.execute(
        f"SELECT count(*) FROM outbox WHERE {subject} = ? AND kind = ? AND id <= ?",
        [message[subject], message["kind"], message["id"]]).fetchone()[0]


def store_receipts(db: Database, message: dict, receipts: list[dict]) -> int:
    """Keep the receipts not seen before, let them move the state machines; return how many
    were new. Receipts of another version of the same document are not this message's."""
    version = message_version(db, message)
    new = []
    for receipt in receipts:
        if not isinstance(receipt, dict) or "type" not in receipt or "status" not in receipt:
            continue
        if receipt.get("version") not in (None, version):
            continue
        cursor = db.execute(
            "INSERT OR IGNORE INTO customs_receipts (manifest_id, release_order_id, outbox_id,"
            " type, status, document_no, message, raw, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                message.get("manifest_id"),
                message.get("release_order_id"),
                message["id"],
                str(receipt["type"]),
                str(receipt["status"]),
                receipt.get("documentNo") or receipt.get("bondInvtNo") or "",
                receipt.get("message"),
                json.dumps(receipt, ensure_ascii=False),
                now(),
            ],
        )
        if cursor.rowcount:
            new.append(receipt)
            receipts_module.apply_receipt(db, message, receipt)
    if new:
        _message_event(db, message, "customs-receipts-received",
                       receipts=[f"{r.get('type')}:{r.get('status')}" for r in new])
    return len(new)


# What each kind's receipts are fetched by: our own document number in the payload head.
_OUR_NUMBER = {"INV101": "etpsInnerInvtNo", "SAS121": "etpsPreentNo"}


def awaiting_receipts(db: Database, manifest_id: int | None = None) -> list[dict]:
    """Delivered declarations (inventory lists, release orders) with no final receipt yet."""
    rows = db.query(
        "SELECT o.id, o.manifest_id, o.release_order_id, o.kind, o.payload FROM outbox o"
        " WHERE o.status = 'delivered' AND o.kind IN ('INV101', 'SAS121')"
        + (" AND (o.manifest_id = ? OR o.release_order_id IN (SELECT release_order_id FROM"
           " release_order_lines WHERE manifest_id = ?))" if manifest_id is not None else "")
        + " ORDER BY o.id",
        [manifest_id, manifest_id] if manifest_id is not None else [],
    )
    waiting = []
    for row in rows:
        received = db.execute("SELECT type, status FROM customs_receipts WHERE outbox_id = ?",
                              [row["id"]]).fetchall()
        if not any(receipts_module.is_final(row["kind"], t, s) for t, s in received):
            waiting.append(row)
    return waiting


def pull_receipts(db: Database, client: CustomsClient, manifest_id: int | None = None) -> int:
    """Data synchronization (数据同步): fetch the latest receipts of our declarations; return
    how many were new. Raises CustomsUnavailable when the customs side cannot be reached."""
    new = 0
    for message in awaiting_receipts(db, manifest_id):
        our_no = json.loads(message["payload"])["head"][_OUR_NUMBER[message["kind"]]]
        receipts = client.fetch_receipts(our_no, kind=message["kind"])
        with write(db):
            new += store_receipts(db, message, receipts)
    return new


def sync_status(db: Database, manifest_id: int) -> dict:
    """Every message of a manifest (and of the release orders carrying its goods) with its
    attempts and receipts, for the sync log."""
    messages = list(
        db.query(
            "SELECT id, kind, idempotency_key, status, attempts, next_attempt_at, last_error,"
            " created_at, delivered_at FROM outbox WHERE manifest_id = ? OR release_order_id IN"
            " (SELECT release_order_id FROM release_order_lines WHERE manifest_id = ?)"
            " ORDER BY id",
            [manifest_id, manifest_id],
        )
    )
    for message in messages:
        message["attempt_log"] = list(
            db.query(
                "SELECT started_at, duration_ms, http_status, outcome, error FROM outbox_attempts"
                " WHERE outbox_id = ? ORDER BY id",
                [message["id"]],
            )
        )
        message["receipts"] = [
            {**r, "raw": json.loads(r["raw"])}
            for r in db.query(
                "SELECT type, status, document_no, message, raw, received_at FROM customs_receipts"
                " WHERE outbox_id = ? ORDER BY id",
                [message["id"]],
            )
        ]
    return {"manifest_id": manifest_id, "messages": messages}


def run_worker(db: Database, client: CustomsClient, stop: threading.Event, *, config: dict) -> None:
    """Deliver due messages and pull receipts until ``stop`` is set."""
    base, maximum = config["OUTBOX_BACKOFF_BASE"], config["OUTBOX_BACKOFF_MAX"]
    lease = float(config["CUSTOMS_TIMEOUT"]) + 5
    last_pull = 0.0
    while not stop.is_set():
        worked = False
        try:
            for message in claim_due(db, lease_seconds=lease):
                worked = True
                outcome = deliver(db, client, message, base=base, maximum=maximum)
                log.info("outbox %s %s: %s", message["kind"], message["id"], outcome)
            if time.monotonic() - last_pull >= config["RECEIPT_POLL_INTERVAL"]:
                last_pull = time.monotonic()
                pull_receipts(db, client)
        except CustomsUnavailable as exc:
            log.warning("customs side unavailable while pulling receipts: %s", exc)
        except Exception:  # keep the worker alive; the message stays pending
            log.exception("outbox worker error")
        if not worked:
            stop.wait(config["OUTBOX_POLL_INTERVAL"])
