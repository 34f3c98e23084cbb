"""Logging in and out. The login form carries a CSRF token of its own (a random cookie echoed in
the form) since there is no session yet; failures are rate-limited by the auth service."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from wardwatch.auth.service import SESSION_NS, LoginRefused, RateLimited
from wardwatch.web.pages.render import render
from wardwatch.web.security import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Principal,
    auth_service,
    client_address,
    principal,
)

public = APIRouter(include_in_schema=False)
private = APIRouter(include_in_schema=False)


def _secure(request: Request) -> bool:
    configured: bool | None = request.app.state.secure_cookies
    return configured if configured is not None else request.url.scheme == "https"


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect would let a phishing link bounce through the login.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _login_page(request: Request, *, error: str = "", status: int = 200, next_url: str = "/") -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request, "login.html", {"login_csrf": token, "error": error, "next": _safe_next(next_url)}, status
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )
    return response


@public.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    """The login form."""
    return _login_page(request, next_url=next)


@public.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """Check the credentials, start a session, and go to ``next``."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        return _login_page(request, error="The form expired; please try again.", status=403, next_url=next)
    auth = auth_service(request)
    try:
        session_cookie, _ = auth.login(name=username, password=password, client=client_address(request))
    except RateLimited as e:
        return _login_page(request, error=str(e).capitalize() + ".", status=429, next_url=next)
    except LoginRefused:
        return _login_page(request, error="Wrong user name or password.", status=401, next_url=next)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_cookie,
        max_age=SESSION_NS // 1_000_000_000,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@private.post("/logout")
def logout(request: Request, who: Annotated[Principal, Depends(principal)]) -> Response:
    """End the session (the form carries the CSRF token, checked by :func:`principal`)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        auth_service(request).logout(cookie, client=client_address(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
