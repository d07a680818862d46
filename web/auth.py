"""Bearer-token authentication for the API and the role each endpoint needs."""

import functools

from flask import g, request

from tally.users import authenticate, require_role
from web.db import get_db


def load_user() -> None:
    """before_request of every API blueprint: a valid token or 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    g.user = authenticate(get_db(), token.strip() if scheme.lower() == "bearer" else None)


def requires(role: str):
    """Decorator: the signed-in user needs at least ``role``, else 403."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            require_role(g.user, role)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def user_id() -> int:
    return g.user["id"]
