"""The labels page (标签): at the station desk or the label-printer bench, or on a phone.

Issue unit labels per manifest line and box, preview them, download them as PDF (label roll or
A4 sheet) or ZPL, send them to the network printer, and reprint a spoiled label as a copy.
"""

from flask import current_app, render_template, request

from tally import labelling, manifests, workflow
from tally.errors import NotFoundError
from web.db import get_db
from web.pages import page_blueprint, page_of_lines, signed_in

bp = page_blueprint("label_pages")

# The stock the bench prints on (mm); tally.labels renders any size from 25 to 200 mm a side.
SIZES = ("50x30", "60x40", "100x50")
# Reasons a label is reprinted, offered as suggestions: the operator may type any other.
REPRINT_REASONS = ("污损 Smudged", "撕破 Torn", "贴错 Applied wrongly", "打印失败 Print failed",
                   "丢失 Lost")


def _tally(manifest: dict) -> dict:
    """The manifest with the tally rule's answer for it (tally.workflow decides, not the page)."""
    status = workflow.Status(manifest["status"])
    return {**manifest, "tally_open": workflow.is_tally_open(status),
            "tally_opened": workflow.has_tally_opened(status)}


@bp.get("/labels")
@signed_in
def labels():
    db = get_db()
    # Before the tally opens no label can exist; those consignments are not offered.
    choices = [m for m in map(_tally, manifests.list_manifests(db)) if m["tally_opened"]]
    page = {
        "choices": choices,
        "sizes": SIZES,
        "reasons": REPRINT_REASONS,
        "printer": current_app.config.get("PRINTER") or None,
        "surplus": {"percent": labelling.SURPLUS_PERCENT, "minimum": labelling.SURPLUS_MINIMUM},
        "manifest": None,
        "error": None,
    }
    manifest_id = request.args.get("manifest", type=int)
    if request.args.get("manifest") and manifest_id is None:
        page["error"] = f"没有这个货物 No consignment {request.args['manifest']!r}"
    elif manifest_id is not None:
        try:
            manifest = _tally(manifests.load_head(db, manifest_id))
        except NotFoundError:
            page["error"] = f"没有这个货物 No consignment with id {manifest_id}"
        else:
            totals = manifests.line_totals(db, manifest_id)
            page["pager"] = page_of_lines(totals["lines"])
            lines = manifests.list_lines(db, manifest_id, offset=page["pager"]["offset"],
                                         limit=page["pager"]["limit"])
            issued = labelling.issued_per_line(db, manifest_id, [n["line_no"] for n in lines])
            for line in lines:
                line["issued"] = issued[line["line_no"]]
            manifest.update(lines=lines, declared_total=totals["declared"],
                            stage=workflow.consignment_stage(db, manifest_id),
                            **labelling.issued_summary(db, manifest_id))
            page["manifest"] = manifest
    return render_template("labels.html", page=page, manifest=page["manifest"])
