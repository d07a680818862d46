"""The audit log: one event per mutation, written in the mutation's own transaction."""

import json

from sqlite_utils import Database

from tally.db import now


def record_event(
    db: Database,
    name: str,
    *,
    user_id: int | None,
    manifest_id: int | None = None,
    release_order_id: int | None = None,
    **details,
) -> None:
    """Append an audit event (kebab-case name, e.g. ``labels-issued``) with JSON details."""
    db.conn.execute(
        "INSERT INTO events (manifest_id, release_order_id, user_id, name, details, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [manifest_id, release_order_id, user_id, name,
         json.dumps(details, ensure_ascii=False), now()],
    )


def list_events(
    db: Database, manifest_id: int, *, after_id: int = 0, limit: int = 500
) -> list[dict]:
    """Events of one manifest (and of the release orders that carry its goods), oldest first."""
    rows = db.query(
        """SELECT e.id, e.name, e.details, e.created_at, u.name AS user
           FROM events e LEFT JOIN users u ON u.id = e.user_id
           WHERE (e.manifest_id = ? OR e.release_order_id IN
                  (SELECT release_order_id FROM release_order_lines WHERE manifest_id = ?))
             AND e.id > ? ORDER BY e.id LIMIT ?""",
        [manifest_id, manifest_id, after_id, limit],
    )
    return [{**r, "details": json.loads(r["details"])} for r in rows]
