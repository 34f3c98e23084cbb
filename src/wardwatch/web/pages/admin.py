"""Admin pages: the audit log, users and API tokens (forms post here; every change is audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from wardwatch.auth.model import Role
from wardwatch.auth.service import AuthError
from wardwatch.web.pages.render import render
from wardwatch.web.security import Principal, auth_service, client_address, require_admin

router = APIRouter(prefix="/admin", include_in_schema=False)
Admin = Annotated[Principal, Depends(require_admin)]
PAGE = 100


@router.get("/audit")
def audit_page(
    request: Request,
    _: Admin,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """The audit log, newest first, filtered by actor and action."""
    entries, total = auth_service(request).audit_entries(
        limit=PAGE, offset=offset, actor=actor or None, action=action or None
    )
    return render(
        request,
        "audit.html",
        {
            "entries": entries,
            "total": total,
            "actor": actor or "",
            "action": action or "",
            "offset": offset,
            "page": PAGE,
        },
    )


def _users_page(
    request: Request, *, message: str = "", error: str = "", new_token: str = "", status: int = 200
) -> Response:
    auth = auth_service(request)
    return render(
        request,
        "users.html",
        {
            "users": auth.users(),
            "tokens": auth.tokens(),
            "roles": [r.value for r in Role],
            "message": message,
            "error": error,
            "new_token": new_token,
        },
        status,
    )


@router.get("/users")
def users_page(request: Request, _: Admin) -> Response:
    """Users and API tokens."""
    return _users_page(request)


@router.post("/users")
def add_user(
    request: Request,
    who: Admin,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    role: Annotated[str, Form(max_length=20)],
) -> Response:
    """Create a user."""
    try:
        auth_service(request).add_user(
            name=name, password=password, role=role, actor=who.user.name, client=client_address(request)
        )
    except AuthError as e:
        return _users_page(request, error=str(e), status=400)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/tokens")
def create_token(
    request: Request,
    who: Admin,
    name: Annotated[str, Form(max_length=100)],
    user: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Create an API token and show its secret once."""
    try:
        secret, _ = auth_service(request).create_token(
            user_name=user or who.user.name, name=name, actor=who.user.name, client=client_address(request)
        )
    except AuthError as e:
        return _users_page(request, error=str(e), status=400)
    return _users_page(
        request, message="Token created. Copy it now: it will not be shown again.", new_token=secret
    )


@router.post("/tokens/{token_id}/revoke")
def revoke_token(request: Request, who: Admin, token_id: int) -> Response:
    """Revoke an API token."""
    try:
        auth_service(request).revoke_token(
            token_id=token_id, actor=who.user.name, client=client_address(request)
        )
    except AuthError as e:
        return _users_page(request, error=str(e), status=404)
    return RedirectResponse("/admin/users", status_code=303)
