"""The first-line transfer declaration (一线转入): the inventory list (核注清单, INV101) as sent,
and its correction after customs returned it (退单) or could not store it (Z), declared again."""

import json

from sqlite_utils import Database

from tally import manifests, outbox, workflow
from tally.catalogue import say
from tally.customs.messages import build_inv101_change
from tally.db import write
from tally.errors import NotFoundError, ValidationError
from tally.events import record_event


def latest_list(db: Database, manifest_id: int) -> dict:
    """The latest inventory list sent for a manifest: payload, version, delivery state."""
    head = manifests.load_head(db, manifest_id)
    rows = list(db.query("SELECT id, idempotency_key, status, payload, created_at FROM outbox"
                         " WHERE manifest_id = ? AND kind = 'INV101' ORDER BY id",
                         [manifest_id]))
    if not rows:
        raise NotFoundError(say("no_inventory_list", manifest_no=head["manifest_no"]))
    row = rows[-1]
    return {"outbox_id": row["id"], "version": len(rows), "status": row["status"],
            "created_at": row["created_at"], "payload": json.loads(row["payload"])}


def correct_list(db: Database, manifest_id: int, body: object, *, user_id: int | None) -> dict:
    """Correct a returned inventory list and queue it again: a new declaration (dclTypecd 1)
    under the SeqNo customs gave the first one (docs/customs.md: dclTypecd 2 is the change of an
    approved list, not of a returned one).

    ``body``: ``{"changes": [{"gdsSeqno": 1, "gdecd": "..."}], "note": "..."}``. Quantities are
    the tally's and cannot be changed here.
    """
    if not isinstance(body, dict) or not isinstance(body.get("changes"), list) \
            or not body["changes"]:
        raise ValidationError(say("correction_changes_required"),
                              [{"field": "changes", "message": say("changes_form")}])
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 500):
        raise ValidationError(say("note_too_long"),
                              [{"field": "note", "message": say("at_most_500")}])
    with write(db):
        previous = latest_list(db, manifest_id)
        try:
            payload = build_inv101_change(previous["payload"], body["changes"])
        except ValueError as exc:
            text = say("list_change_invalid", detail=str(exc))
            raise ValidationError(text, [{"field": "changes", "message": text}]) from None
        bond_no = bond_invt_no(db, manifest_id)
        if bond_no:
            payload["head"]["bondInvtNo"] = bond_no
        seq_no = db.execute("SELECT seq_no FROM outbox WHERE id = ?",
                            [previous["outbox_id"]]).fetchone()[0]
        payload["dclTypecd"] = "1"
        if seq_no:
            payload["head"]["seqNo"] = seq_no
        workflow.apply(db, manifest_id, "correct_list", user_id=user_id, note=note)
        version = previous["version"] + 1
        inner_no = payload["head"]["etpsInnerInvtNo"]
        message_id = outbox.enqueue(db, manifest_id=manifest_id, kind="INV101", payload=payload,
                                    key=f"INV101-{inner_no}-{version}")
        record_event(db, "inventory-list-corrected", user_id=user_id, manifest_id=manifest_id,
                     version=version, outbox_id=message_id, changes=body["changes"], note=note)
    return latest_list(db, manifest_id)


def bond_invt_no(db: Database, manifest_id: int) -> str | None:
    """The inventory list number customs assigned (bondInvtNo, from its receipts), or None."""
    row = db.execute("SELECT document_no FROM customs_receipts WHERE manifest_id = ?"
                     " AND type LIKE 'INV%' AND document_no != '' ORDER BY id DESC LIMIT 1",
                     [manifest_id]).fetchone()
    return row[0] if row else None


def declared_lines(db: Database, manifest_id: int) -> dict[int, dict]:
    """The latest inventory list's lines by manifest line number (a line with nothing counted
    is not on the list)."""
    payload = latest_list(db, manifest_id)["payload"]
    # A list built before the account book (migration m007) has every manifest line, with the
    # manifest line number as its putrecSeqno.
    numbers = payload.get("manifestLineNos") or [int(line["putrecSeqno"])
                                                 for line in payload["lines"]]
    return {line_no: line for line_no, line in zip(numbers, payload["lines"], strict=True)}
