"""From sightings and observations to devices.

Rules (docs/adr/003-identification.md):

* A device is a unicast MAC seen as a source (or named as a DHCP client); its key is ``mac:…``.
* An IP belongs to a MAC when ARP or DHCP binds them (L2-local evidence), or when traffic from
  that IP carries that MAC and the MAC is not a router.
* A MAC is a *router* when it sources traffic from more than :data:`ROUTER_MIN_FOREIGN_IPS` IPs
  that no ARP/DHCP binds to it: those IPs are hosts behind it. Each such IP that is private
  (RFC 1918, RFC 4193) becomes a device of its own, keyed ``ip:…``; public addresses are external
  peers, not inventory.
* Traffic without an Ethernet header (raw IP captures) gives IP-keyed devices for private IPs.
* The all-zero MAC (loopback captures) counts as no MAC.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from wardwatch.identify.engine import identify
from wardwatch.identify.knowledge import Knowledge
from wardwatch.identify.oui import OuiRegistry, is_locally_administered, is_multicast
from wardwatch.model.device import Device, DeviceIP, Evidence, Override
from wardwatch.store.ports import Sighting, StoredObservation

ROUTER_MIN_FOREIGN_IPS = 4
_NO_MAC = "00:00:00:00:00:00"


@dataclass
class _Host:
    key: str
    mac: str | None
    first_ns: int
    last_ns: int
    ips: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # ip -> (first, last, source)
    observations: list[StoredObservation] = field(default_factory=list)

    def see(self, first_ns: int, last_ns: int) -> None:
        self.first_ns = min(self.first_ns, first_ns)
        self.last_ns = max(self.last_ns, last_ns)

    def add_ip(self, ip: str, first_ns: int, last_ns: int, source: str) -> None:
        entry = self.ips.get(ip)
        if entry is None:
            self.ips[ip] = (first_ns, last_ns, source)
            return
        # A binding protocol (ARP, DHCP) is stronger evidence of ownership than traffic.
        kept = source if source != "traffic" else entry[2]
        self.ips[ip] = (min(entry[0], first_ns), max(entry[1], last_ns), kept)


@lru_cache(maxsize=65_536)  # called for every sighting and observation (twice); MACs recur
def _usable_mac(mac: str | None) -> str | None:
    if not mac or mac == _NO_MAC or is_multicast(mac):
        return None
    return mac


def is_inventory_ip(ip: str) -> bool:
    """Private unicast addresses are hosts of this site; public ones are external peers."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return bool(
        addr.is_private
        and not (addr.is_loopback or addr.is_unspecified or addr.is_multicast or addr.is_link_local)
    )


def _bindings(observations: Iterable[StoredObservation]) -> dict[str, dict[str, tuple[int, int, str]]]:
    """mac -> ip -> (first, last, protocol) from ARP and DHCP."""
    bound: dict[str, dict[str, tuple[int, int, str]]] = {}
    for obs in observations:
        fields: Mapping[str, object] = obs.fields  # any JSON: no FieldValue check when compiled
        leased = fields.get("dhcp.leased_ip")
        bound_ip = obs.ip if obs.protocol in ("arp", "dhcp") else None
        if not bound_ip and not isinstance(leased, str):
            continue  # most observations bind nothing: no MAC check, no list
        mac = _usable_mac(obs.mac)
        if mac is None:
            continue
        ips: list[str] = []
        if bound_ip:
            ips.append(bound_ip)
        if isinstance(leased, str):
            ips.append(leased)
        for ip in ips:
            if ip in ("0.0.0.0", "::"):
                continue
            old = bound.setdefault(mac, {}).get(ip)
            first, last = obs.first_ns, obs.last_ns
            if old is not None:
                first, last = min(first, old[0]), max(last, old[1])
            bound[mac][ip] = (first, last, obs.protocol)
    return bound


