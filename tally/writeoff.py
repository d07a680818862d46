"""Write-off (核销): white-card verification, manifest write-off, then the manifest's tally status
read from customs must be 正常理货 (normal tally) before tallying can start."""

import json

from sqlite_utils import Database

from tally import manifests, workflow
from tally.catalogue import say
from tally.customs.client import CustomsClient, CustomsRejected
from tally.db import now, write
from tally.errors import ConflictError, ValidationError
from tally.events import record_event
from tally.fields import Fields


def _field(body, name, errors, *, required=True):
    return Fields(errors=errors).text(body.get(name), name, required=required, max_length=64)


def write_off(db: Database, manifest_id: int, body: object, *, client: CustomsClient,
              user_id: int | None) -> dict:
    """Verify the white card, write the manifest off and read its tally status from customs.

    The status moves to written_off only when the tally status is normal; otherwise 409 with
    customs' reason and nothing is stored (the write-off at customs is idempotent: try again
    once customs has corrected the tally status).
    """
    body = body if isinstance(body, dict) else {}
    errors: list[dict] = []
    transfer_no = _field(body, "transfer_order_no", errors)
    white_card_no = _field(body, "white_card_no", errors)
    vehicle_no = _field(body, "vehicle_no", errors, required=False)
    if errors:
        raise ValidationError(say("write_off_numbers_required"), errors)
    head = manifests.load_head(db, manifest_id)
    status = workflow.current_status(db, manifest_id)
    if status != workflow.Status.INSPECTED:
        # Asked before any call to customs, so a refused step leaves nothing behind there either.
        raise ConflictError(say("write_off_not_possible", status=status.value),
                            [{"message": say("inspection_must_pass")
                              if status == workflow.Status.ARRIVED else
                              say("action_not_from", action="write_off", status=status.value)}],
                            current_status=status.value, action="write_off")
    try:
        card = client.verify_white_card(white_card_no, transfer_no, vehicle_no)
        done = client.write_off_manifest(head["manifest_no"], head["bill_no"], transfer_no,
                                         white_card_no)
    except CustomsRejected as exc:
        reason = (exc.body or {}).get("error") or str(exc)
        raise ConflictError(say("customs_refused_write_off", reason=reason),
                            [{"message": say("customs_reason", reason=reason)}],
                            current_status=status.value, action="write_off") from None
    tally_status = client.tally_status(head["manifest_no"])
    with write(db):
        workflow.apply(db, manifest_id, "write_off", user_id=user_id,
                       context={"tally_status": tally_status},
                       tally_status=tally_status.get("text"))
        db.execute(
            "INSERT INTO write_offs (manifest_id, transfer_order_no, white_card_no, vehicle_no,"
            " white_card, write_off, tally_status, created_at, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [manifest_id, transfer_no, white_card_no, vehicle_no,
             json.dumps(card, ensure_ascii=False), json.dumps(done, ensure_ascii=False),
             json.dumps(tally_status, ensure_ascii=False), now(), user_id])
        record_event(db, "manifest-written-off", user_id=user_id, manifest_id=manifest_id,
                     transfer_order_no=transfer_no, white_card_no=white_card_no,
                     tally_status=tally_status.get("text"))
    return get_write_off(db, manifest_id)


def get_write_off(db: Database, manifest_id: int) -> dict | None:
    """The recorded write-off with customs' answers, or None."""
    row = next(iter(db.query("SELECT * FROM write_offs WHERE manifest_id = ?", [manifest_id])),
               None)
    if row is None:
        return None
    for key in ("white_card", "write_off", "tally_status"):
        row[key] = json.loads(row[key])
    return row
