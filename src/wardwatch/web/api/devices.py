"""Devices: list (search, filter, sort, page), export (CSV, JSON), one device with its evidence,
observations, network peers; and conversations, observations and flows by address."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse

from wardwatch.model.device import Device
from wardwatch.services import present
from wardwatch.store.schema import parse_sort
from wardwatch.store.sql import SqlTransaction
from wardwatch.web.api.common import MAX_LIMIT, MAX_OFFSET, clean_text, read, safe_ref
from wardwatch.web.queries import InventoryQuery, Match, inventory, iter_inventory, peers

router = APIRouter(tags=["devices"])

Tx = Annotated[SqlTransaction, Depends(read)]


class ExportFormat(StrEnum):
    """Export formats."""

    CSV = "csv"
    JSON = "json"


def inventory_query(
    search: Annotated[
        str | None, Query(max_length=200, description="MAC, IP prefix, host name, vendor, model or serial")
    ] = None,
    sort: Annotated[str, Query(max_length=40, description="column, '-column' for descending")] = "id",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    vendor: Annotated[str | None, Query(max_length=200)] = None,
    device_type: Annotated[str | None, Query(max_length=200)] = None,
    clinical_category: Annotated[str | None, Query(max_length=200)] = None,
    match: Annotated[
        Match, Query(description="prefix (indexed), substring (full scan), auto: prefix, else substring")
    ] = Match.AUTO,
) -> InventoryQuery:
    """The inventory query from request parameters (shared with the inventory page)."""
    filters: dict[str, str] = {}
    for name, value in (
        ("vendor", vendor),
        ("device_type", device_type),
        ("clinical_category", clinical_category),
    ):
        if value and clean_text(value, name):
            filters[name] = value
    return InventoryQuery(
        search=clean_text(search, "search"),
        sort=sort,
        limit=limit,
        offset=offset,
        filters=filters,
        match=match,
    )


def _page(tx: SqlTransaction, q: InventoryQuery) -> tuple[list[Any], int, Match]:
    try:
        return inventory(tx, q)
    except ValueError as e:  # unknown sort column
        raise HTTPException(status_code=400, detail=str(e)) from None


@router.get("/devices", summary="List devices")
def list_devices(tx: Tx, q: Annotated[InventoryQuery, Depends(inventory_query)]) -> dict[str, Any]:
    """One page of devices matching the search and filters, and the total count."""
    rows, total, match = _page(tx, q)
    return {
        "schema": present.DEVICES_SCHEMA,
        "total": total,
        "match": match.value,
        "limit": q.limit,
        "offset": q.offset,
        "items": [r.json() for r in rows],
    }


@router.get("/devices/export", summary="Export devices as CSV or JSON")
def export_devices(
    tx: Tx,
    q: Annotated[InventoryQuery, Depends(inventory_query)],
    format: ExportFormat = ExportFormat.CSV,
) -> StreamingResponse:
    """Every device matching the search and filters (paging ignored), streamed."""
    try:
        parse_sort(q.sort)
    except ValueError as e:
        raise HTTPException(status_code=400, detail=str(e)) from None
    rows = list(iter_inventory(tx, q))  # read inside this request's transaction
    if format is ExportFormat.JSON:

        def body_json() -> Iterator[str]:
            yield json.dumps({"schema": present.DEVICES_SCHEMA})[:-1] + ', "items": ['
            for i, row in enumerate(rows):
                yield ("," if i else "") + json.dumps(row.json())
            yield "]}\n"

        return StreamingResponse(
            body_json(),
            media_type="application/json",
            headers={"content-disposition": 'attachment; filename="wardwatch-devices.json"'},
        )

    def body_csv() -> Iterator[str]:
        buffer = io.StringIO()
        writer: csv.DictWriter[str] | None = None
        for row in rows:
            data = row.json()
            if writer is None:
                writer = csv.DictWriter(buffer, fieldnames=list(data), lineterminator="\n")
                writer.writeheader()
            writer.writerow({k: "" if v is None else v for k, v in data.items()})
            if buffer.tell() > 65536:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        body_csv(),
        media_type="text/csv",
        headers={"content-disposition": 'attachment; filename="wardwatch-devices.csv"'},
    )


def device_or_404(tx: SqlTransaction, ref: str) -> Device:
    """The device behind a reference (id, key, MAC, IP) or a 404."""
    device = tx.get_device(ref) if safe_ref(ref) else None
    if device is None:
        raise HTTPException(status_code=404, detail=f"no device {ref!r}")
    return device


@router.get("/devices/{ref}", summary="One device with the evidence for every attribute")
def get_device(tx: Tx, ref: str) -> dict[str, Any]:
    """A device by id, key, MAC or IP, each attribute with its evidence and conflicts."""
    device = device_or_404(tx, ref)
    assert device.id is not None
    data = present.device_json(device, evidence=tx.device_evidence(device.id))
    data["schema"] = present.DEVICE_SCHEMA
    return data


@router.get("/devices/{ref}/evidence", summary="A device's evidence")
def device_evidence(tx: Tx, ref: str) -> dict[str, Any]:
    """Every piece of evidence behind the device's attributes, in rule order."""
    device = device_or_404(tx, ref)
    assert device.id is not None
    return {
        "device": device.id,
        "items": [
            {"attribute": str(e.attribute), **present.evidence_json(e)} for e in tx.device_evidence(device.id)
        ],
    }


