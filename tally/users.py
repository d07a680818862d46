"""Users, roles and bearer tokens."""

import hashlib
import hmac
import secrets

from sqlite_utils import Database

from tally.db import now, write
from tally.errors import AuthenticationError, PermissionDenied, ValidationError
from tally.events import record_event

# Each role includes the rights of the roles before it.
ROLES = ("operator", "supervisor", "admin")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user_token(db: Database, name: str, role: str, *, by_user_id: int | None = None) -> str:
    """Create the user if new (or check its role), issue a new bearer token and return it.

    Only the token's hash is stored: a stolen database does not yield working tokens.
    """
    name = (name or "").strip()
    if not name:
        raise ValidationError("user name is required", [{"field": "user", "message": "required"}])
    if role not in ROLES:
        raise ValidationError(
            f"role must be one of {', '.join(ROLES)}",
            [{"field": "role", "message": f"unknown role {role!r}"}],
        )
    token = "tly_" + secrets.token_urlsafe(24)
    with write(db):
        row = next(iter(db.query("SELECT id, role FROM users WHERE name = ?", [name])), None)
        if row is None:
            user_id = db.execute(
                "INSERT INTO users (name, role, created_at) VALUES (?, ?, ?)", [name, role, now()]
            ).lastrowid
        else:
            user_id = row["id"]
            if row["role"] != role:
                db.execute("UPDATE users SET role = ? WHERE id = ?", [role, user_id])
        db.execute(
            "INSERT INTO tokens (user_id, token_hash, created_at) VALUES (?, ?, ?)",
            [user_id, _hash(token), now()],
        )
        record_event(db, "token-created", user_id=by_user_id, user=name, role=role)
    return token


def authenticate(db: Database, token: str | None) -> dict:
    """Return ``{"id", "name", "role"}`` of the token's user; AuthenticationError otherwise."""
    if not token:
        raise AuthenticationError("a bearer token is required (Authorization: Bearer <token>)")
    row = db.conn.execute(
        "SELECT u.id, u.name, u.role FROM tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_hash = ? AND t.revoked_at IS NULL",
        [_hash(token)],
    ).fetchone()
    if row is None:
        raise AuthenticationError("unknown or revoked token")
    return {"id": row[0], "name": row[1], "role": row[2]}


def has_role(user: dict, role: str) -> bool:
    """True when the user's role is ``role`` or above."""
    return ROLES.index(user["role"]) >= ROLES.index(role)


def require_role(user: dict, role: str) -> None:
    """PermissionDenied unless the user's role is ``role`` or above."""
    if not has_role(user, role):
        raise PermissionDenied(
            f"this needs the {role} role; {user['name']} is {user['role']}", required_role=role
        )


# scrypt parameters (RFC 7914 interactive use): ~50 ms per check on this machine class.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, maxmem=64 * 1024 * 1024, **_SCRYPT)


def set_password(db: Database, name: str, password: str, *, by_user_id: int | None = None) -> None:
    """Set a user's password for signing in on the pages (at least 8 characters)."""
    if not isinstance(password, str) or len(password) < 8:
        raise ValidationError("a password has at least 8 characters",
                              [{"field": "password", "message": "at least 8 characters"}])
    salt = secrets.token_bytes(16)
    stored = f"scrypt${salt.hex()}${_scrypt(password, salt).hex()}"
    with write(db):
        row = db.execute("SELECT id FROM users WHERE name = ?", [name]).fetchone()
        if row is None:
            raise ValidationError(f"no user {name!r}", [{"field": "user", "message": "unknown"}])
        db.execute("UPDATE users SET password_hash = ? WHERE id = ?", [stored, row[0]])
        record_event(db, "password-set", user_id=by_user_id, user=name)


def authenticate_password(db: Database, name: str, password: str) -> dict:
    """The user for a name and password; AuthenticationError otherwise (same message either way,
    so a failed sign-in does not tell which user names exist)."""
    row = db.execute("SELECT id, name, role, password_hash FROM users WHERE name = ?",
                     [name or ""]).fetchone()
    stored = row[3] if row else None
    if not stored or not isinstance(password, str):
        _scrypt("not a password", b"0" * 16)  # the same time as a real check
        raise AuthenticationError("unknown user or wrong password")
    _, salt, digest = stored.split("$")
    if not hmac.compare_digest(_scrypt(password, bytes.fromhex(salt)).hex(), digest):
        raise AuthenticationError("unknown user or wrong password")
    return {"id": row[0], "name": row[1], "role": row[2]}


def get_user(db: Database, user_id: int) -> dict | None:
    """A user by id, or None."""
    row = db.execute("SELECT id, name, role FROM users WHERE id = ?", [user_id]).fetchone()
    return {"id": row[0], "name": row[1], "role": row[2]} if row else None
