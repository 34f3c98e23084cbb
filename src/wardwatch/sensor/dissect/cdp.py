"""Cisco Discovery Protocol (CDP v1/v2), from Cisco's public descriptions and the long-standing
open-source decoders (Wireshark packet-cdp.c, tcpdump print-cdp.c).

The sensor hands this dissector frames whose LLC/SNAP header has OUI 00-00-0C and PID 0x2000
(EtherType key 0x12000 = 0x10000 + PID); the payload starts at the CDP header::

    version(1) ttl(1) checksum(2)  then TLVs: type(2) length(2, includes the 4-byte header) value

TLV types used: 0x01 Device ID, 0x02 Addresses, 0x03 Port ID, 0x04 Capabilities (32-bit map),
0x05 Software Version, 0x06 Platform, 0x09 VTP Management Domain, 0x0a Native VLAN, 0x0b Duplex,
0x0e VoIP VLAN Reply (appliance type(1), VLAN(2)), 0x14 System Name, 0x16 Management Addresses.
Address lists are ``count(4)`` then entries ``proto type(1) proto len(1) proto addr len(2)
addr``; IPv4 is NLPID (type 1) protocol 0xCC, IPv6 is 802.2 (type 2) protocol AAAA0300000086DD.

Subject: the frame's sender (``ctx.src_mac``), ip None: its addresses are fields because a switch
advertises an address of a management interface, not of the sending port.
"""

from __future__ import annotations

import struct

from wardwatch.model.observation import FieldValue
from wardwatch.sensor.dissect.base import L2FieldsDissector, ipv4_text, ipv6_text, safe_text

MAX_TLVS = 64
MAX_ADDRESSES = 16

CAPABILITIES: tuple[str, ...] = (
    "router",
    "trans-bridge",
    "source-route-bridge",
    "switch",
    "host",
    "igmp",
    "repeater",
    "phone",
    "remotely-managed",
    "cvta",
    "two-port-mac-relay",
)

_IPV6_SNAP = bytes.fromhex("aaaa0300000086dd")


def parse_addresses(value: bytes) -> list[str]:
    """An Addresses / Management Addresses TLV value to IPv4/IPv6 text, bounded."""
    out: list[str] = []
    if len(value) < 4:
        return out
    (count,) = struct.unpack_from("!I", value, 0)
    pos = 4
    for _ in range(min(count, MAX_ADDRESSES)):
        if pos + 2 > len(value):
            break
        ptype, plen = value[pos], value[pos + 1]
        proto = value[pos + 2 : pos + 2 + plen]
        pos += 2 + plen
        if pos + 2 > len(value):
            break
        (alen,) = struct.unpack_from("!H", value, pos)
        addr = value[pos + 2 : pos + 2 + alen]
        pos += 2 + alen
        if len(addr) != alen:
            break
        text: str | None = None
        if ptype == 1 and proto == b"\xcc" and alen == 4:
            text = ipv4_text(addr)
        elif ptype == 2 and proto == _IPV6_SNAP and alen == 16:
            text = ipv6_text(addr)
        if text and text not in out:
            out.append(text)
    return out


class CdpDissector(L2FieldsDissector):
    """CDP advertisement -> one observation about the sending device."""

    name = "cdp"
    ethertypes = frozenset({0x12000})

    def _fields(self, payload: bytes) -> dict[str, FieldValue]:
        if len(payload) < 4 or payload[0] not in (1, 2):
            return {}
        fields: dict[str, FieldValue] = {"cdp.version": payload[0], "cdp.ttl": payload[1]}
        addresses: list[str] = []
        mgmt: list[str] = []
        pos = 4
        for _ in range(MAX_TLVS):
            if pos + 4 > len(payload):
                break
            tlv_type, length = struct.unpack_from("!HH", payload, pos)
            if length < 4:
                break
            value = payload[pos + 4 : pos + length]
            if len(value) != length - 4:
                break
            pos += length
            if tlv_type == 0x01:
                fields.setdefault("cdp.device_id", safe_text(value))
            elif tlv_type == 0x02:
                addresses.extend(a for a in parse_addresses(value) if a not in addresses)
            elif tlv_type == 0x03:
                fields.setdefault("cdp.port_id", safe_text(value))
            elif tlv_type == 0x04 and len(value) >= 4:
                (bits,) = struct.unpack_from("!I", value, 0)
                fields.setdefault(
                    "cdp.capabilities", tuple(n for i, n in enumerate(CAPABILITIES) if bits & (1 << i))
                )
            elif tlv_type == 0x05:
                # Multi-line banner: the first line names the image and version.
                first = value[:1024].replace(b"\r", b"\n").split(b"\n", 1)[0]
                fields.setdefault("cdp.software", safe_text(first))
            elif tlv_type == 0x06:
                fields.setdefault("cdp.platform", safe_text(value))
            elif tlv_type == 0x09:
                fields.setdefault("cdp.vtp_domain", safe_text(value))
            elif tlv_type == 0x0A and len(value) >= 2:
                fields.setdefault("cdp.native_vlan", struct.unpack_from("!H", value, 0)[0])
            elif tlv_type == 0x0B and len(value) >= 1:
                fields.setdefault("cdp.duplex", "full" if value[0] else "half")
            elif tlv_type == 0x0E and len(value) >= 3:
                fields.setdefault("cdp.voice_vlan", struct.unpack_from("!H", value, 1)[0])
            elif tlv_type == 0x14:
                fields.setdefault("cdp.system_name", safe_text(value))
            elif tlv_type == 0x16:
                mgmt.extend(a for a in parse_addresses(value) if a not in mgmt)
        if addresses:
            fields["cdp.addresses"] = tuple(addresses[:MAX_ADDRESSES])
        if mgmt:
            fields["cdp.mgmt_addresses"] = tuple(mgmt[:MAX_ADDRESSES])
        return {k: v for k, v in fields.items() if v not in ("", ())}


DISSECTORS: list[CdpDissector] = [CdpDissector()]

FIELDS: dict[str, str] = {
    "cdp.version": "CDP version (1 or 2).",
    "cdp.ttl": "Hold time in seconds.",
    "cdp.device_id": "Device ID TLV (host name, or SEP<mac> for Cisco phones).",
    "cdp.addresses": "IPv4/IPv6 addresses from the Addresses TLV.",
    "cdp.mgmt_addresses": "IPv4/IPv6 addresses from the Management Addresses TLV.",
    "cdp.port_id": "Port ID TLV: the sending interface name.",
    "cdp.capabilities": "Capabilities: router, switch, host, phone, ...",
    "cdp.software": "First line of the Software Version TLV.",
    "cdp.platform": "Platform TLV (model), e.g. 'cisco WS-C3560-24PS', 'Cisco IP Phone 7941'.",
    "cdp.vtp_domain": "VTP management domain name.",
    "cdp.native_vlan": "Native VLAN of the sending port.",
    "cdp.duplex": "Duplex of the sending port: 'full' or 'half'.",
    "cdp.voice_vlan": "VLAN from the VoIP VLAN Reply TLV (0x0e).",
    "cdp.system_name": "System Name TLV.",
}
