"""DHCPv4 (RFC 2131, options RFC 2132, client FQDN RFC 4702, long options RFC 3396).

Message layout (RFC 2131 §2)::

    op(1) htype(1) hlen(1) hops(1) xid(4) secs(2) flags(2)
    ciaddr(4) yiaddr(4) siaddr(4) giaddr(4) chaddr(16) sname(64) file(128)
    magic cookie 63 82 53 63 (offset 236)  options (offset 240)

Options are code/length/value with pad (0) and end (255). When option 52 (overload) is present
the ``file`` (1), ``sname`` (2) or both (3) fields hold more options, read after the options
field, file before sname (RFC 2131 §4.1). A code that appears more than once is concatenated
(RFC 3396).

Observations:

* client messages (op 1): about the client, mac = chaddr (htype 1 / hlen 6; else the Ethernet
  source when not relayed), ip = ciaddr, else option 50, else None. The parameter request list
  (55) and the order of option codes are the classic DHCP fingerprint, kept verbatim.
* server messages (op 2) with a lease (yiaddr != 0, OFFER / ACK): one about the *client*
  (mac = chaddr, ip = yiaddr, ``dhcp.leased_ip`` / ``dhcp.lease_time``), and one about the
  sender with ``dhcp.server`` True and option 54 as ``dhcp.server_id``.
"""

from __future__ import annotations

import struct

from wardwatch.model.flow import Transport
from wardwatch.model.observation import FieldValue, Observation
from wardwatch.sensor.dissect.base import PacketContext, ipv4_text, mac_text, obs, observation, safe_text

MAGIC = b"\x63\x82\x53\x63"
MAX_OPTIONS = 255

MESSAGE_TYPES: dict[int, str] = {
    1: "DISCOVER",
    2: "OFFER",
    3: "REQUEST",
    4: "DECLINE",
    5: "ACK",
    6: "NAK",
    7: "RELEASE",
    8: "INFORM",
    9: "FORCERENEW",
    10: "LEASEQUERY",
    11: "LEASEUNASSIGNED",
    12: "LEASEUNKNOWN",
    13: "LEASEACTIVE",
    14: "BULKLEASEQUERY",
    15: "LEASEQUERYDONE",
    16: "ACTIVELEASEQUERY",
    17: "LEASEQUERYSTATUS",
    18: "DHCPTLS",
}


def _ip(raw: bytes) -> str | None:
    """IPv4 text for a 4-byte value, None for 0.0.0.0 or a wrong length."""
    if len(raw) != 4 or raw == b"\x00\x00\x00\x00":
        return None
    return ipv4_text(raw)


def parse_option_area(area: bytes, codes: list[int], values: dict[int, bytes]) -> None:
    """Append the options of one area (options field, file or sname) to ``codes``/``values``.

    Stops at end (255), at a truncated option, or when :data:`MAX_OPTIONS` codes were seen: one
    pass over a bounded buffer, so it always terminates.
    """
    pos = 0
    n = len(area)
    while pos < n and len(codes) < MAX_OPTIONS:
        code = area[pos]
        if code == 0:
            pos += 1
            continue
        if code == 255:
            return
        if pos + 1 >= n:
            return
        length = area[pos + 1]
        value = area[pos + 2 : pos + 2 + length]
        if len(value) != length:
            return  # truncated: keep what came before
        codes.append(code)
        values[code] = values.get(code, b"") + value
        pos += 2 + length


def parse_options(payload: bytes) -> tuple[list[int], dict[int, bytes]]:
    """All options of a message including overloaded file/sname areas."""
    codes: list[int] = []
    values: dict[int, bytes] = {}
    parse_option_area(payload[240:], codes, values)
    overload = values.get(52, b"")
    if len(overload) == 1 and overload[0] in (1, 2, 3):
        if overload[0] & 1:
            parse_option_area(payload[108:236], codes, values)
        if overload[0] & 2:
            parse_option_area(payload[44:108], codes, values)
    return codes, values


def decode_fqdn(value: bytes) -> str:
    """Option 81 (RFC 4702 §2): flags, rcode1, rcode2, then the name.

    With the E flag (0x04) the name is in DNS wire format (labels, no compression; may be a
    partial name without the terminating zero), else it is deprecated ASCII.
    """
    if len(value) < 3:
        return ""
    flags, name = value[0], value[3:]
    if not flags & 0x04:
        return safe_text(name)
    labels: list[str] = []
    pos = 0
    while pos < len(name) and len(labels) < 128:
        length = name[pos]
        if length == 0 or length > 63:
            break
        label = name[pos + 1 : pos + 1 + length]
        if len(label) != length:
            break
        labels.append(label.decode("utf-8", errors="replace"))
        pos += 1 + length
    return safe_text(".".join(labels).encode("utf-8"))


def _u32(value: bytes) -> int | None:
    return struct.unpack("!I", value)[0] if len(value) == 4 else None