def build_devices(
    sightings: Sequence[Sighting],
    observations: Sequence[StoredObservation],
    *,
    knowledge: Knowledge,
    oui: OuiRegistry,
    overrides: Mapping[str, Sequence[Override]] | None = None,
) -> list[tuple[Device, tuple[Evidence, ...]]]:
    """Group everything seen into devices and identify each one.

    ``overrides`` maps a device key to its active overrides; they are applied during
    identification (so an overridden device type also sets the clinical category).
    """
    overrides = overrides or {}
    bound = _bindings(observations)
    owner: dict[str, str] = {}
    for mac, ips in bound.items():
        for ip, (_first, last, _proto) in ips.items():
            current = owner.get(ip)
            if current is None or bound[current][ip][1] < last:
                owner[ip] = mac

    foreign: dict[str, set[str]] = {}
    for s in sightings:
        f_mac = _usable_mac(s.mac)
        if f_mac and s.ip and owner.get(s.ip) != f_mac:
            foreign.setdefault(f_mac, set()).add(s.ip)
    routers = {mac for mac, ips in foreign.items() if len(ips) > ROUTER_MIN_FOREIGN_IPS}

    hosts: dict[str, _Host] = {}
    by_mac: dict[str, _Host] = {}  # the "mac:" hosts by MAC, without building the key per lookup

    def host_for_mac(mac: str, first: int, last: int) -> _Host:
        host = by_mac.get(mac)
        if host is None:
            key = f"mac:{mac}"
            host = hosts[key] = by_mac[mac] = _Host(key=key, mac=mac, first_ns=first, last_ns=last)
        else:
            host.see(first, last)
        return host

    def host_for_ip(ip: str, first: int, last: int) -> _Host | None:
        mac = owner.get(ip)
        if mac is not None:
            return host_for_mac(mac, first, last)
        if not is_inventory_ip(ip):
            return None
        key = f"ip:{ip}"
        host = hosts.get(key)
        if host is None:
            host = hosts[key] = _Host(key=key, mac=None, first_ns=first, last_ns=last)
        host.see(first, last)
        return host

    for bound_mac, ips in bound.items():
        host = host_for_mac(bound_mac, min(v[0] for v in ips.values()), max(v[1] for v in ips.values()))
        for ip, (first, last, proto) in ips.items():
            if owner.get(ip) == bound_mac:
                host.add_ip(ip, first, last, proto)

    for s in sightings:
        s_mac = _usable_mac(s.mac)
        if s_mac is not None and (s_mac not in routers or s.ip is None or owner.get(s.ip) == s_mac):
            host = host_for_mac(s_mac, s.first_ns, s.last_ns)
            if s.ip and s.ip not in ("0.0.0.0", "::") and owner.get(s.ip) in (None, s_mac):
                host.add_ip(s.ip, s.first_ns, s.last_ns, "traffic")
        elif s.ip:
            if s_mac is not None:
                host_for_mac(s_mac, s.first_ns, s.last_ns)  # the router itself is on the segment
            ip_host = host_for_ip(s.ip, s.first_ns, s.last_ns)
            if ip_host is not None:
                ip_host.add_ip(s.ip, s.first_ns, s.last_ns, "traffic")

    for obs in observations:
        o_mac = _usable_mac(obs.mac)
        target: _Host | None
        if o_mac is not None and (o_mac not in routers or obs.ip is None or owner.get(obs.ip) == o_mac):
            # host_for_mac, inlined: this loop runs once per observation.
            target = by_mac.get(o_mac)
            if target is None:
                target = host_for_mac(o_mac, obs.first_ns, obs.last_ns)
            else:
                if obs.first_ns < target.first_ns:
                    target.first_ns = obs.first_ns
                if obs.last_ns > target.last_ns:
                    target.last_ns = obs.last_ns
        elif obs.ip:
            target = host_for_ip(obs.ip, obs.first_ns, obs.last_ns)
            if target is not None and target.mac is None:
                target.add_ip(obs.ip, obs.first_ns, obs.last_ns, "traffic")
        else:
            target = None
        if target is not None:
            target.observations.append(obs)

    devices: list[tuple[Device, tuple[Evidence, ...]]] = []
    for key in sorted(hosts):
        host = hosts[key]
        found = identify(
            host.observations,
            mac=host.mac,
            first_ns=host.first_ns,
            last_ns=host.last_ns,
            knowledge=knowledge,
            oui=oui,
            overrides=overrides.get(host.key, ()),
        )
        addresses = tuple(
            DeviceIP(ip=ip, first_ns=first, last_ns=last, source=source)
            for ip, (first, last, source) in sorted(host.ips.items(), key=lambda item: (item[1][1], item[0]))
        )
        device = Device(
            id=None,
            key=host.key,
            mac=host.mac,
            first_ns=host.first_ns,
            last_ns=host.last_ns,
            mac_randomized=bool(host.mac and is_locally_administered(host.mac)),
            attributes=found.attributes,
            ips=addresses,
        )
        devices.append((device, found.evidence))
    return devices
