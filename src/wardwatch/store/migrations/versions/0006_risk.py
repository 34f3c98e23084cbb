"""Risk scores, per-finding decisions and medical rubric answers (issue 6).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

Written out in full (see 0001_initial.py for why); keep in step with ``schema_risk.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``risk_score``, ``risk_finding`` and ``risk_rubric``."""
    op.create_table(
        "risk_score",
        sa.Column("device_id", _id(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("likelihood", sa.Float(), nullable=False),
        sa.Column("impact", sa.Float(), nullable=False),
        sa.Column("decision", sa.Text()),
        sa.Column("top_vulnerability", sa.Text()),
        sa.Column("findings", sa.BigInteger(), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("computed_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name="fk_risk_score_device_id_device", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("device_id", name="pk_risk_score"),
    )
    op.create_index("ix_risk_score_risk", "risk_score", ["risk"])
    op.create_table(
        "risk_finding",
        sa.Column("device_id", _id(), nullable=False),
        sa.Column("vulnerability", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("likelihood", sa.Float(), nullable=False),
        sa.Column("impact", sa.Float(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("ssvc", sa.Text(), nullable=False),
        sa.Column("cvss_environmental", sa.Float()),
        sa.Column("factors", sa.JSON(), nullable=False),
        sa.Column("computed_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name="fk_risk_finding_device_id_device", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("device_id", "vulnerability", name="pk_risk_finding"),
    )
    op.create_index("ix_risk_finding_decision", "risk_finding", ["decision"])
    op.create_table(
        "risk_rubric",
        sa.Column("vendor", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("vendor", "model", name="pk_risk_rubric"),
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("risk_rubric")
    op.drop_index("ix_risk_finding_decision", table_name="risk_finding")
    op.drop_table("risk_finding")
    op.drop_index("ix_risk_score_risk", table_name="risk_score")
    op.drop_table("risk_score")
