"""The inspection page (查验): at the pallets, on a phone or tablet. CIQ and customs officers
dictate, an operator records pallets, per-line checks and the escort's signature, then the tasks
(fumigation, destruction, return) and the signature that the pass still waits for."""

from flask import g, render_template

from tally import inspections, manifests, workflow
from tally.ippc import ISO_3166_ALPHA2, TREATMENTS
from tally.users import has_role
from web.db import get_db
from web.pages import page_blueprint, signed_in

bp = page_blueprint("inspection_pages")


@bp.get("/manifests/<int:manifest_id>/inspection")
@signed_in
def inspection(manifest_id):
    db = get_db()
    head = manifests.load_head(db, manifest_id)
    lines = manifests.list_lines(db, manifest_id)
    latest = db.execute("SELECT max(id) FROM inspections WHERE manifest_id = ?",
                        [manifest_id]).fetchone()[0]
    arrived = workflow.current_status(db, manifest_id) == workflow.Status.ARRIVED
    page = {
        "manifest_id": manifest_id,
        "manifest_no": head["manifest_no"],
        "status": head["status"],
        # Only while the consignment is at arrived can anything be recorded (tally.inspections).
        "editable": arrived and has_role(g.user, "operator"),
        "lines": [{"line_no": line["line_no"]} for line in lines],
        "inspection": inspections.get_inspection(db, manifest_id, latest) if latest else None,
        # The IPPC mark hint in the browser reads marks with the server's tables.
        "ippc": {"countries": sorted(ISO_3166_ALPHA2), "treatments": TREATMENTS},
    }
    return render_template("inspection.html", manifest=head, lines=lines, page=page)
