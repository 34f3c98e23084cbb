"""Inventory export for CMMS/CMDB import: one CSV row per device with the column names those
systems' import maps expect (ServiceNow-style CI fields; any CMMS can map them).

Every row carries ``discovery_source`` and the wardwatch id, so a re-import updates rather than
duplicates; ``confidence`` columns say how sure identification is of the make, model and serial.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from wardwatch.model.device import Device
from wardwatch.services.present import current_ip, iso

COLUMNS: tuple[str, ...] = (
    "name",
    "serial_number",
    "manufacturer",
    "model_id",
    "model_number",
    "mac_address",
    "ip_address",
    "device_type",
    "clinical_category",
    "os",
    "os_version",
    "firmware_version",
    "location",
    "first_discovered",
    "last_discovered",
    "discovery_source",
    "correlation_id",
    "manufacturer_confidence",
    "model_confidence",
    "serial_confidence",
)


def _confidence(device: Device, attribute: str) -> str:
    resolved = device.attributes.get(attribute)
    return f"{resolved.confidence:.2f}" if resolved else ""


def row(device: Device) -> dict[str, str]:
    """One CMDB row."""
    name = (
        device.value("hostname") or device.value("serial") or current_ip(device) or device.mac or device.key
    )
    return {
        "name": name,
        "serial_number": device.value("serial") or "",
        "manufacturer": device.value("vendor") or "",
        "model_id": device.value("model") or "",
        "model_number": device.value("model_number") or "",
        "mac_address": device.mac or "",
        "ip_address": current_ip(device) or "",
        "device_type": device.value("device_type") or "",
        "clinical_category": device.value("clinical_category") or "",
        "os": device.value("os") or "",
        "os_version": device.value("os_version") or "",
        "firmware_version": device.value("firmware") or "",
        "location": device.value("location") or "",
        "first_discovered": iso(device.first_ns) or "",
        "last_discovered": iso(device.last_ns) or "",
        "discovery_source": "wardwatch",
        "correlation_id": f"wardwatch:{device.key}",
        "manufacturer_confidence": _confidence(device, "vendor"),
        "model_confidence": _confidence(device, "model"),
        "serial_confidence": _confidence(device, "serial"),
    }


def _cell(value: str) -> str:
    # Spreadsheet formula injection: a CMDB export is often opened in a spreadsheet first, and a
    # host name like "=HYPERLINK(...)" must stay text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export_csv(devices: Iterable[Device]) -> Iterator[str]:
    """The CSV, in chunks (header first)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    for device in devices:
        writer.writerow({k: _cell(v) for k, v in row(device).items()})
        if buffer.tell() > 65536:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
