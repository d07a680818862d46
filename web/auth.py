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
from sqlite_utils import Database

from tally.errors import AuthenticationError, PermissionDenied
from tally.users import authenticate, get_user, require_role
from web.db import get_db

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Where the front door (web/front.py) leaves the API caller it identified, for the endpoints.
USER_KEY = "tally.user"


def identify(db: Database, environ: dict, session: dict) -> dict:
    """The API caller: a valid bearer token, or the signed-in session (with the CSRF header on a
    request that changes something); else AuthenticationError (401) or PermissionDenied (403)."""
    header = environ.get("HTTP_AUTHORIZATION", "")
    if header or "user_id" not in session:
        scheme, _, token = header.partition(" ")
        return authenticate(db, token.strip() if scheme.lower() == "bearer" else None)
    user = get_user(db, session["user_id"])
    if user is None:
        raise AuthenticationError("the session's user no longer exists; sign in again")
    if environ["REQUEST_METHOD"] not in SAFE_METHODS and not hmac.compare_digest(
            environ.get("HTTP_X_CSRF_TOKEN", ""), session.get("csrf", "")):
        raise PermissionDenied("missing or wrong X-CSRF-Token header for a signed-in session")
    return user


def load_user() -> None:
    """before_request of every API blueprint: the caller the front door identified."""
    g.user = request.environ[USER_KEY]


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
