"""Customs receipts, keyed on the SeqNo, move the state machines (docs/customs.md, Receipts).

A declaration is answered with a CommonResponeMessage whose SeqNo (18 digits) we keep on the
outbox message; every later receipt names that SeqNo in HdeApprResult.etpsPreentNo and is
applied to our message with the same SeqNo, never to another. A receipt is kept once, by its
envelope's message_id, so one fetched twice changes nothing the second time; one whose SeqNo we
do not know is recorded and ignored (and applied if a message with that SeqNo is delivered
later: its answer may have been lost and the retry brings it).

INV201: Y stored, Z store failed, 1 approved and deducted, 2 manual review, 3 returned, 4
pre-deducted, 5 approved, not deducted; 1, 4 and 5 approve (an entry list is deducted only
after its goods pass the gate, so 5 is the usual approval). SAS221: Y, Z, 1, 2, 3. SAS223: the
truck passed customs' gate. SAS224: inspection disposal at the gate, 2 refused, 3 released.
"""

import json
import logging

from sqlite_utils import Database

from tally import conditions, workflow
from tally.catalogue import say
from tally.db import now
from tally.events import record_event

log = logging.getLogger(__name__)

STORED, STORE_FAILED = "Y", "Z"
APPROVED, MANUAL_REVIEW, RETURNED, PRE_DEDUCTED, NOT_DEDUCTED = "1", "2", "3", "4", "5"
APPROVALS = (APPROVED, PRE_DEDUCTED, NOT_DEDUCTED)
GATE_REFUSED, GATE_RELEASED = "2", "3"
PASSED_GATE = "2"  # SasPassportBsc.stucd: 2 passed the gate
# Which of our messages a receipt type answers.
ANSWERS = {"INV201": "INV101", "SAS221": "SAS121", "SAS223": "SAS121", "SAS224": "SAS121"}
# English for the reasons customs writes most often (it writes Chinese only); others are shown
# as customs wrote them.
REASONS_EN = {
    "商品编码与备案不符": "the HS code differs from the account book",
    "表体商品备案序号在账册中不存在": "a line's item number is not in the account book",
    "查验不合格，不予放行": "the inspection found a problem: not released",
}


def read_receipt(raw: object) -> dict | None:
    """What we use of one receipt from the feed, or None when it is not a receipt we know."""
    if not isinstance(raw, dict) or raw.get("message_type") not in ANSWERS:
        return None
    result = raw.get("HdeApprResult")
    if not isinstance(result, dict) or not raw.get("message_id"):
        return None
    head = raw.get("BondInvtBsc") or raw.get("SasPassportBsc") or {}
    return {
        "message_id": str(raw["message_id"]), "feed_id": raw.get("id"),
        "type": raw["message_type"], "seq_no": str(result.get("etpsPreentNo") or ""),
        "status": str(result.get("manageResult") or ""),
        "document_no": str(result.get("businessId") or head.get("bondInvtNo")
                           or head.get("passportNo") or ""),
        "reason": str(result.get("rmk") or "") or None, "head": head, "raw": raw,
    }


def last_feed_id(db: Database) -> int:
    """Where the next pull of the customs' receipt feed starts."""
    return db.execute("SELECT coalesce(max(feed_id), 0) FROM customs_receipts").fetchone()[0]


def record_receipts(db: Database, receipts: list) -> int:
    """Keep the receipts not seen before and apply each to the message with its SeqNo (inside
    the caller's transaction); return how many were new."""
    new = 0
    for raw in receipts:
        receipt = read_receipt(raw)
        if receipt is None:
            log.warning("not a customs receipt we know, left out: %.200r", raw)
            continue
        message = _message_for(db, receipt)
        cursor = db.execute(
            "INSERT INTO customs_receipts (manifest_id, release_order_id, outbox_id,"
            " type, status, document_no, message, raw, received_at, message_id, feed_id, seq_no,"
            " reason, applied) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            [(message or {}).get("manifest_id"), (message or {}).get("release_order_id"),
             (message or {}).get("id"), receipt["type"], receipt["status"],
             receipt["document_no"], receipt["reason"],
             json.dumps(receipt["raw"], ensure_ascii=False), now(), receipt["message_id"],
             receipt["feed_id"], receipt["seq_no"], receipt["reason"], int(bool(message))])
        if not cursor.rowcount:
            continue  # this message_id is applied already: a receipt counts once
        new += 1
        _apply_or_ignore(db, message, receipt)
    return new


