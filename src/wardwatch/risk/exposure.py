"""What the network shows about a device: services it serves, peers, internet peers, subnets, paths.

Pure functions over stored :class:`~wardwatch.model.flow.Conversation` records (client, server,
transport, server port). Nothing here sends a packet: exposure is what was *observed*.

Attack paths: the observed communication graph has a directed edge client -> server for every
conversation (an attacker who holds the client can open the same kind of connection again). The
sources are the *internet-talking* hosts: public addresses that opened connections into the site,
and local hosts that talk to public addresses (a compromised browser or a malicious reply reaches
them first). One multi-source breadth-first search gives, for every host, the shortest path from
the nearest source, so a whole fleet costs one pass over the graph.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wardwatch.model.flow import Conversation
from wardwatch.risk.score import ObservedService

#: Port -> protocol name for display (what a firewall rule names is the port, not this name).
WELL_KNOWN_PORTS: dict[tuple[str, int], str] = {
    ("tcp", 21): "ftp",
    ("tcp", 22): "ssh",
    ("tcp", 23): "telnet",
    ("tcp", 25): "smtp",
    ("udp", 53): "dns",
    ("tcp", 80): "http",
    ("tcp", 104): "dicom",
    ("tcp", 139): "netbios-ssn",
    ("udp", 161): "snmp",
    ("tcp", 443): "https",
    ("tcp", 445): "smb",
    ("tcp", 502): "modbus",
    ("tcp", 1883): "mqtt",
    ("tcp", 2575): "hl7",
    ("tcp", 3389): "rdp",
    ("tcp", 4242): "dicom",
    ("tcp", 5900): "vnc",
    ("tcp", 8080): "http",
    ("tcp", 8443): "https",
    ("tcp", 8883): "mqtt-tls",
    ("tcp", 11112): "dicom",
    ("udp", 24105): "intellivue",
    ("udp", 47808): "bacnet",
}


def protocol_of(transport: str, port: int) -> str:
    """A display name for a (transport, port), or "" when the port is not a well-known one here."""
    return WELL_KNOWN_PORTS.get((transport, port), "")


@functools.lru_cache(maxsize=262144)
def is_public(ip: str | None) -> bool:
    """True for a globally routable address (not private, loopback, link-local, multicast ...)."""
    if not ip:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return bool(addr.is_global) and not addr.is_multicast


@functools.lru_cache(maxsize=262144)
def subnet_of(ip: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) an address is in; our stand-in for "segment" when no VLAN is known."""
    # Fast path for plain dotted quads (every device's own address is a cache miss in a fleet
    # recompute, and ipaddress is slow); anything unusual goes through ipaddress below.
    octets = ip.split(".")
    if len(octets) == 4 and all(
        o.isdigit() and o.isascii() and str(int(o)) == o and int(o) < 256 for o in octets
    ):
        return f"{octets[0]}.{octets[1]}.{octets[2]}.0/24"
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    prefix = 24 if addr.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


@dataclass(frozen=True, slots=True)
class Exposure:
    """One device's observed exposure."""

    services: tuple[ObservedService, ...]
    peers: tuple[str, ...]
    internet_peers: tuple[str, ...]
    subnets: tuple[str, ...]
    dependents: int
    #: (transport, port) of the services it uses as a client (e.g. tcp/104 to a PACS).
    uses: tuple[tuple[str, int], ...] = ()


def exposure_of(device_ips: Iterable[str], conversations: Iterable[Conversation]) -> Exposure:
    """Services the device served (it is the server), its peers, internet peers and their subnets."""
    own = set(device_ips)
    clients_by_service: dict[tuple[str, int], set[str]] = {}
    peers: set[str] = set()
    uses: set[tuple[str, int]] = set()
    for c in conversations:
        client, server = c.client_ip, c.server_ip
        if server in own and client not in own:
            key = (str(c.transport), c.server_port)
            clients_by_service.setdefault(key, set()).add(client or "?")
            if client:
                peers.add(client)
        elif client in own and server not in own and server:
            peers.add(server)
            uses.add((str(c.transport), c.server_port))
    services = tuple(
        ObservedService(
            transport=t,
            port=p,
            protocol=protocol_of(t, p),
            clients=len(clients),
            internet_clients=sum(1 for x in clients if is_public(x)),
        )
        for (t, p), clients in sorted(clients_by_service.items())
    )
    dependents = len(set().union(*clients_by_service.values())) if clients_by_service else 0
    internet = tuple(sorted(p for p in peers if is_public(p)))
    subnets = {subnet_of(p) for p in peers if not is_public(p)} | {subnet_of(ip) for ip in own}
    return Exposure(
        services, tuple(sorted(peers)), internet, tuple(sorted(subnets)), dependents, tuple(sorted(uses))
    )


class AttackGraph:
    """The directed client -> server graph of observed conversations, searched once from its sources."""

    def __init__(self, conversations: Iterable[Conversation]) -> None:
        self.edges: dict[str, set[str]] = {}
        sources: set[str] = set()
        for c in conversations:
            a, b = c.client_ip, c.server_ip
            if not a or not b or a == b:
                continue
            self.edges.setdefault(a, set()).add(b)
            if is_public(a) and not is_public(b):
                sources.add(a)  # an internet host opened a connection into the site
            elif is_public(b) and not is_public(a):
                sources.add(a)  # a local host talks out to the internet
        self.sources = frozenset(sources)
        self._parent: dict[str, str | None] = {}
        queue: deque[str] = deque()
        for s in sorted(self.sources):
            self._parent[s] = None
            queue.append(s)
        while queue:
            node = queue.popleft()
            for nxt in sorted(self.edges.get(node, ())):
                if nxt not in self._parent:
                    self._parent[nxt] = node
                    queue.append(nxt)

    def path_to(self, targets: Sequence[str]) -> tuple[str, ...]:
        """The shortest observed path from an internet-talking host to any of ``targets`` (() if none).

        A target that is itself internet-talking gets a one-node path.
        """
        best: tuple[str, ...] = ()
        for target in targets:
            if target not in self._parent:
                continue
            path = [target]
            parent = self._parent[target]
            while parent is not None:
                path.append(parent)
                parent = self._parent[parent]
            if not best or len(path) < len(best):
                best = tuple(reversed(path))
        return best
