"""ARP (RFC 826) for Ethernet / IPv4, with RFC 5227 probe and announcement semantics.

The payload is the frame after the Ethernet header::

    htype(2)=1  ptype(2)=0x0800  hlen(1)=6  plen(1)=4  op(2)
    sha(6)  spa(4)  tha(6)  tpa(4)

The observation is about the ARP *sender* as written in the ARP body (sha/spa), not the Ethernet
source, which differs for proxies and some bridges (``arp.eth_src_differs`` records that). An
RFC 5227 probe has spa 0.0.0.0: the subject is then the MAC alone (ip None) and the address it
is probing for is ``arp.probe_ip``. A gratuitous ARP / announcement has spa == tpa.
"""

from __future__ import annotations

import struct

from wardwatch.model.flow import Transport
from wardwatch.model.observation import FieldValue, Observation
from wardwatch.sensor.dissect.base import PacketContext, ipv4_text, mac_text, observation

OPS: dict[int, str] = {1: "request", 2: "reply", 3: "rarp-request", 4: "rarp-reply"}


class ArpDissector:
    """ARP request/reply -> one observation about the sender."""

    name = "arp"
    transports = frozenset({Transport.L2})
    udp_ports: frozenset[int] = frozenset()
    tcp_ports: frozenset[int] = frozenset()
    ethertypes = frozenset({0x0806})

    def probe(self, payload: bytes) -> bool:
        """ARP is selected by EtherType only."""
        return False

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Parse the fixed 28-byte Ethernet/IPv4 ARP body; anything else gives []."""
        if len(payload) < 28:
            return []
        htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", payload, 0)
        if htype != 1 or ptype != 0x0800 or hlen != 6 or plen != 4:
            return []
        sha, spa, tpa = payload[8:14], payload[14:18], payload[24:28]
        if sha in (b"\x00" * 6, b"\xff" * 6) or sha[0] & 1:
            return []  # no usable (unicast) sender hardware address
        mac = mac_text(sha)
        sender_ip = ipv4_text(spa)
        target_ip = ipv4_text(tpa)
        fields: dict[str, FieldValue] = {"arp.op": OPS.get(op, str(op))}
        ip: str | None = sender_ip
        if spa == b"\x00\x00\x00\x00":
            ip = None
            fields["arp.probe"] = True
            if tpa != b"\x00\x00\x00\x00":
                fields["arp.probe_ip"] = target_ip
        elif spa == tpa:
            fields["arp.gratuitous"] = True
        if ctx.src_mac is not None and ctx.src_mac.lower() != mac:
            fields["arp.eth_src_differs"] = True
        return [
            observation(
                ts_ns=ctx.ts_ns,
                flow_uid=ctx.flow_uid,
                protocol=self.name,
                mac=mac,
                ip=ip,
                fields=fields,
            )
        ]


DISSECTORS: list[ArpDissector] = [ArpDissector()]

FIELDS: dict[str, str] = {
    "arp.op": "ARP operation: 'request', 'reply' (or RARP / the number).",
    "arp.gratuitous": "True when sender and target protocol addresses are equal (announcement).",
    "arp.probe": "True for an RFC 5227 probe (sender IP 0.0.0.0); the subject then has no IP.",
    "arp.probe_ip": "The address an RFC 5227 probe checks before claiming it.",
    "arp.eth_src_differs": "True when the Ethernet source MAC differs from the ARP sender MAC.",
}