def record_seq_no(db: Database, message: dict, answer: dict) -> None:
    """Keep the SeqNo of a delivered message's CommonResponeMessage, and apply the receipts
    that named it before we knew it (inside the caller's transaction)."""
    seq_no = str((answer.get("CommonResponeMessage") or {}).get("SeqNo") or "") or None
    if seq_no is None:
        return
    db.execute("UPDATE outbox SET seq_no = ? WHERE id = ?", [seq_no, message["id"]])
    waiting = list(db.query(
        "SELECT id, raw FROM customs_receipts WHERE seq_no = ? AND applied = 0 ORDER BY id",
        [seq_no]))
    for row in waiting:
        receipt = read_receipt(json.loads(row["raw"]))
        if ANSWERS[receipt["type"]] != message["kind"]:
            continue
        db.execute("UPDATE customs_receipts SET applied = 1, outbox_id = ?, manifest_id = ?,"
                   " release_order_id = ? WHERE id = ?",
                   [message["id"], message.get("manifest_id"), message.get("release_order_id"),
                    row["id"]])
        apply_receipt(db, message, receipt)


def _message_for(db: Database, receipt: dict) -> dict | None:
    """Our delivered message with the receipt's SeqNo (the latest: a re-declaration after a
    return keeps the SeqNo), or None."""
    if not receipt["seq_no"]:
        return None
    rows = list(db.query(
        "SELECT id, manifest_id, release_order_id, kind FROM outbox WHERE seq_no = ? AND kind = ?"
        " AND status = 'delivered' ORDER BY id DESC LIMIT 1",
        [receipt["seq_no"], ANSWERS[receipt["type"]]]))
    return rows[0] if rows else None


def _apply_or_ignore(db: Database, message: dict | None, receipt: dict) -> None:
    if message is None:
        record_event(db, "customs-receipt-unmatched", user_id=None, type=receipt["type"],
                     seq_no=receipt["seq_no"], status=receipt["status"],
                     message_id=receipt["message_id"])
        return
    apply_receipt(db, message, receipt)


def apply_receipt(db: Database, message: dict, receipt: dict) -> None:
    """Apply one new receipt (read_receipt's shape) of one outbox message, inside the caller's
    transaction. A receipt that comes after the state has moved on changes nothing."""
    kind, kind_of_receipt, status = message["kind"], receipt["type"], receipt["status"]
    record_event(db, "customs-receipt-received", user_id=None,
                 manifest_id=message.get("manifest_id"),
                 release_order_id=message.get("release_order_id"), outbox_id=message["id"],
                 type=kind_of_receipt, status=status, seq_no=receipt["seq_no"],
                 reason=receipt["reason"])
    if status == MANUAL_REVIEW and kind_of_receipt in ("INV201", "SAS221"):
        record_event(db, "customs-manual-review", user_id=None,
                     manifest_id=message.get("manifest_id"),
                     release_order_id=message.get("release_order_id"), kind=kind)
        return
    if kind_of_receipt == "INV201":
        _list_receipt(db, message["manifest_id"], receipt)
    elif kind_of_receipt == "SAS221":
        _release_order_receipt(db, message["release_order_id"], receipt)
    elif kind_of_receipt == "SAS223" or (kind_of_receipt == "SAS224"
                                         and status == GATE_RELEASED):
        if receipt["head"].get("stucd", PASSED_GATE) == PASSED_GATE:
            _passage(db, message["release_order_id"], receipt)
    elif kind_of_receipt == "SAS224" and status == GATE_REFUSED:
        order_id = message["release_order_id"]
        if workflow.release_status(db, order_id) == workflow.ReleaseStatus.APPROVED:
            workflow.apply_release(db, order_id, "refuse_at_gate", user_id=None,
                                   reason=receipt["reason"])
        else:
            record_event(db, "gate-receipt-disagrees", user_id=None, release_order_id=order_id,
                         type="SAS224", status=status, reason=receipt["reason"])


def _list_receipt(db: Database, manifest_id: int, receipt: dict) -> None:
    status = receipt["status"]
    if status == STORED or workflow.current_status(db, manifest_id) != workflow.Status.TALLIED:
        return  # stored moves nothing; a late receipt finds the status moved on
    if status in APPROVALS:
        workflow.apply(db, manifest_id, "approve_list", user_id=None,
                       bond_invt_no=receipt["document_no"] or None, result=status)
    elif status in (RETURNED, STORE_FAILED):
        workflow.apply(db, manifest_id, "return_list", user_id=None, result=status,
                       reason=receipt["reason"])


