"""SNMP v1/v2c dissector (udp 161/162): what agents say about themselves.

References: RFC 1157 (SNMPv1 message and Trap-PDU), RFC 3416 (SNMPv2 PDUs), RFC 3417 (transport),
RFC 1213 / RFC 3418 (system group: sysDescr .1.1.0, sysObjectID .1.2.0, sysUpTime .1.3.0,
sysContact .1.4.0, sysName .1.5.0, sysLocation .1.6.0), RFC 6933 (ENTITY-MIB entPhysicalTable
1.3.6.1.2.1.47.1.1.1.1: .9 firmware, .10 software, .11 serial, .12 manufacturer, .13 model name),
RFC 2790 (HOST-RESOURCES-MIB hrDeviceDescr 1.3.6.1.2.1.25.3.2.1.3, used by printers) and ITU-T
X.690 (BER: definite short and long form lengths, OID sub-identifiers in base 128).

Subjects: a GetResponse is about its sender (the agent answering), a Trap / SNMPv2-Trap / Inform
is about its sender (the agent notifying); a request only yields version and PDU type about the
manager that sent it.

The community string is a credential (often the only one an SNMP agent has): it is never stored.
Only ``snmp.community_default`` records whether it was one of the factory defaults ``public`` /
``private``, because that fact is what risk assessment needs. SNMPv3 messages only yield
``snmp.version``; their payload is usually encrypted and their user names are identities.

The BER decoder here is deliberately minimal and bounded: definite lengths only (indefinite form
is forbidden in SNMP), at most 4 length octets, OID arcs capped in count and size, a cap on the
number of varbinds looked at, and every string cut to 256 characters.
"""

from __future__ import annotations

from typing import Any, Final

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext, obs, safe_text

FIELDS: dict[str, str] = {
    "snmp.version": "SNMP message version: '1', '2c' or '3'",
    "snmp.pdu": "PDU type, e.g. 'get-response', 'trap', 'snmpv2-trap', 'inform-request', 'get-request'",
    "snmp.community_default": "True when the community was a factory default ('public'/'private'); "
    "the community itself is a credential and is never stored",
    "snmp.sys_descr": "sysDescr.0 (1.3.6.1.2.1.1.1.0): free-text description of the agent",
    "snmp.sys_object_id": "sysObjectID.0 (1.3.6.1.2.1.1.2.0) as dotted OID: the vendor's product OID",
    "snmp.sys_uptime_days": "sysUpTime.0 (1.3.6.1.2.1.1.3.0) in whole days (coarse so repeats deduplicate)",
    "snmp.sys_contact": "sysContact.0 (1.3.6.1.2.1.1.4.0)",
    "snmp.sys_name": "sysName.0 (1.3.6.1.2.1.1.5.0): administratively assigned name",
    "snmp.sys_location": "sysLocation.0 (1.3.6.1.2.1.1.6.0)",
    "snmp.ent_firmware": "entPhysicalFirmwareRev (1.3.6.1.2.1.47.1.1.1.1.9.x), first non-empty seen",
    "snmp.ent_software": "entPhysicalSoftwareRev (1.3.6.1.2.1.47.1.1.1.1.10.x), first non-empty seen",
    "snmp.ent_serial": "entPhysicalSerialNum (1.3.6.1.2.1.47.1.1.1.1.11.x), first non-empty seen",
    "snmp.ent_mfg": "entPhysicalMfgName (1.3.6.1.2.1.47.1.1.1.1.12.x), first non-empty seen",
    "snmp.ent_model": "entPhysicalModelName (1.3.6.1.2.1.47.1.1.1.1.13.x), first non-empty seen",
    "snmp.hr_device_descr": "hrDeviceDescr (1.3.6.1.2.1.25.3.2.1.3.x), first non-empty seen (printers)",
    "snmp.trap_enterprise": "SNMPv1 Trap enterprise OID (dotted): identifies the sending product family",
    "snmp.trap_agent_addr": "SNMPv1 Trap agent-addr: the IPv4 address the agent claims",
    "snmp.trap_oid": "snmpTrapOID.0 (1.3.6.1.6.3.1.1.4.1.0) of an SNMPv2 trap / inform, dotted",
}

MAX_VARBINDS: Final = 64
MAX_OID_ARCS: Final = 128
MAX_DEPTH: Final = 8
TEXT_LIMIT: Final = 256

_PDU_NAMES: Final = {
    0xA0: "get-request",
    0xA1: "get-next-request",
    0xA2: "get-response",
    0xA3: "set-request",
    0xA4: "trap",
    0xA5: "get-bulk-request",
    0xA6: "inform-request",
    0xA7: "snmpv2-trap",
    0xA8: "report",
}
#: PDUs whose content describes the sender (agent); the others are requests from a manager.
_ABOUT_AGENT: Final = frozenset({0xA2, 0xA4, 0xA6, 0xA7})
_VERSIONS: Final = {0: "1", 1: "2c", 3: "3"}
_DEFAULT_COMMUNITIES: Final = frozenset({b"public", b"private"})

