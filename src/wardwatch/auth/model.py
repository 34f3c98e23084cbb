"""The values the authentication service deals in (standard library only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """What a user may do. Each role includes the ones below it."""

    VIEWER = "viewer"  # read everything except the audit log and the user list
    ANALYST = "analyst"  # and record decisions (triage, overrides)
    ADMIN = "admin"  # and manage users and tokens, read the audit log

    @property
    def rank(self) -> int:
        """0 for viewer, 1 for analyst, 2 for admin."""
        return (Role.VIEWER, Role.ANALYST, Role.ADMIN).index(self)

    def allows(self, needed: Role) -> bool:
        """True when this role is ``needed`` or above it."""
        return self.rank >= needed.rank


@dataclass(frozen=True, slots=True)
class User:
    """A local account (the password hash never leaves the repository)."""

    id: int
    name: str
    role: Role
    disabled: bool
    created_ns: int


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token's record; the secret itself is shown once, when created, and stored hashed."""

    id: int
    user_id: int
    user_name: str
    name: str
    prefix: str
    created_ns: int
    last_used_ns: int | None
    revoked_ns: int | None

    @property
    def active(self) -> bool:
        """False once revoked."""
        return self.revoked_ns is None


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in browser: who, and the CSRF token its forms must echo."""

    user: User
    csrf_token: str
    expires_ns: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded change (or refused attempt): who, when, what, on what."""

    id: int
    at_ns: int
    actor: str
    action: str
    target: str
    client: str
    status: int
    detail: dict[str, Any] = field(default_factory=dict)
