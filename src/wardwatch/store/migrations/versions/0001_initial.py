"""Initial schema: capture, flow, observation, sighting, conversation, device and its parts.

Revision ID: 0001
Revises:
Create Date: 2026-05-01

Written out in full rather than derived from ``wardwatch.store.schema``: a migration is history and
must keep building the same tables after the schema module moves on. A unit test checks that
this history still matches the module.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DENORMALISED = (
    "vendor",
    "model",
    "serial",
    "hostname",
    "os",
    "os_version",
    "firmware",
    "device_type",
    "clinical_category",
)


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _sort_text() -> sa.types.TypeEngine[str]:
    return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def _ns(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "capture",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text()),
        sa.Column("packets", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        _ns("first_ns", nullable=True),
        _ns("last_ns", nullable=True),
        sa.Column("started_at", sa.Text(), nullable=False),
        sa.Column("finished_at", sa.Text(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_capture"),
    )
    op.create_table(
        "flow",
        sa.Column("uid", sa.Text(), nullable=False),
        sa.Column("transport", sa.Text(), nullable=False),
        sa.Column("a_mac", sa.Text()),
        sa.Column("a_ip", sa.Text()),
        sa.Column("a_port", sa.Integer(), nullable=False),
        sa.Column("b_mac", sa.Text()),
        sa.Column("b_ip", sa.Text()),
        sa.Column("b_port", sa.Integer(), nullable=False),
        sa.Column("vlan", sa.Integer()),
        sa.Column("ethertype", sa.Integer(), nullable=False),
        _ns("first_ns"),
        _ns("last_ns"),
        sa.Column("packets_ab", sa.BigInteger(), nullable=False),
        sa.Column("packets_ba", sa.BigInteger(), nullable=False),
        sa.Column("bytes_ab", sa.BigInteger(), nullable=False),
        sa.Column("bytes_ba", sa.BigInteger(), nullable=False),
        sa.Column("server", sa.Text()),
        sa.Column("ended_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("uid", name="pk_flow"),
    )
    op.create_table(
        "observation",
        sa.Column("uid", sa.Text(), nullable=False),
        sa.Column("protocol", sa.Text(), nullable=False),
        sa.Column("mac", sa.Text()),
        sa.Column("ip", sa.Text()),
        sa.Column("fields", sa.JSON(), nullable=False),
        _ns("first_ns"),
        _ns("last_ns"),
        sa.Column("first_flow_uid", sa.Text(), nullable=False),
        sa.Column("last_flow_uid", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("uid", name="pk_observation"),
    )
    op.create_index("ix_observation_mac", "observation", ["mac"])
    op.create_index("ix_observation_ip", "observation", ["ip"])
    op.create_table(
        "sighting",
        sa.Column("mac", sa.Text(), nullable=False),
        sa.Column("ip", sa.Text(), nullable=False),
        _ns("first_ns"),
        _ns("last_ns"),
        sa.Column("packets", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("ttl", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("mac", "ip", name="pk_sighting"),
    )
    op.create_index("ix_sighting_ip", "sighting", ["ip"])
    op.create_table(
        "conversation",
        sa.Column("client_ip", sa.Text(), nullable=False),
        sa.Column("client_mac", sa.Text(), nullable=False),
        sa.Column("server_ip", sa.Text(), nullable=False),
        sa.Column("server_mac", sa.Text(), nullable=False),
        sa.Column("transport", sa.Text(), nullable=False),
        sa.Column("server_port", sa.Integer(), nullable=False),
        _ns("first_ns"),
        _ns("last_ns"),
        sa.Column("flows", sa.BigInteger(), nullable=False),
        sa.Column("packets", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "client_ip",
            "client_mac",
            "server_ip",
            "server_mac",
            "transport",
            "server_port",
            name="pk_conversation",
        ),
    )
    op.create_index("ix_conversation_server_ip", "conversation", ["server_ip"])
    op.create_table(
        "device",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("key", _sort_text(), nullable=False),
        sa.Column("mac", _sort_text()),
        sa.Column("mac_randomized", sa.Boolean(), nullable=False),
        _ns("first_ns"),
        _ns("last_ns"),
        *(sa.Column(name, _sort_text()) for name in DENORMALISED),
        _ns("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_device"),
        sa.UniqueConstraint("key", name="uq_device_key"),
    )
    for name in ("mac", "first_ns", "last_ns", *DENORMALISED):
        op.create_index(f"ix_device_{name}_id", "device", [name, "id"])
    op.create_table(
        "device_ip",
        sa.Column("device_id", _id(), nullable=False),
        sa.Column("ip", sa.Text(), nullable=False),
        _ns("first_ns"),
        _ns("last_ns"),
        sa.Column("source", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name="fk_device_ip_device_id_device", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("device_id", "ip", name="pk_device_ip"),
    )
    op.create_index("ix_device_ip_ip", "device_ip", ["ip"])
    op.create_table(
        "device_attribute",
        sa.Column("device_id", _id(), nullable=False),
        sa.Column("attribute", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("chosen_by", sa.Text(), nullable=False),
        sa.Column("conflict_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name="fk_device_attribute_device_id_device", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("device_id", "attribute", name="pk_device_attribute"),
    )
    op.create_table(
        "evidence",
        sa.Column("device_id", _id(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("attribute", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("observation_uid", sa.Text()),
        _ns("first_ns"),
        _ns("last_ns"),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name="fk_evidence_device_id_device", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("device_id", "seq", name="pk_evidence"),
    )
    op.create_index("ix_evidence_observation_uid", "evidence", ["observation_uid"])


def downgrade() -> None:
    for table in (
        "evidence",
        "device_attribute",
        "device_ip",
        "device",
        "conversation",
        "sighting",
        "observation",
        "flow",
        "capture",
    ):
        op.drop_table(table)
