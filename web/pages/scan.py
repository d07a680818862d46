"""The handheld scanner page: keyboard-wedge, typed and camera scans of unit labels and of the
codes around them (job, box, product and carton barcodes), with an offline queue (the JavaScript
in static/scan*.js does the scanning; this renders the frame and the page's configuration)."""

from flask import render_template, request

from tally import manifests, workflow
from tally.names import MANIFEST_STATUS_NAMES
from web.db import get_db
from web.pages import page_blueprint, signed_in

bp = page_blueprint("scan_pages")


@bp.get("/scan")
@signed_in
def scan():
    db = get_db()
    selected = request.args.get("manifest", type=int)
    # Only consignments whose tally is open take scans; the one asked for stays in the list
    # with where it stands, so the page can say why its scans are refused.
    choices = [
        {**m, "open": workflow.is_tally_open(workflow.Status(m["status"]))}
        for m in manifests.list_manifests(db)
    ]
    choices = [m for m in choices if m["open"] or m["id"] == selected]
    for m in choices:
        if not m["open"]:
            m["stage"] = workflow.consignment_stage(db, m["id"])
    return render_template(
        "scan.html",
        consignments=choices,
        selected=selected,
        box=request.args.get("box", "").strip()[:64],
        blind=request.args.get("blind") == "1",
        page={"statuses": statuses()},
    )


def statuses() -> dict:
    """Per consignment status: its bilingual name, whether it takes scans, and where the tally
    stands (for a job or box barcode of a consignment that takes none)."""
    return {
        status.value: {
            "name": MANIFEST_STATUS_NAMES[status.value],
            "open": workflow.is_tally_open(status),
            "text": "" if workflow.is_tally_open(status) else workflow.tally_stage(status).text,
        }
        for status in workflow.Status
    }
