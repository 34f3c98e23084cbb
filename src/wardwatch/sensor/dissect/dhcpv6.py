"""DHCPv6 (RFC 8415; client FQDN RFC 4704).

Client/server messages are ``msg-type(1) transaction-id(3) options``; relay messages (12
RELAY-FORW, 13 RELAY-REPL) are ``msg-type(1) hop-count(1) link-address(16) peer-address(16)
options`` with the relayed message in option 9, unwrapped here to at most :data:`MAX_RELAY_DEPTH`
levels (RFC 8415 caps hop-count at 8 too). Options are ``code(2) length(2) value``.

Observations:

* client messages (SOLICIT, REQUEST, RENEW, INFORMATION-REQUEST ...): about the client. When
  sent directly that is the packet sender; when unwrapped from a RELAY-FORW the subject is the
  innermost relay's ``peer-address`` (the client's address) with no MAC (the frame's source is
  the relay). The option code order and the ORO (option 6) are fingerprints.
* server messages (ADVERTISE, REPLY): one about the sender with ``dhcpv6.server`` True and its
  DUID, and, when sent directly, one about the receiver (the client) per packet listing the
  IA_NA addresses offered or assigned to it (``dhcpv6.leased_ip``).

DUIDs (RFC 8415 §11): type 1 DUID-LLT (hw type, time, link-layer address), 2 DUID-EN, 3 DUID-LL
(hw type, address), 4 DUID-UUID. For hardware type 1 (Ethernet) the link-layer address is
reported as ``dhcpv6.duid_mac``: it is *a* MAC of the host, not necessarily the sending one.
"""

from __future__ import annotations

import struct

from wardwatch.model.flow import Transport
from wardwatch.model.observation import FieldValue, Observation
from wardwatch.sensor.dissect.base import PacketContext, ipv6_text, mac_text, obs, observation, safe_text

MAX_OPTIONS = 64
MAX_RELAY_DEPTH = 8
MAX_LIST = 16

MESSAGE_TYPES: dict[int, str] = {
    1: "SOLICIT",
    2: "ADVERTISE",
    3: "REQUEST",
    4: "CONFIRM",
    5: "RENEW",
    6: "REBIND",
    7: "REPLY",
    8: "RELEASE",
    9: "DECLINE",
    10: "RECONFIGURE",
    11: "INFORMATION-REQUEST",
    12: "RELAY-FORW",
    13: "RELAY-REPL",
}
SERVER_TYPES = frozenset({2, 7, 10})

OPT_CLIENTID = 1
OPT_SERVERID = 2
OPT_IA_NA = 3
OPT_IAADDR = 5
OPT_ORO = 6
OPT_RELAY_MSG = 9
OPT_USER_CLASS = 15
OPT_VENDOR_CLASS = 16
OPT_VENDOR_OPTS = 17
OPT_CLIENT_FQDN = 39


