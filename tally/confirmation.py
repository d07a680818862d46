"""Confirming the tally: freeze the counts and queue the first-line transfer inventory list."""

import json

from sqlite_utils import Database

from tally import account_book, company, manifests, outbox, workflow
from tally.customs.messages import build_inv101
from tally.db import now, write
from tally.events import record_event
from tally.reconcile import load_reconciliation, snapshot


def confirm_tally(db: Database, manifest_id: int, *, user_id: int | None, settings: dict) -> dict:
    """Confirm the tally in one transaction: status, snapshot, INV101 in the outbox, audit event.

    Refused (ConflictError listing the lines) while any difference is unexplained or a line's
    SKU is not in the account book; after it the tally is immutable and later scans are
    refused. ``settings``: tally.config.site_settings, under the stored company settings.
    """
    with write(db):
        workflow.apply(db, manifest_id, "confirm_tally", user_id=user_id)
        lines = manifests.list_lines(db, manifest_id)
        manifests.require_sound_amounts(lines)
        report = load_reconciliation(db, manifest_id)
        head = manifests.load_head(db, manifest_id)
        confirmed_at = now()
        db.execute(
            "INSERT INTO tallies (manifest_id, confirmed_at, confirmed_by, snapshot)"
            " VALUES (?, ?, ?, ?)",
            [manifest_id, confirmed_at, user_id, snapshot(report)],
        )
        values = company.load(db, settings)
        book = account_book.items_for(db, [line["sku"] for line in lines])
        payload = build_inv101(head, lines, report, settings=values, book=book,
                               declared_on=company.declaration_date(values))
        message_id = outbox.enqueue(
            db,
            manifest_id=manifest_id,
            kind="INV101",
            payload=payload,
            key=f"INV101-{payload['head']['etpsInnerInvtNo']}-1",
        )
        record_event(
            db,
            "tally-confirmed",
            user_id=user_id,
            manifest_id=manifest_id,
            totals=report["totals"],
            outbox_id=message_id,
        )
    return {
        "manifest_id": manifest_id,
        "status": workflow.Status.TALLIED.value,
        "confirmed_at": confirmed_at,
        "totals": report["totals"],
        "outbox_id": message_id,
    }


def get_confirmed(db: Database, manifest_id: int) -> dict | None:
    """The confirmed tally (with its frozen reconciliation), or None."""
    row = next(
        iter(
            db.query(
                "SELECT confirmed_at, confirmed_by, snapshot FROM tallies WHERE manifest_id = ?",
                [manifest_id],
            )
        ),
        None,
    )
    return None if row is None else {**row, "snapshot": json.loads(row["snapshot"])}