class DhcpDissector:
    """DHCPv4 client and server messages (see module docstring)."""

    name = "dhcp"
    transports = frozenset({Transport.UDP})
    udp_ports = frozenset({67, 68})
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()
    context_fields = ("src_mac", "src_ip")
    """A message is about its client (chaddr, or the sender) or its sending server: nothing else
    of the context matters."""
    cache_ignore = (4, 12)
    """The transaction id, seconds elapsed and flags change between a client's retries and
    renewals and are never reported, so a client repeating itself is not parsed again."""

    def probe(self, payload: bytes) -> bool:
        """The magic cookie at offset 236 and a BOOTREQUEST/BOOTREPLY op."""
        return len(payload) >= 240 and payload[236:240] == MAGIC and payload[0] in (1, 2)

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Never raises; a message without the cookie (plain BOOTP) gives []."""
        try:
            return self._dissect(ctx, payload)
        except Exception:
            return []

    def _dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        if not self.probe(payload):
            return []
        op, htype, hlen = payload[0], payload[1], payload[2]
        ciaddr, yiaddr, giaddr = payload[12:16], payload[16:20], payload[24:28]
        chaddr = payload[28:44]
        codes, values = parse_options(payload)
        relayed = giaddr != b"\x00\x00\x00\x00"
        client_mac: str | None = None
        if htype == 1 and hlen == 6:
            client_mac = mac_text(chaddr[:6])
        elif not relayed:
            client_mac = ctx.src_mac
        mtype_raw = values.get(53, b"")
        mtype = MESSAGE_TYPES.get(mtype_raw[0], str(mtype_raw[0])) if len(mtype_raw) == 1 else None
        if op == 1:
            return [self._client(ctx, client_mac, ciaddr, codes, values, mtype)]
        out: list[Observation] = []
        leased = _ip(yiaddr)
        if leased is not None and mtype in ("OFFER", "ACK", None):
            fields: dict[str, FieldValue] = {"dhcp.leased_ip": leased}
            if mtype:
                fields["dhcp.message_type"] = mtype
            lease_time = _u32(values.get(51, b""))
            if lease_time is not None:
                fields["dhcp.lease_time"] = lease_time
            hostname = safe_text(values.get(12, b""))
            if hostname:
                fields["dhcp.hostname"] = hostname
            out.append(
                observation(
                    ts_ns=ctx.ts_ns,
                    flow_uid=ctx.flow_uid,
                    protocol=self.name,
                    mac=client_mac,
                    ip=leased,
                    fields=fields,
                )
            )
        out.append(
            obs(
                ctx,
                self.name,
                dhcp__server=True,
                dhcp__server_id=_ip(values.get(54, b"")),
                dhcp__message_type=mtype,
            )
        )
        return out

    def _client(
        self,
        ctx: PacketContext,
        mac: str | None,
        ciaddr: bytes,
        codes: list[int],
        values: dict[int, bytes],
        mtype: str | None,
    ) -> Observation:
        requested = _ip(values.get(50, b""))
        fields: dict[str, FieldValue] = {}
        if mtype:
            fields["dhcp.message_type"] = mtype
        text_fields = ((12, "dhcp.hostname"), (60, "dhcp.vendor_class"))
        for code, key in text_fields:
            text = safe_text(values.get(code, b""))
            if text:
                fields[key] = text
        if requested:
            fields["dhcp.requested_ip"] = requested
        if 55 in values:
            fields["dhcp.param_list"] = tuple(values[55])
        max_size = values.get(57, b"")
        if len(max_size) == 2:
            fields["dhcp.max_size"] = struct.unpack("!H", max_size)[0]
        client_id = values.get(61, b"")
        if client_id:
            fields["dhcp.client_id"] = client_id[:64].hex()
            if client_id[0] == 1 and len(client_id) == 7:
                fields["dhcp.client_id_mac"] = mac_text(client_id[1:])
        if 81 in values:
            fqdn = decode_fqdn(values[81])
            if fqdn:
                fields["dhcp.fqdn"] = fqdn
        if codes:
            fields["dhcp.options"] = tuple(codes)
        return observation(
            ts_ns=ctx.ts_ns,
            flow_uid=ctx.flow_uid,
            protocol=self.name,
            mac=mac,
            ip=_ip(ciaddr) or requested,
            fields=fields,
        )


DISSECTORS: list[DhcpDissector] = [DhcpDissector()]

FIELDS: dict[str, str] = {
    "dhcp.message_type": "DHCP message type (option 53) name: DISCOVER, REQUEST, ACK, ...",
    "dhcp.hostname": "Host name (option 12) the client sent (or the server echoed).",
    "dhcp.requested_ip": "Requested IP address (option 50).",
    "dhcp.param_list": "Parameter request list (option 55), codes in order: a fingerprint.",
    "dhcp.max_size": "Maximum DHCP message size (option 57).",
    "dhcp.vendor_class": "Vendor class identifier (option 60), e.g. 'MSFT 5.0', 'android-dhcp-13'.",
    "dhcp.client_id": "Client identifier (option 61) as hex, type byte included.",
    "dhcp.client_id_mac": "The MAC in a type-1 (Ethernet) client identifier.",
    "dhcp.fqdn": "Domain name from the client FQDN option (81).",
    "dhcp.options": "Option codes in the order sent (pad/end excluded): a fingerprint.",
    "dhcp.leased_ip": "Address a server OFFER/ACK assigns to the subject client (yiaddr).",
    "dhcp.lease_time": "Lease time in seconds (option 51) of that assignment.",
    "dhcp.server": "True: the subject sent a DHCP server reply.",
    "dhcp.server_id": "Server identifier (option 54) in the subject's reply.",
}
