"""Tables of the web application (issue 7): users, sessions, API tokens, login attempts, audit log.

They are declared on the shared :data:`wardwatch.store.schema.metadata` (so the contract tests'
schema check and table reset see them) and built by migration ``0005_web``. Secrets are never
stored: passwords as argon2id hashes, session and API tokens as SHA-256 digests of 256-bit random
values (a leaked database lets nobody log in). Timestamps are integer nanoseconds, as elsewhere.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, ForeignKey, Index, Integer, Table, Text

from wardwatch.store.schema import _id_type, metadata

web_user = Table(
    "web_user",
    metadata,
    Column("id", _id_type(), primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),  # wardwatch.auth.model.Role
    Column("disabled", Boolean, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
)

web_session = Table(
    "web_session",
    metadata,
    Column("token_hash", Text, primary_key=True),  # sha256 hex of the cookie value
    Column("user_id", _id_type(), ForeignKey("web_user.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", Text, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("expires_ns", BigInteger, nullable=False),
    Index(None, "user_id"),
)

api_token = Table(
    "api_token",
    metadata,
    Column("id", _id_type(), primary_key=True, autoincrement=True),
    Column("user_id", _id_type(), ForeignKey("web_user.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False),  # the first characters, to tell tokens apart in lists
    Column("token_hash", Text, nullable=False, unique=True),
    Column("created_ns", BigInteger, nullable=False),
    Column("last_used_ns", BigInteger),
    Column("revoked_ns", BigInteger),
)

login_attempt = Table(
    "login_attempt",
    metadata,
    Column("id", _id_type(), primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("client", Text, nullable=False),
    Column("at_ns", BigInteger, nullable=False),
    Column("success", Boolean, nullable=False),
    Index(None, "at_ns"),
)

audit_entry = Table(
    "audit_entry",
    metadata,
    Column("id", _id_type(), primary_key=True, autoincrement=True),
    Column("at_ns", BigInteger, nullable=False),
    Column("actor", Text, nullable=False),  # user name, or "cli:<os user>" for the command line
    Column("action", Text, nullable=False),  # e.g. "user.add", "token.revoke", "login.failure"
    Column("target", Text, nullable=False),
    Column("detail", JSON, nullable=False),
    Column("client", Text, nullable=False),
    Column("status", Integer, nullable=False),  # 0 done, 1 refused
    Index(None, "at_ns"),
)
