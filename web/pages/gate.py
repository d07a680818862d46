"""The gate page (卡口) at the station desk or the gate booth: vehicle-order association
(车单关联), the gate pass (过卡) with the weighbridge reading, and the gate log."""

from flask import current_app, g, render_template

from tally.users import has_role
from web.pages import page_blueprint, signed_in

bp = page_blueprint("gate_pages")


@bp.get("/gate")
@signed_in
def gate():
    page = {
        # The API decides (vehicle association: supervisor; gate pass: operator); the page only
        # leaves out the forms the user cannot use.
        "can_bind": has_role(g.user, "supervisor"),
        "can_pass": has_role(g.user, "operator"),
        "tolerance_kg": float(current_app.config["GATE_TOLERANCE_KG"]),
    }
    return render_template("gate.html", page=page)
