"""BACnet/IP (ASHRAE 135) I-Am and device-object ReadProperty(-Multiple) ACKs, udp 47808.

References: ANSI/ASHRAE 135-2020 Annex J.2 (BVLL: type 0x81, function, length; Forwarded-NPDU
carries a 6-byte original source B/IP address), §6.2 (NPDU: version 1, control octet with DNET
/ SNET / network-message bits, hop count after the source spec), §20.1 (APDU types: 1
Unconfirmed-Request, 3 Complex-ACK with segmentation bits), §20.2 (tag encoding: tag number,
class, length/value/type, extended lengths, opening/closing tags 6/7), §16.10 (I-Am: device
object identifier, max APDU, segmentation, vendor identifier), §15.5 / §15.7 (ReadProperty-ACK,
ReadPropertyMultiple-ACK), §12.11 (Device object properties: object-name 77, vendor-name 121,
vendor-identifier 120, model-name 70, firmware-revision 44, application-software-version 12,
description 28, location 58, serial-number 372), §21 (CharacterString: a charset octet, 0 =
UTF-8, 4 = UCS-2, 5 = ISO 8859-1).

Only properties of the *device* object (object type 8) are read: names of analog inputs or
schedules are building data, not identity. Every observation is about its sender. The vendor
identifier is stored as the number; its name comes from the knowledge base (rules.d/bacnet.json,
the ASHRAE vendor ID table), keeping meaning out of the sensor.
"""

from __future__ import annotations

from wardwatch.model.flow import Transport
from wardwatch.model.observation import FieldValue, Observation
from wardwatch.sensor.dissect.base import PacketContext, safe_text
from wardwatch.sensor.dissect.sdc import observe

PORT = 47808
OBJECT_DEVICE = 8
MAX_ITEMS = 64

#: Device-object property identifier -> field.
PROPERTIES: dict[int, str] = {
    77: "bacnet.object_name",
    121: "bacnet.vendor_name",
    70: "bacnet.model_name",
    44: "bacnet.firmware_revision",
    12: "bacnet.application_software_version",
    28: "bacnet.description",
    58: "bacnet.location",
    372: "bacnet.serial_number",
    120: "bacnet.vendor_id",
}


class Bad(Exception):
    """Malformed encoding (internal: caught in ``dissect``)."""


def tag(data: bytes, pos: int) -> tuple[int, bool, int, int, int]:
    """(tag number, is context, lvt, value start, value length) of the tag at ``pos``.

    For opening (lvt 6) and closing (lvt 7) context tags the length is 0.
    """
    if pos >= len(data):
        raise Bad("end of data")
    first = data[pos]
    number, context, lvt = first >> 4, bool(first & 0x08), first & 0x07
    pos += 1
    if number == 15:
        if pos >= len(data):
            raise Bad("end of data")
        number = data[pos]
        pos += 1
    if context and lvt in (6, 7):
        return number, context, lvt, pos, 0
    length = lvt
    if not context and number == 1:  # application boolean: the value is in lvt
        length = 0
    elif lvt == 5:
        if pos >= len(data):
            raise Bad("end of data")
        length = data[pos]
        pos += 1
        if length == 254:
            length = int.from_bytes(data[pos : pos + 2], "big")
            pos += 2
        elif length == 255:
            length = int.from_bytes(data[pos : pos + 4], "big")
            pos += 4
    if pos + length > len(data):
        raise Bad("value past end")
    return number, context, lvt, pos, length


def char_string(raw: bytes) -> str:
    """A BACnet CharacterString value (charset octet first)."""
    if not raw:
        return ""
    charset, body = raw[0], raw[1:]
    if charset == 4:
        return safe_text(body.decode("utf-16-be", errors="replace").encode("utf-8"))
    if charset == 5:
        return safe_text(body.decode("latin-1").encode("utf-8"))
    if charset == 3:
        return safe_text(body.decode("utf-32-be", errors="replace").encode("utf-8"))
    return safe_text(body)


def app_value(data: bytes, pos: int) -> tuple[FieldValue | None, int]:
    """The application-tagged value at ``pos`` as text/int (None for other types) and the next position."""
    number, context, lvt, start, length = tag(data, pos)
    if context:
        if lvt == 6:
            return None, skip_constructed(data, pos)
        return None, start + length
    raw = data[start : start + length]
    if number == 7:
        return char_string(raw), start + length
    if number in (2, 9):  # unsigned, enumerated
        return int.from_bytes(raw[:4], "big"), start + length
    return None, start + length


