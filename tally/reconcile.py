"""Reconciliation: declared vs counted per manifest line, and the discrepancy records.

``compute_reconciliation`` (in tally.conditions, which the workflow's guards read) is pure;
``load_reconciliation`` feeds it from the database.
A discrepancy correction is a new record that reverses or replaces an earlier one, never an edit.
"""

import json
from datetime import date

from sqlite_utils import Database

from tally import conditions, manifests, workflow
from tally.catalogue import say
from tally.codes import expiry_facts
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


def load_reconciliation(db: Database, manifest_id: int, *,
                        expiry: tuple[date, int] | None = None) -> dict:
    """The reconciliation of one manifest, computed from the scan ledger and discrepancies.

    Each line's ``shown`` status is its ``status`` once counting has begun, ``not_counted``
    before. Each line lists its ``lots``: units counted per carton batch and expiry date. With
    ``expiry`` (today where the warehouse is, and the warning days) each lot says whether its
    expiry is near or past, and ``totals["expiry_soon"]`` counts those units.
    """
    head = manifests.load_head(db, manifest_id)
    report = reconciliation(db, manifest_id)
    add_lots(report, line_lots(db, manifest_id), expiry)
    # Before counting begins no line is short: it is not counted yet (what every copy shows).
    stage = workflow.tally_stage(workflow.Status(head["status"]), report["totals"]["counted"],
                                 report["totals"]["declared"])
    report["counting_begun"] = stage.counting_begun
    for line in report["lines"]:
        line["shown"] = line["status"] if stage.counting_begun else "not_counted"
    report["manifest"] = head
    report["scans"] = dict(
        db.execute(
            "SELECT outcome, count(*) FROM scans WHERE manifest_id = ? GROUP BY outcome",
            [manifest_id],
        ).fetchall()
    )
    return report


def line_lots(db: Database, manifest_id: int) -> dict[int, list[dict]]:
    """Counted units per line number and carton lot (batch, expiry); units counted from no
    carton are not listed."""
    lots: dict[int, list[dict]] = {}
    for line_no, batch, expiry, counted in db.execute(
        "SELECT l.line_no, s.lot_batch, s.lot_expiry, count(*) FROM scans s"
        " JOIN manifest_lines l ON l.id = s.line_id"
        " WHERE s.manifest_id = ? AND s.outcome = 'counted' AND s.lot_gtin IS NOT NULL"
        " GROUP BY l.line_no, s.lot_batch, s.lot_expiry"
        " ORDER BY l.line_no, s.lot_expiry, s.lot_batch", [manifest_id]):
        lots.setdefault(line_no, []).append({"batch": batch, "expiry": expiry,
                                             "counted": counted})
    return lots


def add_lots(report: dict, lots: dict[int, list[dict]],
             expiry: tuple[date, int] | None) -> None:
    """Put each line's lots into the report, flagged against ``expiry`` (today, warning days)."""
    soon = 0
    for line in report["lines"]:
        line["lots"] = lots.get(line["line_no"], [])
        for lot in line["lots"]:
            if expiry is not None:
                lot.update(expiry_facts(
                    date.fromisoformat(lot["expiry"]) if lot["expiry"] else None, *expiry))
                soon += lot["counted"] if lot["expiry_soon"] else 0
    if expiry is not None:
        report["totals"]["expiry_soon"] = soon
        report["expiry_warning_days"] = expiry[1]


def describe_lots(lots: list[dict]) -> str:
    """A line's lots in one cell of an export, e.g. ``L24A exp 2027-05-31 ×12 临期 expiry
    soon; L24B exp 2027-09-30 ×4``."""
    return "; ".join(
        f"{lot['batch'] or '无批次 no batch'} exp {lot['expiry'] or '—'} ×{lot['counted']}"
        + (" 已过期 expired" if lot.get("expired")
           else " 临期 expiry soon" if lot.get("expiry_soon") else "")
        for lot in lots)


def record_discrepancy(
    db: Database, manifest_id: int, body: object, *, user_id: int | None, may_correct: bool
) -> dict:
    """Record a discrepancy, or a correction of one (``corrects`` + ``action`` reverse|replace).

    A correction needs ``may_correct`` (the supervisor role). Nothing is ever updated in place.
    """
    if not isinstance(body, dict):
        raise ValidationError(say("discrepancy_not_object"))
    corrects, fields = body.get("corrects"), Fields()
    action = fields.choice(body.get("action", "record"), "action", ACTIONS)
    fields.raise_if_any(say("discrepancy_action_invalid"))
    if (corrects is None) != (action == "record"):
        raise ValidationError(
            say("correction_pairing"),
            [{"field": "corrects", "message": say("corrects_and_action")}],
        )
    with write(db):
        workflow.require_tally_open(db, manifest_id, say("discrepancies_refused"))
        earlier = None
        if corrects is not None:
            if not may_correct:
                raise PermissionDenied(
                    say("supervisor_to_correct"), required_role="supervisor"
                )
            earlier = _in_force_record(db, manifest_id, corrects)
        fields = _validate_fields(body if action != "reverse" else earlier, db, manifest_id)
        new_id = db.execute(
            "INSERT INTO discrepancies (manifest_id, line_id, kind, qty, note, disposition,"
            " supersedes_id, action, created_at, created_by) VALUES (?,?,?,?,?,?,?,?,?,?)"
            " RETURNING id",
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
        ).fetchone()[0]
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
    fields.raise_if_any(say("corrects_not_id"))
    record = next((r for r in list_discrepancies(db, manifest_id) if r["id"] == record_id), None)
    if record is None:
        raise NotFoundError(say("discrepancy_not_found", record_id=record_id,
                                manifest_no=conditions.manifest_number(db, manifest_id)))
    if not record["in_force"]:
        raise ConflictError(
            say("discrepancy_not_in_force", record_id=record_id),
            [{"field": "corrects", "message": say("not_in_force")}],
        )
    return record


def _validate_fields(body: dict, db, manifest_id) -> dict:
    fields = Fields()
    kind = fields.choice(body.get("kind"), "kind", KINDS)
    qty = fields.integer(body.get("qty"), "qty", minimum=1)
    line_no = body.get("line_no")
    if line_no is None and kind != "wrong_item":
        fields.problem("line_no", say("line_no_required_unless_wrong_item"))
    elif line_no is not None:
        line_no = fields.integer(line_no, "line_no", minimum=1)
    note = fields.text(body.get("note"), "note", required=False, max_length=500)
    disposition = fields.text(body.get("disposition"), "disposition", required=False,
                              max_length=500)
    fields.raise_if_any(say("discrepancy_invalid"))
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
