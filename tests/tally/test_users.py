"""Bearer tokens: a token's user is read once and trusted for a moment (tally/users.py)."""

import pytest

from tally import users
from tally.errors import AuthenticationError


def test_a_token_read_is_trusted_for_a_moment_then_read_again(db, monkeypatch):
    token = users.create_user_token(db, "scanner-1", "operator")
    assert users.authenticate(db, token)["role"] == "operator"
    # Revoked in the database by another process: this one trusts what it read, briefly.
    db.execute("UPDATE tokens SET revoked_at = '2026-12-03T00:00:00Z'")
    assert users.authenticate(db, token)["name"] == "scanner-1"
    monkeypatch.setattr(users, "TOKEN_TRUST_S", 0.0)
    with pytest.raises(AuthenticationError):
        users.authenticate(db, token)
    monkeypatch.setattr(users, "TOKEN_TRUST_S", 60.0)
    with pytest.raises(AuthenticationError):  # a refusal is not remembered as a user
        users.authenticate(db, token)


def test_a_role_changed_through_this_process_applies_at_once(db):
    token = users.create_user_token(db, "lead", "operator")
    assert users.authenticate(db, token)["role"] == "operator"
    users.create_user_token(db, "lead", "supervisor")
    assert users.authenticate(db, token)["role"] == "supervisor"


def test_a_caller_changing_the_answer_does_not_change_what_is_trusted(db):
    token = users.create_user_token(db, "scanner-2", "operator")
    users.authenticate(db, token)["role"] = "admin"
    assert users.authenticate(db, token)["role"] == "operator"


def test_a_token_is_trusted_only_once_read_and_only_for_the_moment(db, monkeypatch):
    token = users.create_user_token(db, "scanner-3", "operator")
    assert not users.is_trusted(token)
    assert not users.is_trusted(None)
    users.authenticate(db, token)
    assert users.is_trusted(token)
    monkeypatch.setattr(users, "TOKEN_TRUST_S", 0.0)
    assert not users.is_trusted(token)


def test_tokens_revoked_through_this_process_are_refused_at_once(db):
    token = users.create_user_token(db, "handheld-7", "operator")
    users.authenticate(db, token)
    assert users.revoke_user_tokens(db, "handheld-7") == 1
    with pytest.raises(AuthenticationError):
        users.authenticate(db, token)
    assert users.revoke_user_tokens(db, "handheld-7") == 0  # none left in use
    events = db.execute("SELECT name, details FROM events WHERE name = 'tokens-revoked'"
                        " ORDER BY id").fetchall()
    assert [e[0] for e in events] == ["tokens-revoked", "tokens-revoked"]
    assert '"tokens": 1' in events[0][1]
