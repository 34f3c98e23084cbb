"""The authentication use cases: users, logins (rate-limited), sessions, API tokens, the audit log.

Every change is written to the audit log in the same transaction as the change itself, so the
log can neither miss a change nor record one that was rolled back. Refused attempts (a wrong
password, a rate-limited login) are logged too, with ``status`` 1.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from wardwatch.auth.model import ApiToken, AuditEntry, Role, Session, User
from wardwatch.store.schema_web import api_token, audit_entry, login_attempt, web_session, web_user
from wardwatch.store.sql import SqlStore

#: Failed logins allowed per user name, and per client address, inside :data:`WINDOW_NS`.
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_CLIENT = 20
WINDOW_NS = 15 * 60 * 1_000_000_000
#: A session lasts this long from login (no sliding renewal: a stolen cookie expires).
SESSION_NS = 12 * 3600 * 1_000_000_000
#: ``last_used`` of an API token is written at most this often (each write is a transaction).
TOKEN_TOUCH_NS = 60 * 1_000_000_000
MIN_PASSWORD = 10
TOKEN_PREFIX = "ww_"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class AuthError(ValueError):
    """A request the service refuses; the message is one line, fit to show the user."""


class LoginRefused(AuthError):
    """Wrong name or password, or a disabled account (the message does not say which)."""


class RateLimited(AuthError):
    """Too many failed logins for this name or client; try again later."""


def digest(secret: str) -> str:
    """The SHA-256 hex digest stored in place of a session or API token (both are 256-bit random,
    so a fast hash is enough: there is nothing to brute-force)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _user(r: Any) -> User:
    return User(
        id=int(r.id), name=r.name, role=Role(r.role), disabled=bool(r.disabled), created_ns=r.created_ns
    )