_SYSTEM: Final = "1.3.6.1.2.1.1."
_SCALARS: Final = {
    _SYSTEM + "1.0": "snmp.sys_descr",
    _SYSTEM + "4.0": "snmp.sys_contact",
    _SYSTEM + "5.0": "snmp.sys_name",
    _SYSTEM + "6.0": "snmp.sys_location",
}
_SYS_OBJECT_ID: Final = _SYSTEM + "2.0"
_SYS_UPTIME: Final = _SYSTEM + "3.0"
_TRAP_OID: Final = "1.3.6.1.6.3.1.1.4.1.0"
_ENT_COLUMNS: Final = {
    "1.3.6.1.2.1.47.1.1.1.1.9.": "snmp.ent_firmware",
    "1.3.6.1.2.1.47.1.1.1.1.10.": "snmp.ent_software",
    "1.3.6.1.2.1.47.1.1.1.1.11.": "snmp.ent_serial",
    "1.3.6.1.2.1.47.1.1.1.1.12.": "snmp.ent_mfg",
    "1.3.6.1.2.1.47.1.1.1.1.13.": "snmp.ent_model",
    "1.3.6.1.2.1.25.3.2.1.3.": "snmp.hr_device_descr",
}

# BER tags used here (X.690 universal class, RFC 1155/2578 application class).
_INTEGER: Final = 0x02
_OCTET_STRING: Final = 0x04
_OID: Final = 0x06
_SEQUENCE: Final = 0x30
_IPADDRESS: Final = 0x40
_TIMETICKS: Final = 0x43


class BerError(ValueError):
    """Malformed or out-of-bounds BER; always caught inside this module."""