def _observation_json(o: Any) -> dict[str, Any]:
    return {
        "uid": o.uid,
        "protocol": o.protocol,
        "mac": o.mac,
        "ip": o.ip,
        "fields": {k: list(v) if isinstance(v, tuple) else v for k, v in o.fields.items()},
        "first_seen": present.iso(o.first_ns),
        "last_seen": present.iso(o.last_ns),
        "first_flow": o.first_flow_uid,
        "last_flow": o.last_flow_uid,
        "count": o.count,
    }


@router.get("/devices/{ref}/observations", summary="Observations of a device")
def device_observations(tx: Tx, ref: str) -> dict[str, Any]:
    """What the sensor saw from the device's MAC and IPs (policy-neutral facts)."""
    device = device_or_404(tx, ref)
    found = tx.observations(macs=[device.mac] if device.mac else [], ips=[i.ip for i in device.ips])
    return {"device": device.id, "items": [_observation_json(o) for o in found]}


@router.get("/devices/{ref}/peers", summary="Network peers of a device")
def device_peers(tx: Tx, ref: str) -> dict[str, Any]:
    """Hosts the device talked to, from stored conversations, busiest first."""
    device = device_or_404(tx, ref)
    return {"device": device.id, "items": [p.json() for p in peers(tx, device)]}


@router.get("/conversations", summary="Conversations")
def list_conversations(
    tx: Tx,
    ip: Annotated[
        str | None, Query(max_length=64, description="only those with this IP on either side")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Conversations (flows aggregated by client, server, transport and port)."""
    ip = clean_text(ip, "ip")
    found = tx.conversations(ips=[ip] if ip else [])
    items = [
        {
            "client_ip": c.client_ip,
            "client_mac": c.client_mac,
            "server_ip": c.server_ip,
            "server_mac": c.server_mac,
            "transport": str(c.transport),
            "server_port": c.server_port,
            "first_seen": present.iso(c.first_ns),
            "last_seen": present.iso(c.last_ns),
            "flows": c.flows,
            "packets": c.packets,
            "bytes": c.bytes,
        }
        for c in found[offset : offset + limit]
    ]
    return {"total": len(found), "limit": limit, "offset": offset, "items": items}


@router.get("/observations", summary="Observations by subject address")
def list_observations(
    tx: Tx,
    mac: Annotated[str | None, Query(max_length=64)] = None,
    ip: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Observations whose subject has this MAC or IP (one of the two is required)."""
    mac, ip = clean_text(mac, "mac"), clean_text(ip, "ip")
    if not mac and not ip:
        raise HTTPException(status_code=400, detail="give mac or ip")
    found = tx.observations(macs=[mac.lower()] if mac else [], ips=[ip] if ip else [])
    return {"items": [_observation_json(o) for o in found]}


@router.get("/flows/{uid}", summary="One flow")
def get_flow(tx: Tx, uid: str) -> dict[str, Any]:
    """A flow by uid (observations point to flows, flows to packets)."""
    flow = tx.flow(uid) if "\x00" not in uid else None
    if flow is None:
        raise HTTPException(status_code=404, detail=f"no flow {uid!r}")
    data: dict[str, Any] = {
        k: getattr(flow, k)
        for k in (
            "uid",
            "a_mac",
            "a_ip",
            "a_port",
            "b_mac",
            "b_ip",
            "b_port",
            "vlan",
            "packets_ab",
            "packets_ba",
            "bytes_ab",
            "bytes_ba",
            "server",
            "ended_by",
            "ethertype",
        )
    }
    data["transport"] = str(flow.transport)
    data["first_seen"] = present.iso(flow.first_ns)
    data["last_seen"] = present.iso(flow.last_ns)
    return data
