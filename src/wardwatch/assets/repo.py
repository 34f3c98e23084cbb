"""Asset list storage on a SQLAlchemy connection (inside the caller's transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any

from sqlalchemy import Connection, delete, select

from wardwatch.model.recall import Asset
from wardwatch.store.schema_recall import asset as asset_table

_NAMES = tuple(f.name for f in fields(Asset))


def replace_assets(conn: Connection, assets: Sequence[Asset], *, now_ns: int) -> int:
    """Make ``assets`` the stored asset list (the CMMS export is the whole truth of its day: an asset
    no longer in it was retired). Returns how many were stored."""
    conn.execute(delete(asset_table))
    rows = [
        {
            "tag": a.tag,
            "serial": a.serial,
            "model": a.model,
            "manufacturer": a.manufacturer,
            "mac": a.mac,
            "hostname": a.hostname,
            "ip": a.ip,
            "source": a.source,
            "data": asdict(a),
            "imported_ns": now_ns,
        }
        for a in assets
    ]
    for start in range(0, len(rows), 1000):
        conn.execute(asset_table.insert(), rows[start : start + 1000])
    return len(rows)


def _asset(data: dict[str, Any]) -> Asset:
    return Asset(**{k: v for k, v in data.items() if k in _NAMES})


def list_assets(conn: Connection) -> list[Asset]:
    """The stored asset list, by tag."""
    return [_asset(row.data) for row in conn.execute(select(asset_table.c.data).order_by(asset_table.c.tag))]