def skip_constructed(data: bytes, pos: int) -> int:
    """Position after the opening tag at ``pos`` and everything up to its matching closing tag."""
    depth = 0
    for _ in range(4096):
        _, context, lvt, start, length = tag(data, pos)
        if context and lvt == 6:
            depth += 1
            pos = start
        elif context and lvt == 7:
            depth -= 1
            pos = start
            if depth == 0:
                return pos
        else:
            pos = start + length
    raise Bad("too deep")


def npdu_apdu(payload: bytes) -> bytes | None:
    """The APDU inside a BVLC + NPDU, or None (network-layer messages, bad framing)."""
    if len(payload) < 6 or payload[0] != 0x81:
        return None
    function = payload[1]
    pos = 4
    if function == 0x04:  # Forwarded-NPDU: original source B/IP address
        pos += 6
    elif function not in (0x0A, 0x0B):
        return None
    if pos + 2 > len(payload) or payload[pos] != 0x01:
        return None
    control = payload[pos + 1]
    pos += 2
    if control & 0x80:
        return None
    if control & 0x20:  # DNET, DLEN, DADR
        if pos + 3 > len(payload):
            return None
        pos += 3 + payload[pos + 2]
    if control & 0x08:  # SNET, SLEN, SADR
        if pos + 3 > len(payload):
            return None
        pos += 3 + payload[pos + 2]
    if control & 0x20:
        pos += 1  # hop count
    return payload[pos:] if pos < len(payload) else None


def object_id(raw: bytes) -> tuple[int, int]:
    """(object type, instance) of a 4-byte BACnetObjectIdentifier."""
    value = int.from_bytes(raw[:4], "big")
    return value >> 22, value & 0x3FFFFF


def parse_i_am(apdu: bytes) -> dict[str, FieldValue]:
    """Fields of an I-Am (Unconfirmed-Request service 0)."""
    number, context, _, start, length = tag(apdu, 2)
    if context or number != 12 or length != 4:
        return {}
    otype, instance = object_id(apdu[start : start + 4])
    if otype != OBJECT_DEVICE:
        return {}
    fields: dict[str, FieldValue] = {"bacnet.message": "I-Am", "bacnet.device_instance": instance}
    pos = start + 4
    values: list[FieldValue | None] = []
    for _ in range(3):  # max APDU, segmentation, vendor id
        value, pos = app_value(apdu, pos)
        values.append(value)
    if isinstance(values[0], int):
        fields["bacnet.max_apdu"] = values[0]
    if isinstance(values[2], int):
        fields["bacnet.vendor_id"] = values[2]
    return fields


def _property_value(apdu: bytes, pos: int, prop: int, fields: dict[str, FieldValue]) -> int:
    """Read the constructed value starting with the opening tag at ``pos``; return the position after it."""
    end = skip_constructed(apdu, pos)
    _, _, _, inner, _ = tag(apdu, pos)
    key = PROPERTIES.get(prop)
    if key and inner < end:
        value, _ = app_value(apdu, inner)
        if (isinstance(value, str) and value and key != "bacnet.vendor_id") or (
            isinstance(value, int) and key == "bacnet.vendor_id"
        ):
            fields.setdefault(key, value)
    return end


def parse_read_property_ack(body: bytes) -> dict[str, FieldValue]:
    """Fields of a ReadProperty-ACK service body (after the service choice)."""
    number, context, _, start, length = tag(body, 0)
    if not context or number != 0 or length != 4:
        return {}
    otype, instance = object_id(body[start : start + 4])
    if otype != OBJECT_DEVICE:
        return {}
    number, context, _, pstart, plen = tag(body, start + 4)
    if not context or number != 1:
        return {}
    prop = int.from_bytes(body[pstart : pstart + plen][:4], "big")
    pos = pstart + plen
    number, context, lvt, _, alen = tag(body, pos)
    if context and number == 2 and lvt != 6:  # array index
        pos = tag(body, pos)[3] + alen
    number, context, lvt, _, _ = tag(body, pos)
    if not (context and number == 3 and lvt == 6):
        return {}
    fields: dict[str, FieldValue] = {"bacnet.device_instance": instance}
    _property_value(body, pos, prop, fields)
    return fields if len(fields) > 1 else {}


