"""Vulnerability intelligence: feeds, advisories, SBOMs, findings, triage (issue 5).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Written out in full (see 0001_initial.py for why); keep in step with schema_vuln.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the feed, advisory, SBOM/VEX, finding and analysis tables."""
    op.create_table(
        "feed_import",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("started_ns", sa.BigInteger(), nullable=False),
        sa.Column("finished_ns", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.Column("inserted", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.Column("skipped", sa.BigInteger(), nullable=False),
        sa.Column("watermark", sa.Text(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_feed_import"),
    )
    op.create_index("ix_feed_import_sha256", "feed_import", ["sha256"])
    op.create_table(
        "advisory",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("published", sa.Text()),
        sa.Column("revision", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("cvss_score", sa.Float()),
        sa.Column("cvss_version", sa.Text()),
        sa.Column("cvss_vector", sa.Text()),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("import_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_advisory"),
    )
    op.create_table(
        "advisory_alias",
        sa.Column("advisory_id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("alias", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_id"],
            ["advisory.id"],
            name="fk_advisory_alias_advisory_id_advisory",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("advisory_id", "source", "alias", name="pk_advisory_alias"),
    )
    op.create_index("ix_advisory_alias_alias", "advisory_alias", ["alias"])
    op.create_table(
        "advisory_key",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("advisory_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_id"], ["advisory.id"], name="fk_advisory_key_advisory_id_advisory", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("kind", "key", "advisory_id", name="pk_advisory_key"),
    )
    op.create_index("ix_advisory_key_advisory_id", "advisory_key", ["advisory_id"])
    op.create_table(
        "kev",
        sa.Column("cve", sa.Text(), nullable=False),
        sa.Column("vendor_project", sa.Text(), nullable=False),
        sa.Column("product", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("date_added", sa.Text(), nullable=False),
        sa.Column("due_date", sa.Text(), nullable=False),
        sa.Column("required_action", sa.Text(), nullable=False),
        sa.Column("ransomware", sa.Text(), nullable=False),
        sa.Column("catalog_version", sa.Text(), nullable=False),
        sa.Column("import_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cve", name="pk_kev"),
    )
    op.create_table(
        "epss",
        sa.Column("cve", sa.Text(), nullable=False),
        sa.Column("epss", sa.Float(), nullable=False),
        sa.Column("percentile", sa.Float(), nullable=False),
        sa.Column("model_version", sa.Text(), nullable=False),
        sa.Column("score_date", sa.Text(), nullable=False),
        sa.Column("import_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cve", name="pk_epss"),
    )
    op.create_table(
        "ssvc",
        sa.Column("cve", sa.Text(), nullable=False),
        sa.Column("exploitation", sa.Text(), nullable=False),
        sa.Column("automatable", sa.Text(), nullable=False),
        sa.Column("technical_impact", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("import_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cve", name="pk_ssvc"),
    )
    op.create_table(
        "sbom",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("spec_version", sa.Text(), nullable=False),
        sa.Column("vendor", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("revision", sa.Text(), nullable=False),
        sa.Column("import_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sbom"),
        sa.UniqueConstraint("document", name="uq_sbom_document"),
    )
    op.create_table(
        "sbom_component",
        sa.Column("sbom_id", _id(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("purl", sa.Text(), nullable=False),
        sa.Column("cpe", sa.Text(), nullable=False),
        sa.Column("supplier", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sbom_id"], ["sbom.id"], name="fk_sbom_component_sbom_id_sbom", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sbom_id", "seq", name="pk_sbom_component"),
    )
    op.create_table(
        "vex_statement",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("vulnerability", sa.Text(), nullable=False),
        sa.Column("product", sa.Text(), nullable=False),
        sa.Column("vendor", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("justification", sa.Text()),
        sa.Column("responses", sa.JSON(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.Text(), nullable=False),
        sa.Column("import_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_vex_statement"),
        sa.UniqueConstraint(
            "document", "vulnerability", "product", name="uq_vex_statement_document_vulnerability_product"
        ),
    )
    op.create_index("ix_vex_statement_vulnerability", "vex_statement", ["vulnerability"])
    op.create_table(
        "finding",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("device_id", _id(), nullable=False),
        sa.Column("vulnerability", sa.Text(), nullable=False),
        sa.Column("matcher", sa.Text(), nullable=False),
        sa.Column("advisory_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("inactive_reason", sa.Text(), nullable=False),
        sa.Column("first_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name="fk_finding_device_id_device", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_finding"),
        sa.UniqueConstraint(
            "device_id", "vulnerability", "matcher", name="uq_finding_device_id_vulnerability_matcher"
        ),
    )
    op.create_index("ix_finding_matcher_active", "finding", ["matcher", "active"])
    op.create_index("ix_finding_vulnerability", "finding", ["vulnerability"])
    op.create_table(
        "finding_event",
        sa.Column("finding_id", _id(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at_ns", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["finding.id"], name="fk_finding_event_finding_id_finding", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("finding_id", "seq", name="pk_finding_event"),
    )
    op.create_table(
        "analysis",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("vulnerability", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("justification", sa.Text()),
        sa.Column("responses", sa.JSON(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_analysis"),
    )
    op.create_index(
        "ix_analysis_vulnerability_scope_target", "analysis", ["vulnerability", "scope", "target"]
    )


def downgrade() -> None:
    """Drop them, dependents first."""
    for table in (
        "analysis",
        "finding_event",
        "finding",
        "vex_statement",
        "sbom_component",
        "sbom",
        "ssvc",
        "epss",
        "kev",
        "advisory_key",
        "advisory_alias",
        "advisory",
        "feed_import",
    ):
        op.drop_table(table)
