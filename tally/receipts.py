"""Customs receipts move the state machines: INV201 approves or returns an inventory list,
the release order's approval receipt approves or returns it (docs/customs.md: 1 approved,
2 manual review, 3 returned)."""

from sqlite_utils import Database

from tally import workflow
from tally.conditions import manifests_of
from tally.events import record_event

APPROVED, MANUAL_REVIEW, RETURNED = "1", "2", "3"
# The approval receipt of each message kind (the stored receipt, Y, moves nothing).
APPROVAL_RECEIPT = {"INV101": "INV201", "SAS121": "SAS221"}


def is_final(kind: str, receipt_type: str, status: str) -> bool:
    """True when nothing more is expected after this receipt."""
    return APPROVAL_RECEIPT.get(kind) == receipt_type and status in (APPROVED, RETURNED)


def apply_receipt(db: Database, message: dict, receipt: dict) -> None:
    """Apply one new receipt of one outbox message (inside the caller's transaction)."""
    kind, status = message["kind"], str(receipt.get("status"))
    if APPROVAL_RECEIPT.get(kind) != receipt.get("type"):
        return
    if status == MANUAL_REVIEW:
        record_event(db, "customs-manual-review", user_id=None,
                     manifest_id=message.get("manifest_id"),
                     release_order_id=message.get("release_order_id"), kind=kind)
        return
    if kind == "INV101":
        manifest_id = message["manifest_id"]
        if workflow.current_status(db, manifest_id) != workflow.Status.TALLIED:
            return  # a late duplicate: the status has moved on
        if status == APPROVED:
            workflow.apply(db, manifest_id, "approve_list", user_id=None,
                           bond_invt_no=receipt.get("bondInvtNo") or receipt.get("documentNo"))
        elif status == RETURNED:
            workflow.apply(db, manifest_id, "return_list", user_id=None,
                           reason=receipt.get("reason") or receipt.get("message"))
    elif kind == "SAS121":
        order_id = message["release_order_id"]
        if workflow.release_status(db, order_id) != workflow.ReleaseStatus.APPLIED:
            return
        if status == APPROVED:
            _release_approved(db, order_id,
                              receipt.get("passportNo") or receipt.get("documentNo"))
        elif status == RETURNED:
            workflow.apply_release(db, order_id, "return", user_id=None,
                                   reason=receipt.get("reason") or receipt.get("message"))


def _release_approved(db: Database, release_order_id: int, passport_no: str | None) -> None:
    """Customs approved the release order: record its passportNo, release its consignments."""
    if passport_no:
        db.execute("UPDATE release_orders SET passport_no = ? WHERE id = ?",
                   [passport_no, release_order_id])
    workflow.apply_release(db, release_order_id, "approve", user_id=None,
                           passport_no=passport_no)
    for manifest_id in manifests_of(db, release_order_id):
        if workflow.current_status(db, manifest_id) == workflow.Status.DECLARED:
            workflow.apply(db, manifest_id, "release", user_id=None)
