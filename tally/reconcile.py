"""Reconciliation: declared vs counted per manifest line, and the discrepancy records.

``compute_reconciliation`` (in tally.conditions, which the workflow's guards read) is pure;
``load_reconciliation`` feeds it from the database.
A discrepancy correction is a new record that reverses or replaces an earlier one, never an edit.
"""

import json

from sqlite_utils import Database

from tally import manifests, workflow
from tally.conditions import (  # noqa: F401 (compute_reconciliation: re-exported)
    KINDS,
    compute_reconciliation,
    list_discrepancies,
    reconciliation,
)
from tally.db import now, write
from tally.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from tally.events import record_event
from tally.fields import Fields

ACTIONS = ("record", "replace", "reverse")  # a record, or a correction of one

_DISCREPANCY_FIELDS = ("line_no", "kind", "qty", "note", "disposition")


def load_reconciliation(db: Database, manifest_id: int) -> dict:
    """The reconciliation of one manifest, computed from the scan ledger and discrepancies."""
    head = manifests.load_head(db, manifest_id)
    report = reconciliation(db, manifest_id)
    report["manifest"] = head
    report["scans"] = dict(
        db.execute(
            "SELECT outcome, count(*) FROM scans WHERE manifest_id = ? GROUP BY outcome",
            [manifest_id],
        ).fetchall()
    )
    return report


def record_discrepancy(
    db: Database, manifest_id: int, body: object, *, user_id: int | None, may_correct: bool
) -> dict:
    """Record a discrepancy, or a correction of one (``corrects`` + ``action`` reverse|replace).

    A correction needs ``may_correct`` (the supervisor role). Nothing is ever updated in place.
    """
    if not isinstance(body, dict):
        raise ValidationError("a discrepancy must be a JSON object")
    corrects, fields = body.get("corrects"), Fields()
    action = fields.choice(body.get("action", "record"), "action", ACTIONS)
    fields.raise_if_any("action must be record, replace or reverse")
    if (corrects is None) != (action == "record"):
        raise ValidationError(
            "a correction names the record it corrects and the action",
            [{"field": "corrects", "message": "corrects and action go together"}],
        )
    with write(db):
        workflow.require_tally_open(db, manifest_id, "discrepancies are frozen")
        earlier = None
        if corrects is not None:
            if not may_correct:
                raise PermissionDenied(
                    "correcting a discrepancy needs the supervisor role", required_role="supervisor"
                )
            earlier = _in_force_record(db, manifest_id, corrects)
        fields = _validate_fields(body if action != "reverse" else earlier, db, manifest_id)
        new_id = db.execute(
            "INSERT INTO discrepancies (manifest_id, line_id, kind, qty, note, disposition,"
            " supersedes_id, action, created_at, created_by) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                manifest_id,
                fields["line_id"],
                fields["kind"],
                fields["qty"],
                body.get("note") if action == "reverse" else fields["note"],
                fields["disposition"],
                corrects,
                action,
                now(),
                user_id,
            ],
        ).lastrowid
        record_event(
            db,
            f"discrepancy-{'recorded' if action == 'record' else action + 'd'}",
            user_id=user_id,
            manifest_id=manifest_id,
            discrepancy_id=new_id,
            corrects=corrects,
            **{k: fields[k] for k in _DISCREPANCY_FIELDS},
        )
        return next(r for r in list_discrepancies(db, manifest_id) if r["id"] == new_id)


def _in_force_record(db, manifest_id, record_id) -> dict:
    fields = Fields()
    record_id = fields.integer(record_id, "corrects", minimum=1)
    fields.raise_if_any("corrects must be a discrepancy id")
    record = next((r for r in list_discrepancies(db, manifest_id) if r["id"] == record_id), None)
    if record is None:
        raise NotFoundError(f"manifest {manifest_id} has no discrepancy {record_id}")
    if not record["in_force"]:
        raise ConflictError(
            f"discrepancy {record_id} was already corrected or is a reversal",
            [{"field": "corrects", "message": "not in force"}],
        )
    return record


def _validate_fields(body: dict, db, manifest_id) -> dict:
    fields = Fields()
    kind = fields.choice(body.get("kind"), "kind", KINDS)
    qty = fields.integer(body.get("qty"), "qty", minimum=1)
    line_no = body.get("line_no")
    if line_no is None and kind != "wrong_item":
        fields.problem("line_no", "required (only wrong_item may have none)")
    elif line_no is not None:
        line_no = fields.integer(line_no, "line_no", minimum=1)
    note = fields.text(body.get("note"), "note", required=False, max_length=500)
    disposition = fields.text(body.get("disposition"), "disposition", required=False,
                              max_length=500)
    fields.raise_if_any("the discrepancy is invalid; nothing was recorded")
    line_id = manifests.find_line(db, manifest_id, line_no)["id"] if line_no is not None else None
    return {
        "line_id": line_id,
        "line_no": line_no,
        "kind": kind,
        "qty": qty,
        "note": note,
        "disposition": disposition,
    }


def snapshot(report: dict) -> str:
    """The reconciliation as stored with a confirmed tally."""
    return json.dumps(report, ensure_ascii=False, default=str)
