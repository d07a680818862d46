"""Inspection (查验): record, complete disposition tasks, escort signature, record sheet PDF."""

import io

from flask import Response

from labels.sheets import render_record_sheet
from tally import inspections, manifests, units
from tally.catalogue import say
from tally.errors import NotFoundError
from tally.signatures import load_signature
from web.api import api_blueprint, json_body
from web.auth import requires, user_id
from web.db import get_db
from web.downloads import download_headers

bp = api_blueprint("inspections")


@bp.post("/manifests/<int:manifest_id>/inspections")
@requires("operator")
def record(manifest_id):
    return inspections.record_inspection(get_db(), manifest_id, json_body(),
                                         user_id=user_id()), 201


@bp.get("/manifests/<int:manifest_id>/inspections")
def index(manifest_id):
    return {"inspections": inspections.list_inspections(get_db(), manifest_id)}


@bp.get("/manifests/<int:manifest_id>/inspections/<int:inspection_id>")
def show(manifest_id, inspection_id):
    return inspections.get_inspection(get_db(), manifest_id, inspection_id)


@bp.post("/manifests/<int:manifest_id>/inspections/<int:inspection_id>/tasks/<int:task_id>/done")
@requires("operator")
def task_done(manifest_id, inspection_id, task_id):
    body = json_body()
    note = body.get("note") if isinstance(body, dict) else None
    return inspections.complete_task(get_db(), manifest_id, inspection_id, task_id, note=note,
                                     user_id=user_id())


@bp.post("/manifests/<int:manifest_id>/inspections/<int:inspection_id>/signature")
@requires("operator")
def sign(manifest_id, inspection_id):
    return inspections.sign(get_db(), manifest_id, inspection_id, json_body(),
                            user_id=user_id())


@bp.get("/manifests/<int:manifest_id>/inspections/<int:inspection_id>/signature.png")
def signature(manifest_id, inspection_id):
    png = inspections.signature_png(get_db(), manifest_id, inspection_id)
    if png is None:
        raise NotFoundError(say("signature_not_recorded"))
    return Response(png, mimetype="image/png")


@bp.get("/manifests/<int:manifest_id>/inspections/<int:inspection_id>/record.pdf")
def record_sheet(manifest_id, inspection_id):
    db = get_db()
    head = manifests.load_head(db, manifest_id)
    inspection = inspections.get_inspection(db, manifest_id, inspection_id)
    png = inspections.signature_png(db, manifest_id, inspection_id)
    sheet = {
        "title": "查验记录单 Inspection record sheet",
        "job_code": units.job_code(manifest_id),  # the scan page opens the consignment by it
        "manifest_no": head["manifest_no"], "bill_no": head["bill_no"],
        "inspection_no": f"{head['manifest_no']}-I{inspection_id}",
        "inspected_at": inspection["created_at"], "location": inspection["location"],
        "ciq_officer": inspection["ciq_officer"],
        "customs_officer": inspection["customs_officer"],
        "pallets": inspection["pallets"], "checks": inspection["checks"],
        "result": inspection["result"],
        "escort": {**inspection["escort"],
                   "signature": load_signature(png) if png else None},
    }
    pdf = render_record_sheet(sheet)
    filename = f"inspection-{head['manifest_no']}-{inspection_id}.pdf"
    return Response(io.BytesIO(pdf).getvalue(), mimetype="application/pdf",
                    headers=download_headers(filename, inline=True))
