"""Captures: the discovery runs, each with its source, size, time span and statistics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from wardwatch.services.present import iso
from wardwatch.store.ports import CaptureRecord
from wardwatch.store.sql import SqlTransaction
from wardwatch.web.api.common import read

router = APIRouter(tags=["captures"])


def capture_json(c: CaptureRecord) -> dict[str, Any]:
    """One capture as JSON."""
    return {
        "id": c.id,
        "source": c.source,
        "sha256": c.sha256,
        "packets": c.packets,
        "bytes": c.bytes,
        "first_packet": iso(c.first_ns),
        "last_packet": iso(c.last_ns),
        "started_at": c.started_at,
        "finished_at": c.finished_at,
        "stats": c.stats,
        "error": c.error,
    }


@router.get("/captures", summary="List captures")
def list_captures(tx: Annotated[SqlTransaction, Depends(read)]) -> dict[str, Any]:
    """Every discovery run, newest first."""
    items = sorted(tx.captures(), key=lambda c: c.id or 0, reverse=True)
    return {"items": [capture_json(c) for c in items]}
