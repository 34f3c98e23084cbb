"""The dissector contract.

A dissector is a pure function of one packet's (or one TCP direction's stream prefix) payload and
its context to a list of observations. It never raises on bad input: any malformed payload gives
an empty list (or the observations it could make before the damage), because the wire is hostile
and the sensor must keep going. Hypothesis tests enforce this for every dissector.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from wardwatch.model._build import builder
from wardwatch.model.flow import Transport
from wardwatch.model.observation import FieldValue, Observation


@dataclass(frozen=True, slots=True)
class PacketContext:
    """Where a payload came from. Built only for identity-bearing packets, never for all.

    For TCP, ``payload`` handed to the dissector is the in-order prefix (bounded, see
    ``flows``) of one direction of the stream, and ``src``/``dst`` are that direction's sender
    and receiver. ``l2_payload`` dissectors (ARP, LLDP, CDP) get the frame after the Ethernet
    header and ``ethertype`` set; their IP fields are None.
    """

    ts_ns: int
    flow_uid: str
    transport: Transport
    src_mac: str | None = None
    dst_mac: str | None = None
    src_ip: str | None = None
    dst_ip: str | None = None
    src_port: int = 0
    dst_port: int = 0
    vlan: int | None = None
    ethertype: int = 0
    ttl: int = 0
    """IP TTL / hop limit of the packet (0 for streams and L2)."""
    client_is_src: bool | None = None
    """For TCP: True when ``src`` is the side that opened the connection, if known."""
    tcp: TcpTraits | None = None
    """Only for TCP SYN / SYN-ACK packets handed to the stack-traits dissector."""


@dataclass(frozen=True, slots=True)
class TcpTraits:
    """The header traits of a TCP SYN or SYN-ACK used for p0f-style OS guesses."""

    syn_ack: bool
    ttl: int
    ip_version: int
    df: bool
    window: int
    mss: int | None
    wscale: int | None
    options: tuple[str, ...]  # layout, e.g. ("mss", "nop", "ws", "sok", "ts")
    ip_header_len: int
    ip_options_len: int = 0
    quirks: tuple[str, ...] = field(default_factory=tuple)


class Dissector(Protocol):
    """What the sensor calls. See module docstring for the rules."""

    name: str
    """Also the ``protocol`` of every observation it produces."""
    transports: frozenset[Transport]
    udp_ports: frozenset[int]
    """UDP ports (either side) always handed to this dissector."""
    tcp_ports: frozenset[int]
    """TCP ports (server side) whose stream prefixes are always handed to it."""
    ethertypes: frozenset[int]
    """For L2 dissectors: EtherTypes (or 0x10000 + LLC/SNAP PID for CDP) handed to it."""

    def probe(self, payload: bytes) -> bool:
        """Content detection on any port: cheap, may have false positives, never raises."""
        ...

    # Optional: ``context_fields: tuple[str, ...]`` names the PacketContext fields the output
    # depends on besides ``ts_ns`` and ``flow_uid``; the sensor then remembers results per those
    # fields and the payload only (tests/unit/dissect/test_context_fields.py holds it to that).
    # Optional: ``cache_skip: int``, leading payload bytes the output never depends on (a DNS
    # transaction id); they are left out of that key (the same test holds it to that).
    # Optional: ``cache_ignore: tuple[int, int]``, a byte range [start, end) of the payload the
    # output never depends on (a DHCP transaction id and seconds); those bytes are zeroed in the
    # key, which keeps the payload's length (the same test holds it to that).

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Payload to observations. Never raises."""
        ...


new_observation: Callable[..., Observation] = builder(Observation)
"""``Observation`` by position (ts_ns, flow_uid, protocol, mac, ip, fields, uid ""): the same
object as its ``__init__`` builds, without a frozen dataclass's per-field ``__setattr__``."""


