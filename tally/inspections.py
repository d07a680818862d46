"""Inspection (查验): CIQ checks of each pallet's wood packaging, customs checks of each manifest
line, the disposition tasks (fumigation 熏蒸, destruction 销毁, return) and the escort's signature.

The consignment passes inspection once the latest inspection has every check passed, every task
done and the escort's signature; the pass is applied through tally.workflow as soon as that holds.
What still blocks it is read in tally.conditions, where the workflow's guard reads it too.
"""

import base64
import binascii
import json

from sqlite_utils import Database

from tally import manifests, workflow
from tally.catalogue import say
from tally.conditions import latest_inspection_id, manifest_number, unmet_for_pass
from tally.db import now, write
from tally.errors import ConflictError, NotFoundError, ValidationError
from tally.events import record_event
from tally.fields import Fields
from tally.ippc import MarkError, parse_mark
from tally.signatures import MAX_SIGNATURE_BYTES, SignatureError, load_signature

MATERIALS = ("wood", "plastic", "metal", "paper", "none")
DISPOSITIONS = ("pass", "fumigate", "destroy", "return")
ASPECTS = ("nature", "origin", "condition", "quantity", "value")


def _text(value, field, errors, where=None, *, required=False, limit=200):
    return Fields(where, errors).text(value, field, required=required, max_length=limit)


def _parse_pallet(raw, index, errors) -> dict | None:
    where = {"pallet": index}
    if not isinstance(raw, dict):
        errors.append({**where, "message": say("pallet_not_object")})
        return None
    fields = Fields(where, errors)
    pallet = {
        "pallet_no": _text(raw.get("pallet_no"), "pallet_no", errors, where, required=True,
                           limit=32),
        "material": fields.choice(raw.get("material"), "material", MATERIALS),
        "mark_text": _text(raw.get("mark_text"), "mark_text", errors, where),
        "pests_found": raw.get("pests_found", False),
        "pest_note": _text(raw.get("pest_note"), "pest_note", errors, where, limit=500),
        "disposition": fields.choice(raw.get("disposition"), "disposition", DISPOSITIONS),
        "mark": None,
        "mark_problems": [],
    }
    if not isinstance(pallet["pests_found"], bool):
        errors.append({**where, "field": "pests_found", "message": say("true_or_false")})
    if pallet["material"] == "wood":
        # ISPM 15: wood packaging must carry the IPPC mark; a malformed mark is reported, not
        # guessed, and counts as no mark.
        if pallet["mark_text"] is None:
            pallet["mark_problems"] = [say("wood_without_mark")]
        else:
            try:
                mark = parse_mark(pallet["mark_text"])
                pallet["mark"] = {"country": mark.country, "producer": mark.producer,
                                  "treatments": list(mark.treatments), "debarked": mark.debarked}
            except MarkError as exc:
                pallet["mark_problems"] = list(exc.problems) or [str(exc)]
        if pallet["mark_problems"] and pallet["disposition"] == "pass":
            errors.append({**where, "field": "disposition", "message": say(
                "wood_must_be_treated", problems="; ".join(pallet["mark_problems"]))})
    if pallet["pests_found"] is True and pallet["disposition"] == "pass":
        errors.append({**where, "field": "disposition",
                       "message": say("pests_found")})
    return pallet


def _parse_checks(raw_checks, lines_by_no, errors, *, others_pass: bool = False) -> list[dict]:
    """The checks of every line; with ``others_pass``, a line not listed passed every aspect
    (an inspection of a manifest of thousands of lines lists only what failed)."""
    if not isinstance(raw_checks, list):
        errors.append({"field": "checks", "message": say("checks_not_list")})
        return []
    checks, seen = [], set()
    for index, raw in enumerate(raw_checks):
        where = {"check": index}
        if not isinstance(raw, dict):
            errors.append({**where, "message": say("check_not_object")})
            continue
        line_no = Fields(where, errors).integer(raw.get("line_no"), "line_no", minimum=1)
        if line_no is None:
            continue
        if line_no not in lines_by_no:
            errors.append({**where, "field": "line_no",
                           "message": say("no_manifest_line", line_no=line_no)})
            continue
        if line_no in seen:
            errors.append({**where, "field": "line_no",
                           "message": say("line_twice", line_no=line_no)})
        seen.add(line_no)
        for aspect in ASPECTS:
            value = raw.get(aspect)
            if not isinstance(value, dict) or value.get("result") not in ("pass", "fail"):
                errors.append({**where, "field": aspect,
                               "message": say("check_result_required")})
                continue
            note = _text(value.get("note"), f"{aspect}.note", errors, where, limit=500)
            if value["result"] == "fail" and not note:
                errors.append({**where, "field": f"{aspect}.note",
                               "message": say("failed_check_note")})
            checks.append({"line_id": lines_by_no[line_no]["id"], "aspect": aspect,
                           "result": value["result"], "note": note})
    missing = sorted(set(lines_by_no) - seen)
    if others_pass:
        checks += [{"line_id": lines_by_no[line_no]["id"], "aspect": aspect, "result": "pass",
                    "note": None} for line_no in missing for aspect in ASPECTS]
    elif missing:
        errors.append({"field": "checks", "message": say(
            "lines_unchecked", lines=", ".join(map(str, missing)))})
    return checks


