"""POCT1-A (CLSI POCT1-A2) device messaging: the HEL.R01 Hello message's DEV object.

References: CLSI POCT1-A2 "Point-of-Care Connectivity" (2006), Device Messaging Layer: every
message is an XML document whose root is the message type (``HEL.R01``, ``DST.R01``, ``OBS.R01``
...), with ``HDR`` (``HDR.control_id``, ``HDR.version_id``, ``HDR.creation_dttm``) and, in the
Hello, a ``DEV`` object: ``DEV.device_id``, ``DEV.vendor_id``, ``DEV.model_id``,
``DEV.serial_id``, ``DEV.manufacturer_name``, ``DEV.hw_version``, ``DEV.sw_version``,
``DEV.device_name``; values are carried in the ``V`` attribute (``<DEV.model_id V="..."/>``).
Transport is a TCP connection from the device (or its docking station) to the observation
manager on a site-configured port, so detection is by content.

The sender of the HEL.R01 is the device: the observation is about ``ctx.src``. Only HEL.R01 is
read; observation (OBS.R01), patient and operator data are never touched. XML is read with the
safe scanner of :mod:`wardwatch.sensor.dissect.sdc` (DTD/ENTITY documents rejected).
"""

from __future__ import annotations

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext
from wardwatch.sensor.dissect.sdc import has_dtd, observe, scan_elements

MAX_SCAN = 16384
MARKER = b"<HEL.R01"

#: DEV element -> field.
DEV_FIELDS: dict[str, str] = {
    "DEV.device_id": "poct1.device_id",
    "DEV.vendor_id": "poct1.vendor_id",
    "DEV.model_id": "poct1.model_id",
    "DEV.serial_id": "poct1.serial_id",
    "DEV.manufacturer_name": "poct1.manufacturer",
    "DEV.hw_version": "poct1.hw_version",
    "DEV.sw_version": "poct1.sw_version",
    "DEV.device_name": "poct1.device_name",
}


def parse_hello(payload: bytes) -> dict[str, str]:
    """DEV fields of the first HEL.R01 in the stream prefix ({} if none)."""
    start = payload.find(MARKER, 0, MAX_SCAN)
    if start < 0 or has_dtd(payload[:MAX_SCAN]):
        return {}
    end = payload.find(b"</HEL.R01>", start)
    body = payload[start : end + 10 if end >= 0 else start + MAX_SCAN]
    fields: dict[str, str] = {}
    version = ""
    for el in scan_elements(body):
        if el.name == "HDR.version_id" and "HDR" in el.path:
            version = el.attr("V")
        key = DEV_FIELDS.get(el.name)
        if key is None or "DEV" not in el.path[:-1] or key in fields:
            continue
        # some devices put the value in the text instead of (or besides) V: V wins
        value = el.attr("V") or el.text
        if value:
            fields[key] = value
    if fields and version:
        fields["poct1.version"] = version
    return fields


class Poct1Dissector:
    """HEL.R01 in a TCP stream prefix (any port) -> one observation about the device."""

    name = "poct1"
    transports = frozenset({Transport.TCP})
    udp_ports: frozenset[int] = frozenset()
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """A POCT1-A Hello near the start of the stream."""
        return MARKER in payload[:1024]

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Never raises."""
        try:
            fields = parse_hello(payload)
        except Exception:
            return []
        if not fields:
            return []
        return [observe(ctx, self.name, fields)]


DISSECTORS: list[Poct1Dissector] = [Poct1Dissector()]

FIELDS: dict[str, str] = {
    "poct1.device_id": "HEL.R01 DEV.device_id (often the device's MAC address or a site id).",
    "poct1.vendor_id": "HEL.R01 DEV.vendor_id (vendor code).",
    "poct1.model_id": "HEL.R01 DEV.model_id.",
    "poct1.serial_id": "HEL.R01 DEV.serial_id.",
    "poct1.manufacturer": "HEL.R01 DEV.manufacturer_name.",
    "poct1.hw_version": "HEL.R01 DEV.hw_version.",
    "poct1.sw_version": "HEL.R01 DEV.sw_version.",
    "poct1.device_name": "HEL.R01 DEV.device_name.",
    "poct1.version": "HEL.R01 HDR.version_id (protocol version, 'POCT1').",
}