def observation(
    *,
    ts_ns: int,
    flow_uid: str,
    protocol: str,
    mac: str | None,
    ip: str | None,
    fields: dict[str, FieldValue],
) -> Observation:
    """``Observation(...)`` built through :data:`new_observation` (the same object, 3x cheaper)."""
    return new_observation(ts_ns, flow_uid, protocol, mac, ip, fields, "")


_FIELD_NAMES: dict[str, str] = {}  # keyword ("dhcp__hostname") -> field name ("dhcp.hostname")


def obs(ctx: PacketContext, protocol: str, *, subject: str = "src", **fields: object) -> Observation:
    """Build an observation about the sender (``subject='src'``) or receiver (``'dst'``).

    Fields with value None or "" are dropped: "not present" is not a fact worth storing. Keyword
    names use ``__`` for ``.`` so ``obs(ctx, "dhcp", dhcp__hostname="x")`` gives ``dhcp.hostname``.
    """
    clean: dict[str, object] = {}
    names = _FIELD_NAMES
    for key, value in fields.items():
        if value is None:
            continue
        t = type(value)
        if t is str or t is tuple:
            if not value:
                continue
        elif t is not int and t is not bool:
            # anything else keeps the general rule (subclasses of str or tuple included)
            if value == "" or value == ():
                continue
            if isinstance(value, list):
                value = tuple(value)
        name = names.get(key)
        if name is None:
            name = names[key] = key.replace("__", ".")
        clean[name] = value
    mac, ip = (ctx.src_mac, ctx.src_ip) if subject == "src" else (ctx.dst_mac, ctx.dst_ip)
    return new_observation(ctx.ts_ns, ctx.flow_uid, protocol, mac, ip, clean, "")


def safe_text(raw: bytes, limit: int = 256) -> str:
    """Decode wire bytes to printable text, bounded: never raises, drops control characters."""
    text = raw[:limit].decode("utf-8", errors="replace")
    if text.isprintable():  # the common case: no per-character filtering needed
        return text.strip()
    return "".join(ch for ch in text if ch.isprintable()).strip()


DissectFn = Callable[[PacketContext, bytes], Sequence[Observation]]


def mac_text(raw: bytes) -> str:
    """Six bytes as a lower-case colon-separated MAC address (the form observations use)."""
    return raw[:6].hex(":")


def ipv4_text(raw: bytes) -> str:
    """Four bytes as dotted-quad text: ``str(ipaddress.IPv4Address(raw))`` without the object
    (10x cheaper). Raises ValueError unless ``raw`` has exactly four bytes, as that does."""
    a, b, c, d = raw
    return f"{a}.{b}.{c}.{d}"


def ipv6_text(raw: bytes) -> str:
    """Sixteen bytes as canonical IPv6 text (RFC 5952, as ``ipaddress`` writes it), remembered:
    the same few addresses (link-local, multicast) come again and again."""
    return _ipv6_text(bytes(raw))


@lru_cache(maxsize=4096)
def _ipv6_text(raw: bytes) -> str:
    return str(ipaddress.IPv6Address(raw))


class L2FieldsDissector:
    """Base of the L2 discovery dissectors (LLDP, CDP): one frame -> one observation about its sender.

    Subclasses set ``name`` and ``ethertypes`` and implement :meth:`_fields`, which may raise on
    damaged input: :meth:`dissect` turns that into "no observation", as the contract requires.
    """

    name: str = ""
    transports = frozenset({Transport.L2})
    udp_ports: frozenset[int] = frozenset()
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """Selected by EtherType (or SNAP PID) only, never by content."""
        return False

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Never raises; keeps the fields parsed before any damage (as ``_fields`` returns them)."""
        try:
            fields = self._fields(payload)
        except Exception:
            return []
        if not fields:
            return []
        return [
            observation(
                ts_ns=ctx.ts_ns,
                flow_uid=ctx.flow_uid,
                protocol=self.name,
                mac=ctx.src_mac,
                ip=None,
                fields=fields,
            )
        ]

    def _fields(self, payload: bytes) -> dict[str, FieldValue]:
        raise NotImplementedError
