"""Users, roles and bearer tokens; the pages' sessions and the throttling of failed sign-ins."""

import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from tally.catalogue import Text, say
from tally.db import now, write
from tally.errors import AuthenticationError, PermissionDenied, TooManyRequests, ValidationError
from tally.events import record_event

# Each role includes the rights of the roles before it.
ROLES = ("operator", "supervisor", "admin")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user_token(db: Database, name: str, role: str, *, by_user_id: int | None = None) -> str:
    """Create the user if new (or check its role), issue a new bearer token and return it.

    Only the token's hash is stored: a stolen database does not yield working tokens.
    """
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        raise ValidationError(say("user_name_required"),
                              [{"field": "user", "message": say("required")}])
    if role not in ROLES:
        raise ValidationError(
            say("role_unknown", roles=", ".join(ROLES)),
            [{"field": "role", "message": say("role_unknown_item", role=role)}],
        )
    token = "tly_" + secrets.token_urlsafe(24)
    with write(db):
        row = next(iter(db.query("SELECT id, role FROM users WHERE name = ?", [name])), None)
        if row is None:
            user_id = db.execute(
                "INSERT INTO users (name, role, created_at) VALUES (?, ?, ?) RETURNING id",
                [name, role, now()]
            ).fetchone()[0]
        else:
            user_id = row["id"]
            if row["role"] != role:
                db.execute("UPDATE users SET role = ? WHERE id = ?", [role, user_id])
                _forget(user_id)
        db.execute(
            "INSERT INTO tokens (user_id, token_hash, created_at) VALUES (?, ?, ?)",
            [user_id, _hash(token), now()],
        )
        record_event(db, "token-created", user_id=by_user_id, user=name, role=role)
    return token


# A token's user, once read, stands for this many seconds: a scanner sends a request a scan, and
# on PostgreSQL each read is a round trip. A token revoked or a role changed in the database
# applies within this time; a change made through this process applies at once.
TOKEN_TRUST_S = 2.0
_trusted: dict[str, tuple[float, dict]] = {}  # token hash: (read at, user); valid tokens only


def revoke_user_tokens(db: Database, name: str, *, by_user_id: int | None = None) -> int:
    """Revoke every token of the user ``name`` (a handheld lost); how many were in use. This
    process refuses them at once, the servers within TOKEN_TRUST_S."""
    with write(db):
        user_id = _user_id(db, name)
        revoked = db.execute(
            "UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            [now(), user_id]).rowcount
        record_event(db, "tokens-revoked", user_id=by_user_id, user=name, tokens=revoked)
    _forget(user_id)
    return revoked


def _user_id(db: Database, name: str) -> int:
    """The id of the user ``name``; ValidationError when there is none."""
    row = db.execute("SELECT id FROM users WHERE name = ?", [name]).fetchone()
    if row is None:
        raise ValidationError(say("user_unknown", name=name),
                              [{"field": "user", "message": say("unknown")}])
    return row[0]


def _forget(user_id: int) -> None:
    """Drop what this process trusts of the user's tokens."""
    for key in [k for k, (_, user) in _trusted.items() if user["id"] == user_id]:
        _trusted.pop(key, None)


def is_trusted(token: str | None) -> bool:
    """Whether ``authenticate`` would answer for this token without reading the database."""
    return bool(token) and _trusted_user(_hash(token)) is not None


def _trusted_user(key: str) -> dict | None:
    """The user of the token hashed to ``key``, if read within TOKEN_TRUST_S."""
    trusted = _trusted.get(key)
    if trusted is None or time.monotonic() - trusted[0] >= TOKEN_TRUST_S:
        return None
    return trusted[1]


def authenticate(db: Database, token: str | None) -> dict:
    """Return ``{"id", "name", "role"}`` of the token's user; AuthenticationError otherwise."""
    if not token:
        raise AuthenticationError(say("token_required"))
    key = _hash(token)
    trusted = _trusted_user(key)
    if trusted is not None:
        return dict(trusted)
    row = db.conn.execute(
        "SELECT u.id, u.name, u.role FROM tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_hash = ? AND t.revoked_at IS NULL",
        [key],
    ).fetchone()
    if row is None:
        _trusted.pop(key, None)
        raise AuthenticationError(say("token_unknown"))
    user = {"id": row[0], "name": row[1], "role": row[2]}
    _trusted[key] = (time.monotonic(), user)
    return dict(user)


def has_role(user: dict, role: str) -> bool:
    """True when the user's role is ``role`` or above."""
    return ROLES.index(user["role"]) >= ROLES.index(role)


def require_role(user: dict, role: str) -> None:
    """PermissionDenied unless the user's role is ``role`` or above."""
    if not has_role(user, role):
        raise PermissionDenied(
            say("role_required", role=role, user=user["name"], user_role=user["role"]),
            required_role=role,
        )


# scrypt parameters (RFC 7914 interactive use): ~50 ms per check on this machine class.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, maxmem=64 * 1024 * 1024, **_SCRYPT)


def set_password(db: Database, name: str, password: str, *, by_user_id: int | None = None) -> None:
    """Set a user's password for signing in on the pages (at least 8 characters)."""
    if not isinstance(password, str) or len(password) < 8:
        raise ValidationError(say("password_too_short"),
                              [{"field": "password", "message": say("at_least_8")}])
    salt = secrets.token_bytes(16)
    stored = f"scrypt${salt.hex()}${_scrypt(password, salt).hex()}"
    with write(db):
        user_id = _user_id(db, name)
        db.execute("UPDATE users SET password_hash = ? WHERE id = ?", [stored, user_id])
        # Whoever was signed in with the old password is signed out everywhere.
        ended = db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id]).rowcount
        record_event(db, "password-set", user_id=by_user_id, user=name, sessions_ended=ended)


