"""The events wardwatch reports to a SIEM: a new device, a new high-risk finding.

An :class:`Event` carries only inventory facts (addresses, vendor, model, type) and finding
identifiers; there is no field for anything about patients, and none is ever added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from sqlalchemy import select

from wardwatch.services.present import current_ip, iso
from wardwatch.store import schema as s
from wardwatch.store.sql import SqlTransaction


class EventKind(StrEnum):
    """What happened."""

    NEW_DEVICE = "new-device"
    HIGH_RISK_FINDING = "high-risk-finding"


class Severity(IntEnum):
    """Syslog severities (RFC 5424 section 6.2.1) used by wardwatch events."""

    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFORMATIONAL = 6


@dataclass(frozen=True, slots=True)
class Event:
    """One thing to tell a SIEM. ``fields`` are flat strings (device facts, finding ids)."""

    kind: EventKind
    at_ns: int
    severity: Severity
    message: str
    device_id: int | None = None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def at(self) -> str:
        """ISO 8601 UTC time of the event."""
        return iso(self.at_ns) or ""


def new_device_events(tx: SqlTransaction, *, since_ns: int, limit: int = 10_000) -> list[Event]:
    """A NOTICE event per device first seen at or after ``since_ns``, oldest first."""
    d = s.device
    ids = [
        int(i)
        for i in tx.conn.execute(
            select(d.c.id).where(d.c.first_ns >= since_ns).order_by(d.c.first_ns, d.c.id).limit(limit)
        ).scalars()
    ]
    events = []
    for device_id in ids:
        device = tx.get_device(str(device_id))
        if device is None:
            continue
        facts = {
            "mac": device.mac or "",
            "ip": current_ip(device) or "",
            "vendor": device.value("vendor") or "",
            "model": device.value("model") or "",
            "serial": device.value("serial") or "",
            "device_type": device.value("device_type") or "",
            "clinical_category": device.value("clinical_category") or "",
            "hostname": device.value("hostname") or "",
        }
        label = " ".join(x for x in (facts["vendor"], facts["model"]) if x) or "unidentified device"
        events.append(
            Event(
                kind=EventKind.NEW_DEVICE,
                at_ns=device.first_ns,
                severity=Severity.NOTICE,
                message=f"new device {label} at {facts['ip'] or facts['mac'] or device.key}",
                device_id=device_id,
                fields={k: v for k, v in facts.items() if v},
            )
        )
    return events


def finding_event(
    *,
    at_ns: int,
    device_id: int,
    vulnerability: str,
    score: float,
    ip: str = "",
    mac: str = "",
    detail: Sequence[tuple[str, str]] = (),
) -> Event:
    """An event for a new high-risk finding (the findings service decides what is high-risk)."""
    severity = Severity.CRITICAL if score >= 9 else Severity.ERROR if score >= 7 else Severity.WARNING
    fields = {"vulnerability": vulnerability, "score": f"{score:.1f}", "ip": ip, "mac": mac, **dict(detail)}
    return Event(
        kind=EventKind.HIGH_RISK_FINDING,
        at_ns=at_ns,
        severity=severity,
        message=f"{vulnerability} (score {score:.1f}) affects device {device_id}",
        device_id=device_id,
        fields={k: v for k, v in fields.items() if v},
    )
