"""Reconciliation: declared vs counted per manifest line, and the discrepancy records.

``compute_reconciliation`` is pure; ``load_reconciliation`` feeds it from the database.
A discrepancy correction is a new record that reverses or replaces an earlier one, never an edit.
"""

import json

from sqlite_utils import Database

from tally import manifests, workflow
from tally.db import now, write
from tally.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from tally.events import record_event

KINDS = ("short", "over", "damaged", "wrong_item")
# Only short and over change the count arithmetic; damaged and wrong_item qualify counted units.
_SIGN = {"short": -1, "over": 1, "damaged": 0, "wrong_item": 0}
_DISCREPANCY_FIELDS = ("line_no", "kind", "qty", "note", "disposition")


def compute_reconciliation(
    lines: list[dict], counts: dict[int, int], discrepancies: list[dict]
) -> dict:
    """Compare declared with counted quantities per line and say which differences are explained.

    ``lines``: manifest lines (id, line_no, sku, name, declared_qty); ``counts``: counted units by
    line id; ``discrepancies``: the effective records. A line's difference (counted - declared) is
    explained when the recorded over minus short quantities equal it exactly.
    """
    by_line: dict[int | None, list[dict]] = {}
    for record in discrepancies:
        by_line.setdefault(record["line_no"], []).append(record)
    out, totals = (
        [],
        {
            "declared": 0,
            "counted": 0,
            "lines": 0,
            "match": 0,
            "short": 0,
            "over": 0,
            "unexplained_lines": 0,
        },
    )
    for line in lines:
        declared, counted = line["declared_qty"], counts.get(line["id"], 0)
        difference = counted - declared
        records = by_line.get(line["line_no"], [])
        explained = sum(_SIGN[r["kind"]] * r["qty"] for r in records)
        status = "match" if difference == 0 else ("short" if difference < 0 else "over")
        out.append(
            {
                "line_no": line["line_no"],
                "sku": line["sku"],
                "name": line["name"],
                "declared": declared,
                "counted": counted,
                "difference": difference,
                "status": status,
                "explained": explained,
                "unexplained": difference - explained,
                "discrepancies": records,
            }
        )
        totals["declared"] += declared
        totals["counted"] += counted
        totals["lines"] += 1
        totals[status] += 1
        totals["unexplained_lines"] += difference != explained
    totals["difference"] = totals["counted"] - totals["declared"]
    return {
        "lines": out,
        "totals": totals,
        "unassigned_discrepancies": by_line.get(None, []),
        "balanced": totals["unexplained_lines"] == 0,
    }


def load_reconciliation(db: Database, manifest_id: int) -> dict:
    """The reconciliation of one manifest, computed from the scan ledger and discrepancies."""
    head = manifests.load_head(db, manifest_id)
    lines = list(
        db.query(
            "SELECT id, line_no, sku, name, declared_qty FROM manifest_lines"
            " WHERE manifest_id = ? ORDER BY line_no",
            [manifest_id],
        )
    )
    counts = dict(
        db.execute(
            "SELECT line_id, count(*) FROM scans WHERE manifest_id = ? AND outcome = 'counted'"
            " GROUP BY line_id",
            [manifest_id],
        ).fetchall()
    )
    report = compute_reconciliation(lines, counts, effective_discrepancies(db, manifest_id))
    report["manifest"] = head
    report["scans"] = dict(
        db.execute(
            "SELECT outcome, count(*) FROM scans WHERE manifest_id = ? GROUP BY outcome",
            [manifest_id],
        ).fetchall()
    )
    return report


def list_discrepancies(db: Database, manifest_id: int) -> list[dict]:
    """Every discrepancy record of a manifest, corrections included, with whether it is in force."""
    rows = list(
        db.query(
            """SELECT d.id, l.line_no, d.kind, d.qty, d.note, d.disposition, d.action,
                  d.supersedes_id, d.created_at, u.name AS recorded_by,
                  (SELECT s.id FROM discrepancies s WHERE s.supersedes_id = d.id) AS superseded_by
           FROM discrepancies d LEFT JOIN manifest_lines l ON l.id = d.line_id
           LEFT JOIN users u ON u.id = d.created_by
           WHERE d.manifest_id = ? ORDER BY d.id""",
            [manifest_id],
        )
    )
    for row in rows:
        row["in_force"] = row["superseded_by"] is None and row["action"] != "reverse"
    return rows


def effective_discrepancies(db: Database, manifest_id: int) -> list[dict]:
    """The records in force: neither superseded by a correction nor a reversal themselves."""
    return [r for r in list_discrepancies(db, manifest_id) if r["in_force"]]


def record_discrepancy(
    db: Database, manifest_id: int, body: object, *, user_id: int | None, may_correct: bool
) -> dict:
    """Record a discrepancy, or a correction of one (``corrects`` + ``action`` reverse|replace).

    A correction needs ``may_correct`` (the supervisor role). Nothing is ever updated in place.
    """
    if not isinstance(body, dict):
        raise ValidationError("a discrepancy must be a JSON object")
    corrects, action = body.get("corrects"), body.get("action", "record")
    if action not in ("record", "replace", "reverse"):
        raise ValidationError(
            "action must be record, replace or reverse",
            [{"field": "action", "message": f"unknown action {action!r}"}],
        )
    if (corrects is None) != (action == "record"):
        raise ValidationError(
            "a correction names the record it corrects and the action",
            [{"field": "corrects", "message": "corrects and action go together"}],
        )
    with write(db):
        status = workflow.current_status(db, manifest_id)
        if not workflow.is_tally_open(status):
            raise ConflictError(
                f"the tally is closed ({status.value}); discrepancies are frozen",
                current_status=status.value,
            )
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
    if isinstance(record_id, bool) or not isinstance(record_id, int):
        raise ValidationError(
            "corrects must be a discrepancy id",
            [{"field": "corrects", "message": "a whole number is required"}],
        )
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
    errors = []
    kind, qty, line_no = body.get("kind"), body.get("qty"), body.get("line_no")
    note, disposition = body.get("note"), body.get("disposition")
    if kind not in KINDS:
        errors.append({"field": "kind", "message": f"one of {', '.join(KINDS)}"})
    if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
        errors.append({"field": "qty", "message": "a whole number of at least 1"})
    if line_no is None and kind != "wrong_item":
        errors.append({"field": "line_no", "message": "required (only wrong_item may have none)"})
    elif line_no is not None and (isinstance(line_no, bool) or not isinstance(line_no, int)):
        errors.append({"field": "line_no", "message": "a whole number"})
    for name, value in (("note", note), ("disposition", disposition)):
        if value is not None and (not isinstance(value, str) or len(value) > 500):
            errors.append({"field": name, "message": "text of at most 500 characters"})
    if errors:
        raise ValidationError("the discrepancy is invalid; nothing was recorded", errors)
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
