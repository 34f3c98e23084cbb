"""Server-rendered pages (Jinja2 + HTMX). Every page works without JavaScript; HTMX only swaps
the inventory table in place. :func:`pages_routers` are mounted behind authentication;
:func:`public_router` holds the login page only."""

from __future__ import annotations

from fastapi import APIRouter


def public_router() -> APIRouter:
    """The login page (the one page reachable without a session)."""
    from wardwatch.web.pages import login

    return login.public


def pages_routers() -> list[APIRouter]:
    """Every authenticated page router."""
    from wardwatch.web.pages import admin, login, overview

    return [login.private, overview.router, admin.router]