def read_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """Read one BER TLV header at ``pos``: returns (tag, value_start, value_end).

    Only single-octet tags (all SNMP tags are) and definite lengths of at most 4 octets; the
    value must lie within ``data``.
    """
    if pos + 2 > len(data):
        raise BerError("truncated header")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise BerError("multi-octet tag")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:  # 0 is the indefinite form, not allowed in SNMP
            raise BerError("unsupported length form")
        if pos + count > len(data):
            raise BerError("truncated length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise BerError("value exceeds buffer")
    return tag, pos, end


def decode_integer(raw: bytes) -> int:
    """Two's-complement big-endian INTEGER (bounded to 9 octets: Counter64 plus a sign octet)."""
    if not raw or len(raw) > 9:
        raise BerError("bad integer length")
    return int.from_bytes(raw, "big", signed=True)


def decode_unsigned(raw: bytes) -> int:
    """Application-class unsigned integers (TimeTicks, Counter, Gauge)."""
    if not raw or len(raw) > 9:
        raise BerError("bad unsigned length")
    return int.from_bytes(raw, "big", signed=False)


def decode_oid(raw: bytes) -> str:
    """OBJECT IDENTIFIER content octets to dotted text; arcs bounded in number and size."""
    if not raw:
        raise BerError("empty oid")
    arcs: list[int] = []
    value = 0
    octets = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        octets += 1
        if octets > 5:  # > 32-bit arcs do not occur in SNMP (RFC 2578 caps sub-ids at 2^32-1)
            raise BerError("oid arc too large")
        if not byte & 0x80:
            if not arcs:
                first = min(value // 40, 2)
                arcs.extend((first, value - 40 * first))
            else:
                arcs.append(value)
            if len(arcs) > MAX_OID_ARCS:
                raise BerError("too many oid arcs")
            value = 0
            octets = 0
    if octets:
        raise BerError("unterminated oid arc")
    return ".".join(str(a) for a in arcs)


def _children(data: bytes, start: int, end: int, limit: int) -> list[tuple[int, int, int]]:
    """Up to ``limit`` TLVs laid end to end in ``data[start:end]``."""
    out: list[tuple[int, int, int]] = []
    pos = start
    view = data[:end]
    while pos < end and len(out) < limit:
        tag, vstart, vend = read_tlv(view, pos)
        out.append((tag, vstart, vend))
        pos = vend
    return out


def _octets_text(raw: bytes) -> str:
    return safe_text(raw, TEXT_LIMIT)


class SnmpDissector:
    """SNMP v1/v2c messages over UDP; see the module docstring."""

    name = "snmp"
    transports = frozenset({Transport.UDP})
    udp_ports = frozenset({161, 162})
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """SEQUENCE, then INTEGER version 0 or 1, then an OCTET STRING community."""
        try:
            tag, start, _ = read_tlv(payload, 0)
            if tag != _SEQUENCE:
                return False
            vtag, vstart, vend = read_tlv(payload, start)
            if vtag != _INTEGER or payload[vstart:vend] not in (b"\x00", b"\x01"):
                return False
            ctag, _, _ = read_tlv(payload, vend)
            return ctag == _OCTET_STRING
        except (BerError, IndexError):
            return False

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Decode one SNMP message; never raises, returns what was parsed before any damage."""
        try:
            return self._dissect(ctx, payload)
        except Exception:  # the wire is hostile: a dissector must never take the sensor down
            return []

    def _dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        tag, start, end = read_tlv(payload, 0)
        if tag != _SEQUENCE:
            return []
        vtag, vstart, vend = read_tlv(payload, start)
        if vtag != _INTEGER:
            return []
        version = _VERSIONS.get(decode_integer(payload[vstart:vend]))
        if version is None:
            return []
        if version == "3":
            return [obs(ctx, self.name, snmp__version=version)]
        ctag, cstart, cend = read_tlv(payload, vend)
        if ctag != _OCTET_STRING:
            return []
        community_default = payload[cstart:cend] in _DEFAULT_COMMUNITIES
        fields: dict[str, Any] = {"snmp.version": version}
        try:
            ptag, pstart, pend = read_tlv(payload[:end], cend)
        except BerError:
            return [_build(ctx, fields)]
        pdu = _PDU_NAMES.get(ptag)
        if pdu is None:
            return [_build(ctx, fields)]
        fields["snmp.pdu"] = pdu
        if ptag not in _ABOUT_AGENT:
            return [_build(ctx, fields)]
        fields["snmp.community_default"] = community_default
        uptime: int | None = None
        try:
            if ptag == 0xA4:
                varbinds = self._v1_trap_header(payload, pstart, pend, fields)
            else:
                items = _children(payload, pstart, pend, 4)
                if len(items) < 4 or items[3][0] != _SEQUENCE:
                    return [_build(ctx, fields)]
                varbinds = items[3]
            uptime = self._varbinds(payload, varbinds[1], varbinds[2], fields)
        except (BerError, IndexError):
            pass  # keep what was parsed before the damage
        out = [_build(ctx, fields)]
        if uptime is not None:
            # Separate observation: the identity facts above stay one deduplicated row while
            # the coarse uptime gives at most one new row per day.
            out.append(obs(ctx, self.name, snmp__sys_uptime_days=uptime // (100 * 86400)))
        return out

    @staticmethod
    def _v1_trap_header(payload: bytes, start: int, end: int, fields: dict[str, Any]) -> tuple[int, int, int]:
        """RFC 1157 Trap-PDU: enterprise, agent-addr, generic, specific, time-stamp, varbinds."""
        items = _children(payload, start, end, 6)
        if items and items[0][0] == _OID:
            fields["snmp.trap_enterprise"] = decode_oid(payload[items[0][1] : items[0][2]])
        if len(items) > 1 and items[1][0] == _IPADDRESS and items[1][2] - items[1][1] == 4:
            fields["snmp.trap_agent_addr"] = ".".join(str(b) for b in payload[items[1][1] : items[1][2]])
        if len(items) < 6 or items[5][0] != _SEQUENCE:
            raise BerError("no varbind list")
        return items[5]

    @staticmethod
    def _varbinds(payload: bytes, start: int, end: int, fields: dict[str, Any]) -> int | None:
        """Walk the VarBindList, storing the identity-bearing values; returns sysUpTime if seen."""
        uptime: int | None = None
        for tag, vstart, vend in _children(payload, start, end, MAX_VARBINDS):
            if tag != _SEQUENCE:
                continue
            pair = _children(payload, vstart, vend, 2)
            if len(pair) != 2 or pair[0][0] != _OID:
                continue
            oid = decode_oid(payload[pair[0][1] : pair[0][2]])
            vtag, v0, v1 = pair[1]
            raw = payload[v0:v1]
            if vtag == _OCTET_STRING:
                key = _SCALARS.get(oid)
                if key is None:
                    key = next((k for prefix, k in _ENT_COLUMNS.items() if oid.startswith(prefix)), None)
                if key is not None and key not in fields:
                    text = _octets_text(raw)
                    if text:
                        fields[key] = text
            elif vtag == _OID and oid in (_SYS_OBJECT_ID, _TRAP_OID):
                key = "snmp.sys_object_id" if oid == _SYS_OBJECT_ID else "snmp.trap_oid"
                fields.setdefault(key, decode_oid(raw))
            elif vtag == _TIMETICKS and oid == _SYS_UPTIME and uptime is None:
                uptime = decode_unsigned(raw)
        return uptime


def _build(ctx: PacketContext, fields: dict[str, Any]) -> Observation:
    return obs(ctx, "snmp", **{k.replace(".", "__"): v for k, v in fields.items()})


DISSECTORS: list[SnmpDissector] = [SnmpDissector()]
