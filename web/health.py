"""``GET /healthz``: liveness for load balancers and test harnesses (no token needed)."""

from flask import Blueprint

from tally.db import ping
from web.db import get_db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def health():
    ping(get_db())
    return {"ok": True}