def authenticate_password(db: Database, name: str, password: str) -> dict:
    """The user for a name and password; AuthenticationError otherwise (same message either way,
    so a failed sign-in does not tell which user names exist)."""
    row = db.execute("SELECT id, name, role, password_hash FROM users WHERE name = ?",
                     [name or ""]).fetchone()
    stored = row[3] if row else None
    if not stored or not isinstance(password, str):
        _scrypt("not a password", b"0" * 16)  # the same time as a real check
        raise AuthenticationError(say("sign_in_failed"))
    _, salt, digest = stored.split("$")
    if not hmac.compare_digest(_scrypt(password, bytes.fromhex(salt)).hex(), digest):
        raise AuthenticationError(say("sign_in_failed"))
    return {"id": row[0], "name": row[1], "role": row[2]}


def get_user(db: Database, user_id: int) -> dict | None:
    """A user by id, or None."""
    row = db.execute("SELECT id, name, role FROM users WHERE id = ?", [user_id]).fetchone()
    return {"id": row[0], "name": row[1], "role": row[2]} if row else None


# --- sessions of the pages ------------------------------------------------------------------


def start_session(db: Database, user: dict, *, lifetime: timedelta, address: str | None = None
                  ) -> str:
    """Start a session for the user, ending ``lifetime`` from now; return its id (for the
    session cookie). Only the id's hash is stored: a copy of the database opens no session."""
    sid = secrets.token_urlsafe(32)
    started = datetime.now(UTC)
    with write(db):
        db.execute("DELETE FROM sessions WHERE expires_at <= ?", [_iso(started)])
        db.execute(
            "INSERT INTO sessions (user_id, sid_hash, created_at, expires_at) VALUES (?, ?, ?, ?)",
            [user["id"], _hash(sid), _iso(started), _iso(started + lifetime)],
        )
        record_event(db, "signed-in", user_id=user["id"], user=user["name"], address=address)
    return sid


def session_owner(db: Database, sid: str | None) -> dict | None:
    """The user of a live session (neither ended nor expired), or None."""
    if not sid or not isinstance(sid, str):
        return None
    row = db.conn.execute(
        "SELECT u.id, u.name, u.role FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.sid_hash = ? AND s.expires_at > ?",
        [_hash(sid), now()],
    ).fetchone()
    return {"id": row[0], "name": row[1], "role": row[2]} if row else None


