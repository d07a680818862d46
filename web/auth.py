"""Who is calling: a bearer token (API clients, scanners) or the signed-in session (the pages),
and the role each endpoint needs.

A session-authenticated request that changes something must carry the session's CSRF token in
the ``X-CSRF-Token`` header (the pages' fetch wrapper sends it), so another site cannot make a
signed-in browser post scans or confirm a tally.

A session is a row in the database (tally/users.py): the signed cookie carries its random id, and
every request that uses the session checks the row, so that signing out ends the session for any
copy of the cookie too.
"""

import functools
import hmac
import secrets

from flask import current_app, g, request, session
from sqlite_utils import Database

from tally.catalogue import say
from tally.errors import AuthenticationError, PermissionDenied
from tally.users import (
    authenticate,
    end_session,
    is_trusted,
    require_role,
    session_owner,
    start_session,
)
from web.db import get_db

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Where the front door (web/front.py) leaves the API caller it identified, for the endpoints.
USER_KEY = "tally.user"
# The key of the session id in the signed session cookie.
SESSION_ID = "sid"


def identify(db: Database, environ: dict, session: dict) -> dict:
    """The API caller: a valid bearer token, or the signed-in session (with the CSRF header on a
    request that changes something); else AuthenticationError (401) or PermissionDenied (403)."""
    if environ.get("HTTP_AUTHORIZATION") or SESSION_ID not in session:
        return authenticate(db, bearer_token(environ))
    user = session_owner(db, session[SESSION_ID])
    if user is None:
        raise AuthenticationError(say("session_ended"))
    if environ["REQUEST_METHOD"] not in SAFE_METHODS and not hmac.compare_digest(
            environ.get("HTTP_X_CSRF_TOKEN", ""), session.get("csrf", "")):
        raise PermissionDenied(say("csrf_failed"))
    return user


def identified_at_once(environ: dict) -> bool:
    """Whether ``identify`` would answer without the database: a bearer token trusted now.
    Otherwise the front door identifies the caller in a thread, never on the event loop, which
    a database slow to answer would stall for every request of its worker."""
    return is_trusted(bearer_token(environ))


def bearer_token(environ: dict) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def load_user() -> None:
    """before_request of every API blueprint: the caller the front door identified."""
    g.user = request.environ[USER_KEY]


def sign_in(user: dict) -> None:
    """Start a session for the user: a new session id and a fresh CSRF token each time."""
    session.clear()
    session[SESSION_ID] = start_session(get_db(), user,
                                        lifetime=current_app.permanent_session_lifetime,
                                        address=request.remote_addr)
    session["csrf"] = secrets.token_urlsafe(24)
    session.permanent = True


def sign_out() -> None:
    """End the session in the database (any copy of its cookie is refused), then the cookie."""
    end_session(get_db(), session.get(SESSION_ID), address=request.remote_addr)
    session.clear()


def session_user() -> dict | None:
    """The signed-in user of the pages, or None (a cookie of an ended session is dropped)."""
    if SESSION_ID not in session:
        return None
    user = session_owner(get_db(), session[SESSION_ID])
    if user is None:
        session.clear()
    return user


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
