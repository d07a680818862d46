"""Manifests, reconciliation, discrepancies, tally confirmation, sync log and audit events."""

import csv
import io

from flask import Response, current_app, g, request

from tally import confirmation, manifests, outbox, reconcile
from tally.config import site_settings
from tally.errors import ValidationError
from tally.events import list_events
from tally.users import has_role
from web.api import api_blueprint, int_arg, json_body
from web.auth import requires, user_id
from web.customs import customs_client
from web.db import get_db

bp = api_blueprint("manifests")


@bp.post("/manifests")
@requires("supervisor")
def create():
    if request.mimetype == "text/csv":
        manifest = manifests.parse_csv(request.get_data())
    elif request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ValidationError("the multipart form needs a 'file' field with the CSV")
        manifest = manifests.parse_csv(upload.read())
    else:
        manifest = json_body()
    return manifests.import_manifest(get_db(), manifest, user_id=user_id()), 201


@bp.get("/manifests")
def index():
    return {"manifests": manifests.list_manifests(get_db())}


@bp.get("/manifests/<int:manifest_id>")
def show(manifest_id):
    db = get_db()
    manifest = manifests.get_manifest(db, manifest_id)
    manifest["tally"] = confirmation.get_confirmed(db, manifest_id)
    return manifest


@bp.get("/manifests/<int:manifest_id>/reconciliation")
def reconciliation(manifest_id):
    report = reconcile.load_reconciliation(get_db(), manifest_id)
    if request.args.get("format") == "csv":
        return _reconciliation_csv(report)
    return report


def _reconciliation_csv(report: dict) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "line_no",
            "sku",
            "name",
            "declared",
            "counted",
            "difference",
            "status",
            "explained",
            "unexplained",
            "discrepancies",
        ]
    )
    for line in report["lines"]:
        notes = "; ".join(
            f"{d['kind']} {d['qty']}" + (f" ({d['note']})" if d["note"] else "")
            for d in line["discrepancies"]
        )
        writer.writerow(
            [
                line["line_no"],
                line["sku"],
                line["name"],
                line["declared"],
                line["counted"],
                line["difference"],
                line["status"],
                line["explained"],
                line["unexplained"],
                notes,
            ]
        )
    totals = report["totals"]
    writer.writerow(
        [
            "total",
            "",
            "",
            totals["declared"],
            totals["counted"],
            totals["difference"],
            "balanced" if report["balanced"] else "unexplained",
            "",
            "",
            "",
        ]
    )
    filename = f"reconciliation-{report['manifest']['manifest_no']}.csv"
    # The BOM makes Excel open the Chinese product names as UTF-8.
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/manifests/<int:manifest_id>/discrepancies")
def discrepancies(manifest_id):
    manifests.load_head(get_db(), manifest_id)
    return {"discrepancies": reconcile.list_discrepancies(get_db(), manifest_id)}


@bp.post("/manifests/<int:manifest_id>/discrepancies")
@requires("operator")
def record_discrepancy(manifest_id):
    record = reconcile.record_discrepancy(
        get_db(),
        manifest_id,
        json_body(),
        user_id=user_id(),
        may_correct=has_role(g.user, "supervisor"),
    )
    return record, 201


@bp.post("/manifests/<int:manifest_id>/tally/confirm")
@requires("supervisor")
def confirm(manifest_id):
    return confirmation.confirm_tally(
        get_db(), manifest_id, user_id=user_id(), settings=site_settings(current_app.config)
    )


@bp.get("/manifests/<int:manifest_id>/sync")
def sync_log(manifest_id):
    manifests.load_head(get_db(), manifest_id)
    return outbox.sync_status(get_db(), manifest_id)


@bp.post("/manifests/<int:manifest_id>/sync")
@requires("supervisor")
def sync_now(manifest_id):
    """Data synchronization: pull the latest customs receipts of this manifest's messages now."""
    db = get_db()
    manifests.load_head(db, manifest_id)
    new = outbox.pull_receipts(db, customs_client(), manifest_id)
    return {**outbox.sync_status(db, manifest_id), "new_receipts": new}


@bp.get("/manifests/<int:manifest_id>/events")
def events(manifest_id):
    manifests.load_head(get_db(), manifest_id)
    return {"events": list_events(get_db(), manifest_id, after_id=int_arg("after") or 0)}
