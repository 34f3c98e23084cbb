"""NetBIOS Name Service (RFC 1001 / RFC 1002 §4.2) on udp 137.

The header is DNS-shaped: ``id flags qdcount ancount nscount arcount``; the opcode is
``(flags >> 11) & 0xF``: 0 query, 5 registration, 6 release, 7 WACK, 8 and 9 refresh, 15
multi-homed registration. Names use *first-level encoding* (RFC 1001 §14.1): the 16-byte NetBIOS
name (15 characters space-padded plus a suffix byte) becomes 32 bytes, each nibble + 'A',
preceded by the length byte 0x20 and followed by the scope labels and a zero byte.

Suffix bytes (Microsoft conventions): 0x00 workstation (or, on a group name, the workgroup /
domain), 0x20 file server, 0x1b domain master browser (name = domain), 0x1c domain controllers
(group, name = domain), 0x1d master browser, 0x1e browser election (group, name = domain).

Observations:

* registrations / refreshes / releases (requests): about the registering host (subject ip is
  the NB_ADDRESS of the additional record; mac is the frame's source only when that address is
  the sender's): ``nbns.name``, ``nbns.suffix``, ``nbns.group``, ``nbns.domain``.
* name queries: about the asker, ``nbns.query`` (``NAME<xx>``).
* positive name query responses: about each answered NB_ADDRESS, ``nbns.name`` etc.
* node status (NBSTAT) responses: about the sender, the name table (``nbns.names`` as
  ``NAME<xx>`` for unique and ``NAME<xx>#G`` for group names), the workstation name and
  workgroup derived from it, and the unit ID (``nbns.unit_id``, usually the MAC).
"""

from __future__ import annotations

import struct

from wardwatch.model.flow import Transport
from wardwatch.model.observation import FieldValue, Observation
from wardwatch.sensor.dissect.base import PacketContext, ipv4_text, mac_text, observation, safe_text

TYPE_NB = 0x20
TYPE_NBSTAT = 0x21
MAX_RECORDS = 16
MAX_NAMES = 64
DOMAIN_GROUP_SUFFIXES = frozenset({0x00, 0x1C, 0x1E})
DOMAIN_UNIQUE_SUFFIXES = frozenset({0x1B})

OPCODES: dict[int, str] = {
    0: "query",
    5: "registration",
    6: "release",
    7: "wack",
    8: "refresh",
    9: "refresh",
    15: "multihomed-registration",
}


def decode_netbios_name(buf: bytes, offset: int) -> tuple[str, int, int] | None:
    """Decode the encoded name at ``offset`` -> (name, suffix, offset after the name).

    Accepts a compression pointer (0xC0xx, as used by the additional record of registrations)
    pointing back to an earlier encoded name, one hop only. Scope labels are skipped.
    """
    if offset + 1 >= len(buf):
        return None
    if buf[offset] & 0xC0 == 0xC0:
        target = ((buf[offset] & 0x3F) << 8) | buf[offset + 1]
        if target >= offset or buf[target : target + 1] == b"" or buf[target] & 0xC0:
            return None
        got = decode_netbios_name(buf, target)
        return None if got is None else (got[0], got[1], offset + 2)
    if buf[offset] != 0x20 or offset + 33 > len(buf):
        return None
    encoded = buf[offset + 1 : offset + 33]
    raw = bytearray()
    for i in range(0, 32, 2):
        hi, lo = encoded[i] - 0x41, encoded[i + 1] - 0x41
        if not (0 <= hi < 16 and 0 <= lo < 16):
            return None
        raw.append((hi << 4) | lo)
    pos = offset + 33
    # Scope: DNS-style labels up to a zero byte, bounded by the 255-byte name limit.
    while pos < len(buf) and buf[pos] != 0 and pos - offset < 255:
        if buf[pos] & 0xC0:
            return None
        pos += 1 + buf[pos]
    if pos >= len(buf) or buf[pos] != 0:
        return None
    name = safe_text(bytes(raw[:15]).rstrip(b" \x00"), limit=15)
    return name, raw[15], pos + 1


def _label(name: str, suffix: int, group: bool = False) -> str:
    return f"{name}<{suffix:02x}>" + ("#G" if group else "")


