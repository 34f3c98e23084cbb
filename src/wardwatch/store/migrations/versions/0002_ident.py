"""Identification overrides and re-identification runs (issue 3).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Written out in full (see 0001_initial.py for why); keep in step with ``schema_ident.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create device_override and identification_run."""
    op.create_table(
        "device_override",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("device_key", sa.Text(), nullable=False),
        sa.Column("attribute", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("ended_ns", sa.BigInteger(), nullable=True),
        sa.Column("ended_by", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_device_override"),
    )
    op.create_index("ix_device_override_device_key_attribute", "device_override", ["device_key", "attribute"])
    op.create_table(
        "identification_run",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("knowledge_version", sa.Text(), nullable=False),
        sa.Column("started_ns", sa.BigInteger(), nullable=False),
        sa.Column("finished_ns", sa.BigInteger(), nullable=False),
        sa.Column("devices", sa.Integer(), nullable=False),
        sa.Column("devices_new", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("author", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_identification_run"),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("identification_run")
    op.drop_index("ix_device_override_device_key_attribute", table_name="device_override")
    op.drop_table("device_override")
