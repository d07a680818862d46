"""The consignment list and the consignment page: workflow status and what blocks the next step."""

from flask import render_template

from tally import manifests, outbox, receipts, workflow
from tally.names import ACTOR_NAMES, MANIFEST_STATUS_NAMES, WORKFLOW_ACTION_NAMES
from web.db import get_db
from web.pages import page_blueprint, signed_in

bp = page_blueprint("consignment_pages")

# Unmet conditions shown per next step: one per line of a long manifest would list them all.
SHOWN_CONDITIONS = 20


@bp.app_template_filter("status_name")
def status_name(status: str) -> str:
    return MANIFEST_STATUS_NAMES.get(status, status)


@bp.app_template_filter("action_name")
def action_name(action: str) -> str:
    return WORKFLOW_ACTION_NAMES.get(action, action)


@bp.get("/")
@signed_in
def index():
    return render_template("consignments.html", manifests=manifests.list_manifests(get_db()))


@bp.get("/manifests/<int:manifest_id>")
@signed_in
def show(manifest_id):
    from web.api.clearance import workflow_state

    db = get_db()
    state = workflow_state(db, manifest_id)
    steps = [s.value for s in workflow.Status if s != workflow.Status.RETURNED]
    return render_template("consignment.html", state=state, steps=steps, by_names=ACTOR_NAMES,
                           manifest=manifests.load_head(db, manifest_id),
                           stage=workflow.consignment_stage(db, manifest_id),
                           messages=outbox.sync_status(db, manifest_id)["messages"],
                           refusals=receipts.refusals(db, manifest_id),
                           shown=SHOWN_CONDITIONS)
