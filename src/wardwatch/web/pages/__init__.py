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

    found = [login.private, overview.router, admin.router]
    try:
        # The alerts, recalls and vulnerability pages need issue 5's and 8's services.
        from wardwatch.services import recalls, vulns  # noqa: F401
        from wardwatch.web.pages import subsystems
    except ImportError:
        return found
    return [*found, subsystems.router]
