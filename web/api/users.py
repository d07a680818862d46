"""Users and tokens (admin only)."""

from tally.users import create_user_token
from web.api import api_blueprint, json_body
from web.auth import requires, user_id
from web.db import get_db

bp = api_blueprint("users")


@bp.post("/users")
@requires("admin")
def create():
    body = json_body()
    body = body if isinstance(body, dict) else {}
    token = create_user_token(get_db(), body.get("name"), body.get("role"), by_user_id=user_id())
    return {"name": body["name"].strip(), "role": body["role"], "token": token}, 201
