"""Stable JSON and CSV forms of devices (documented in docs/json.md; schema names carry a version)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from wardwatch.model.device import Attribute, Device, Evidence, ResolvedAttribute

DEVICES_SCHEMA = "wardwatch.devices/1"
DEVICE_SCHEMA = "wardwatch.device/1"

#: Attribute columns, in the order tables and CSV show them.
COLUMNS: tuple[str, ...] = (
    Attribute.HOSTNAME,
    Attribute.VENDOR,
    Attribute.MODEL,
    Attribute.MODEL_NUMBER,
    Attribute.SERIAL,
    Attribute.DEVICE_TYPE,
    Attribute.CLINICAL_CATEGORY,
    Attribute.OS,
    Attribute.OS_VERSION,
    Attribute.FIRMWARE,
)


def iso(ns: int | None) -> str | None:
    """Nanoseconds since the epoch as ISO 8601 UTC with microseconds, or None."""
    if ns is None:
        return None
    seconds, rest = divmod(int(ns), 1_000_000_000)
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=rest // 1000)
    return stamp.isoformat().replace("+00:00", "Z")


def current_ip(device: Device) -> str | None:
    """The most recently seen IP of a device."""
    if not device.ips:
        return None
    return max(device.ips, key=lambda i: (i.last_ns, i.ip)).ip


def evidence_json(item: Evidence) -> dict[str, Any]:
    """One piece of evidence."""
    return {
        "value": item.value,
        "confidence": round(item.confidence, 3),
        "rule": item.rule,
        "observation": item.observation_uid,
        "first_seen": iso(item.first_ns),
        "last_seen": iso(item.last_ns),
        "detail": item.detail,
    }


def attribute_json(resolved: ResolvedAttribute, *, with_evidence: bool) -> dict[str, Any]:
    """A resolved attribute, with its evidence and conflicts when asked."""
    data: dict[str, Any] = {
        "value": resolved.value,
        "confidence": round(resolved.confidence, 3),
        "chosen_by": resolved.chosen_by,
    }
    if with_evidence:
        data["evidence"] = [evidence_json(e) for e in resolved.evidence]
        data["conflicts"] = [evidence_json(e) for e in resolved.conflicts]
    return data


def device_json(device: Device, *, evidence: list[Evidence] | None = None) -> dict[str, Any]:
    """A device. With ``evidence`` (all of it, from the store), every attribute lists its own."""
    attributes: dict[str, Any] = {}
    for name in sorted(device.attributes):
        resolved = device.attributes[name]
        if evidence is not None:
            for_value = tuple(
                e for e in evidence if str(e.attribute) == name and _same(e.value, resolved.value)
            )
            against = tuple(
                e for e in evidence if str(e.attribute) == name and not _same(e.value, resolved.value)
            )
            resolved = ResolvedAttribute(
                attribute=resolved.attribute,
                value=resolved.value,
                confidence=resolved.confidence,
                chosen_by=resolved.chosen_by,
                evidence=for_value,
                conflicts=against,
            )
        attributes[name] = attribute_json(resolved, with_evidence=evidence is not None)
    data: dict[str, Any] = {
        "id": device.id,
        "key": device.key,
        "mac": device.mac,
        "mac_randomized": device.mac_randomized,
        "ip": current_ip(device),
        "first_seen": iso(device.first_ns),
        "last_seen": iso(device.last_ns),
    }
    for column in COLUMNS:
        data[str(column)] = device.value(column)
    data["ips"] = [
        {"ip": i.ip, "first_seen": iso(i.first_ns), "last_seen": iso(i.last_ns), "source": i.source}
        for i in sorted(device.ips, key=lambda i: (i.first_ns, i.ip))
    ]
    data["attributes"] = attributes
    return data


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def csv_row(device: Device) -> dict[str, Any]:
    """A flat row for CSV export."""
    row: dict[str, Any] = {
        "id": device.id,
        "mac": device.mac or "",
        "ip": current_ip(device) or "",
        "first_seen": iso(device.first_ns),
        "last_seen": iso(device.last_ns),
    }
    for column in COLUMNS:
        row[str(column)] = device.value(column) or ""
    row["mac_randomized"] = device.mac_randomized
    return row
