"""What a scanned code is (``GET /api/codes?code=...&manifest=N``): the scan page asks before it
records anything that is not a unit label. Nothing is recorded here."""

from flask import current_app

from tally import codes
from tally.catalogue import say
from tally.config import expiry_check
from tally.fields import Fields
from web.api import api_blueprint, arg, int_arg
from web.db import get_db

bp = api_blueprint("codes")
MAX_CODE = 128  # as a scan's code (tally/scans.py)


@bp.get("/codes")
def lookup():
    fields = Fields()
    code = fields.text(arg("code"), "code", max_length=MAX_CODE, controls="\x1d",
                       hint=say("code_form"))
    fields.raise_if_any(say("code_required"))
    today, warning_days = expiry_check(current_app.config)
    return codes.resolve(get_db(), code, manifest_id=int_arg("manifest"), today=today,
                         warning_days=warning_days)

