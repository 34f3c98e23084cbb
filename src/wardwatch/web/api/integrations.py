"""Integration endpoints: the CMMS/CMDB inventory export and the SIEM event feed (pull)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from wardwatch.integrations import cmdb
from wardwatch.integrations.cef import format_cef
from wardwatch.integrations.events import new_device_events
from wardwatch.integrations.syslog import format_rfc5424
from wardwatch.integrations.webhook import payload
from wardwatch.model.device import Device
from wardwatch.store.sql import SqlTransaction
from wardwatch.web.api.common import read

router = APIRouter(tags=["integrations"])
PAGE = 1000


def all_devices(tx: SqlTransaction) -> Iterator[Device]:
    """Every device, by id, read in pages."""
    offset = 0
    while True:
        page = tx.list_devices(limit=PAGE, offset=offset)
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE


@router.get("/export/cmdb", summary="Inventory export for CMMS/CMDB import (CSV)")
def export_cmdb(tx: Annotated[SqlTransaction, Depends(read)]) -> StreamingResponse:
    """One row per device with CMDB-style column names, confidences and a correlation id."""
    chunks = list(cmdb.export_csv(all_devices(tx)))  # read inside this request's transaction
    return StreamingResponse(
        iter(chunks),
        media_type="text/csv",
        headers={"content-disposition": 'attachment; filename="wardwatch-cmdb.csv"'},
    )


@router.get("/events", summary="New-device events since a time (SIEM pull)")
def events(
    tx: Annotated[SqlTransaction, Depends(read)],
    since_ns: Annotated[
        int, Query(ge=0, le=2**62, description="first-seen at or after (ns since epoch)")
    ] = 0,
    format: Annotated[str, Query(pattern="^(json|rfc5424|cef)$")] = "json",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Any:
    """Events as JSON objects (the webhook body), RFC 5424 lines or CEF lines."""
    found = new_device_events(tx, since_ns=since_ns, limit=limit)
    if format == "json":
        return {"items": [payload(e) for e in found]}
    lines = [format_rfc5424(e) if format == "rfc5424" else format_cef(e) for e in found]
    return StreamingResponse(iter(["\n".join(lines) + ("\n" if lines else "")]), media_type="text/plain")
