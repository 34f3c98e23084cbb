"""FDA recalls, CMMS assets and alerts (issue 8).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Written out in full (see 0001_initial.py for why); keep in step with schema_recall.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create recall, asset and alert."""
    op.create_table(
        "recall",
        sa.Column("uid", sa.Text(), nullable=False),
        sa.Column("number", sa.Text()),
        sa.Column("event_id", sa.Text()),
        sa.Column("recalling_firm", sa.Text(), nullable=False),
        sa.Column("product_code", sa.Text()),
        sa.Column("classification", sa.Text()),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("initiated", sa.Text()),
        sa.Column("terminated", sa.Text()),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("imported_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("uid", name="pk_recall"),
    )
    op.create_index("ix_recall_product_code", "recall", ["product_code"])
    op.create_index("ix_recall_status", "recall", ["status"])
    op.create_table(
        "asset",
        sa.Column("tag", sa.Text(), nullable=False),
        sa.Column("serial", sa.Text()),
        sa.Column("model", sa.Text()),
        sa.Column("manufacturer", sa.Text()),
        sa.Column("mac", sa.Text()),
        sa.Column("hostname", sa.Text()),
        sa.Column("ip", sa.Text()),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("imported_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tag", name="pk_asset"),
    )
    op.create_index("ix_asset_serial", "asset", ["serial"])
    op.create_index("ix_asset_mac", "asset", ["mac"])
    op.create_table(
        "alert",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("dedup_key", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("device_id", sa.BigInteger()),
        sa.Column("asset_tag", sa.Text()),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("first_ns", sa.BigInteger(), nullable=False),
        sa.Column("last_ns", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert"),
        sa.UniqueConstraint("dedup_key", name="uq_alert_dedup_key"),
    )
    op.create_index("ix_alert_state_kind", "alert", ["state", "kind"])


def downgrade() -> None:
    """Drop alert, asset and recall."""
    op.drop_index("ix_alert_state_kind", table_name="alert")
    op.drop_table("alert")
    op.drop_index("ix_asset_mac", table_name="asset")
    op.drop_index("ix_asset_serial", table_name="asset")
    op.drop_table("asset")
    op.drop_index("ix_recall_status", table_name="recall")
    op.drop_index("ix_recall_product_code", table_name="recall")
    op.drop_table("recall")
