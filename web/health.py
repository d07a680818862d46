"""``GET /healthz``: liveness for load balancers and test harnesses (no token needed)."""

from flask import Blueprint

from web.db import get_db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def health():
    get_db().execute("SELECT 1").fetchone()
    return {"ok": True}