def decode_signature(value) -> bytes:
    """The PNG bytes of a signature sent as a data URL or base64 text; ValidationError if not."""
    if not isinstance(value, str) or not value:
        raise ValidationError(say("signature_required"),
                              [{"field": "signature", "message": say("signature_data_url")}])
    payload = value.split(",", 1)[1] if value.startswith("data:") else value
    if len(payload) > MAX_SIGNATURE_BYTES * 4 // 3 + 8:
        raise ValidationError(say("signature_image_too_large"),
                              [{"field": "signature", "message": say("at_most_512kb")}])
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(say("signature_not_base64"),
                              [{"field": "signature", "message": say("not_base64")}]) from None
    try:
        load_signature(data, max_bytes=MAX_SIGNATURE_BYTES)
    except SignatureError as exc:
        problem = say("signature_" + exc.code.replace("-", "_"), detail=str(exc))
        raise ValidationError(say("signature_unusable", detail=str(exc), why=problem),
                              [{"field": "signature", "message": problem}]) from None
    return data


def record_inspection(db: Database, manifest_id: int, body: object, *,
                      user_id: int | None) -> dict:
    """Record an inspection (pallets, per-line checks, optional escort signature); return it.

    Tasks are created for pallets to fumigate, destroy or return. If nothing is left to do, the
    consignment passes inspection in the same transaction.
    """
    if not isinstance(body, dict):
        raise ValidationError(say("inspection_not_object"))
    errors: list[dict] = []
    head = {field: _text(body.get(field), field, errors)
            for field in ("location", "ciq_officer", "customs_officer")}
    raw_pallets = body.get("pallets", [])
    if not isinstance(raw_pallets, list):
        errors.append({"field": "pallets", "message": say("a_list")})
        raw_pallets = []
    pallets = [p for i, raw in enumerate(raw_pallets)
               if (p := _parse_pallet(raw, i, errors)) is not None]
    numbers = [p["pallet_no"] for p in pallets if p["pallet_no"]]
    errors += [{"field": "pallet_no", "message": say("pallet_twice", pallet_no=n)}
               for n in sorted({n for n in numbers if numbers.count(n) > 1})]
    lines_by_no = {line["line_no"]: line for line in manifests.list_lines(db, manifest_id)}
    if not lines_by_no:
        manifests.load_head(db, manifest_id)  # 404 for an unknown manifest
    others = Fields({}, errors).choice(body.get("other_lines"), "other_lines", ("pass",),
                                       required=False)
    checks = _parse_checks(body.get("checks"), lines_by_no, errors, others_pass=others == "pass")
    escort = body.get("escort")
    signature = None
    if escort is not None:
        if not isinstance(escort, dict):
            errors.append({"field": "escort", "message": say("escort_object")})
        else:
            _text(escort.get("name"), "escort.name", errors, required=True, limit=64)
            try:
                signature = decode_signature(escort.get("signature"))
            except ValidationError as exc:
                errors += exc.errors
    if errors:
        raise ValidationError(say("inspection_errors", count=len(errors)), errors)
    with write(db):
        status = workflow.current_status(db, manifest_id)
        if status != workflow.Status.ARRIVED:
            raise ConflictError(say("inspection_over", status=status.value),
                                current_status=status.value)
        stamp = now()
        inspection_id = db.execute(
            "INSERT INTO inspections (manifest_id, location, ciq_officer, customs_officer,"
            " escort_name, escort_signed_at, signature_png, created_at, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [manifest_id, head["location"], head["ciq_officer"], head["customs_officer"],
             escort["name"].strip() if signature else None, stamp if signature else None,
             signature, stamp, user_id],
        ).fetchone()[0]
        for pallet in pallets:
            pallet_id = db.execute(
                "INSERT INTO inspection_pallets (inspection_id, pallet_no, material, mark_text,"
                " mark, mark_problems, pests_found, pest_note, disposition)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [inspection_id, pallet["pallet_no"], pallet["material"], pallet["mark_text"],
                 json.dumps(pallet["mark"]) if pallet["mark"] else None,
                 json.dumps(pallet["mark_problems"], ensure_ascii=False),
                 int(pallet["pests_found"]), pallet["pest_note"], pallet["disposition"]],
            ).fetchone()[0]
            if pallet["disposition"] != "pass":
                db.execute("INSERT INTO inspection_tasks (inspection_id, pallet_id, kind)"
                           " VALUES (?, ?, ?)", [inspection_id, pallet_id, pallet["disposition"]])
        db.conn.executemany(
            "INSERT INTO inspection_checks (inspection_id, line_id, aspect, result, note)"
            " VALUES (?, ?, ?, ?, ?)",
            [[inspection_id, c["line_id"], c["aspect"], c["result"], c["note"]] for c in checks],
        )
        record_event(db, "inspection-recorded", user_id=user_id, manifest_id=manifest_id,
                     inspection_id=inspection_id, pallets=len(pallets),
                     tasks=sum(p["disposition"] != "pass" for p in pallets),
                     failed_checks=sum(c["result"] == "fail" for c in checks),
                     signed=signature is not None)
        _pass_if_complete(db, manifest_id, user_id)
    return get_inspection(db, manifest_id, inspection_id)


