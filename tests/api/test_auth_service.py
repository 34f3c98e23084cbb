"""The auth service on both engines: users, sessions, tokens, rate limiting, audit, expiry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import FAST_HASHER
from wardwatch.auth.model import Role
from wardwatch.auth.service import (
    MAX_FAILURES_PER_NAME,
    SESSION_NS,
    WINDOW_NS,
    AuthError,
    AuthService,
    LoginRefused,
    RateLimited,
)
from wardwatch.store.sql import open_store


class Clock:
    """A settable clock (nanoseconds)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000 * 1_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[AuthService, Clock]]:
    """An auth service on an empty, migrated database of each engine."""
    url = (
        f"sqlite:///{tmp_path / 'auth.sqlite'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    store = open_store(url)
    if request.param == "postgres":
        from sqlalchemy import delete

        from wardwatch.store import schema_web

        with store.transaction() as tx:  # the PostgreSQL database is shared by the module
            for table in (schema_web.audit_entry, schema_web.login_attempt, schema_web.api_token):
                tx.conn.execute(delete(table))
            tx.conn.execute(delete(schema_web.web_session))
            tx.conn.execute(delete(schema_web.web_user))
    clock = Clock()
    yield AuthService(store, hasher=FAST_HASHER, clock=clock), clock
    store.close()


def test_users_and_sessions(service: tuple[AuthService, Clock]) -> None:
    auth, clock = service
    auth.add_user(name="ana", password="long enough pw", role=Role.ANALYST, actor="cli:root")
    assert [(u.name, u.role) for u in auth.users()] == [("ana", Role.ANALYST)]
    with pytest.raises(AuthError, match="already exists"):
        auth.add_user(name="ana", password="long enough pw", role="viewer", actor="cli:root")
    with pytest.raises(AuthError, match="invalid user name"):
        auth.add_user(name="a b", password="long enough pw", role="viewer", actor="cli:root")
    cookie, session = auth.login(name="ana", password="long enough pw", client="10.0.0.1")
    assert auth.session(cookie) == session and session.user.name == "ana" and len(session.csrf_token) >= 40
    assert auth.session("not-a-cookie") is None
    clock.now += SESSION_NS + 1
    assert auth.session(cookie) is None  # expired
    cookie, _ = auth.login(name="ana", password="long enough pw", client="10.0.0.1")
    auth.set_disabled(name="ana", disabled=True, actor="admin")
    assert auth.session(cookie) is None
    with pytest.raises(LoginRefused):
        auth.login(name="ana", password="long enough pw", client="10.0.0.1")


def test_rate_limit_window(service: tuple[AuthService, Clock]) -> None:
    auth, clock = service
    auth.add_user(name="bob", password="long enough pw", role="viewer", actor="t")
    for _ in range(MAX_FAILURES_PER_NAME):
        with pytest.raises(LoginRefused):
            auth.login(name="bob", password="nope nope nope", client="10.0.0.2")
    with pytest.raises(RateLimited):
        auth.login(name="bob", password="long enough pw", client="10.0.0.3")
    clock.now += WINDOW_NS + 1
    auth.login(name="bob", password="long enough pw", client="10.0.0.3")
    entries, total = auth.audit_entries(actor="bob", action="login.")
    assert total == MAX_FAILURES_PER_NAME + 2
    assert [e.action for e in entries][:2] == ["login.success", "login.rate_limited"]


def test_unknown_user_and_tokens(service: tuple[AuthService, Clock]) -> None:
    auth, _ = service
    with pytest.raises(LoginRefused):
        auth.login(name="ghost", password="whatever whatever", client="c")
    auth.add_user(name="bot", password="long enough pw", role="viewer", actor="t")
    secret, record = auth.create_token(user_name="bot", name="siem", actor="t")
    user = auth.token_user(secret)
    assert user is not None and user.name == "bot"
    assert auth.token_user(secret + "x") is None and auth.token_user("garbage") is None
    assert auth.tokens()[0].last_used_ns is not None
    auth.revoke_token(token_id=record.id, actor="t")
    auth.revoke_token(token_id=record.id, actor="t")  # idempotent
    assert auth.token_user(secret) is None
    with pytest.raises(AuthError):
        auth.revoke_token(token_id=record.id + 100, actor="t")
    actions = [e.action for e in auth.audit_entries()[0]]
    assert actions.count("token.revoke") == 2 and "token.create" in actions and "user.add" in actions