def parse_options(buf: bytes) -> list[tuple[int, bytes]]:
    """Options in order; stops at a truncated option or after :data:`MAX_OPTIONS`."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 4 <= len(buf) and len(out) < MAX_OPTIONS:
        code, length = struct.unpack_from("!HH", buf, pos)
        value = buf[pos + 4 : pos + 4 + length]
        if len(value) != length:
            break
        out.append((code, value))
        pos += 4 + length
    return out


def _first(options: list[tuple[int, bytes]], code: int) -> bytes | None:
    for c, v in options:
        if c == code:
            return v
    return None


def duid_mac(duid: bytes) -> str | None:
    """The Ethernet address in a DUID-LLT or DUID-LL, else None."""
    if len(duid) < 4:
        return None
    dtype, hwtype = struct.unpack_from("!HH", duid, 0)
    if hwtype != 1:
        return None
    if dtype == 1 and len(duid) == 14:
        return mac_text(duid[8:14])
    if dtype == 3 and len(duid) == 10:
        return mac_text(duid[4:10])
    return None


def _length_prefixed(data: bytes) -> tuple[str, ...]:
    """``len(2) bytes`` items (user class, vendor class data), bounded."""
    out: list[str] = []
    pos = 0
    while pos + 2 <= len(data) and len(out) < MAX_LIST:
        (length,) = struct.unpack_from("!H", data, pos)
        item = data[pos + 2 : pos + 2 + length]
        if len(item) != length:
            break
        text = safe_text(item)
        if text:
            out.append(text)
        pos += 2 + length
    return tuple(out)


def decode_fqdn(value: bytes) -> str:
    """Option 39: flags(1) then a DNS wire-format name (possibly partial, no compression)."""
    labels: list[str] = []
    pos = 1
    while pos < len(value) and len(labels) < 128:
        length = value[pos]
        if length == 0 or length > 63:
            break
        label = value[pos + 1 : pos + 1 + length]
        if len(label) != length:
            break
        labels.append(label.decode("utf-8", errors="replace"))
        pos += 1 + length
    return safe_text(".".join(labels).encode("utf-8"))


def _client_fields(mtype: str, options: list[tuple[int, bytes]]) -> dict[str, FieldValue]:
    fields: dict[str, FieldValue] = {"dhcpv6.message_type": mtype}
    duid = _first(options, OPT_CLIENTID)
    if duid:
        fields["dhcpv6.duid"] = duid[:130].hex()
        if len(duid) >= 2:
            fields["dhcpv6.duid_type"] = struct.unpack_from("!H", duid, 0)[0]
        mac = duid_mac(duid)
        if mac:
            fields["dhcpv6.duid_mac"] = mac
    oro = _first(options, OPT_ORO)
    if oro is not None:
        fields["dhcpv6.oro"] = tuple(
            struct.unpack_from("!H", oro, i)[0] for i in range(0, min(len(oro), 2 * 64) - 1, 2)
        )
    fqdn = _first(options, OPT_CLIENT_FQDN)
    if fqdn:
        name = decode_fqdn(fqdn)
        if name:
            fields["dhcpv6.fqdn"] = name
    vclass = _first(options, OPT_VENDOR_CLASS)
    if vclass is not None and len(vclass) >= 4:
        fields["dhcpv6.vendor_enterprise"] = struct.unpack_from("!I", vclass, 0)[0]
        data = _length_prefixed(vclass[4:])
        if data:
            fields["dhcpv6.vendor_class"] = data
    uclass = _first(options, OPT_USER_CLASS)
    if uclass is not None:
        data = _length_prefixed(uclass)
        if data:
            fields["dhcpv6.user_class"] = data
    vopts = _first(options, OPT_VENDOR_OPTS)
    if vopts is not None and len(vopts) >= 4:
        fields["dhcpv6.vendor_opts_enterprise"] = struct.unpack_from("!I", vopts, 0)[0]
    fields["dhcpv6.options"] = tuple(code for code, _ in options)
    return fields


def _ia_addresses(options: list[tuple[int, bytes]]) -> list[str]:
    """IAADDR addresses inside IA_NA options: IA_NA = IAID(4) T1(4) T2(4) sub-options."""
    out: list[str] = []
    for code, value in options:
        if code != OPT_IA_NA or len(value) < 12:
            continue
        for sub_code, sub in parse_options(value[12:]):
            if sub_code == OPT_IAADDR and len(sub) >= 24 and len(out) < MAX_LIST:
                text = ipv6_text(sub[:16])
                if text not in out:
                    out.append(text)
    return out


class Dhcpv6Dissector:
    """DHCPv6 client, server and relayed messages (see module docstring)."""

    name = "dhcpv6"
    transports = frozenset({Transport.UDP})
    udp_ports = frozenset({546, 547})
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """No content probe: a one-byte message type is too weak a signature."""
        return False

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Never raises."""
        try:
            return self._dissect(ctx, payload)
        except Exception:
            return []

    def _dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        msg = payload
        peer: str | None = None
        relayed = False
        for _ in range(MAX_RELAY_DEPTH + 1):
            if not msg or msg[0] not in (12, 13):
                break
            if len(msg) < 34:
                return []
            relayed = True
            peer = ipv6_text(msg[18:34])
            inner = _first(parse_options(msg[34:]), OPT_RELAY_MSG)
            if inner is None:
                return []
            msg = inner
        else:
            return []  # deeper than any legal relay chain
        if len(msg) < 4 or msg[0] not in MESSAGE_TYPES or msg[0] in (12, 13):
            return []
        mtype_code = msg[0]
        mtype = MESSAGE_TYPES[mtype_code]
        options = parse_options(msg[4:])
        if mtype_code not in SERVER_TYPES:
            fields = _client_fields(mtype, options)
            mac, ip = (None, peer) if relayed else (ctx.src_mac, ctx.src_ip)
            return [
                observation(
                    ts_ns=ctx.ts_ns, flow_uid=ctx.flow_uid, protocol=self.name, mac=mac, ip=ip, fields=fields
                )
            ]
        out: list[Observation] = []
        server_duid = _first(options, OPT_SERVERID)
        if not relayed:
            # A relayed reply's frame comes from the server (to the relay); only a direct one is
            # a fact about the server-as-sender, and its receiver is then the client.
            out.append(
                obs(
                    ctx,
                    self.name,
                    dhcpv6__server=True,
                    dhcpv6__server_duid=server_duid[:130].hex() if server_duid else None,
                    dhcpv6__message_type=mtype,
                )
            )
            addresses = _ia_addresses(options)
            if addresses:
                out.append(
                    obs(
                        ctx,
                        self.name,
                        subject="dst",
                        dhcpv6__message_type=mtype,
                        dhcpv6__leased_ip=tuple(addresses),
                    )
                )
        return out


DISSECTORS: list[Dhcpv6Dissector] = [Dhcpv6Dissector()]

FIELDS: dict[str, str] = {
    "dhcpv6.message_type": "DHCPv6 message type name: SOLICIT, REQUEST, REPLY, ...",
    "dhcpv6.duid": "Client DUID (option 1) as hex.",
    "dhcpv6.duid_type": "DUID type: 1 LLT, 2 EN, 3 LL, 4 UUID.",
    "dhcpv6.duid_mac": "Ethernet address inside a DUID-LLT/DUID-LL (a MAC of the host).",
    "dhcpv6.oro": "Option request option (6) codes in order: a fingerprint.",
    "dhcpv6.fqdn": "Domain name from the client FQDN option (39).",
    "dhcpv6.vendor_enterprise": "IANA enterprise number of the vendor class option (16).",
    "dhcpv6.vendor_class": "Vendor class data strings (option 16).",
    "dhcpv6.user_class": "User class data strings (option 15).",
    "dhcpv6.vendor_opts_enterprise": "IANA enterprise number of the vendor-specific options (17).",
    "dhcpv6.options": "Option codes in the order sent: a fingerprint.",
    "dhcpv6.server": "True: the subject sent a DHCPv6 server message (ADVERTISE/REPLY).",
    "dhcpv6.server_duid": "Server DUID (option 2) as hex.",
    "dhcpv6.leased_ip": "IA_NA addresses a server offers/assigns to the subject client.",
}