def _pass_if_complete(db: Database, manifest_id: int, user_id: int | None) -> None:
    if not unmet_for_pass(db, manifest_id):
        workflow.apply(db, manifest_id, "pass_inspection", user_id=user_id)


def _load(db: Database, manifest_id: int, inspection_id: int) -> dict:
    row = next(iter(db.query("SELECT * FROM inspections WHERE id = ? AND manifest_id = ?",
                             [inspection_id, manifest_id])), None)
    if row is None:
        raise NotFoundError(say("inspection_not_found", inspection_id=inspection_id,
                                manifest_no=manifest_number(db, manifest_id)))
    return row


def complete_task(db: Database, manifest_id: int, inspection_id: int, task_id: int, *,
                  note, user_id: int | None) -> dict:
    """Record a fumigation, destruction or return as done; pass the inspection if now complete."""
    errors: list[dict] = []
    note = _text(note, "note", errors, limit=500)
    if errors:
        raise ValidationError(say("task_note_invalid"), errors)
    with write(db):
        _load(db, manifest_id, inspection_id)
        task = next(iter(db.query("SELECT * FROM inspection_tasks WHERE id = ? AND"
                                  " inspection_id = ?", [task_id, inspection_id])), None)
        if task is None:
            raise NotFoundError(say("task_not_found", inspection_id=inspection_id,
                                    task_id=task_id))
        if task["done_at"]:
            raise ConflictError(say("task_already_done", task_id=task_id,
                                    done_at=task["done_at"]))
        db.execute("UPDATE inspection_tasks SET done_at = ?, done_by = ?, note = ? WHERE id = ?",
                   [now(), user_id, note, task_id])
        record_event(db, "inspection-task-done", user_id=user_id, manifest_id=manifest_id,
                     inspection_id=inspection_id, task_id=task_id, kind=task["kind"], note=note)
        if workflow.current_status(db, manifest_id) == workflow.Status.ARRIVED:
            _pass_if_complete(db, manifest_id, user_id)
    return get_inspection(db, manifest_id, inspection_id)


