"""The reconciliation report (对账): declared vs counted per line, the discrepancies recorded,
the discrepancy form, the supervisor's tally confirmation, and the exports (CSV, XLSX, PDF)."""

from flask import current_app, render_template

from labels.report_sheet import progress
from tally import confirmation, reconcile, workflow
from tally.catalogue import coded
from tally.config import expiry_check
from tally.db import now
from tally.names import DISCREPANCY_KIND_NAMES, LINE_STATUS_NAMES
from tally.users import get_user
from web.db import get_db
from web.pages import PAGE_SIZE, page_blueprint, page_of_lines, signed_in

bp = page_blueprint("report_pages")

# Dispositions the station uses, offered as suggestions (free text is accepted).
DISPOSITIONS = ("按实收 Settle on actual received", "退运 Return to shipper",
                "销毁 Destroy", "补录 Amend the manifest", "待定 Pending")


@bp.get("/manifests/<int:manifest_id>/report")
@signed_in
def report(manifest_id):
    db = get_db()
    data = reconcile.load_reconciliation(db, manifest_id,
                                         expiry=expiry_check(current_app.config))
    totals = data["totals"]
    stage = workflow.tally_stage(workflow.Status(data["manifest"]["status"]), totals["counted"],
                                 totals["declared"])
    tally = confirmation.get_confirmed(db, manifest_id)
    if tally is not None:
        by = get_user(db, tally["confirmed_by"]) if tally["confirmed_by"] else None
        tally = {"confirmed_at": tally["confirmed_at"], "by": by["name"] if by else "—"}
    records = reconcile.list_discrepancies(db, manifest_id)
    # For a record no longer in force: whether the record after it replaced or withdrew it.
    actions = {r["id"]: r["action"] for r in records}
    for r in records:
        r["superseded_action"] = actions.get(r["superseded_by"])
    pager = page_of_lines(len(data["lines"]))
    lines = data["lines"][pager["offset"]:pager["offset"] + pager["limit"]]
    for line in lines:  # before counting begins no difference is left to explain
        line["to_explain"] = line["unexplained"] if stage.counting_begun else 0
    chart = [
        {"line_no": line["line_no"], "sku": line["sku"], "declared": line["declared"],
         "counted": line["counted"], "status": line["shown"]}
        for line in lines
    ]
    # Where the manager finds the first difference left to explain, when it is on another page.
    first = next((i for i, line in enumerate(data["lines"]) if line["unexplained"]), None
                 ) if stage.counting_begun else None
    # The confirmation's unmet conditions the report does not show itself (the account book's).
    blocked = [coded(c) for action in workflow.next_actions(db, manifest_id)
               if action["action"] == "confirm_tally" for c in action["unmet"]
               if c.get("condition") == "account_book"] if stage.tally == "open" else []
    return render_template(
        "report.html",
        blocked=blocked,
        report=data,
        lines=lines,
        pager=pager,
        unexplained_page=None if first is None else first // PAGE_SIZE + 1,
        manifest=data["manifest"],
        records=records,
        tally=tally,
        stage=stage,
        tally_open=stage.tally == "open",
        progress=round(progress(totals["counted"], totals["declared"]) * 100),
        chart=chart,
        status_names=LINE_STATUS_NAMES,
        kind_names=DISCREPANCY_KIND_NAMES,
        dispositions=DISPOSITIONS,
        generated_at=now(),
    )