class AuthService:
    """Users, sessions, tokens and the audit log in one :class:`SqlStore`.

    ``hasher`` defaults to argon2id with the library's recommended cost; tests pass a cheaper
    one. ``clock`` returns nanoseconds since the epoch.
    """

    def __init__(
        self,
        store: SqlStore,
        *,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.store = store
        self.hasher = hasher or PasswordHasher()
        self.clock = clock
        # Verified against when the user does not exist, so both cases cost the same time.
        self._dummy_hash = self.hasher.hash(secrets.token_hex(16))

    # ------------------------------------------------------------------ audit

    def record(
        self,
        conn: Connection,
        *,
        actor: str,
        action: str,
        target: str = "",
        detail: dict[str, Any] | None = None,
        client: str = "",
        status: int = 0,
    ) -> None:
        """Append one audit entry on ``conn`` (inside the caller's transaction)."""
        conn.execute(
            insert(audit_entry).values(
                at_ns=self.clock(),
                actor=actor,
                action=action,
                target=target,
                detail=detail or {},
                client=client,
                status=status,
            )
        )

    def audit(
        self,
        *,
        actor: str,
        action: str,
        target: str = "",
        detail: dict[str, Any] | None = None,
        client: str = "",
        status: int = 0,
    ) -> None:
        """Append one audit entry in a transaction of its own."""
        with self.store.transaction() as tx:
            self.record(
                tx.conn,
                actor=actor,
                action=action,
                target=target,
                detail=detail,
                client=client,
                status=status,
            )

    def audit_entries(
        self, *, limit: int = 100, offset: int = 0, actor: str | None = None, action: str | None = None
    ) -> tuple[list[AuditEntry], int]:
        """Entries newest first, filtered by exact actor and action prefix, and how many match."""
        t = audit_entry
        where = []
        if actor:
            where.append(t.c.actor == actor)
        if action:
            where.append(t.c.action.startswith(action, autoescape=True))
        with self.store.transaction() as tx:
            total = int(tx.conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one())
            q = select(t).where(*where).order_by(t.c.at_ns.desc(), t.c.id.desc()).limit(limit).offset(offset)
            rows = [
                AuditEntry(
                    id=int(r.id),
                    at_ns=r.at_ns,
                    actor=r.actor,
                    action=r.action,
                    target=r.target,
                    client=r.client,
                    status=r.status,
                    detail=dict(r.detail or {}),
                )
                for r in tx.conn.execute(q)
            ]
        return rows, total

    # ------------------------------------------------------------------ users

    def add_user(self, *, name: str, password: str, role: Role | str, actor: str, client: str = "") -> User:
        """Create a user. Raises :class:`AuthError` for a bad name, short password, unknown role or
        a name already taken."""
        if not _NAME.match(name):
            raise AuthError(f"invalid user name {name!r}: 1-64 letters, digits, '.', '_', '@', '-'")
        try:
            role = Role(role)
        except ValueError:
            raise AuthError(f"unknown role {role!r}: use one of {', '.join(r.value for r in Role)}") from None
        if len(password) < MIN_PASSWORD:
            raise AuthError(f"password too short: at least {MIN_PASSWORD} characters")
        password_hash = self.hasher.hash(password)
        with self.store.transaction() as tx:
            if tx.conn.execute(select(web_user.c.id).where(web_user.c.name == name)).first() is not None:
                raise AuthError(f"user {name!r} already exists")
            now = self.clock()
            new_id = tx.conn.execute(
                insert(web_user)
                .values(
                    name=name, password_hash=password_hash, role=role.value, disabled=False, created_ns=now
                )
                .returning(web_user.c.id)
            ).scalar_one()
            self.record(
                tx.conn,
                actor=actor,
                action="user.add",
                target=name,
                detail={"role": role.value},
                client=client,
            )
        return User(id=int(new_id), name=name, role=role, disabled=False, created_ns=now)

    def users(self) -> list[User]:
        """Every user, by name."""
        with self.store.transaction() as tx:
            return [_user(r) for r in tx.conn.execute(select(web_user).order_by(web_user.c.name))]

    def user(self, name: str) -> User | None:
        """The user called ``name``, or None."""
        with self.store.transaction() as tx:
            r = tx.conn.execute(select(web_user).where(web_user.c.name == name)).first()
        return None if r is None else _user(r)

    def set_disabled(self, *, name: str, disabled: bool, actor: str, client: str = "") -> User:
        """Disable (or enable) a user; disabling also ends their sessions. Raises AuthError when unknown."""
        with self.store.transaction() as tx:
            r = tx.conn.execute(select(web_user).where(web_user.c.name == name)).first()
            if r is None:
                raise AuthError(f"no user {name!r}")
            tx.conn.execute(update(web_user).where(web_user.c.id == r.id).values(disabled=disabled))
            if disabled:
                tx.conn.execute(delete(web_session).where(web_session.c.user_id == r.id))
            self.record(
                tx.conn,
                actor=actor,
                action="user.disable" if disabled else "user.enable",
                target=name,
                client=client,
            )
        return User(id=int(r.id), name=r.name, role=Role(r.role), disabled=disabled, created_ns=r.created_ns)

    # ------------------------------------------------------------------ login and sessions

    def login(self, *, name: str, password: str, client: str) -> tuple[str, Session]:
        """Check a password; on success start a session and return (cookie value, session).

        Raises :class:`RateLimited` when the name or client has too many recent failures (the
        password is then not even checked), :class:`LoginRefused` otherwise on failure.
        """
        now = self.clock()
        since = now - WINDOW_NS
        la = login_attempt
        with self.store.transaction() as tx:
            failures = tx.conn.execute(
                select(
                    func.count().filter(la.c.name == name),
                    func.count().filter(la.c.client == client),
                ).where(
                    la.c.at_ns >= since,
                    la.c.success.is_(False),
                    or_(la.c.name == name, la.c.client == client),
                )
            ).one()
            limited = failures[0] >= MAX_FAILURES_PER_NAME or failures[1] >= MAX_FAILURES_PER_CLIENT
            if limited:
                self.record(
                    tx.conn, actor=name, action="login.rate_limited", target=name, client=client, status=1
                )
            row = tx.conn.execute(select(web_user).where(web_user.c.name == name)).first()
        if limited:
            raise RateLimited("too many failed logins; try again in 15 minutes")
        ok = self._verify(row.password_hash if row is not None else self._dummy_hash, password)
        ok = ok and row is not None and not row.disabled
        # The failure is committed before the refusal is raised: raising inside the transaction
        # would roll back the very record the rate limit counts.
        with self.store.transaction() as tx:
            tx.conn.execute(insert(la).values(name=name, client=client, at_ns=now, success=ok))
            # Old attempts only matter inside the window: keep the table small.
            tx.conn.execute(delete(la).where(la.c.at_ns < now - 24 * 3600 * 1_000_000_000))
            if not ok or row is None:
                self.record(tx.conn, actor=name, action="login.failure", target=name, client=client, status=1)
        if not ok or row is None:
            raise LoginRefused("wrong user name or password")
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires = now + SESSION_NS
        with self.store.transaction() as tx:
            tx.conn.execute(
                insert(web_session).values(
                    token_hash=digest(cookie),
                    user_id=row.id,
                    csrf_token=csrf,
                    created_ns=now,
                    expires_ns=expires,
                )
            )
            tx.conn.execute(delete(web_session).where(web_session.c.expires_ns < now))
            self.record(tx.conn, actor=name, action="login.success", target=name, client=client)
            if self.hasher.check_needs_rehash(row.password_hash):
                tx.conn.execute(
                    update(web_user)
                    .where(web_user.c.id == row.id)
                    .values(password_hash=self.hasher.hash(password))
                )
        return cookie, Session(user=_user(row), csrf_token=csrf, expires_ns=expires)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def session(self, cookie: str) -> Session | None:
        """The live session behind a cookie value, or None (unknown, expired, or user disabled)."""
        now = self.clock()
        s, u = web_session, web_user
        with self.store.transaction() as tx:
            r = tx.conn.execute(
                select(u, s.c.csrf_token, s.c.expires_ns)
                .join(s, s.c.user_id == u.c.id)
                .where(s.c.token_hash == digest(cookie), s.c.expires_ns > now, u.c.disabled.is_(False))
            ).first()
        if r is None:
            return None
        return Session(user=_user(r), csrf_token=r.csrf_token, expires_ns=r.expires_ns)

    def logout(self, cookie: str, *, client: str = "") -> None:
        """End the session behind a cookie value (nothing happens when there is none)."""
        session = self.session(cookie)
        with self.store.transaction() as tx:
            tx.conn.execute(delete(web_session).where(web_session.c.token_hash == digest(cookie)))
            if session is not None:
                self.record(
                    tx.conn, actor=session.user.name, action="logout", target=session.user.name, client=client
                )

    # ------------------------------------------------------------------ API tokens

    def create_token(
        self, *, user_name: str, name: str, actor: str, client: str = ""
    ) -> tuple[str, ApiToken]:
        """A new API token for ``user_name``: returns (the secret, shown once; its record)."""
        if not name.strip() or len(name) > 100:
            raise AuthError("a token needs a name of 1-100 characters")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        with self.store.transaction() as tx:
            owner = tx.conn.execute(select(web_user).where(web_user.c.name == user_name)).first()
            if owner is None:
                raise AuthError(f"no user {user_name!r}")
            new_id = tx.conn.execute(
                insert(api_token)
                .values(
                    user_id=owner.id,
                    name=name,
                    prefix=secret[:10],
                    token_hash=digest(secret),
                    created_ns=now,
                )
                .returning(api_token.c.id)
            ).scalar_one()
            self.record(
                tx.conn,
                actor=actor,
                action="token.create",
                target=f"token:{new_id}",
                detail={"user": user_name, "name": name},
                client=client,
            )
        record = ApiToken(
            id=int(new_id),
            user_id=int(owner.id),
            user_name=user_name,
            name=name,
            prefix=secret[:10],
            created_ns=now,
            last_used_ns=None,
            revoked_ns=None,
        )
        return secret, record

    def tokens(self, *, user_name: str | None = None) -> list[ApiToken]:
        """Tokens (revoked ones included), newest first; only ``user_name``'s when given."""
        t, u = api_token, web_user
        q = select(t, u.c.name.label("user_name")).join(u, u.c.id == t.c.user_id)
        if user_name is not None:
            q = q.where(u.c.name == user_name)
        with self.store.transaction() as tx:
            rows = list(tx.conn.execute(q.order_by(t.c.created_ns.desc(), t.c.id.desc())))
        return [
            ApiToken(
                id=int(r.id),
                user_id=int(r.user_id),
                user_name=r.user_name,
                name=r.name,
                prefix=r.prefix,
                created_ns=r.created_ns,
                last_used_ns=r.last_used_ns,
                revoked_ns=r.revoked_ns,
            )
            for r in rows
        ]

    def revoke_token(self, *, token_id: int, actor: str, client: str = "", owner: str | None = None) -> None:
        """Revoke a token (idempotent). With ``owner``, only that user's token may be revoked."""
        t = api_token
        with self.store.transaction() as tx:
            q = select(t.c.id, t.c.revoked_ns, web_user.c.name).join(web_user, web_user.c.id == t.c.user_id)
            r = tx.conn.execute(q.where(t.c.id == token_id)).first()
            if r is None or (owner is not None and r.name != owner):
                raise AuthError(f"no token {token_id}")
            if r.revoked_ns is None:
                tx.conn.execute(update(t).where(t.c.id == token_id).values(revoked_ns=self.clock()))
            self.record(
                tx.conn, actor=actor, action="token.revoke", target=f"token:{token_id}", client=client
            )

    def token_user(self, secret: str) -> User | None:
        """The (enabled) user an unrevoked API token belongs to, or None."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        t, u = api_token, web_user
        now = self.clock()
        with self.store.transaction() as tx:
            r = tx.conn.execute(
                select(u, t.c.id.label("token_id"), t.c.token_hash, t.c.last_used_ns)
                .join(t, t.c.user_id == u.c.id)
                .where(t.c.token_hash == digest(secret), t.c.revoked_ns.is_(None), u.c.disabled.is_(False))
            ).first()
            if r is None or not hmac.compare_digest(r.token_hash, digest(secret)):
                return None
            if r.last_used_ns is None or now - r.last_used_ns > TOKEN_TOUCH_NS:
                tx.conn.execute(update(t).where(and_(t.c.id == r.token_id)).values(last_used_ns=now))
        return _user(r)