def sign(db: Database, manifest_id: int, inspection_id: int, body: object, *,
         user_id: int | None) -> dict:
    """The escort signs the record sheet (name + signature PNG); pass the inspection if complete."""
    body = body if isinstance(body, dict) else {}
    errors: list[dict] = []
    name = _text(body.get("name"), "name", errors, required=True, limit=64)
    if errors:
        raise ValidationError(say("escort_name_required"), errors)
    signature = decode_signature(body.get("signature"))
    with write(db):
        row = _load(db, manifest_id, inspection_id)
        if row["escort_signed_at"]:
            raise ConflictError(say("already_signed", name=row["escort_name"]))
        if inspection_id != latest_inspection_id(db, manifest_id):
            raise ConflictError(say("inspection_replaced"))
        db.execute("UPDATE inspections SET escort_name = ?, escort_signed_at = ?,"
                   " signature_png = ? WHERE id = ?", [name, now(), signature, inspection_id])
        record_event(db, "inspection-signed", user_id=user_id, manifest_id=manifest_id,
                     inspection_id=inspection_id, escort=name)
        if workflow.current_status(db, manifest_id) == workflow.Status.ARRIVED:
            _pass_if_complete(db, manifest_id, user_id)
    return get_inspection(db, manifest_id, inspection_id)


def get_inspection(db: Database, manifest_id: int, inspection_id: int) -> dict:
    """One inspection with its pallets, tasks, checks, signature state and what blocks the pass."""
    row = _load(db, manifest_id, inspection_id)
    pallets = list(db.query("SELECT * FROM inspection_pallets WHERE inspection_id = ?"
                            " ORDER BY id", [inspection_id]))
    tasks = {t["pallet_id"]: t for t in db.query(
        "SELECT t.id, t.pallet_id, t.kind, t.done_at, t.note, u.name AS done_by"
        " FROM inspection_tasks t LEFT JOIN users u ON u.id = t.done_by"
        " WHERE t.inspection_id = ?", [inspection_id])}
    for pallet in pallets:
        pallet["mark"] = json.loads(pallet["mark"]) if pallet["mark"] else None
        pallet["mark_problems"] = json.loads(pallet["mark_problems"])
        pallet["pests_found"] = bool(pallet["pests_found"])
        pallet["task"] = tasks.get(pallet.pop("id"))
        pallet.pop("inspection_id")
        if pallet["task"]:
            pallet["task"].pop("pallet_id")
    checks: dict[int, dict] = {}
    for c in db.query(
        "SELECT l.line_no, l.sku, l.name, c.aspect, c.result, c.note FROM inspection_checks c"
        " JOIN manifest_lines l ON l.id = c.line_id WHERE c.inspection_id = ?"
        " ORDER BY l.line_no", [inspection_id]):
        entry = checks.setdefault(c["line_no"], {"line_no": c["line_no"], "sku": c["sku"],
                                                 "name": c["name"]})
        entry[c["aspect"]] = {"result": c["result"], "note": c["note"]}
    latest = inspection_id == latest_inspection_id(db, manifest_id)
    unmet = unmet_for_pass(db, manifest_id) if latest else []
    failed = any(u["condition"] == "check" for u in unmet)
    status = workflow.current_status(db, manifest_id)
    result = ("superseded" if not latest else "passed" if status != workflow.Status.ARRIVED
              else "failed" if failed else "pending")
    return {
        "id": inspection_id, "manifest_id": manifest_id, "location": row["location"],
        "ciq_officer": row["ciq_officer"], "customs_officer": row["customs_officer"],
        "created_at": row["created_at"], "pallets": pallets, "checks": list(checks.values()),
        "escort": {"name": row["escort_name"], "signed_at": row["escort_signed_at"],
                   "signed": row["escort_signed_at"] is not None},
        "result": result, "unmet": unmet,
    }


def list_inspections(db: Database, manifest_id: int) -> list[dict]:
    """Every inspection of the manifest, oldest first, each as ``get_inspection`` gives it;
    NotFoundError when there is no such manifest."""
    manifests.load_head(db, manifest_id)
    ids = [r[0] for r in db.execute("SELECT id FROM inspections WHERE manifest_id = ?"
                                    " ORDER BY id", [manifest_id])]
    return [get_inspection(db, manifest_id, i) for i in ids]


def latest_inspection(db: Database, manifest_id: int) -> dict | None:
    """The manifest's latest inspection (the one that counts) as ``get_inspection`` gives it, or
    None when none was recorded."""
    inspection_id = latest_inspection_id(db, manifest_id)
    return None if inspection_id is None else get_inspection(db, manifest_id, inspection_id)


def signature_png(db: Database, manifest_id: int, inspection_id: int) -> bytes | None:
    """The escort's signature image as stored."""
    return _load(db, manifest_id, inspection_id)["signature_png"]
