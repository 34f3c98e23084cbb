"""MQTT CONNECT and CONNACK (MQTT 3.1, 3.1.1 and 5.0), tcp 1883 or by content.

References: OASIS MQTT 3.1.1 §2.2 (fixed header, Remaining Length variable byte integer),
§3.1 (CONNECT: protocol name "MQTT" / 3.1's "MQIsdp", protocol level 3/4, connect flags — bit 7
User Name, bit 6 Password, bit 5 Will Retain, bits 4-3 Will QoS, bit 2 Will Flag, bit 1 Clean
Session —, Keep Alive; payload: Client Identifier, Will Topic, Will Message, User Name, Password),
§3.2 (CONNACK: acknowledge flags, return code); OASIS MQTT 5.0 §3.1.2.11 (CONNECT properties)
and §3.2.2 (CONNACK reason code, properties).

Kept: client identifier (devices name themselves there: serial numbers, MACs, product names),
protocol name/level, keep alive, clean-session flag, and only the *presence* of a user name,
password and will. The user name, password, will topic and will message are never read: user
names of clinical systems can be staff or patient identifiers, and will topics often carry
bed or patient ids. A CONNACK is about the broker (its sender) and records the return code.
"""

from __future__ import annotations

from wardwatch.model.flow import Transport
from wardwatch.model.observation import FieldValue, Observation
from wardwatch.sensor.dissect.base import PacketContext, safe_text
from wardwatch.sensor.dissect.sdc import observe

PROTOCOL_NAMES = {b"MQTT": "MQTT", b"MQIsdp": "MQIsdp"}


def varint(data: bytes, pos: int) -> tuple[int, int] | None:
    """A variable byte integer at ``pos`` (at most 4 bytes): (value, next position), or None."""
    value = 0
    for i in range(4):
        if pos + i >= len(data):
            return None
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    return None


def parse_connect(data: bytes) -> dict[str, FieldValue] | None:
    """Fields of a CONNECT packet at the start of ``data``, or None if it is not one."""
    if len(data) < 12 or data[0] != 0x10:
        return None
    rem = varint(data, 1)
    if rem is None:
        return None
    length, pos = rem
    end = min(len(data), pos + length)
    name_len = int.from_bytes(data[pos : pos + 2], "big")
    name = data[pos + 2 : pos + 2 + name_len]
    if name not in PROTOCOL_NAMES:
        return None
    pos += 2 + name_len
    if pos + 4 > end:
        return None
    level, flags = data[pos], data[pos + 1]
    keep_alive = int.from_bytes(data[pos + 2 : pos + 4], "big")
    pos += 4
    if flags & 0x01:  # reserved bit must be zero (§3.1.2.3): not MQTT
        return None
    fields: dict[str, FieldValue] = {
        "mqtt.role": "client",
        "mqtt.protocol_name": PROTOCOL_NAMES[name],
        "mqtt.protocol_level": level,
        "mqtt.keep_alive": keep_alive,
        "mqtt.clean_session": bool(flags & 0x02),
        "mqtt.will_flag": bool(flags & 0x04),
        "mqtt.username_present": bool(flags & 0x80),
        "mqtt.password_present": bool(flags & 0x40),
    }
    if level == 5:
        props = varint(data, pos)
        if props is None:
            return fields
        pos = props[1] + props[0]
    if pos + 2 <= end:
        id_len = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + id_len <= end:
            client_id = safe_text(data[pos + 2 : pos + 2 + id_len])
            if client_id:
                fields["mqtt.client_id"] = client_id
    return fields


def parse_connack(data: bytes) -> dict[str, FieldValue] | None:
    """Fields of a CONNACK packet at the start of ``data``, or None if it is not one."""
    if len(data) < 4 or data[0] != 0x20:
        return None
    rem = varint(data, 1)
    if rem is None or rem[0] < 2:
        return None
    pos = rem[1]
    if pos + 2 > len(data) or data[pos] & 0xFE:
        return None
    return {"mqtt.role": "broker", "mqtt.connack_code": data[pos + 1]}


class MqttDissector:
    """MQTT CONNECT (about the client) and CONNACK (about the broker) at the start of a stream."""

    name = "mqtt"
    transports = frozenset({Transport.TCP})
    udp_ports: frozenset[int] = frozenset()
    tcp_ports = frozenset({1883})
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """A CONNECT fixed header followed by the MQTT protocol name (any port)."""
        try:
            if len(payload) < 10 or payload[0] != 0x10:
                return False
            rem = varint(payload, 1)
            if rem is None:
                return False
            pos = rem[1]
            return payload[pos : pos + 6] == b"\x00\x04MQTT" or payload[pos : pos + 8] == b"\x00\x06MQIsdp"
        except Exception:
            return False

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Never raises."""
        try:
            fields = parse_connect(payload) or parse_connack(payload)
        except Exception:
            return []
        if not fields:
            return []
        return [observe(ctx, self.name, fields)]


DISSECTORS: list[MqttDissector] = [MqttDissector()]

FIELDS: dict[str, str] = {
    "mqtt.role": "'client' (sent a CONNECT) or 'broker' (sent a CONNACK).",
    "mqtt.protocol_name": "CONNECT protocol name: MQTT (3.1.1, 5.0) or MQIsdp (3.1).",
    "mqtt.protocol_level": "CONNECT protocol level: 3 (3.1), 4 (3.1.1) or 5 (5.0).",
    "mqtt.keep_alive": "CONNECT keep alive, seconds.",
    "mqtt.clean_session": "CONNECT Clean Session / Clean Start flag.",
    "mqtt.will_flag": "CONNECT Will Flag (the will topic and message are never read).",
    "mqtt.username_present": "CONNECT User Name flag (the user name itself is never read).",
    "mqtt.password_present": "CONNECT Password flag (the password is never read).",
    "mqtt.client_id": "CONNECT Client Identifier.",
    "mqtt.connack_code": "CONNACK return code (3.1.1) / reason code (5.0); 0 is success.",
}
