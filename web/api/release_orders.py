"""Release orders (核放单), vehicle-order association (车单关联) and the gate (卡口)."""

from decimal import Decimal

from flask import current_app

from tally import gate, release_orders
from tally.catalogue import joined, say
from tally.config import site_settings
from web.api import api_blueprint, json_body
from web.auth import requires, user_id
from web.db import get_db
from web.errors import error_response

bp = api_blueprint("release_orders")


@bp.post("/release-orders")
@requires("supervisor")
def create():
    order = release_orders.create_release_order(get_db(), json_body(), user_id=user_id(),
                                                settings=site_settings(current_app.config))
    return order, 201


@bp.get("/release-orders")
def index():
    return {"release_orders": release_orders.list_release_orders(get_db())}


@bp.get("/release-orders/<number>")
def show(number):
    return release_orders.get_release_order(get_db(), number)


@bp.post("/release-orders/<number>/vehicle")
@requires("supervisor")
def vehicle(number):
    return release_orders.associate_vehicle(get_db(), number, json_body(), user_id=user_id(),
                                            settings=site_settings(current_app.config))


@bp.post("/gate/passes")
@requires("operator")
def gate_pass():
    decision = gate.record_gate_pass(get_db(), json_body(), user_id=user_id(),
                                     tolerance_kg=Decimal(str(current_app.config[
                                         "GATE_TOLERANCE_KG"])))
    if decision["outcome"] == "pass":
        return decision, 201
    # A refusal is logged (the gate log), and answered in the error shape with every reason.
    reasons = decision["reasons"]
    return error_response(409, say("gate_refused", reasons=joined(reasons)),
                          [{"message": r} for r in reasons], **decision)


@bp.get("/gate/passes")
def gate_log():
    return {"passes": gate.gate_log(get_db())}
