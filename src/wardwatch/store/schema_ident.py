"""Tables of one subsystem: identification overrides and re-identification runs (issue 3).

They are declared on the shared :data:`wardwatch.store.schema.metadata` (so the contract tests'
schema check and table reset see them) and built by migration ``0002_ident``.

* ``device_override``: what a person set for one attribute of one device. Keyed by the device
  *key* (not the row id) because keys survive re-identification. Rows are never deleted: a newer
  override of the same attribute, or a clear, ends the old row (``active`` false, ``ended_*``).
* ``identification_run``: each inventory rebuild, with the knowledge version it used and what
  changed, so "why did this device's type change last Tuesday" has an answer.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Index, Integer, Table, Text

from wardwatch.store.schema import _id_type, _ns, metadata

device_override = Table(
    "device_override",
    metadata,
    Column("id", _id_type(), primary_key=True, autoincrement=True),
    Column("device_key", Text, nullable=False),
    Column("attribute", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("author", Text, nullable=False),
    _ns("created_ns"),
    Column("active", Boolean, nullable=False),
    _ns("ended_ns", nullable=True),
    Column("ended_by", Text),
    Index(None, "device_key", "attribute"),
)

identification_run = Table(
    "identification_run",
    metadata,
    Column("id", _id_type(), primary_key=True, autoincrement=True),
    Column("trigger", Text, nullable=False),
    Column("knowledge_version", Text, nullable=False),
    _ns("started_ns"),
    _ns("finished_ns"),
    Column("devices", Integer, nullable=False),
    Column("devices_new", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("changes", JSON, nullable=False),
    Column("author", Text),
)

__all__ = ["device_override", "identification_run"]
