"""Who is asking: session cookies and API tokens, CSRF checks, role requirements.

Every router except login, static assets and the health check carries the :func:`principal`
dependency (``tests/api/test_unauthenticated.py`` enumerates the routes to prove it). A request
authenticated by a session cookie must echo the session's CSRF token on every state-changing
method, in the ``X-CSRF-Token`` header or the ``csrf_token`` form field; a bearer token is not sent
by browsers on their own, so token-authenticated calls need no CSRF token.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import Depends, Request

from wardwatch.auth.model import Role, Session, User
from wardwatch.auth.service import AuthService

SESSION_COOKIE = "ww_session"
LOGIN_CSRF_COOKIE = "ww_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Via(StrEnum):
    """How a request proved who it is."""

    SESSION = "session"
    TOKEN = "token"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user of one request."""

    user: User
    via: Via
    session: Session | None = None

    @property
    def csrf_token(self) -> str:
        """The token forms must echo ('' for token-authenticated requests, which need none)."""
        return self.session.csrf_token if self.session else ""


class NotAuthenticated(Exception):
    """No valid session or token: API requests get 401, pages a redirect to the login page."""


class Forbidden(Exception):
    """Authenticated, but not allowed: a missing role or a bad CSRF token (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def client_address(request: Request) -> str:
    """The peer address (proxies are not trusted: X-Forwarded-For is ignored on purpose)."""
    return request.client.host if request.client else ""


def auth_service(request: Request) -> AuthService:
    """The app's :class:`AuthService`."""
    service: AuthService = request.app.state.auth
    return service


async def principal(request: Request) -> Principal:
    """Authenticate the request (bearer token first, then the session cookie) and, for a
    cookie-authenticated state-changing request, check its CSRF token."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    auth = auth_service(request)
    found: Principal | None = None
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        user = auth.token_user(header[7:].strip())
        if user is None:
            raise NotAuthenticated()
        found = Principal(user=user, via=Via.TOKEN)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        session = auth.session(cookie) if cookie else None
        if session is None:
            raise NotAuthenticated()
        found = Principal(user=session.user, via=Via.SESSION, session=session)
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER)
            if sent is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")
            ):
                form = await request.form()
                value = form.get(CSRF_FIELD)
                sent = value if isinstance(value, str) else None
            if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                raise Forbidden("missing or wrong CSRF token")
    request.state.principal = found
    return found


def require(role: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that admits ``role`` and the roles above it."""

    async def check(who: Principal = Depends(principal)) -> Principal:
        if not who.user.role.allows(role):
            raise Forbidden(f"this needs the {role.value} role")
        return who

    check.__name__ = f"require_{role.value}"
    return check


require_viewer = require(Role.VIEWER)
require_analyst = require(Role.ANALYST)
require_admin = require(Role.ADMIN)
