"""Tables of one subsystem: FDA recalls, CMMS assets and alerts (issue 8).

They are declared on the shared :data:`wardwatch.store.schema.metadata` (so the contract tests'
schema check and table reset see them) and built by migration ``0004_recall``.

* ``recall``: one recalled product per FDA recall number, merged from the recall and enforcement
  endpoints; the searchable fields are columns, the whole normalised record (with the
  identifiers read from its text) is the ``data`` JSON. Re-importing replaces it (idempotent;
  status updates applied).
* ``asset``: the last imported CMMS asset list, one row per asset tag (``data`` keeps every
  mapped column and the file/row it came from, for provenance).
* ``alert``: recall/missing/moved/new alerts. ``dedup_key`` is unique: raising the same condition
  again bumps ``last_ns``/``count`` instead of adding a row; a closed alert raised again reopens.
  No foreign key to ``device``: an alert outlives a device removed from the inventory.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Table, Text

from wardwatch.store.schema import _id_type, _ns, metadata

recall = Table(
    "recall",
    metadata,
    Column("uid", Text, primary_key=True),
    Column("number", Text),
    Column("event_id", Text),
    Column("recalling_firm", Text, nullable=False),
    Column("product_code", Text),
    Column("classification", Text),
    Column("status", Text, nullable=False),
    Column("initiated", Text),
    Column("terminated", Text),
    Column("data", JSON, nullable=False),
    _ns("imported_ns"),
    Index(None, "product_code"),
    Index(None, "status"),
)

asset = Table(
    "asset",
    metadata,
    Column("tag", Text, primary_key=True),
    Column("serial", Text),
    Column("model", Text),
    Column("manufacturer", Text),
    Column("mac", Text),
    Column("hostname", Text),
    Column("ip", Text),
    Column("source", Text, nullable=False),
    Column("data", JSON, nullable=False),
    _ns("imported_ns"),
    Index(None, "serial"),
    Index(None, "mac"),
)

alert = Table(
    "alert",
    metadata,
    Column("id", _id_type(), primary_key=True, autoincrement=True),
    Column("dedup_key", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("device_id", BigInteger),
    Column("asset_tag", Text),
    Column("evidence", JSON, nullable=False),
    _ns("first_ns"),
    _ns("last_ns"),
    Column("count", BigInteger, nullable=False),
    _ns("updated_ns"),
    Index(None, "state", "kind"),
)

__all__ = ["alert", "asset", "recall"]
