"""Who am I, users, API tokens and the audit log. Managing users and tokens and reading the audit
log needs the admin role; every change is audited by :class:`wardwatch.auth.service.AuthService`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from wardwatch.auth.model import ApiToken, AuditEntry, Role, User
from wardwatch.auth.service import AuthError, AuthService
from wardwatch.services.present import iso
from wardwatch.web.api.common import MAX_LIMIT, MAX_OFFSET, clean_text
from wardwatch.web.security import Principal, auth_service, client_address, principal, require_admin

router = APIRouter(tags=["administration"])

Admin = Annotated[Principal, Depends(require_admin)]
Auth = Annotated[AuthService, Depends(auth_service)]


def user_json(u: User) -> dict[str, Any]:
    """A user (never the password hash)."""
    return {
        "id": u.id,
        "name": u.name,
        "role": u.role.value,
        "disabled": u.disabled,
        "created": iso(u.created_ns),
    }


def token_json(t: ApiToken) -> dict[str, Any]:
    """A token's record (never the secret)."""
    return {
        "id": t.id,
        "user": t.user_name,
        "name": t.name,
        "prefix": t.prefix,
        "created": iso(t.created_ns),
        "last_used": iso(t.last_used_ns),
        "revoked": iso(t.revoked_ns),
        "active": t.active,
    }


def audit_json(e: AuditEntry) -> dict[str, Any]:
    """An audit entry."""
    return {
        "id": e.id,
        "at": iso(e.at_ns),
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "client": e.client,
        "outcome": "refused" if e.status else "done",
        "detail": e.detail,
    }


@router.get("/me", summary="The authenticated user")
def me(who: Annotated[Principal, Depends(principal)]) -> dict[str, Any]:
    """Who this request is authenticated as, and how."""
    return {"user": user_json(who.user), "via": who.via.value}


class NewUser(BaseModel):
    """A user to create."""

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    role: Role = Role.VIEWER


class NewToken(BaseModel):
    """A token to create (for ``user``, by default the caller)."""

    name: str = Field(min_length=1, max_length=100)
    user: str | None = Field(default=None, max_length=64)


def _refuse(e: AuthError) -> HTTPException:
    return HTTPException(status_code=400, detail=str(e))


@router.get("/users", summary="List users")
def list_users(_: Admin, auth: Auth) -> dict[str, Any]:
    """Every local user."""
    return {"items": [user_json(u) for u in auth.users()]}


@router.post("/users", status_code=201, summary="Create a user")
def create_user(body: NewUser, who: Admin, auth: Auth, request: Request) -> dict[str, Any]:
    """Create a user with a role (audited)."""
    try:
        user = auth.add_user(
            name=body.name,
            password=body.password,
            role=body.role,
            actor=who.user.name,
            client=client_address(request),
        )
    except AuthError as e:
        raise _refuse(e) from None
    return user_json(user)


@router.post("/users/{name}/disable", summary="Disable a user")
def disable_user(name: str, who: Admin, auth: Auth, request: Request) -> dict[str, Any]:
    """Disable a user and end their sessions (audited)."""
    if name == who.user.name:
        raise HTTPException(status_code=400, detail="you cannot disable yourself")
    try:
        return user_json(
            auth.set_disabled(name=name, disabled=True, actor=who.user.name, client=client_address(request))
        )
    except AuthError as e:
        raise HTTPException(status_code=404, detail=str(e)) from None


@router.get("/tokens", summary="List API tokens")
def list_tokens(_: Admin, auth: Auth) -> dict[str, Any]:
    """Every API token, revoked ones included (never the secrets)."""
    return {"items": [token_json(t) for t in auth.tokens()]}


@router.post("/tokens", status_code=201, summary="Create an API token")
def create_token(body: NewToken, who: Admin, auth: Auth, request: Request) -> dict[str, Any]:
    """Create a token; the secret is in the response once and never again (audited)."""
    try:
        secret, record = auth.create_token(
            user_name=body.user or who.user.name,
            name=body.name,
            actor=who.user.name,
            client=client_address(request),
        )
    except AuthError as e:
        raise _refuse(e) from None
    return {**token_json(record), "token": secret}


@router.delete("/tokens/{token_id}", summary="Revoke an API token")
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**62)], who: Admin, auth: Auth, request: Request
) -> dict[str, Any]:
    """Revoke a token (audited; revoking twice is harmless)."""
    try:
        auth.revoke_token(token_id=token_id, actor=who.user.name, client=client_address(request))
    except AuthError as e:
        raise HTTPException(status_code=404, detail=str(e)) from None
    return {"id": token_id, "revoked": True}


@router.get("/audit", summary="The audit log")
def audit_log(
    _: Admin,
    auth: Auth,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Every recorded change and refused attempt, newest first."""
    entries, total = auth.audit_entries(
        limit=limit, offset=offset, actor=clean_text(actor, "actor"), action=clean_text(action, "action")
    )
    return {"total": total, "limit": limit, "offset": offset, "items": [audit_json(e) for e in entries]}
