"""The consignment's workflow, write-off and inventory list (first-line transfer declaration)."""

from flask import Response

from tally import declaration, inspections, manifests, release_orders, workflow, writeoff
from tally.catalogue import coded
from tally.customs.message_xml import render_xml
from tally.events import list_events
from web.api import api_blueprint, json_body
from web.auth import requires, user_id
from web.customs import customs_client
from web.db import get_db

bp = api_blueprint("clearance")


@bp.get("/manifests/<int:manifest_id>/workflow")
def show_workflow(manifest_id):
    return workflow_state(get_db(), manifest_id)


def workflow_state(db, manifest_id: int) -> dict:
    """Status, history and what blocks the next step, for the consignment page."""
    head = manifests.load_head(db, manifest_id)
    history = [
        {"at": e["created_at"], "user": e["user"] or "customs/system", "action":
         e["details"].get("action"), "from": e["details"].get("source"),
         "to": e["details"].get("target")}
        for e in list_events(db, manifest_id, limit=10_000)
        if e["name"].startswith("status-") and e["details"].get("target") in
        {s.value for s in workflow.Status}
    ]
    orders = release_orders.list_release_orders(db, manifest_id)
    return {
        "manifest_id": manifest_id, "manifest_no": head["manifest_no"],
        "status": head["status"], "history": history,
        # Each unmet condition with its code and Chinese text, as the error shape gives them.
        "next_actions": [{**action, "unmet": [coded(c) for c in action["unmet"]]}
                         for action in workflow.next_actions(db, manifest_id)],
        "inspection": inspections.latest_inspection(db, manifest_id),
        "write_off": writeoff.get_write_off(db, manifest_id),
        "remaining": release_orders.remaining_quantities(db, manifest_id),
        "release_orders": orders,
    }


@bp.post("/manifests/<int:manifest_id>/write-off")
@requires("supervisor")
def write_off(manifest_id):
    return writeoff.write_off(get_db(), manifest_id, json_body(), client=customs_client(),
                              user_id=user_id())


@bp.get("/manifests/<int:manifest_id>/inventory")
def inventory(manifest_id):
    return declaration.latest_list(get_db(), manifest_id)


@bp.get("/manifests/<int:manifest_id>/inventory.xml")
def inventory_xml(manifest_id):
    latest = declaration.latest_list(get_db(), manifest_id)
    xml = render_xml("INV101", latest["payload"],
                     message_id=f"INV101-{manifest_id}-{latest['version']}",
                     send_time=latest["created_at"])
    return Response(xml, mimetype="application/xml")


@bp.post("/manifests/<int:manifest_id>/inventory/correction")
@requires("supervisor")
def correct(manifest_id):
    return declaration.correct_list(get_db(), manifest_id, json_body(), user_id=user_id()), 201
