"""Identification overrides and re-identification runs (issue 3).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Written out in full (see 0001_initial.py for why); keep in step with schema_ident.py.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the tables (none yet)."""


def downgrade() -> None:
    """Drop the tables (none yet)."""
