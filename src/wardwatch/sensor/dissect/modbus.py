"""Modbus/TCP Read Device Identification (function 43, MEI type 14), tcp 502 or by content.

References: Modbus Messaging on TCP/IP Implementation Guide V1.0b §3.1.3 (MBAP header:
transaction id, protocol id 0, length, unit id), Modbus Application Protocol Specification
V1.1b3 §6.21 (43 / 14 Read Device Identification: request ``2B 0E ReadDevId ObjectId``; response
``2B 0E ReadDevId Conformity MoreFollows NextObjectId NumberOfObjects`` then ``id, length,
value`` objects: 0 VendorName, 1 ProductCode, 2 MajorMinorRevision (basic); 3 VendorUrl,
4 ProductName, 5 ModelName, 6 UserApplicationName (regular); 0x80-0xFF private (extended,
not read)) and §7 (exception responses, function | 0x80).

The stream prefix of the server-to-client direction is walked MBAP frame by MBAP frame (at most
:data:`MAX_FRAMES`); the objects of every 43/14 response are merged (a client reads basic, then
regular, and follows MoreFollows). The observation is about the sender, the Modbus server.
"""

from __future__ import annotations

from wardwatch.model.flow import Transport
from wardwatch.model.observation import FieldValue, Observation
from wardwatch.sensor.dissect.base import PacketContext, safe_text
from wardwatch.sensor.dissect.sdc import observe

MAX_FRAMES = 64
MEI_READ_DEVICE_ID = 0x0E
FUNCTION_MEI = 0x2B

#: Object id -> field (Modbus Application Protocol V1.1b3 table in §6.21).
OBJECTS: dict[int, str] = {
    0: "modbus.vendor_name",
    1: "modbus.product_code",
    2: "modbus.revision",
    3: "modbus.vendor_url",
    4: "modbus.product_name",
    5: "modbus.model_name",
    6: "modbus.user_application_name",
}


def frames(data: bytes) -> list[tuple[int, bytes]]:
    """(unit id, PDU) of each well-formed MBAP frame at the start of ``data``."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while len(out) < MAX_FRAMES and pos + 8 <= len(data):
        proto = int.from_bytes(data[pos + 2 : pos + 4], "big")
        length = int.from_bytes(data[pos + 4 : pos + 6], "big")
        if proto != 0 or not 2 <= length <= 254:
            break
        out.append((data[pos + 6], data[pos + 7 : pos + 6 + length]))
        pos += 6 + length
    return out


def parse_device_id(pdu: bytes) -> dict[int, str] | None:
    """Objects of a 43/14 response PDU, or None if the PDU is not one."""
    if len(pdu) < 7 or pdu[0] != FUNCTION_MEI or pdu[1] != MEI_READ_DEVICE_ID:
        return None
    count = pdu[6]
    objects: dict[int, str] = {}
    pos = 7
    for _ in range(count):
        if pos + 2 > len(pdu):
            break
        obj_id, length = pdu[pos], pdu[pos + 1]
        if pos + 2 + length > len(pdu):
            break  # cut short by the stream prefix: a partial value would be a wrong value
        value = pdu[pos + 2 : pos + 2 + length]
        pos += 2 + length
        if obj_id in OBJECTS and obj_id not in objects:
            text = safe_text(value)
            if text:
                objects[obj_id] = text
    return objects


class ModbusDissector:
    """Read Device Identification responses in a Modbus/TCP stream -> one observation."""

    name = "modbus"
    transports = frozenset({Transport.TCP})
    udp_ports: frozenset[int] = frozenset()
    tcp_ports = frozenset({502})
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """An MBAP frame (protocol id 0, consistent length) carrying function 43 / MEI 14."""
        return (
            len(payload) >= 10
            and payload[2:4] == b"\x00\x00"
            and 2 <= int.from_bytes(payload[4:6], "big") <= 254
            and payload[7] == FUNCTION_MEI
            and payload[8] == MEI_READ_DEVICE_ID
        )

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Never raises."""
        try:
            merged: dict[int, str] = {}
            conformity = None
            unit = None
            for unit_id, pdu in frames(payload):
                objects = parse_device_id(pdu)
                if objects is None:
                    continue
                if conformity is None:
                    conformity, unit = pdu[3], unit_id
                for key, value in objects.items():
                    merged.setdefault(key, value)
        except Exception:
            return []
        if not merged:
            return []
        fields: dict[str, FieldValue] = {OBJECTS[k]: v for k, v in sorted(merged.items())}
        if conformity is not None:
            fields["modbus.conformity_level"] = conformity
        if unit is not None:
            fields["modbus.unit_id"] = unit
        return [observe(ctx, self.name, fields)]


DISSECTORS: list[ModbusDissector] = [ModbusDissector()]

FIELDS: dict[str, str] = {
    "modbus.vendor_name": "Read Device Identification object 0x00 VendorName.",
    "modbus.product_code": "Object 0x01 ProductCode.",
    "modbus.revision": "Object 0x02 MajorMinorRevision.",
    "modbus.vendor_url": "Object 0x03 VendorUrl.",
    "modbus.product_name": "Object 0x04 ProductName.",
    "modbus.model_name": "Object 0x05 ModelName.",
    "modbus.user_application_name": "Object 0x06 UserApplicationName.",
    "modbus.conformity_level": "Conformity level byte of the first 43/14 response (0x01-0x03, 0x81-0x83).",
    "modbus.unit_id": "MBAP unit identifier of the first 43/14 response.",
}
