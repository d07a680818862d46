"""The inspection page (查验): at the pallets, on a phone or tablet. CIQ and customs officers
dictate, an operator records pallets, per-line checks and the escort's signature, then the tasks
(fumigation, destruction, return) and the signature that the pass still waits for.

The checks table shows one page of lines; inspection.js keeps the failed checks of every page and
sends a check for every line (a line on no page opened passes, as an untouched row does)."""

from flask import g, render_template

from tally import inspections, manifests, workflow
from tally.ippc import ISO_3166_ALPHA2, TREATMENTS
from tally.users import has_role
from web.db import get_db
from web.pages import page_blueprint, page_of_lines, signed_in

bp = page_blueprint("inspection_pages")


def line_runs(line_nos) -> list[list[int]]:
    """Line numbers as ``[first, last]`` runs: lines 1 to 100,000 are one pair."""
    runs: list[list[int]] = []
    for n in line_nos:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return runs


@bp.get("/manifests/<int:manifest_id>/inspection")
@signed_in
def inspection(manifest_id):
    db = get_db()
    head = manifests.load_head(db, manifest_id)
    totals = manifests.line_totals(db, manifest_id)
    pager = page_of_lines(totals["lines"])
    lines = manifests.list_lines(db, manifest_id, offset=pager["offset"], limit=pager["limit"])
    recorded = inspections.latest_inspection(db, manifest_id)
    if recorded:  # the failed checks of every line; a check not listed passed
        recorded["checks"] = [c for c in recorded["checks"]
                              if any(c.get(a, {}).get("result") == "fail"
                                     for a in inspections.ASPECTS)]
    arrived = workflow.current_status(db, manifest_id) == workflow.Status.ARRIVED
    page = {
        "manifest_id": manifest_id,
        "manifest_no": head["manifest_no"],
        "status": head["status"],
        # Only while the consignment is at arrived can anything be recorded (tally.inspections).
        "editable": arrived and has_role(g.user, "operator"),
        "line_runs": line_runs(manifests.line_numbers(db, manifest_id)),
        "inspection": recorded,
        # The IPPC mark hint in the browser reads marks with the server's tables.
        "ippc": {"countries": sorted(ISO_3166_ALPHA2), "treatments": TREATMENTS},
    }
    return render_template("inspection.html", manifest=head, lines=lines, totals=totals,
                           pager=pager, page=page)