def parse_rpm_ack(body: bytes) -> dict[str, FieldValue]:
    """Fields of a ReadPropertyMultiple-ACK body: device-object results only."""
    fields: dict[str, FieldValue] = {}
    pos = 0
    for _ in range(MAX_ITEMS):
        if pos >= len(body):
            break
        number, context, _, start, length = tag(body, pos)
        if not context or number != 0 or length != 4:
            break
        otype, instance = object_id(body[start : start + 4])
        pos = start + 4
        number, context, lvt, pos, _ = tag(body, pos)  # opening tag 1
        if not (context and number == 1 and lvt == 6):
            break
        for _ in range(MAX_ITEMS):
            number, context, lvt, vstart, vlen = tag(body, pos)
            if context and number == 1 and lvt == 7:
                pos = vstart
                break
            if not context or number != 2:
                raise Bad("property identifier expected")
            prop = int.from_bytes(body[vstart : vstart + vlen][:4], "big")
            pos = vstart + vlen
            number, context, lvt, astart, alen = tag(body, pos)
            if context and number == 3 and lvt != 6:
                pos = astart + alen
                number, context, lvt, astart, alen = tag(body, pos)
            if context and number == 4 and lvt == 6 and otype == OBJECT_DEVICE:
                fields.setdefault("bacnet.device_instance", instance)
                pos = _property_value(body, pos, prop, fields)
            elif context and lvt == 6:  # error (5) or a value of another object
                pos = skip_constructed(body, pos)
            else:
                raise Bad("result expected")
    return fields if len(fields) > 1 else {}


def parse_apdu(apdu: bytes) -> dict[str, FieldValue]:
    """I-Am, ReadProperty-ACK or ReadPropertyMultiple-ACK fields of one APDU."""
    if len(apdu) < 2:
        return {}
    kind = apdu[0] >> 4
    if kind == 1 and apdu[1] == 0:
        return parse_i_am(apdu)
    if kind == 3:
        pos = 2
        if apdu[0] & 0x08:  # segmented: sequence number, proposed window size
            if apdu[0] & 0x04 or apdu[2] != 0:
                return {}  # only a first, final segment can be read alone
            pos += 2
        if pos >= len(apdu):
            return {}
        service, body = apdu[pos], apdu[pos + 1 :]
        if service == 12:
            fields = parse_read_property_ack(body)
        elif service == 14:
            fields = parse_rpm_ack(body)
        else:
            return {}
        if fields:
            fields["bacnet.message"] = "ReadProperty-ACK" if service == 12 else "ReadPropertyMultiple-ACK"
        return fields
    return {}


class BacnetDissector:
    """BACnet/IP on udp 47808 -> observations about the sending device."""

    name = "bacnet"
    transports = frozenset({Transport.UDP})
    udp_ports = frozenset({PORT})
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """A BVLC header whose length field equals the datagram length and an NPDU version 1."""
        return (
            len(payload) >= 6
            and payload[0] == 0x81
            and payload[1] in (0x04, 0x0A, 0x0B)
            and int.from_bytes(payload[2:4], "big") == len(payload)
        )

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Never raises."""
        try:
            apdu = npdu_apdu(payload)
            if apdu is None:
                return []
            fields = parse_apdu(apdu)
        except Exception:
            return []
        if not fields:
            return []
        return [observe(ctx, self.name, fields)]


DISSECTORS: list[BacnetDissector] = [BacnetDissector()]

FIELDS: dict[str, str] = {
    "bacnet.message": "I-Am, ReadProperty-ACK or ReadPropertyMultiple-ACK.",
    "bacnet.device_instance": "Instance number of the device object (I-Am or the ACK's object identifier).",
    "bacnet.max_apdu": "I-Am max APDU length accepted.",
    "bacnet.vendor_id": "ASHRAE vendor identifier (I-Am, or device property vendor-identifier).",
    "bacnet.object_name": "Device object-name (often the controller's host-like name).",
    "bacnet.vendor_name": "Device vendor-name.",
    "bacnet.model_name": "Device model-name.",
    "bacnet.firmware_revision": "Device firmware-revision.",
    "bacnet.application_software_version": "Device application-software-version.",
    "bacnet.description": "Device description.",
    "bacnet.location": "Device location.",
    "bacnet.serial_number": "Device serial-number (property 372, 135-2016 on).",
}
