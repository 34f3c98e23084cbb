"""Hand-built frames for the packet-path tests (struct, no third-party builders)."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext, obs

SEC = 1_000_000_000


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ip_bytes(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def eth(
    dst: str, src: str, ethertype: int, payload: bytes, vlans: tuple[int, ...] = (), tpid: int = 0x8100
) -> bytes:
    tags = b"".join(struct.pack("!HH", tpid if i == 0 else 0x8100, v) for i, v in enumerate(vlans))
    return mac(dst) + mac(src) + tags + struct.pack("!H", ethertype) + payload


def ipv4(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    *,
    ttl: int = 64,
    df: bool = True,
    ident: int = 1,
    options: bytes = b"",
    frag: int = 0,
    mf: bool = False,
) -> bytes:
    ihl = 5 + len(options) // 4
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | frag
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        ihl * 4 + len(payload),
        ident,
        flags,
        ttl,
        proto,
        0,
        ip_bytes(src),
        ip_bytes(dst),
    )
    return hdr + options + payload


def ipv6(src: str, dst: str, nh: int, payload: bytes, *, hlim: int = 64, ext: bytes = b"") -> bytes:
    return (
        struct.pack(
            "!IHBB16s16s", 0x60000000, len(ext) + len(payload), nh, hlim, ip_bytes(src), ip_bytes(dst)
        )
        + ext
        + payload
    )


def tcp(
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: str,
    payload: bytes = b"",
    *,
    window: int = 64240,
    options: bytes = b"",
) -> bytes:
    bits = sum({"F": 1, "S": 2, "R": 4, "P": 8, "A": 16, "U": 32}[c] for c in flags)
    doff = (20 + len(options)) // 4
    return (
        struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, bits, window, 0, 0) + options + payload
    )


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def arp(op: int, smac: str, sip: str, tmac: str, tip: str) -> bytes:
    return struct.pack(
        "!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, mac(smac), ip_bytes(sip), mac(tmac), ip_bytes(tip)
    )


@dataclass
class FakeDissector:
    """A dissector recording its calls; emits one observation per call."""

    name: str
    transports: frozenset[Transport] = frozenset()
    udp_ports: frozenset[int] = frozenset()
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()
    magic: bytes | None = None
    wants_syn: bool = False
    raises: bool = False
    calls: list[tuple[PacketContext, bytes]] = field(default_factory=list)

    def probe(self, payload: bytes) -> bool:
        return self.magic is not None and payload.startswith(self.magic)

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        self.calls.append((ctx, payload))
        if self.raises:
            raise ValueError("broken dissector")
        return [obs(ctx, self.name, **{f"{self.name}__len": len(payload)})]
