"""The consignment list and the consignment page: workflow status and what blocks the next step."""

from flask import render_template

from tally import manifests, workflow
from web.db import get_db
from web.pages import page_blueprint, signed_in

bp = page_blueprint("consignment_pages")

# Bilingual names of the statuses and actions, as the station and customs staff say them.
STATUS_NAMES = {
    "arrived": "到货 Arrived", "inspected": "已查验 Inspected", "written_off": "已核销 Written off",
    "tallied": "已理货 Tallied", "returned": "退单 Returned", "declared": "已申报 Declared",
    "released": "已核放 Released", "vehicle_bound": "已车单关联 Vehicle bound",
    "entered": "已入区 Entered",
}
ACTION_NAMES = {
    "pass_inspection": "查验通过 Pass inspection", "write_off": "核销 Write off",
    "confirm_tally": "理货确认 Confirm tally", "approve_list": "清单审核通过 List approved",
    "return_list": "清单退单 List returned", "correct_list": "修改清单 Correct the list",
    "release": "核放单审批 Release approved", "bind_vehicle": "车单关联 Associate a vehicle",
    "enter": "过卡 Pass the gate",
}
BY_NAMES = {"customs": "海关 customs", "gate": "卡口 gate", "operator": "operator",
            "supervisor": "supervisor"}


@bp.app_template_filter("status_name")
def status_name(status: str) -> str:
    return STATUS_NAMES.get(status, status)


@bp.app_template_filter("action_name")
def action_name(action: str) -> str:
    return ACTION_NAMES.get(action, action)


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
    return render_template("consignment.html", state=state, steps=steps, by_names=BY_NAMES,
                           manifest=manifests.load_head(db, manifest_id))
