"""What a scanned code is, for the scan page: a consignment's job barcode, a box label, a unit
label, a product's GTIN/EAN/UPC or a GS1 carton barcode. Looking a code up never counts anything;
unit labels are counted through the scan ledger (tally/scans.py).
"""

from datetime import date

from sqlite_utils import Database

from tally import gs1, labelling, manifests, units, workflow
from tally.catalogue import say
from tally.errors import NotFoundError, ValidationError


def resolve(db: Database, text: str, *, manifest_id: int | None, today: date,
            warning_days: int) -> dict:
    """What ``text`` is, with what the scan page shows for it. ``manifest_id`` is the consignment
    being tallied (products and cartons are looked up on its lines); ``today`` and
    ``warning_days`` say which expiry dates are near."""
    own = units.read_code(text)
    if own is not None:
        kind, serial = own
        return {"code": text.strip().upper(), **_OWN[kind](db, serial)}
    if gs1.looks_like_gs1(text):
        try:
            carton = gs1.parse_carton(text)
        except ValueError as exc:
            reason = exc.args[0]
            raise ValidationError(say("carton_unreadable", reason=reason),
                                  [{"field": "code", "message": reason}]) from None
        return {"kind": "carton", "code": text, "gtin": carton.gtin, "batch": carton.batch,
                "serial": carton.serial, **expiry_facts(carton.expiry, today, warning_days),
                "lines": product_lines(db, manifest_id, carton.gtin)}
    gtin = gs1.gtin14(text)
    if gtin is not None:
        return {"kind": "product", "code": text.strip(), "gtin": gtin,
                "lines": product_lines(db, manifest_id, gtin)}
    return {"kind": "unknown", "code": text}


def expiry_facts(expiry: date | None, today: date, warning_days: int) -> dict:
    """The expiry date as text with how near it is: ``expiry_soon`` within ``warning_days``,
    ``expired`` before today."""
    if expiry is None:
        return {"expiry": None, "days_to_expiry": None, "expiry_soon": False, "expired": False}
    days = (expiry - today).days
    return {"expiry": expiry.isoformat(), "days_to_expiry": days,
            "expiry_soon": days <= warning_days, "expired": days < 0}


def product_lines(db: Database, manifest_id: int | None, gtin: str) -> list[dict]:
    """The consignment's lines declaring this GTIN (any length, compared as GTIN-14), with
    their counted, declared and labelled quantities."""
    if manifest_id is None:
        return []
    rows = db.query(
        "SELECT l.line_no, l.sku, l.name, l.gtin, l.declared_qty AS declared,"
        " coalesce(c.counted, 0) AS counted FROM manifest_lines l"
        " LEFT JOIN line_counts c ON c.line_id = l.id"
        " WHERE l.manifest_id = ? AND l.gtin IS NOT NULL ORDER BY l.line_no", [manifest_id])
    found = [row for row in rows if gs1.gtin14(row.pop("gtin")) == gtin]
    if found:
        labelled = labelling.issued_per_line(db, manifest_id, [r["line_no"] for r in found])
        for row in found:
            row["labels"] = labelled[row["line_no"]]
    return found


def _manifest(db: Database, manifest_id: int) -> dict:
    head = manifests.load_head(db, manifest_id)
    return {"id": head["id"], "manifest_no": head["manifest_no"], "status": head["status"]}


def _job(db: Database, manifest_id: int) -> dict:
    manifest = _manifest(db, manifest_id)
    stage = workflow.consignment_stage(db, manifest_id)
    return {"kind": "job", "manifest": manifest, "stage": {"key": stage.key, "text": stage.text}}


def _box(db: Database, box_id: int) -> dict:
    box = labelling.find_box(db, box_id)
    if box is None:
        raise NotFoundError(say("box_code_unknown", code=units.box_code(box_id)))
    return {"kind": "box", "manifest": _manifest(db, box["manifest_id"]),
            "box_no": box["box_no"], "labels": box["labels"]}


def _unit(db: Database, serial: int) -> dict:
    row = db.execute(
        "SELECT u.manifest_id, l.line_no, u.box_no, u.status FROM units u"
        " JOIN manifest_lines l ON l.id = u.line_id WHERE u.id = ?", [serial]).fetchone()
    if row is None:
        raise NotFoundError(say("unit_code_unknown", code=units.make_code(serial)))
    return {"kind": "unit", "manifest": _manifest(db, row[0]), "line_no": row[1],
            "box_no": row[2], "status": row[3]}


_OWN = {"job": _job, "box": _box, "unit": _unit}
