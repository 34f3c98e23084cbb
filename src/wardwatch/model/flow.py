"""Flow and Conversation: what talked to what, when, how much.

A *flow* is one bidirectional 5-tuple session (or, for non-IP frames, one L2 source and
EtherType) bounded by idle and active timeouts. A *conversation* aggregates flows between two
hosts on one transport and server port over time; it is what the inventory keeps long term.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Transport(StrEnum):
    """The transport of a flow."""

    TCP = "tcp"
    UDP = "udp"
    ICMP = "icmp"
    ICMP6 = "icmp6"
    OTHER_IP = "ip"
    L2 = "l2"  # non-IP frames: ARP, LLDP, CDP ...


@dataclass(frozen=True, slots=True)
class Flow:
    """One bidirectional flow as metered by the sensor.

    ``a`` is the side that sent the first packet; ``server`` says which side is the server when
    it is known (the TCP SYN/SYN-ACK roles, or the well-known port for UDP), else None.
    """

    uid: str
    transport: Transport
    a_mac: str | None
    a_ip: str | None
    a_port: int
    b_mac: str | None
    b_ip: str | None
    b_port: int
    vlan: int | None
    first_ns: int
    last_ns: int
    packets_ab: int
    packets_ba: int
    bytes_ab: int
    bytes_ba: int
    server: str | None  # "a", "b" or None
    ended_by: str  # "idle", "active", "eviction", "end-of-capture", "tcp-close"
    ethertype: int = 0


@dataclass(frozen=True, slots=True)
class Conversation:
    """Flows aggregated by (client, server, transport, server port)."""

    client_ip: str | None
    client_mac: str | None
    server_ip: str | None
    server_mac: str | None
    transport: Transport
    server_port: int
    first_ns: int
    last_ns: int
    flows: int
    packets: int
    bytes: int