def end_session(db: Database, sid: str | None, *, address: str | None = None) -> None:
    """End a session (signing out): its cookie, or any copy of it, opens nothing afterwards."""
    if not sid or not isinstance(sid, str):
        return
    with write(db):
        row = db.execute("SELECT user_id FROM sessions WHERE sid_hash = ?",
                         [_hash(sid)]).fetchone()
        if row is not None:
            db.execute("DELETE FROM sessions WHERE sid_hash = ?", [_hash(sid)])
            record_event(db, "signed-out", user_id=row[0], address=address)


# --- signing in, throttled ------------------------------------------------------------------


@dataclass(frozen=True)
class SignInLimits:
    """Failed sign-ins allowed within ``window`` seconds, per user name and per client address."""

    per_name: int = 10
    per_address: int = 50
    window: float = 900.0


def sign_in(db: Database, *, address: str, limits: SignInLimits, name: str | None = None,
            password: str | None = None, token: str | None = None) -> dict:
    """The user signing in on the pages with a name and password, or with an API token.

    Every failure is recorded in the audit log (``sign-in-failed``: the user name tried, the
    address and why, never the password or token) and counted; past ``limits`` for the name or
    the address the attempt is refused with TooManyRequests (``retry_after`` seconds) without
    checking anything.
    The attempt is counted before the password is checked, so parallel tries cannot overrun the
    limits; a successful one is then forgotten, with the earlier failures of its user name.
    """
    method = "token" if token else "password"
    tried = None if token else (name or "")
    moment = datetime.now(UTC)
    with write(db):
        db.execute("DELETE FROM sign_in_failures WHERE created_at <= ?",
                   [_iso(moment - timedelta(seconds=limits.window))])
        wait = _retry_after(db, tried, address, limits, moment)
        if wait:
            _failed(db, tried, address, method, "throttled")
        else:
            attempt = db.execute(
                "INSERT INTO sign_in_failures (name, address, created_at) VALUES (?, ?, ?)"
                " RETURNING id",
                [tried, address, _iso(moment)],
            ).fetchone()[0]
    if wait:
        raise TooManyRequests(
            say("sign_in_throttled", wait=_duration(wait)), retry_after=wait)
    try:
        user = authenticate(db, token) if token else authenticate_password(db, tried, password)
    except AuthenticationError as exc:
        with write(db):
            _failed(db, tried, address, method, exc.message)
        raise
    with write(db):
        db.execute("DELETE FROM sign_in_failures WHERE id = ?", [attempt])
        if tried is not None:
            db.execute("DELETE FROM sign_in_failures WHERE name = ?", [tried])
    return user


def _retry_after(db: Database, name: str | None, address: str, limits: SignInLimits,
                 moment: datetime) -> int:
    """Seconds until a sign-in for the name from the address is allowed again (0: now)."""
    cutoff, waits = _iso(moment - timedelta(seconds=limits.window)), [0.0]
    for column, value, limit in (("name", name, limits.per_name),
                                 ("address", address, limits.per_address)):
        if value is None:
            continue
        # The limit-th most recent failure: once it is out of the window, one more is allowed.
        row = db.execute(
            f"SELECT created_at FROM sign_in_failures WHERE {column} = ? AND created_at > ?"
            " ORDER BY created_at DESC LIMIT 1 OFFSET ?",
            [value, cutoff, max(limit, 1) - 1],
        ).fetchone()
        if row is not None:
            ages_out = datetime.fromisoformat(row[0]) + timedelta(seconds=limits.window)
            waits.append((ages_out - moment).total_seconds())
    return math.ceil(max(waits)) if max(waits) > 0 else 0


def _failed(db: Database, name: str | None, address: str, method: str, reason: str) -> None:
    record_event(db, "sign-in-failed", user_id=None, user=name, address=address, method=method,
                 reason=reason)


def _duration(seconds: int) -> Text:
    minutes = math.ceil(seconds / 60)
    return (say("seconds", count=seconds) if seconds < 60 else
            say("minutes" if minutes > 1 else "minute", count=minutes))


def _iso(moment: datetime) -> str:
    """A time in the stored format (tally.db.now)."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