class NbnsDissector:
    """NetBIOS name service (see module docstring)."""

    name = "nbns"
    transports = frozenset({Transport.UDP})
    udp_ports = frozenset({137})
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """NBNS is only on port 137."""
        return False

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Never raises."""
        try:
            return self._dissect(ctx, payload)
        except Exception:
            return []

    def _make(self, ctx: PacketContext, ip: str | None, fields: dict[str, FieldValue]) -> Observation:
        mac = ctx.src_mac if ip is not None and ip == ctx.src_ip else None
        return observation(
            ts_ns=ctx.ts_ns, flow_uid=ctx.flow_uid, protocol=self.name, mac=mac, ip=ip, fields=fields
        )

    def _name_fields(self, opcode: str, name: str, suffix: int, group: bool) -> dict[str, FieldValue]:
        fields: dict[str, FieldValue] = {"nbns.opcode": opcode}
        if name:
            fields["nbns.name"] = name
        fields["nbns.suffix"] = suffix
        fields["nbns.group"] = group
        if name and (
            (group and suffix in DOMAIN_GROUP_SUFFIXES) or (not group and suffix in DOMAIN_UNIQUE_SUFFIXES)
        ):
            fields["nbns.domain"] = name
        return fields

    def _dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        if len(payload) < 12:
            return []
        _, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", payload, 0)
        response = bool(flags & 0x8000)
        opcode_num = (flags >> 11) & 0xF
        opcode = OPCODES.get(opcode_num, str(opcode_num))
        pos = 12
        question: tuple[str, int, int] | None = None
        if qd:
            question = decode_netbios_name(payload, pos)
            if question is None or question[2] + 4 > len(payload):
                return []
            qtype = struct.unpack_from("!H", payload, question[2])[0]
            pos = question[2] + 4
            if not response and opcode_num == 0 and qd == 1 and an == 0:
                name, suffix = question[0], question[1]
                if qtype == TYPE_NBSTAT:
                    return [self._make(ctx, ctx.src_ip, {"nbns.opcode": "node-status-query"})]
                return [
                    self._make(ctx, ctx.src_ip, {"nbns.opcode": opcode, "nbns.query": _label(name, suffix)})
                ]
        out: list[Observation] = []
        for _ in range(min(an + ns + ar, MAX_RECORDS)):
            got = decode_netbios_name(payload, pos)
            if got is None or got[2] + 10 > len(payload):
                break
            name, suffix, pos = got
            rtype, _rclass, _ttl, rdlength = struct.unpack_from("!HHIH", payload, pos)
            pos += 10
            rdata = payload[pos : pos + rdlength]
            if len(rdata) != rdlength:
                break
            pos += rdlength
            if rtype == TYPE_NBSTAT and response:
                status = self._node_status(ctx, rdata)
                if status is not None:
                    out.append(status)
                continue
            if rtype != TYPE_NB or (response and opcode_num != 0 and opcode_num not in (5, 8, 9, 15)):
                continue
            if response and (flags & 0xF) != 0:
                continue  # negative response (RCODE set): says nothing about anyone
            # rdata: (NB_FLAGS(2) NB_ADDRESS(4))*, one per address of the name.
            for i in range(0, min(len(rdata), 6 * MAX_RECORDS) - 5, 6):
                nb_flags = struct.unpack_from("!H", rdata, i)[0]
                address = rdata[i + 2 : i + 6]
                ip = None if address == b"\x00\x00\x00\x00" else ipv4_text(address)
                group = bool(nb_flags & 0x8000)
                out.append(self._make(ctx, ip, self._name_fields(opcode, name, suffix, group)))
        return out

    def _node_status(self, ctx: PacketContext, rdata: bytes) -> Observation | None:
        """NBSTAT rdata: num_names(1), num_names * (name(15) suffix(1) flags(2)), statistics."""
        if not rdata:
            return None
        count = rdata[0]
        names: list[str] = []
        workstation = ""
        domain = ""
        pos = 1
        for _ in range(min(count, MAX_NAMES)):
            entry = rdata[pos : pos + 18]
            if len(entry) != 18:
                return None
            pos += 18
            name = safe_text(entry[:15].rstrip(b" \x00"), limit=15)
            suffix = entry[15]
            group = bool(struct.unpack_from("!H", entry, 16)[0] & 0x8000)
            names.append(_label(name, suffix, group))
            if suffix == 0x00 and not group and not workstation:
                workstation = name
            if suffix == 0x00 and group and not domain:
                domain = name
        fields: dict[str, FieldValue] = {"nbns.opcode": "node-status"}
        if names:
            fields["nbns.names"] = tuple(names)
        if workstation:
            fields["nbns.name"] = workstation
        if domain:
            fields["nbns.domain"] = domain
        unit_id = rdata[pos : pos + 6] if count <= MAX_NAMES else b""
        if len(unit_id) == 6 and unit_id != b"\x00" * 6:
            fields["nbns.unit_id"] = mac_text(unit_id)
        return self._make(ctx, ctx.src_ip, fields)


DISSECTORS: list[NbnsDissector] = [NbnsDissector()]

FIELDS: dict[str, str] = {
    "nbns.opcode": "NBNS operation: query, registration, release, refresh, node-status, ...",
    "nbns.name": "NetBIOS name (suffix removed) the subject registers, holds or answers for.",
    "nbns.suffix": "Suffix byte of that name (0x00 workstation, 0x20 server, 0x1c DCs, ...).",
    "nbns.group": "True when the name is a group name (NB_FLAGS G bit).",
    "nbns.domain": "Workgroup/domain name implied by a group 0x00/0x1c/0x1e or unique 0x1b name.",
    "nbns.query": "Name the subject looks up, as NAME<xx>.",
    "nbns.names": "Node status name table, NAME<xx> (group names end in '#G').",
    "nbns.unit_id": "Unit ID (normally the adapter MAC) from a node status response.",
}
