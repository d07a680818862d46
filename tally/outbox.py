"""The transactional outbox: customs messages written with the change that causes them, then
delivered by a background worker with an idempotency key, retried with backoff while the customs
side is down, and every attempt and receipt recorded.

Delivery is at-least-once from our side and exactly-once at the customs side thanks to the key:
a worker killed mid-delivery leaves the message pending (its claim lapses) and a restarted worker
sends it again with the same key.

The transport is HTTP (tally/customs/client.py) or the Single Window client's folders
(tally/customs/files.py), chosen by TALLY_CUSTOMS_TRANSPORT; both offer send_message and
receipt_batches, which is all this module uses.
"""

import json
import logging
import random
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from tally import pg
from tally import receipts as receipts_module
from tally.catalogue import say
from tally.customs.client import CustomsClient, CustomsRejected, CustomsUnavailable
from tally.customs.message_xml import render_xml, schema_problems
from tally.db import notify, now, skip_locked, write
from tally.errors import ConflictError, NotFoundError
from tally.events import record_event

log = logging.getLogger(__name__)
# The first answer to a declaration: in the HTTP response, or (file-drop transport,
# tally/customs/files.py) a file of its own in the inbox.
ANSWER = "CommonResponeMessage"
# The channel a PostgreSQL worker listens on for new messages (polling stays the fallback).
OUTBOX_CHANNEL = "tally_outbox"
# The file-drop transport's notice of a file the Single Window client could not send.
FAIL_BOX = "FailBox"


def enqueue(db: Database, *, manifest_id: int | None, kind: str, payload: dict, key: str,
            release_order_id: int | None = None) -> int:
    """Add a message to the outbox inside the caller's transaction; return its id. Workers
    listening on PostgreSQL are woken when it commits."""
    notify(db, OUTBOX_CHANNEL)
    return db.execute(
        "INSERT INTO outbox (manifest_id, release_order_id, kind, idempotency_key, payload,"
        " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [manifest_id, release_order_id, kind, key, json.dumps(payload, ensure_ascii=False),
         now(), now()],
    ).fetchone()[0]