def _release_order_receipt(db: Database, order_id: int, receipt: dict) -> None:
    status = receipt["status"]
    if status == STORED or workflow.release_status(db, order_id) != \
            workflow.ReleaseStatus.APPLIED:
        return
    if status == APPROVED:
        passport_no = receipt["document_no"] or None
        if passport_no:
            db.execute("UPDATE release_orders SET passport_no = ? WHERE id = ?",
                       [passport_no, order_id])
        workflow.apply_release(db, order_id, "approve", user_id=None, passport_no=passport_no)
        for manifest_id in conditions.manifests_of(db, order_id):
            if workflow.current_status(db, manifest_id) == workflow.Status.VEHICLE_BOUND:
                workflow.apply(db, manifest_id, "release", user_id=None)
    elif status in (RETURNED, STORE_FAILED):
        workflow.apply_release(db, order_id, "return", user_id=None, result=status,
                               reason=receipt["reason"])
        # Its truck is free again; a consignment no other declared order carries is back to
        # declared, ready for a new release order.
        for manifest_id in conditions.manifests_of(db, order_id):
            transition = next(t for t in workflow.TRANSITIONS if t.action == "return_release")
            if (workflow.current_status(db, manifest_id) == workflow.Status.VEHICLE_BOUND
                    and not workflow.unmet_conditions(db, transition, manifest_id)):
                workflow.apply(db, manifest_id, "return_release", user_id=None)


def _passage(db: Database, order_id: int, receipt: dict) -> None:
    """Customs recorded the truck through its gate: keep the passage; pass the release order
    (and enter its consignments) unless our own gate already did."""
    head = receipt["head"]
    pass_time = head.get("secdPassTime") or head.get("passTime") or None
    pass_id = head.get("secdPassId") or head.get("passID") or None
    db.execute("UPDATE release_orders SET customs_pass_time = ?, customs_pass_id = ?"
               " WHERE id = ?", [pass_time, pass_id, order_id])
    status = workflow.release_status(db, order_id)
    if status == workflow.ReleaseStatus.APPROVED:
        record_passage(db, order_id, user_id=None, receipt=receipt["type"],
                            pass_time=pass_time)
    elif status == workflow.ReleaseStatus.PASSED:
        record_event(db, "gate-pass-confirmed", user_id=None, release_order_id=order_id,
                     type=receipt["type"], pass_time=pass_time)
    else:
        record_event(db, "gate-receipt-disagrees", user_id=None, release_order_id=order_id,
                     type=receipt["type"], status=status.value, pass_time=pass_time)


def record_passage(db: Database, release_order_id: int, *, user_id: int | None,
                   **details) -> None:
    """The release order's truck is through the gate (our gate, or customs' SAS223): mark it
    passed and enter each of its consignments whose goods are now all through (inside the
    caller's transaction)."""
    workflow.apply_release(db, release_order_id, "pass_gate", user_id=user_id, **details)
    for manifest_id in conditions.manifests_of(db, release_order_id):
        if workflow.current_status(db, manifest_id) == workflow.Status.RELEASED:
            left = conditions.remaining_quantities(db, manifest_id, passed_only=True)
            if not any(left.values()):
                workflow.apply(db, manifest_id, "enter", user_id=user_id)


REFUSALS = {("INV201", STORE_FAILED): "receipt_list_store_failed",
            ("INV201", RETURNED): "receipt_list_returned",
            ("SAS221", STORE_FAILED): "receipt_order_store_failed",
            ("SAS221", RETURNED): "receipt_order_returned",
            ("SAS224", GATE_REFUSED): "receipt_gate_refused"}


def refusals(db: Database, manifest_id: int) -> list[dict]:
    """The customs' refusals of a consignment's list and release orders (Z, 3, and SAS224 2),
    oldest first, each with its reason in English and Chinese."""
    rows = db.query(
        "SELECT r.type, r.status, r.reason, r.received_at, r.document_no, o.etps_preent_no,"
        " o.passport_no FROM customs_receipts r LEFT JOIN release_orders o"
        " ON o.id = r.release_order_id WHERE r.applied = 1 AND (r.manifest_id = ?"
        " OR r.release_order_id IN (SELECT release_order_id FROM release_order_lines"
        " WHERE manifest_id = ?)) ORDER BY r.id", [manifest_id, manifest_id])
    found = []
    for row in rows:
        code = REFUSALS.get((row["type"], row["status"]))
        if code is None:
            continue
        reason = row["reason"] or "—"
        text = say(code, reason=reason, reason_en=REASONS_EN.get(reason, reason),
                   number=row["passport_no"] or row["etps_preent_no"] or "")
        found.append({"type": row["type"], "status": row["status"], "reason": row["reason"],
                      "received_at": row["received_at"], "code": text.code,
                      "message": str(text), "message_zh": text.zh})
    return found
