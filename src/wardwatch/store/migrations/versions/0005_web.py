"""Users, API tokens, sessions and the audit log (issue 7).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

Written out in full (see 0001_initial.py for why); keep in step with schema_web.py.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the tables (none yet)."""


def downgrade() -> None:
    """Drop the tables (none yet)."""
