"""The gate (卡口): a truck identified by plate or IC card and direction passes only on an
associated, approved, unused release order whose total weight matches the weighbridge.

The gate decision here is the site's own and stays local: nothing is sent to customs. Customs'
record of the passage comes back as a receipt (SAS223, or SAS224 after an inspection at the
gate) and is reconciled with it in tally/receipts.py (docs/customs.md, Gate)."""

import json
from decimal import Decimal

from sqlite_utils import Database

from tally.catalogue import say
from tally.db import now, write
from tally.errors import ValidationError
from tally.events import record_event
from tally.fields import Fields
from tally.receipts import record_passage
from tally.release_orders import IO_TYPES, MAX_VEHICLE_KG


def _parse(body: object) -> dict:
    if not isinstance(body, dict):
        raise ValidationError(say("gate_pass_not_object"))
    errors = []
    plate = body.get("plate")
    ic_card = body.get("ic_card")
    for name, value in (("plate", plate), ("ic_card", ic_card)):
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 32):
            errors.append({"field": name, "message": say("text_required", max_length=32)})
    if not plate and not ic_card:
        errors.append({"field": "plate", "message": say("plate_or_card")})
    direction = Fields(errors=errors).choice(body.get("direction", "I"), "direction", IO_TYPES)
    reading = Fields(errors=errors).decimal(body.get("weighbridge_kg"), "weighbridge_kg",
                                            maximum=MAX_VEHICLE_KG, positive=True)
    if errors:
        raise ValidationError(say("gate_invalid"), errors)
    return {"plate": plate.strip().upper() if plate else None,
            "ic_card": ic_card.strip() if ic_card else None, "direction": direction,
            "reading": reading}


def record_gate_pass(db: Database, body: object, *, user_id: int | None,
                     tolerance_kg: Decimal) -> dict:
    """Decide pass or refuse with every reason; log either; a pass marks the release order
    passed (and its consignments entered once all their goods are through)."""
    request = _parse(body)
    with write(db):
        candidates = list(db.query(
            "SELECT * FROM release_orders WHERE io_typecd = ? AND"
            " ((CAST(? AS TEXT) IS NOT NULL AND vehicle_no = ?)"
            " OR (CAST(? AS TEXT) IS NOT NULL AND vehicle_ic_no = ?))"
            " ORDER BY (status = 'approved') DESC, id DESC",
            [request["direction"], request["plate"], request["plate"], request["ic_card"],
             request["ic_card"]]))
        order = candidates[0] if candidates else None
        reasons = []
        if order is None:
            reasons.append(say("gate_no_order"))
        elif order["status"] == "passed":
            reasons.append(say("gate_order_used", number=order["passport_no"]))
        elif order["status"] != "approved":
            reasons.append(say("gate_order_not_bound", number=order["etps_preent_no"],
                               status=order["status"]))
        total = Decimal(order["total_wt"]) if order and order["total_wt"] else None
        error = total - request["reading"] if total is not None else None
        if error is not None and abs(error) > tolerance_kg:
            reasons.append(say("gate_weight_error", error=_kg(error, sign=True), total=_kg(total),
                               reading=_kg(request["reading"]), tolerance=_kg(tolerance_kg)))
        outcome = "refuse" if reasons else "pass"
        stamp = now()
        event_id = db.execute(
            "INSERT INTO gate_events (release_order_id, plate, ic_card, io_typecd,"
            " weighbridge_wt, total_wt, wt_error, outcome, reasons, created_at, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [order["id"] if order else None, request["plate"], request["ic_card"],
             request["direction"], str(request["reading"]),
             str(total) if total is not None else None,
             str(error) if error is not None else None, outcome,
             json.dumps([{"code": r.code, "en": r, "zh": r.zh} for r in reasons],
                        ensure_ascii=False), stamp, user_id]).fetchone()[0]
        record_event(db, f"gate-{outcome}", user_id=user_id,
                     release_order_id=order["id"] if order else None,
                     plate=request["plate"], ic_card=request["ic_card"],
                     weighbridge_kg=str(request["reading"]), reasons=reasons)
        if outcome == "pass":
            record_passage(db, order["id"], user_id=user_id,
                           weighbridge_kg=str(request["reading"]))
    return {"id": event_id, "outcome": outcome, "reasons": reasons,
            "reasons_zh": [reason.zh for reason in reasons],
            "release_order": order["etps_preent_no"] if order else None,
            "passport_no": order["passport_no"] if order else None,
            "total_wt": str(total) if total is not None else None,
            "weighbridge_wt": str(request["reading"]),
            "wt_error": str(error) if error is not None else None, "at": stamp}


def _kg(value: Decimal, *, sign: bool = False) -> str:
    """A weight as people read it: 11706.8, not 11706.80000."""
    text = f"{value:{'+' if sign else ''}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def gate_log(db: Database, limit: int = 200) -> list[dict]:
    """Passes and refusals, newest first, their reasons in English and Chinese."""
    rows = list(db.query(
        "SELECT g.id, g.outcome, g.plate, g.ic_card, g.io_typecd, g.weighbridge_wt, g.total_wt,"
        " g.wt_error, g.reasons, g.created_at, r.etps_preent_no, r.passport_no"
        " FROM gate_events g LEFT JOIN release_orders r ON r.id = g.release_order_id"
        " ORDER BY g.id DESC LIMIT ?", [limit]))
    for row in rows:
        # Kept as {code, en, zh}; entries from before that as the English text alone.
        stored = [r if isinstance(r, dict) else {"en": r, "zh": r}
                  for r in json.loads(row["reasons"])]
        row["reasons"] = [r["en"] for r in stored]
        row["reasons_zh"] = [r["zh"] for r in stored]
    return rows
