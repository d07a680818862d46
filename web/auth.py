"""Who is calling: a bearer token (API clients, scanners) or the signed-in session (the pages),
and the role each endpoint needs.

A session-authenticated request that changes something must carry the session's CSRF token in
the ``X-CSRF-Token`` header (the pages' fetch wrapper sends it), so another site cannot make a
signed-in browser post scans or confirm a tally.
"""

import functools
import hmac
import secrets

from flask import g, request, session

from tally.errors import AuthenticationError, PermissionDenied
from tally.users import authenticate, get_user, require_role
from web.db import get_db

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def load_user() -> None:
    """before_request of every API blueprint: a valid token or session, else 401."""
    header = request.headers.get("Authorization", "")
    if header or "user_id" not in session:
        scheme, _, token = header.partition(" ")
        g.user = authenticate(get_db(), token.strip() if scheme.lower() == "bearer" else None)
        return
    user = get_user(get_db(), session["user_id"])
    if user is None:
        session.clear()
        raise AuthenticationError("the session's user no longer exists; sign in again")
    if request.method not in SAFE_METHODS and not hmac.compare_digest(
            request.headers.get("X-CSRF-Token", ""), session.get("csrf", "")):
        raise PermissionDenied("missing or wrong X-CSRF-Token header for a signed-in session")
    g.user = user


def sign_in(user: dict) -> None:
    """Start a session for the user (a fresh CSRF token each time)."""
    session.clear()
    session["user_id"] = user["id"]
    session["csrf"] = secrets.token_urlsafe(24)
    session.permanent = True


def session_user() -> dict | None:
    """The signed-in user of the pages, or None."""
    if "user_id" not in session:
        return None
    return get_user(get_db(), session["user_id"])


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