def _at(seconds_from_now: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds_from_now)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def claim_due(db: Database, *, lease_seconds: float, limit: int = 10) -> list[dict]:
    """Take the pending messages that are due, pushing their next attempt past the lease.

    The lease keeps a second worker off a message in flight; if this worker dies, the lease
    lapses and the message is sent again (same idempotency key).
    """
    with write(db):
        # Several workers (app servers) on PostgreSQL: each takes messages no other is taking.
        rows = list(
            db.query(
                "SELECT id, manifest_id, release_order_id, kind, idempotency_key, payload, attempts"
                " FROM outbox WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id"
                " LIMIT ?" + skip_locked(db),
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
    """Send one claimed message and record the attempt; return delivered, retry or rejected.

    A declaration that does not match its XML Schema is not sent: it is rejected here, its
    reason kept as the attempt's error and the message's last_error (the sync log shows it).
    """
    started, t0 = now(), time.perf_counter()
    payload = json.loads(message["payload"])
    status, response, error = None, None, None
    problems = schema_problems_of(message["kind"], payload, message["idempotency_key"])
    try:
        if problems:
            raise _Invalid("; ".join(problems))
        delivery = client.send_message(message["kind"], payload,
                                       idempotency_key=message["idempotency_key"])
        outcome, status, response = "delivered", delivery.status, delivery.body
    except _Invalid as exc:
        outcome, error = "rejected", bilingual(say("message_schema_invalid",
                                                   kind=message["kind"], detail=str(exc)))[:2000]
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
            # The CommonResponeMessage: its SeqNo keys every later receipt of the message. A
            # file's answer comes in the inbox, perhaps before this commit (a worker killed
            # after writing the file): then its SeqNo is kept already, and the receipts
            # waiting for the message delivered are applied now.
            if not (response or {}).get(ANSWER):
                response = {ANSWER: {"SeqNo": db.execute(
                    "SELECT seq_no FROM outbox WHERE id = ?", [message["id"]]).fetchone()[0]}}
            receipts_module.record_seq_no(db, message, response)
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


def bilingual(text) -> str:
    """A catalogue text kept as one string, Chinese then English (the sync log's last_error:
    customs' own CheckInfo, kept as it came, is Chinese)."""
    return f"{text.zh} {text}"


class _Invalid(Exception):
    "The message does not match its XML Schema"


# The declarations we write, each with its XML Schema (tally/customs/schemas).
VALIDATED = ("INV101", "SAS121")


def schema_problems_of(kind: str, payload: dict, key: str) -> list[str]:
    """What is wrong with a declaration as XML against its schema (empty: it may be sent)."""
    if kind not in VALIDATED:
        return []
    try:
        xml = render_xml(kind, payload, message_id=key, send_time=now())
    except (KeyError, TypeError, ValueError) as exc:
        return [f"cannot be written as XML: {exc}"]
    return schema_problems(kind, xml)


def _message_event(db: Database, message: dict, name: str, **details) -> None:
    """An audit event about one outbox message (written by the system, not a user)."""
    record_event(db, name, user_id=None, manifest_id=message.get("manifest_id"),
                 release_order_id=message.get("release_order_id"), kind=message["kind"],
                 outbox_id=message["id"], **details)


def pull_receipts(db: Database, client: CustomsClient, manifest_id: int | None = None) -> int:
    """Data synchronization (数据同步): read the receipts customs sent since the last pull and
    apply each to the message with its SeqNo; return how many were new. ``manifest_id`` is
    accepted for the consignment page's button, but a pull reads every new receipt: customs
    sends them in one stream. Raises CustomsUnavailable when customs cannot be reached."""
    new = 0
    # One batch per transport unit (the HTTP feed's page, one inbox file), recorded in one
    # transaction; then the transport is told (a file moves to done). Dying in between only
    # means reading the batch again: answers and receipts are applied once (by message_id).
    for batch, recorded in client.receipt_batches(receipts_module.last_feed_id(db)):
        with write(db):
            for item in batch:
                if item.get("message_type") == ANSWER:
                    new += record_answer(db, item)
                elif item.get("message_type") == FAIL_BOX:
                    record_client_failure(db, item)
            new += receipts_module.record_receipts(
                db, [item for item in batch if item.get("message_type") not in
                     (ANSWER, FAIL_BOX)])
        recorded()
    return new


def record_answer(db: Database, answer: dict) -> int:
    """The CommonResponeMessage of a message sent as a file (it comes later, in the inbox,
    named after our file): keep its SeqNo (DealFlag 0), or mark the message failed with
    CheckInfo (any other DealFlag); 1 when it changed something, 0 when known already or not
    ours (inside the caller's transaction)."""
    rows = list(db.query(
        "SELECT id, manifest_id, release_order_id, kind, status, seq_no FROM outbox"
        " WHERE idempotency_key = ?", [answer.get("idempotency_key") or ""]))
    body = answer.get(ANSWER) or {}
    if not rows:
        log.warning("an answer to no message of ours, left out: %s", answer.get("file"))
        return 0
    message = rows[0]
    if str(body.get("DealFlag")) == "0":
        if message["seq_no"] == (body.get("SeqNo") or None):
            return 0
        receipts_module.record_seq_no(db, message, {ANSWER: body})
        # Sent at last: a notice of an earlier try the client could not send is history now.
        db.execute("UPDATE outbox SET last_error = NULL WHERE id = ?", [message["id"]])
        return 1
    if message["status"] == "failed":
        return 0
    error = str(body.get("CheckInfo") or "")[:2000]
    db.execute("UPDATE outbox SET status = 'failed', last_error = ? WHERE id = ?",
               [error, message["id"]])
    _message_event(db, message, "customs-message-rejected", status=None, error=error)
    return 1


def record_client_failure(db: Database, item: dict) -> None:
    """A file the Single Window client could not send (the transport's FailBox item): an
    attempt of the message saying so, and the message's last_error; when no try is left the
    message fails (inside the caller's transaction). Recorded once per file: a batch read again
    after a crash finds its attempt."""
    rows = list(db.query("SELECT id, manifest_id, release_order_id, kind, status FROM outbox"
                         " WHERE idempotency_key = ?", [item.get("idempotency_key") or ""]))
    if not rows:
        log.warning("a file of no message of ours in the FailBox: %s", item.get("file"))
        return
    message = rows[0]
    response = json.dumps({FAIL_BOX: item["file"]}, ensure_ascii=False)
    if db.execute("SELECT 1 FROM outbox_attempts WHERE outbox_id = ? AND response = ?",
                  [message["id"], response]).fetchone():
        return
    if item.get("next_file"):
        outcome, error = "retry", say("client_could_not_send", file=item["file"], n=item["try"],
                                      tries=item["tries"], next_file=item["next_file"])
    else:
        outcome, error = "rejected", say("client_gave_up", file=item["file"],
                                         tries=item["tries"])
    db.execute("INSERT INTO outbox_attempts (outbox_id, started_at, duration_ms, http_status,"
               " outcome, error, response) VALUES (?, ?, ?, ?, ?, ?, ?)",
               [message["id"], now(), 0, None, outcome, bilingual(error), response])
    status = "failed" if outcome == "rejected" else message["status"]
    db.execute("UPDATE outbox SET status = ?, last_error = ? WHERE id = ?",
               [status, bilingual(error), message["id"]])
    _message_event(db, message, "customs-message-client-failed", file=item["file"],
                   next_file=item.get("next_file"))


def resend(db: Database, message_id: int, *, user_id: int | None) -> dict:
    """Send a message that was not sent (refused before customs stored it, or given up by the
    Single Window client) again, as the next version of it: the same payload under a new
    idempotency key (``<kind>-<number>-<version + 1>``), so customs does not answer with the
    refusal it keeps for the old key. Only the latest version of a message may be sent again."""
    with write(db):
        rows = list(db.query("SELECT id, manifest_id, release_order_id, kind, idempotency_key,"
                             " payload, status FROM outbox WHERE id = ?", [message_id]))
        if not rows:
            raise NotFoundError(say("message_not_found", message_id=message_id))
        message = rows[0]
        stem, _, version = message["idempotency_key"].rpartition("-")
        later = db.execute("SELECT count(*) FROM outbox WHERE kind = ? AND id > ? AND"
                           " substr(idempotency_key, 1, ?) = ?",
                           [message["kind"], message_id, len(stem) + 1, stem + "-"]).fetchone()[0]
        if message["status"] != "failed" or later or not version.isdigit():
            raise ConflictError(say("message_not_resendable", kind=message["kind"],
                                    status=message["status"]))
        new_id = enqueue(db, manifest_id=message["manifest_id"], kind=message["kind"],
                         release_order_id=message["release_order_id"],
                         payload=json.loads(message["payload"]),
                         key=f"{stem}-{int(version) + 1}")
        record_event(db, "customs-message-resent", user_id=user_id,
                     manifest_id=message["manifest_id"],
                     release_order_id=message["release_order_id"], kind=message["kind"],
                     outbox_id=new_id, previous_outbox_id=message_id)
        return next(iter(db.query("SELECT id, kind, idempotency_key, status FROM outbox"
                                  " WHERE id = ?", [new_id])))


def sync_status(db: Database, manifest_id: int) -> dict:
    """Every message of a manifest (and of the release orders carrying its goods) with its
    attempts and receipts, for the sync log."""
    messages = list(
        db.query(
            "SELECT id, kind, idempotency_key, seq_no, status, attempts, next_attempt_at,"
            " last_error, created_at, delivered_at FROM outbox"
            " WHERE manifest_id = ? OR release_order_id IN"
            " (SELECT release_order_id FROM release_order_lines WHERE manifest_id = ?)"
            " ORDER BY id",
            [manifest_id, manifest_id],
        )
    )
    latest = {}  # each message's latest version: only that one may be sent again (resend)
    for message in messages:
        latest[(message["kind"], message["idempotency_key"].rpartition("-")[0])] = message["id"]
    for message in messages:
        message["resendable"] = message["status"] == "failed" and latest[
            (message["kind"], message["idempotency_key"].rpartition("-")[0])] == message["id"]
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
                "SELECT type, status, document_no, message, reason, raw, received_at"
                " FROM customs_receipts WHERE outbox_id = ? ORDER BY id",
                [message["id"]],
            )
        ]
    return {"manifest_id": manifest_id, "messages": messages}


def run_worker(db: Database, client: CustomsClient, stop: threading.Event, *, config: dict) -> None:
    """Deliver due messages and pull receipts until ``stop`` is set. Between rounds it waits
    OUTBOX_POLL_INTERVAL, or on PostgreSQL until a new message is committed (LISTEN)."""
    base, maximum = config["OUTBOX_BACKOFF_BASE"], config["OUTBOX_BACKOFF_MAX"]
    lease = float(config["CUSTOMS_TIMEOUT"]) + 5
    listener = pg.Listener(db.path, OUTBOX_CHANNEL) if db.engine != "sqlite" else None
    wait = listener.wait if listener is not None else stop.wait
    try:
        _work(db, client, stop, wait, base=base, maximum=maximum, lease=lease, config=config)
    finally:
        if listener is not None:
            listener.close()


def _work(db, client, stop, wait, *, base, maximum, lease, config) -> None:
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
            wait(config["OUTBOX_POLL_INTERVAL"])
