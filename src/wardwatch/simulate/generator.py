"""Hospital network traffic generator: devices, a schedule of events, and the pcap they produce.

The generator draws a device population from :mod:`wardwatch.simulate.profiles`, plans every event of the
capture (DHCP, ARP, mDNS, SSDP/UPnP, HTTP, TLS, SNMP, LLDP/CDP, SIP, DNS, background and imaging bulk
transfers) up front with seeded RNGs, sorts the plan by time and renders it frame by frame through one
buffered :class:`PcapWriter`. Everything random comes from ``random.Random(seed)`` and
``numpy.random.default_rng(seed)`` and nothing iterates a hash-ordered container, so one config always
produces a byte-identical file.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import struct
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from typing import Any

import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from wardwatch.simulate import medical as med
from wardwatch.simulate import packets as pk
from wardwatch.simulate.pcapwriter import PcapWriter
from wardwatch.simulate.profiles import (
    BACKGROUND_SERVICE,
    BRANDS,
    DEPARTMENTS,
    DHCP_STYLES,
    DOMAIN,
    KINDS,
    PROFILE_BY_KEY,
    PROFILES,
    SERVERS,
    TAGGED_DEPARTMENTS,
    TLS_SERVERS,
    Profile,
)

HOUR_US = 3_600_000_000
_POOL_BYTES = 4 << 20


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. ``scale`` multiplies background and bulk bytes per device (benchmark captures)."""

    devices: int = 60
    seed: int = 1
    duration_s: float = 3600.0
    start_ns: int = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
    background: bool = True
    scale: float = 1.0


@dataclass(frozen=True)
class SimDevice:
    """One simulated device and the truth about it (``reveals`` lists what its traffic discloses)."""

    index: int
    kind: str
    profile: str
    vendor: str | None  # IEEE MA-L organisation of the MAC's OUI; None for a randomized MAC
    mac: str
    mac_randomized: bool
    ips: tuple[str, ...]
    department: str
    vlan: int
    tagged: bool
    dhcp: bool
    model: str
    serial: str
    firmware: str | None
    hostname: str
    os: str | None
    reveals: tuple[str, ...]
    protocols: tuple[str, ...]


@dataclass(frozen=True)
class SimResult:
    """What :func:`simulate` wrote."""

    path: Path
    packets: int
    bytes: int
    devices: list[SimDevice]
    config: SimConfig
    first_us: int
    last_us: int
    servers: dict[str, str] = field(default_factory=dict)


class _Dev:
    """Mutable per-device state while rendering."""

    __slots__ = (
        "dept",
        "dhcp_style",
        "fw",
        "gw",
        "host",
        "ident",
        "idx",
        "ip",
        "ips",
        "mac",
        "model",
        "n",
        "next_ip",
        "os",
        "p",
        "port",
        "randomized",
        "serial",
        "ssdp_fetched",
        "up",
        "uuid",
        "vlan",
        "vlan_tag",
    )

    def __init__(self) -> None:
        self.idx = 0
        self.p: Profile = PROFILES[0]
        self.mac = b""
        self.randomized = False
        self.ip: bytes | None = None
        self.next_ip: bytes | None = None
        self.ips: list[str] = []
        self.dept = ""
        self.vlan = 0
        self.vlan_tag: int | None = None
        self.gw = b""
        self.ident = 0
        self.port = 49152
        self.model = ""
        self.fw: str | None = None
        self.serial = ""
        self.host = ""
        self.os: str | None = None
        self.dhcp_style: str | None = None
        self.n = 0
        self.up = 0
        self.uuid = ""
        self.ssdp_fetched = False


def _fill_pattern(pattern: str, rng: random.Random) -> str:
    out = []
    for ch in pattern:
        if ch == "#":
            out.append(str(rng.randrange(10)))
        elif ch == "@":
            out.append(chr(65 + rng.randrange(26)))
        elif ch == "%":
            out.append("0123456789ABCDEF"[rng.randrange(16)])
        else:
            out.append(ch)
    return "".join(out)


def scale_for_packets_per_device(k: float, background: bool = True) -> float:
    """The ``scale`` that gives about ``k`` packets per device per hour (calibrated on the default mix)."""
    # Measured on 1000-5000 devices: packets/device/hour ~= base + per_scale * scale (slope kept low so
    # that the result errs on the side of at least k).
    base, per_scale = 157.0, 12.9
    if not background:
        return 1.0
    return max(0.05, (k - base) / per_scale)


class _Sim:
    """One simulation run."""

    def __init__(self, config: SimConfig, out: Path) -> None:
        self.cfg = config
        self.out = out
        self.rng = random.Random(config.seed)
        self.nrng = np.random.default_rng(config.seed)
        # Payload pool: 12-bit samples in 16-bit words, like image pixels, so gzip shrinks it somewhat.
        samples = self.nrng.integers(0, 4096, _POOL_BYTES // 2, dtype=np.uint16)
        self.pool = pk.PayloadPool(samples.astype("<u2").tobytes())
        self.pool_max = _POOL_BYTES - 4096
        self.start = config.start_ns // 1000
        self.dur = max(1, int(config.duration_s * 1_000_000))
        self.devs: list[_Dev] = []
        self.by_ip: dict[bytes, _Dev] = {}
        self.events: list[tuple[int, int, int, int, int]] = []
        self.seq = 0
        self.server_ident: dict[bytes, int] = {}
        self.certs: dict[str, tuple[bytes, Ed25519PrivateKey]] = {}
        self.handlers: list[Callable[[int, _Dev, int], None]] = []
        self._h: dict[str, int] = {}
        self.w: PcapWriter | None = None
        self.router: _Dev | None = None
        self.workstations: list[_Dev] = []
        self.centrals: list[_Dev] = []
        self.pacs: list[_Dev] = []
        self.dept_next: dict[str, int] = {}
        self.server_ttl = {pk.ip4(ip): ttl for ip, ttl in SERVERS.values()}
        # Periodic L2 advertisements repeat byte for byte: build each distinct frame once.
        self.frame_cache: dict[tuple[int, int, int], bytes] = {}
        self.stream_dst: dict[int, tuple[bytes, bytes]] = {}

    # ------------------------------------------------------------------ population

    def _alloc_ip(self, dept: str) -> bytes:
        octet = DEPARTMENTS[dept][1]
        h = self.dept_next.get(dept, 20)
        self.dept_next[dept] = h + 1
        return bytes([10, octet, h // 250, h % 250 + 2])

    def _choose_profiles(self) -> list[Profile]:
        n = self.cfg.devices
        rng = self.rng
        router = PROFILE_BY_KEY["cisco_isr4451"]
        switches = [PROFILE_BY_KEY["cisco_c9300"], PROFILE_BY_KEY["aruba_6300"]]
        n_sw = max(2, round(n / 48)) if n >= 16 else (1 if n >= 2 else 0)
        chosen: list[Profile] = [router][:n]
        for i in range(n_sw):
            chosen.append(switches[i] if i < 2 else rng.choice(switches))
        endpoints = [p for p in PROFILES if p.kind not in ("switch", "router")]
        for kind in KINDS:
            options = [p for p in endpoints if p.kind == kind]
            if options:
                chosen.append(rng.choices(options, weights=[p.weight for p in options])[0])
        weights = [p.weight for p in endpoints]
        while len(chosen) < n:
            chosen.append(rng.choices(endpoints, weights=weights)[0])
        return chosen[:n]

    def _build_devices(self) -> None:
        rng = self.rng
        used: set[bytes] = set()
        counters: dict[str, int] = {}
        for i, p in enumerate(self._choose_profiles()):
            d = _Dev()
            d.idx = i
            d.p = p
            d.dept = rng.choice(p.departments)
            d.vlan = DEPARTMENTS[d.dept][0]
            d.vlan_tag = d.vlan if d.dept in TAGGED_DEPARTMENTS else None
            octet = DEPARTMENTS[d.dept][1]
            d.gw = bytes([10, octet, 0, 1])
            while True:
                if p.kind == "workstation" and rng.random() < 0.1:
                    # Windows "random hardware addresses": locally administered, unicast.
                    first = (rng.randrange(256) & 0xFC) | 0x02
                    mac = bytes([first]) + rng.randbytes(5)
                    d.randomized = True
                else:
                    mac = bytes.fromhex(rng.choice(p.ouis)) + rng.randbytes(3)
                    d.randomized = False
                if mac not in used:
                    used.add(mac)
                    break
            d.mac = mac
            key = p.key + (d.dept if "{dept}" in p.hostname else "")
            counters[key] = counters.get(key, 0) + 1
            d.n = counters[key]
            m = rng.choice(p.models)
            d.model = m.name
            d.fw = rng.choice(m.firmware) if m.firmware else None
            d.os = rng.choice(p.os) if p.os else None
            mac12 = mac.hex().upper()
            d.serial = mac12 if p.serial == "{mac12}" else _fill_pattern(p.serial, rng)
            d.host = p.hostname.format(
                n=d.n,
                mac6=mac12[6:],
                mac12=mac12,
                mac12l=mac12.lower(),
                serial=d.serial,
                ser4=d.serial[-4:],
                dept=d.dept.upper()[:5],
            )
            d.uuid = "%08x-%04x-%04x-%04x-%012x" % (  # noqa: UP031 - fixed-width hex groups
                rng.getrandbits(32),
                rng.getrandbits(16),
                0x4000 | rng.getrandbits(12),
                0x8000 | rng.getrandbits(14),
                rng.getrandbits(48),
            )
            d.ident = rng.randrange(65536)
            d.port = rng.randrange(49152, 65000)
            if p.dhcp == "windows":
                d.dhcp_style = "win7" if d.os and "7" in d.os else "win10"
            else:
                d.dhcp_style = p.dhcp
            if p.kind == "router":
                d.ip = bytes([10, DEPARTMENTS["infra"][1], 0, 1])
                d.ips = [f"10.{DEPARTMENTS[k][1]}.0.1" for k in DEPARTMENTS]
                for k in DEPARTMENTS:
                    self.by_ip[bytes([10, DEPARTMENTS[k][1], 0, 1])] = d
                self.router = d
            else:
                d.next_ip = self._alloc_ip(d.dept)
            self.devs.append(d)
            if p.kind == "workstation":
                self.workstations.append(d)
            elif p.kind == "central_station":
                self.centrals.append(d)
            elif p.kind == "pacs":
                self.pacs.append(d)

    # ------------------------------------------------------------------ helpers

    def _fmt(self, template: str, d: _Dev) -> str:
        m = next(x for x in d.p.models if x.name == d.model)
        mac12 = d.mac.hex().upper()
        return template.format(
            model=d.model,
            number=m.number,
            fw=d.fw or "",
            serial=d.serial,
            host=d.host,
            n=d.n,
            mac6=mac12[6:],
            mac12=mac12,
            mac12l=mac12.lower(),
            dept=d.dept,
            ser4=d.serial[-4:],
            os=d.os or "",
        )

    def _id(self, d: _Dev) -> int:
        v = d.ident
        d.ident = (v + 1) & 0xFFFF
        return v

    def _sid(self, ip: bytes) -> int:
        v = self.server_ident.get(ip)
        if v is None:
            v = int.from_bytes(hashlib.sha256(ip).digest()[:2], "big")
        self.server_ident[ip] = (v + 1) & 0xFFFF
        return v

    def _eport(self, d: _Dev) -> int:
        v = d.port
        d.port = v + 1 if v < 65000 else 49152
        return v

    def _peer(self, d: _Dev, ip: bytes) -> tuple[bytes, int]:
        """L2 address and TTL with which ``ip`` appears on ``d``'s segment (direct or via the router)."""
        other = self.by_ip.get(ip)
        assert self.router is not None
        if other is not None and d.ip is not None and ip[:2] == d.ip[:2]:
            return other.mac, other.p.ttl
        if other is not None:
            return self.router.mac, other.p.ttl - 1
        return self.router.mac, self.server_ttl.get(ip, 63)

    def _server(self, name: str) -> bytes:
        return pk.ip4(SERVERS[name][0])

    def _flow(
        self, d: _Dev, peer_ip: bytes, dport: int, device_is_client: bool = True, sport: int = 0
    ) -> pk.TcpFlow:
        assert d.ip is not None
        pmac, pttl = self._peer(d, peer_ip)
        other = self.by_ip.get(peer_ip)
        pid = other.ident if other is not None else self._sid(peer_ip)
        rtt = 250 if pmac != (self.router.mac if self.router else b"") else 900
        r = self.rng
        if device_is_client:
            return pk.TcpFlow(
                d.mac,
                pmac,
                d.ip,
                peer_ip,
                sport or self._eport(d),
                dport,
                r.getrandbits(32),
                r.getrandbits(32),
                d.ident,
                pid,
                d.p.ttl,
                pttl,
                d.vlan_tag,
                rtt,
            )
        cport = sport or r.randrange(49152, 65535)
        return pk.TcpFlow(
            pmac,
            d.mac,
            peer_ip,
            d.ip,
            cport,
            dport,
            r.getrandbits(32),
            r.getrandbits(32),
            pid,
            d.ident,
            pttl,
            d.p.ttl,
            d.vlan_tag,
            rtt,
        )

    def _done(self, d: _Dev, flow: pk.TcpFlow, device_is_client: bool = True) -> None:
        d.ident = flow.ident[0 if device_is_client else 1]
        other_ip = flow.ip[1 if device_is_client else 0]
        other = self.by_ip.get(other_ip)
        if other is not None:
            other.ident = flow.ident[1 if device_is_client else 0]
        else:
            self.server_ident[other_ip] = flow.ident[1 if device_is_client else 0]

    def w_write(self, t: int, frame: bytes) -> int:
        """Write one frame at ``t`` (or just after the previous one)."""
        w = self.w
        assert w is not None
        return w.write(t, frame)

    def _emit(self, t: int, frames: Sequence[tuple[int, bytes]]) -> int:
        w = self.w
        assert w is not None
        for gap, fr in frames:
            t = w.write(t + gap, fr)
        return t

    def _payload(self, n: int) -> bytes:
        o = self.rng.randrange(0, self.pool_max // 2) * 2
        return self.pool.data[o : o + n]

    def _transfer(self, t: int, flow: pk.TcpFlow, from_client: bool, nbytes: int, first_gap: int) -> int:
        """Send ``nbytes`` of pool payload; the bulk of it vectorised, the tail frame by frame."""
        w = self.w
        assert w is not None
        mss = flow.mss
        chunk_groups = (self.pool_max - 2) // (2 * mss)
        groups = nbytes // (2 * mss)
        if groups >= 4:
            gap = self.rng.choice((13, 13, 16, 25, 40))
            nbytes -= groups * 2 * mss
            while groups > 0:
                n = min(groups, chunk_groups)
                groups -= n
                span = 2 * n * mss
                offset = self.rng.randrange(0, (self.pool_max - span) // 2 + 1) * 2
                t0 = max(t + first_gap, w.last_us + 1)
                rec, last = pk.bulk_tcp_records(flow, from_client, n, self.pool, offset, t0, gap)
                w.write_records(rec.data, 3 * n, rec.size - 48 * n, last)
                t = last
                first_gap = gap
        if nbytes > 0:
            t = self._emit(t, flow.send(from_client, self._payload(nbytes), first_gap))
        return t

    # ------------------------------------------------------------------ scheduling

    def _register(self) -> None:
        for name in (
            "dhcp_boot",
            "dhcp_renew",
            "lease_change",
            "static_boot",
            "arp",
            "mdns",
            "ssdp",
            "ssdp_fetch",
            "http_server",
            "http_client",
            "tls",
            "dns",
            "snmp",
            "lldp",
            "cdp",
            "lldp_med",
            "sip",
            "stream",
            "imaging",
            "background",
            "wsus",
            "hl7",
        ):
            self._h[name] = len(self.handlers)
            self.handlers.append(getattr(self, "_ev_" + name))

    def _at(self, t_rel: float, name: str, d: _Dev, arg: int = 0) -> None:
        if 0 <= t_rel < self.dur:
            self.events.append((self.start + int(t_rel), self.seq, self._h[name], d.idx, arg))
            self.seq += 1

    def _every(
        self, d: _Dev, name: str, period_s: float, jitter: float = 0.2, first: float | None = None
    ) -> None:
        period = period_s * 1e6
        r = self.rng
        t = d.up + (first * 1e6 if first is not None else r.uniform(0.05, 1.0) * period)
        while t < self.dur:
            self._at(t, name, d)
            t += period * r.uniform(1 - jitter, 1 + jitter)

    def _count(self, per_hour: float) -> int:
        """How many of an event with ``per_hour`` mean rate fit the capture (at least one)."""
        lam = per_hour * self.dur / HOUR_US
        return max(1, int(lam + self.rng.random()))

    def _plan(self) -> None:
        r = self.rng
        dur = self.dur
        cfg = self.cfg
        dhcp_devs = [d for d in self.devs if d.dhcp_style is not None]
        movers = {d.idx for d in dhcp_devs if r.random() < 0.06}
        if dhcp_devs and not movers:
            movers.add(r.choice(dhcp_devs).idx)
        for d in self.devs:
            p = d.p
            feats = p.features
            if p.kind in ("router", "switch"):
                d.up = 0
                if d.ip is None:
                    d.ip = d.next_ip
            elif d.dhcp_style is not None:
                if r.random() < 0.5:
                    d.up = int(r.uniform(0.0, 0.5) * dur)
                    self._at(d.up, "dhcp_boot", d)
                else:
                    d.up = 0
                    d.ip = d.next_ip
                    self._at(r.uniform(0.02, 0.6) * dur, "dhcp_renew", d)
                if d.idx in movers:
                    lo = max(d.up + 60e6, 0.5 * dur)
                    self._at(r.uniform(lo, max(lo, 0.9 * dur)), "lease_change", d)
            else:
                if r.random() < 0.25:
                    d.up = int(r.uniform(0.0, 0.4) * dur)
                    self._at(d.up, "static_boot", d)
                else:
                    d.up = 0
                    d.ip = d.next_ip
            if d.ip is not None:
                self.by_ip[d.ip] = d
            elif d.next_ip is not None:
                self.by_ip[d.next_ip] = d
            boot = 2.0 if d.up > 0 else None
            if p.kind != "router":
                for _ in range(self._count(3)):
                    self._at(r.uniform(d.up, dur), "arp", d)
            if "mdns_printer" in feats or "mdns_vendor" in feats or "mdns_host" in feats:
                self._every(d, "mdns", 900 if "mdns_host" not in feats else 1200, first=boot)
            if "ssdp" in feats:
                self._every(d, "ssdp", 900, first=boot)
            if "http_server" in feats:
                for _ in range(self._count(1.5)):
                    self._at(r.uniform(d.up + 5e6, dur), "http_server", d)
            if "http_client" in feats:
                self._every(d, "http_client", 600)
            if "tls_client" in feats:
                for _ in range(self._count(6)):
                    self._at(r.uniform(d.up + 10e6, dur), "tls", d)
            if "dns_client" in feats:
                for _ in range(self._count(12 if p.kind == "workstation" else 4)):
                    self._at(r.uniform(d.up + 3e6, dur), "dns", d)
            if "wsus" in feats:
                for _ in range(self._count(1.5)):
                    self._at(r.uniform(d.up + 30e6, dur), "wsus", d)
            if "snmp" in feats:
                self._every(d, "snmp", 300, jitter=0.01)
            if "lldp" in feats:
                self._every(d, "lldp", 30, jitter=0.0)
            if "cdp" in feats:
                self._every(d, "cdp", 60, jitter=0.0)
            if "lldp_med" in feats:
                self._every(d, "lldp_med", 30, jitter=0.0, first=1.0 if d.up > 0 else None)
            if "sip" in feats:
                self._every(d, "sip", 1200, first=(boot or 0) + 20 if d.up > 0 else None)
            if p.key in med.HL7_SENDERS:
                # Results and vital signs to the EHR / LIS over HL7 v2 (MLLP): a few an hour.
                for _ in range(self._count(4 if p.kind == "central_station" else 3)):
                    self._at(r.uniform(d.up + 20e6, dur), "hl7", d)
            if cfg.background:
                if "stream" in feats:
                    self._every(d, "stream", 10, jitter=0.05)
                if "imaging" in feats and self.pacs:
                    for _ in range(self._count(2)):
                        self._at(r.uniform(d.up + 60e6, dur), "imaging", d)
                if "background" in feats:
                    for _ in range(self._count(3)):
                        self._at(r.uniform(d.up + 5e6, dur), "background", d)
        self.events.sort()

    # ------------------------------------------------------------------ DHCP / ARP

    def _dhcp_client_opts(
        self, d: _Dev, msg_type: int, requested: bytes | None, server: bytes | None
    ) -> list[bytes]:
        assert d.dhcp_style is not None
        st = DHCP_STYLES[d.dhcp_style]
        o = pk.dhcp_option
        opts = [o(53, bytes([msg_type])), o(61, b"\x01" + d.mac)]
        if st.max_size:
            opts.append(o(57, struct.pack("!H", st.max_size)))
        if requested is not None:
            opts.append(o(50, requested))
        if server is not None:
            opts.append(o(54, server))
        opts.append(o(12, d.host.encode()))
        if st.fqdn and msg_type == 3:
            opts.append(o(81, b"\x00\x00\x00" + f"{d.host}.{DOMAIN}".encode()))
        vc = d.p.dhcp_vc or st.vendor_class
        if vc:
            opts.append(o(60, self._fmt(vc, d).encode()))
        opts.append(o(55, bytes(st.params)))
        return opts

    def _dhcp_server_opts(self, d: _Dev, msg_type: int) -> list[bytes]:
        o = pk.dhcp_option
        opts = [
            o(53, bytes([msg_type])),
            o(54, d.gw),
        ]
        if msg_type == 6:
            return [*opts, o(56, b"requested address not available")]
        opts += [
            o(51, struct.pack("!I", 86400)),
            o(58, struct.pack("!I", 43200)),
            o(59, struct.pack("!I", 75600)),
            o(1, bytes([255, 255, 0, 0])),
            o(3, d.gw),
            o(6, self._server("dc01") + self._server("dc02")),
            o(15, DOMAIN.encode()),
        ]
        if d.p.kind == "ip_phone":
            opts += [o(150, self._server("cucm")), o(66, f"cucm.{DOMAIN}".encode())]
        return opts

    def _dhcp_client_frame(self, d: _Dev, xid: int, opts: list[bytes], ciaddr: bytes = pk.ZERO_IP) -> bytes:
        bcast = d.dhcp_style == "embedded"
        msg = pk.dhcp_message(1, xid, d.mac, opts, ciaddr=ciaddr, broadcast=bcast, secs=0)
        assert self.router is not None
        if ciaddr != pk.ZERO_IP:
            return pk.udp_frame(
                d.mac, self.router.mac, ciaddr, d.gw, 68, 67, msg, self._id(d), d.p.ttl, d.vlan_tag
            )
        return pk.udp_frame(
            d.mac, pk.BROADCAST, pk.ZERO_IP, pk.BCAST_IP, 68, 67, msg, self._id(d), d.p.ttl, d.vlan_tag
        )

    def _dhcp_server_frame(
        self, d: _Dev, xid: int, msg_type: int, yiaddr: bytes, ciaddr: bytes = pk.ZERO_IP
    ) -> bytes:
        assert self.router is not None
        rt = self.router
        bcast = d.dhcp_style == "embedded" or msg_type == 6
        msg = pk.dhcp_message(
            2, xid, d.mac, self._dhcp_server_opts(d, msg_type), ciaddr=ciaddr, yiaddr=yiaddr, broadcast=bcast
        )
        if bcast:
            dst_mac, dst_ip = pk.BROADCAST, pk.BCAST_IP
        else:
            dst_mac, dst_ip = d.mac, (ciaddr if ciaddr != pk.ZERO_IP else yiaddr)
        return pk.udp_frame(rt.mac, dst_mac, d.gw, dst_ip, 67, 68, msg, self._id(rt), 255, d.vlan_tag)

    def _dora(self, d: _Dev, new_ip: bytes, prev: bytes | None) -> list[tuple[int, bytes]]:
        r = self.rng
        xid = r.getrandbits(32)
        st = DHCP_STYLES[d.dhcp_style or "udhcp"]
        req_in_disc = prev if (st.requested_ip_in_discover and prev) else None
        frames = [
            (0, self._dhcp_client_frame(d, xid, self._dhcp_client_opts(d, 1, req_in_disc, None))),
            (r.randrange(800, 3000), self._dhcp_server_frame(d, xid, 2, new_ip)),
            (
                r.randrange(1000, 20000),
                self._dhcp_client_frame(d, xid, self._dhcp_client_opts(d, 3, new_ip, d.gw)),
            ),
            (r.randrange(500, 2000), self._dhcp_server_frame(d, xid, 5, new_ip)),
        ]
        # RFC 5227 probe, then the gratuitous announcement.
        frames.append(
            (
                r.randrange(20000, 60000),
                pk.arp(1, d.mac, pk.ZERO_IP, pk.ZERO_MAC, new_ip, pk.BROADCAST, d.vlan_tag),
            )
        )
        frames.append(
            (
                r.randrange(200000, 400000),
                pk.arp(1, d.mac, new_ip, pk.ZERO_MAC, new_ip, pk.BROADCAST, d.vlan_tag),
            )
        )
        return frames

    def _set_ip(self, d: _Dev, ip: bytes) -> None:
        d.ip = ip
        s = pk.ip4_str(ip)
        if not d.ips or d.ips[-1] != s:
            d.ips.append(s)
        self.by_ip[ip] = d

    def _ev_dhcp_boot(self, t: int, d: _Dev, arg: int) -> None:
        assert d.next_ip is not None
        ip = d.next_ip
        self._emit(t, self._dora(d, ip, ip))
        self._set_ip(d, ip)

    def _ev_dhcp_renew(self, t: int, d: _Dev, arg: int) -> None:
        if d.ip is None:
            return
        if not d.ips:
            d.ips.append(pk.ip4_str(d.ip))
        xid = self.rng.getrandbits(32)
        frames = [
            (0, self._dhcp_client_frame(d, xid, self._dhcp_client_opts(d, 3, None, None), ciaddr=d.ip)),
            (self.rng.randrange(700, 2500), self._dhcp_server_frame(d, xid, 5, d.ip, ciaddr=d.ip)),
        ]
        self._emit(t, frames)

    def _ev_lease_change(self, t: int, d: _Dev, arg: int) -> None:
        if d.ip is None:
            return
        old = d.ip
        if not d.ips:
            d.ips.append(pk.ip4_str(old))
        new = self._alloc_ip(d.dept)
        xid = self.rng.getrandbits(32)
        frames = [
            (0, self._dhcp_client_frame(d, xid, self._dhcp_client_opts(d, 3, old, None))),
            (self.rng.randrange(700, 2500), self._dhcp_server_frame(d, xid, 6, pk.ZERO_IP)),
        ]
        t = self._emit(t, frames)
        self._emit(t + 4_000_000, self._dora(d, new, None))
        self._set_ip(d, new)

    def _ev_static_boot(self, t: int, d: _Dev, arg: int) -> None:
        assert d.next_ip is not None
        ip = d.next_ip
        self._set_ip(d, ip)
        self._emit(t, [(0, pk.arp(1, d.mac, ip, pk.ZERO_MAC, ip, pk.BROADCAST, d.vlan_tag))])

    def _ev_arp(self, t: int, d: _Dev, arg: int) -> None:
        if d.ip is None:
            return
        rt = self.router
        assert rt is not None
        if d.p.kind != "switch" and self.rng.random() < 0.5:
            frames = [
                (0, pk.arp(1, d.mac, d.ip, pk.ZERO_MAC, d.gw, pk.BROADCAST, d.vlan_tag)),
                (300, pk.arp(2, rt.mac, d.gw, d.mac, d.ip, d.mac, d.vlan_tag)),
            ]
        else:
            gw = bytes([10, d.ip[1], 0, 1])
            frames = [
                (0, pk.arp(1, rt.mac, gw, pk.ZERO_MAC, d.ip, pk.BROADCAST, d.vlan_tag)),
                (400, pk.arp(2, d.mac, d.ip, rt.mac, gw, rt.mac, d.vlan_tag)),
            ]
        self._emit(t, frames)

    # ------------------------------------------------------------------ discovery protocols

    def _ev_mdns(self, t: int, d: _Dev, arg: int) -> None:
        if d.ip is None:
            return
        p = d.p
        host_local = f"{d.host}.local"
        cf = 0x8001  # IN with the cache-flush bit
        answers: list[bytes] = []
        if "mdns_printer" in p.features:
            inst = f"{d.model} [{d.mac.hex().upper()[6:]}]"
            mfg = p.text.get("mfg", p.vendor)
            mdl = p.text.get("mdl", d.model)
            base_txt = [
                "txtvers=1",
                "qtotal=1",
                f"ty={d.model}",
                f"product=({d.model})",
                f"usb_MFG={mfg}",
                f"usb_MDL={mdl}",
                f"adminurl=http://{host_local}./",
                f"UUID={d.uuid}",
            ]
            for svc, port, extra in (
                ("_ipp._tcp.local", 631, ["rp=ipp/print", "pdl=application/pdf,image/urf,application/PCLm"]),
                ("_printer._tcp.local", 515, ["rp=RAW"]),
                ("_pdl-datastream._tcp.local", 9100, []),
            ):
                name = pk.dns_name_parts(inst, svc)
                answers.append(pk.dns_rr(pk.dns_name(svc), 12, 1, 4500, name))
                answers.append(pk.dns_rr(name, 33, cf, 120, pk.srv_rdata(port, host_local)))
                answers.append(pk.dns_rr(name, 16, cf, 4500, pk.txt_rdata(base_txt + extra)))
        if "mdns_vendor" in p.features:
            svc = p.text["mdns_service"] + ".local"
            name = pk.dns_name_parts(d.host, svc)
            brand = BRANDS.get(p.vendor, p.vendor)
            txt = ["txtvers=1", f"vendor={brand}", f"model={d.model}", f"fw={d.fw or ''}", f"sn={d.serial}"]
            answers.append(pk.dns_rr(pk.dns_name(svc), 12, 1, 4500, name))
            answers.append(pk.dns_rr(name, 33, cf, 120, pk.srv_rdata(int(p.text["mdns_port"]), host_local)))
            answers.append(pk.dns_rr(name, 16, cf, 4500, pk.txt_rdata(txt)))
        answers.append(pk.dns_rr(pk.dns_name(host_local), 1, cf, 120, d.ip))
        msg = pk.dns_message(0, 0x8400, (), answers)
        fr = pk.udp_frame(d.mac, pk.MDNS_MAC, d.ip, pk.MDNS_IP, 5353, 5353, msg, self._id(d), 255, d.vlan_tag)
        # Announcements are sent twice, one second apart (RFC 6762 section 8.3).
        self._emit(t, [(0, fr), (1_000_000, fr)])

    def _ssdp_location(self, d: _Dev) -> str:
        assert d.ip is not None
        return f"http://{pk.ip4_str(d.ip)}:49152/description.xml"

    def _ev_ssdp(self, t: int, d: _Dev, arg: int) -> None:
        if d.ip is None:
            return
        p = d.p
        server = self._fmt(p.text["ssdp_server"], d)
        dtype = p.text["device_type"]
        frames: list[tuple[int, bytes]] = []
        for nt, usn in (
            ("upnp:rootdevice", f"uuid:{d.uuid}::upnp:rootdevice"),
            (f"uuid:{d.uuid}", f"uuid:{d.uuid}"),
            (dtype, f"uuid:{d.uuid}::{dtype}"),
        ):
            msg = (
                "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n"
                f"LOCATION: {self._ssdp_location(d)}\r\nNT: {nt}\r\nNTS: ssdp:alive\r\nSERVER: {server}\r\n"
                f"USN: {usn}\r\n\r\n"
            ).encode()
            frames.append(
                (
                    150,
                    pk.udp_frame(
                        d.mac, pk.SSDP_MAC, d.ip, pk.SSDP_IP, 1900, 1900, msg, self._id(d), 2, d.vlan_tag
                    ),
                )
            )
        t = self._emit(t, frames)
        if not d.ssdp_fetched:
            d.ssdp_fetched = True
            self._ev_ssdp_fetch(t + self.rng.randrange(200_000, 2_000_000), d, 0)

    def _client_ip(self, d: _Dev) -> tuple[bytes, str]:
        """A control point / browser that talks to ``d``: a workstation if there is one, else the NMS."""
        cands = [w for w in self.workstations if w.ip is not None and w is not d]
        if cands:
            w = self.rng.choice(cands)
            assert w.ip is not None
            ua = (
                "Microsoft-Windows/6.1 UPnP/1.0"
                if w.os and "7" in w.os
                else "Microsoft-Windows/10.0 UPnP/1.0"
            )
            return w.ip, ua
        return self._server("nms"), "Microsoft-Windows/10.0 UPnP/1.0"

    def _http_exchange(
        self, t: int, d: _Dev, flow: pk.TcpFlow, device_is_client: bool, request: bytes, response: bytes
    ) -> int:
        frames = flow.handshake()
        frames += flow.send(True, request, 100)
        frames += flow.send(False, response, self.rng.randrange(800, 15000))
        frames += flow.close(from_client=not device_is_client)
        t = self._emit(t, frames)
        self._done(d, flow, device_is_client)
        return t

    def _ev_ssdp_fetch(self, t: int, d: _Dev, arg: int) -> None:
        if d.ip is None:
            return
        p = d.p
        m = next(x for x in p.models if x.name == d.model)
        brand = BRANDS.get(p.vendor, p.vendor)
        xml = (
            '<?xml version="1.0"?>\r\n<root xmlns="urn:schemas-upnp-org:device-1-0">\r\n'
            "<specVersion><major>1</major><minor>0</minor></specVersion>\r\n<device>\r\n"
            f"<deviceType>{p.text['device_type']}</deviceType>\r\n"
            f"<friendlyName>{d.host} ({d.model})</friendlyName>\r\n"
            f"<manufacturer>{brand}</manufacturer>\r\n"
            f"<modelDescription>{p.kind.replace('_', ' ')}</modelDescription>\r\n"
            f"<modelName>{d.model}</modelName>\r\n<modelNumber>{m.number}</modelNumber>\r\n"
            f"<serialNumber>{d.serial}</serialNumber>\r\n<UDN>uuid:{d.uuid}</UDN>\r\n"
            f"<presentationURL>http://{pk.ip4_str(d.ip)}/</presentationURL>\r\n"
            "</device>\r\n</root>\r\n"
        ).encode()
        cip, ua = self._client_ip(d)
        req = (
            f"GET /description.xml HTTP/1.1\r\nHost: {pk.ip4_str(d.ip)}:49152\r\nUser-Agent: {ua}\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n"
        ).encode()
        resp = (
            f'HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset="utf-8"\r\nContent-Length: {len(xml)}\r\n'
            f"Server: {self._fmt(p.text['ssdp_server'], d)}\r\nDate: {self._date(t)}\r\nConnection: close\r\n\r\n"
        ).encode() + xml
        flow = self._flow(d, cip, 49152, device_is_client=False)
        self._http_exchange(t, d, flow, False, req, resp)

    def _date(self, t: int) -> str:
        return formatdate(t / 1e6, usegmt=True)

    def _ev_http_server(self, t: int, d: _Dev, arg: int) -> None:
        if d.ip is None:
            return
        cip, _ = self._client_ip(d)
        body = (
            f"<!DOCTYPE html><html><head><title>{d.host} - {d.model}</title></head>"
            f"<body><h1>{d.model}</h1><p>{d.host}</p></body></html>"
        ).encode()
        server = self._fmt(d.p.text["server"], d)
        req = (
            f"GET / HTTP/1.1\r\nHost: {pk.ip4_str(d.ip)}\r\nUser-Agent: {self._ua_for(cip)}\r\n"
            "Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US\r\nConnection: close\r\n\r\n"
        ).encode()
        resp = (
            f"HTTP/1.1 200 OK\r\nServer: {server}\r\nDate: {self._date(t)}\r\nContent-Type: text/html\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        self._http_exchange(t, d, self._flow(d, cip, 80, device_is_client=False), False, req, resp)

    def _ua_for(self, ip: bytes) -> str:
        w = self.by_ip.get(ip)
        if w is not None and w.os and "7" in w.os:
            return WIN7_UA
        return PROFILE_BY_KEY["dell_optiplex"].text["ua"]

    def _ev_http_client(self, t: int, d: _Dev, arg: int) -> None:
        if d.ip is None:
            return
        name = d.p.text.get("server_name", "ehr")
        sip = self._server(name)
        body = json.dumps(
            {
                "device": d.serial,
                "state": self.rng.choice(["idle", "running", "alarm-cleared"]),
                "battery": self.rng.randrange(40, 100),
            },
            separators=(",", ":"),
        ).encode()
        req = (
            f"POST /api/v1/status HTTP/1.1\r\nHost: {name}.{DOMAIN}\r\nUser-Agent: {self._fmt(d.p.text['ua'], d)}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        rbody = b'{"status":"ok"}'
        resp = (
            f"HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: {self._date(t)}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(rbody)}\r\nConnection: close\r\n\r\n"
        ).encode() + rbody
        self._http_exchange(t, d, self._flow(d, sip, 80), True, req, resp)

    def _ev_wsus(self, t: int, d: _Dev, arg: int) -> None:
        if d.ip is None:
            return
        win7 = bool(d.os and "7" in d.os)
        if self.rng.random() < 0.5:
            name, port, path = "wsus", 8530, "/ClientWebService/client.asmx"
            ua = (
                "Windows-Update-Agent/7.6.7601.24436 Client-Protocol/1.81"
                if win7
                else "Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.50"
            )
        else:
            name, port, path = "intranet", 80, "/pki/StMaryIssuingCA01.crl"
            ua = "Microsoft-CryptoAPI/6.1" if win7 else "Microsoft-CryptoAPI/10.0"
        body = self._payload(self.rng.randrange(300, 1200))
        req = (
            f"GET {path} HTTP/1.1\r\nConnection: Keep-Alive\r\nAccept: */*\r\nUser-Agent: {ua}\r\n"
            f"Host: {name}.{DOMAIN}{'' if port == 80 else f':{port}'}\r\n\r\n"
        ).encode()
        resp = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nServer: Microsoft-IIS/10.0\r\n"
            f"Date: {self._date(t)}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self._http_exchange(t, d, self._flow(d, self._server(name), port), True, req, resp)

    # ------------------------------------------------------------------ TLS

    def _cert(self, fqdn: str) -> tuple[bytes, Ed25519PrivateKey]:
        """(DER chain: leaf + CA, leaf key), deterministic from the seed: Ed25519 signatures are."""
        hit = self.certs.get(fqdn)
        if hit is not None:
            return hit
        seed = self.cfg.seed

        def key(label: str) -> Ed25519PrivateKey:
            return Ed25519PrivateKey.from_private_bytes(
                hashlib.sha256(f"wardwatch:{seed}:{label}".encode()).digest()
            )

        def serial(label: str) -> int:
            return int.from_bytes(hashlib.sha256(f"serial:{seed}:{label}".encode()).digest()[:16], "big") >> 1

        ca_key = key("ca")
        ca_name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "St. Mary Hospital"),
                x509.NameAttribute(NameOID.COMMON_NAME, "St Mary Issuing CA 01"),
            ]
        )
        nb, na = datetime(2025, 6, 1, tzinfo=UTC), datetime(2027, 6, 1, tzinfo=UTC)
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(serial("ca"))
            .not_valid_before(nb)
            .not_valid_after(datetime(2030, 1, 1, tzinfo=UTC))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ca_key, None)
        )
        leaf_key = key(fqdn)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "St. Mary Hospital"),
                        x509.NameAttribute(NameOID.COMMON_NAME, fqdn),
                    ]
                )
            )
            .issuer_name(ca_name)
            .public_key(leaf_key.public_key())
            .serial_number(serial(fqdn))
            .not_valid_before(nb)
            .not_valid_after(na)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(fqdn)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, None)
        )
        chain = b"".join(
            len(c).to_bytes(3, "big") + c
            for c in (
                leaf.public_bytes(serialization.Encoding.DER),
                ca.public_bytes(serialization.Encoding.DER),
            )
        )
        self.certs[fqdn] = (chain, leaf_key)
        return chain, leaf_key

    def _ev_tls(self, t: int, d: _Dev, arg: int) -> None:
        if d.ip is None:
            return
        r = self.rng
        if self.pacs and r.random() < 0.25:
            target = r.choice(self.pacs)
            if target.ip is None:
                return
            fqdn, sip, server_dev = f"{target.host.lower()}.{DOMAIN}", target.ip, target
        else:
            name = r.choice(TLS_SERVERS)
            fqdn, sip, server_dev = f"{name}.{DOMAIN}", self._server(name), None
        t = self._dns_lookup(t, d, fqdn, sip)
        if server_dev is not None:
            # Observe from the PACS side too: that is where its certificate identifies it.
            flow = self._flow(server_dev, d.ip, 443, device_is_client=False)
            obs = server_dev
        else:
            flow = self._flow(d, sip, 443)
            obs = d
        chain, key = self._cert(fqdn)
        crandom, srandom = r.randbytes(32), r.randbytes(32)
        sni = fqdn.encode()
        ext = b"".join(
            (
                _ext(0x0000, struct.pack("!HBH", len(sni) + 3, 0, len(sni)) + sni),
                _ext(0x0005, b"\x01\x00\x00\x00\x00"),
                _ext(0x000A, struct.pack("!HHHH", 6, 0x001D, 0x0017, 0x0018)),
                _ext(0x000B, b"\x01\x00"),
                _ext(
                    0x000D,
                    _u16list(
                        (
                            0x0804,
                            0x0805,
                            0x0806,
                            0x0401,
                            0x0501,
                            0x0201,
                            0x0403,
                            0x0503,
                            0x0203,
                            0x0202,
                            0x0601,
                            0x0603,
                        )
                    ),
                ),
                _ext(0x0023, b""),
                _ext(0x0010, b"\x00\x0c\x02h2\x08http/1.1"),
                _ext(0x0017, b""),
                _ext(0xFF01, b"\x00"),
            )
        )
        ciphers = _u16list(
            (
                0xC02C,
                0xC02B,
                0xC030,
                0xC02F,
                0xC024,
                0xC023,
                0xC028,
                0xC027,
                0xC00A,
                0xC009,
                0xC014,
                0xC013,
                0x009D,
                0x009C,
                0x003D,
                0x003C,
                0x0035,
                0x002F,
                0x000A,
            )
        )
        sid = r.randbytes(32)
        ch_body = (
            b"\x03\x03" + crandom + b"\x20" + sid + ciphers + b"\x01\x00" + struct.pack("!H", len(ext)) + ext
        )
        client_hello = _record(22, _hs(1, ch_body))
        sh_ext = (
            _ext(0xFF01, b"\x00")
            + _ext(0x000B, b"\x01\x00")
            + _ext(0x0017, b"")
            + _ext(0x0010, b"\x00\x09\x08http/1.1")
        )
        sh_body = (
            b"\x03\x03"
            + srandom
            + b"\x20"
            + r.randbytes(32)
            + b"\xc0\x2b\x00"
            + struct.pack("!H", len(sh_ext))
            + sh_ext
        )
        ecdh = b"\x03\x00\x1d\x20" + r.randbytes(32)
        sig = key.sign(crandom + srandom + ecdh)
        ske = ecdh + b"\x08\x07" + struct.pack("!H", len(sig)) + sig
        flight = (
            _hs(2, sh_body) + _hs(11, len(chain).to_bytes(3, "big") + chain) + _hs(12, ske) + _hs(14, b"")
        )
        server_flight = _record(22, flight)
        cke = (
            _record(22, _hs(16, b"\x20" + r.randbytes(32)))
            + _record(20, b"\x01")
            + _record(22, r.randbytes(40))
        )
        sfin = _record(20, b"\x01") + _record(22, r.randbytes(40))
        app_req = _record(23, self._payload(r.randrange(300, 900)))
        resp_len = int(r.lognormvariate(7.2, 0.8))
        app_resp = b"".join(
            _record(23, self._payload(min(16408, resp_len - off)))
            for off in range(0, max(resp_len, 1), 16408)
        )
        ic = obs is d  # whether the observed device is the TLS client
        frames = flow.handshake()
        frames += flow.send(True, client_hello, 150)
        frames += flow.send(False, server_flight, r.randrange(500, 4000))
        frames += flow.send(True, cke, 300)
        frames += flow.send(False, sfin, 500)
        frames += flow.send(True, app_req, 200)
        t = self._emit(t, frames)
        t = self._emit(t, flow.send(False, app_resp, r.randrange(2000, 30000)))
        self._emit(t, flow.close(True))
        self._done(obs, flow, ic)

    # ------------------------------------------------------------------ DNS / SNMP / SIP

    def _dns_lookup(self, t: int, d: _Dev, fqdn: str, answer: bytes) -> int:
        assert d.ip is not None
        r = self.rng
        dns = self._server(r.choice(("dc01", "dc02")))
        pmac, pttl = self._peer(d, dns)
        qid = r.getrandbits(16)
        sport = self._eport(d)
        q = pk.dns_message(qid, 0x0100, [(fqdn, 1)])
        a = pk.dns_message(qid, 0x8580, [(fqdn, 1)], [pk.dns_rr(b"\xc0\x0c", 1, 1, 1200, answer)])
        frames = [
            (0, pk.udp_frame(d.mac, pmac, d.ip, dns, sport, 53, q, self._id(d), d.p.ttl, d.vlan_tag)),
            (
                r.randrange(400, 3000),
                pk.udp_frame(pmac, d.mac, dns, d.ip, 53, sport, a, self._sid(dns), pttl, d.vlan_tag),
            ),
        ]
        return self._emit(t, frames)

    def _ev_dns(self, t: int, d: _Dev, arg: int) -> None:
        if d.ip is None:
            return
        if (
            self.pacs
            and d.p.kind in ("workstation", "ct_scanner", "mr_scanner", "xray", "ultrasound")
            and self.rng.random() < 0.3
        ):
            target = self.rng.choice(self.pacs)
            if target.ip is None:
                return
            self._dns_lookup(t, d, f"{target.host.lower()}.{DOMAIN}", target.ip)
            return
        name = self.rng.choice(list(SERVERS))
        self._dns_lookup(t, d, f"{name}.{DOMAIN}", self._server(name))

    def _ev_snmp(self, t: int, d: _Dev, arg: int) -> None:
        if d.ip is None or "sys_descr" not in d.p.text:
            return
        r = self.rng
        nms = self._server("nms")
        pmac, pttl = self._peer(d, nms)
        rid = r.getrandbits(31)
        oids = ("1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0")
        req = pk.snmp_v2c(0xA0, rid, [(o, b"\x05\x00") for o in oids])
        ticks = max(0, (t - self.start - d.up) // 10_000 + 8_640_000)
        tick_raw = ticks.to_bytes((ticks.bit_length() + 8) // 8 or 1, "big")
        vals = [
            pk.ber(0x04, self._fmt(d.p.text["sys_descr"], d).encode()),
            pk.ber_oid(d.p.text.get("sys_oid", "1.3.6.1.4.1.8072.3.2.10")),
            pk.ber(0x43, tick_raw),
            pk.ber(0x04, d.host.encode()),
        ]
        resp = pk.snmp_v2c(0xA2, rid, list(zip(oids, vals, strict=True)))
        sport = r.randrange(49152, 65535)
        frames = [
            (0, pk.udp_frame(pmac, d.mac, nms, d.ip, sport, 161, req, self._sid(nms), pttl, d.vlan_tag)),
            (
                r.randrange(300, 3000),
                pk.udp_frame(d.mac, pmac, d.ip, nms, 161, sport, resp, self._id(d), d.p.ttl, d.vlan_tag),
            ),
        ]
        self._emit(t, frames)

    def _ev_sip(self, t: int, d: _Dev, arg: int) -> None:
        if d.ip is None:
            return
        r = self.rng
        cucm = self._server("cucm")
        pmac, pttl = self._peer(d, cucm)
        ext = 2000 + d.idx
        ip = pk.ip4_str(d.ip)
        srv = pk.ip4_str(cucm)
        branch, tag, callid = r.getrandbits(48), r.getrandbits(32), r.getrandbits(64)
        ua = self._fmt(d.p.text["sip_ua"], d)
        common = (
            f"Via: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK{branch:012x}\r\n"
            f"From: <sip:{ext}@{srv}>;tag={tag:08x}\r\nTo: <sip:{ext}@{srv}>\r\nCall-ID: {callid:016x}@{ip}\r\n"
            f"CSeq: 101 REGISTER\r\n"
        )
        reg = (
            f"REGISTER sip:{srv} SIP/2.0\r\n{common}Max-Forwards: 70\r\nContact: <sip:{ext}@{ip}:5060;transport=udp>\r\n"
            f"User-Agent: {ua}\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        ok = (
            f"SIP/2.0 200 OK\r\n{common}Contact: <sip:{ext}@{ip}:5060;transport=udp>;expires=3600\r\n"
            f"Server: Cisco-CUCM14.0\r\nDate: {self._date(t)}\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        frames = [
            (0, pk.udp_frame(d.mac, pmac, d.ip, cucm, 5060, 5060, reg, self._id(d), d.p.ttl, d.vlan_tag)),
            (
                r.randrange(2000, 20000),
                pk.udp_frame(pmac, d.mac, cucm, d.ip, 5060, 5060, ok, self._sid(cucm), pttl, d.vlan_tag),
            ),
        ]
        self._emit(t, frames)

    # ------------------------------------------------------------------ LLDP / CDP

    def _port_name(self, d: _Dev, k: int) -> str:
        return f"1/1/{k}" if d.p.key.startswith("aruba") else f"GigabitEthernet1/0/{k}"

    def _ev_lldp(self, t: int, d: _Dev, arg: int) -> None:
        assert d.ip is not None
        k = self.rng.randrange(1, 49)
        hit = self.frame_cache.get((1, d.idx, k))
        if hit is not None:
            self.w_write(t, hit)
            return
        vlans = [v for v, _ in DEPARTMENTS.values()]
        vlan = vlans[k % len(vlans)]
        port = self._port_name(d, k)
        tl = pk.lldp_tlv
        body = b"".join(
            (
                tl(1, b"\x04" + d.mac),
                tl(2, b"\x05" + port.encode()),
                tl(3, struct.pack("!H", 120)),
                tl(4, port.encode()),
                tl(5, d.host.encode()),
                tl(6, self._fmt(d.p.text["sys_descr"], d).encode()),
                tl(7, struct.pack("!HH", 0x0014, 0x0014)),
                tl(8, b"\x05\x01" + d.ip + b"\x02" + struct.pack("!I", 1) + b"\x00"),
                pk.lldp_org(pk.OUI_8021, 1, struct.pack("!H", vlan)),
                tl(0, b""),
            )
        )
        frame = pk.pad60(pk.ether(pk.LLDP_MAC, d.mac, pk.ETH_LLDP, body))
        self.frame_cache[(1, d.idx, k)] = frame
        self.w_write(t, frame)

    def _ev_cdp(self, t: int, d: _Dev, arg: int) -> None:
        assert d.ip is not None
        k = self.rng.randrange(1, 49)
        hit = self.frame_cache.get((2, d.idx, k))
        if hit is not None:
            self.w_write(t, hit)
            return
        router = d.p.kind == "router"
        port = "GigabitEthernet0/0/0" if router else self._port_name(d, k)
        sw = self._fmt(d.p.text["sys_descr"], d).encode()
        m = next(x for x in d.p.models if x.name == d.model)
        tlvs = [
            pk.cdp_tlv(0x0001, d.host.encode()),
            pk.cdp_tlv(0x0002, b"\x00\x00\x00\x01\x01\x01\xcc\x00\x04" + d.ip),
            pk.cdp_tlv(0x0003, port.encode()),
            pk.cdp_tlv(0x0004, struct.pack("!I", 0x00000021 if router else 0x00000028)),
            pk.cdp_tlv(0x0005, sw),
            pk.cdp_tlv(0x0006, f"cisco {m.number if router else d.model}".encode()),
            pk.cdp_tlv(0x000A, struct.pack("!H", DEPARTMENTS["infra"][0])),
            pk.cdp_tlv(0x000B, b"\x01"),
        ]
        if (4 + sum(len(x) for x in tlvs)) & 1:
            tlvs[4] = pk.cdp_tlv(0x0005, sw + b"\n")
        frame = pk.cdp_frame(d.mac, tlvs)
        self.frame_cache[(2, d.idx, k)] = frame
        self.w_write(t, frame)

    def _ev_lldp_med(self, t: int, d: _Dev, arg: int) -> None:
        hit = self.frame_cache.get((3, d.idx, 0))
        if hit is not None:
            self.w_write(t, hit)
            return
        p = d.p
        med = pk.OUI_MED
        tl = pk.lldp_tlv
        policy = struct.pack("!B", 1) + ((1 << 22) | (200 << 9) | (5 << 6) | 46).to_bytes(3, "big")
        desc = f"{p.text['mfg']} IP Phone {d.model}, {p.text['hw']}, {d.fw}"
        body = b"".join(
            (
                tl(1, b"\x04" + d.mac),
                tl(2, b"\x03" + d.mac),
                tl(3, struct.pack("!H", 180)),
                tl(5, d.host.encode()),
                tl(6, desc.encode()),
                tl(7, struct.pack("!HH", 0x0024, 0x0020)),
                pk.lldp_org(med, 1, struct.pack("!HB", 0x0033, 3)),
                pk.lldp_org(med, 2, policy),
                pk.lldp_org(med, 5, p.text["hw"].encode()),
                pk.lldp_org(med, 6, (d.fw or "").encode()),
                pk.lldp_org(med, 7, (d.fw or "").encode()),
                pk.lldp_org(med, 8, d.serial.encode()),
                pk.lldp_org(med, 9, p.text["mfg"].encode()),
                pk.lldp_org(med, 10, d.model.encode()),
                tl(0, b""),
            )
        )
        frame = pk.pad60(pk.ether(pk.LLDP_MAC, d.mac, pk.ETH_LLDP, body, d.vlan_tag))
        self.frame_cache[(3, d.idx, 0)] = frame
        self.w_write(t, frame)

    # ------------------------------------------------------------------ background

    def _ev_stream(self, t: int, d: _Dev, arg: int) -> None:
        if d.ip is None:
            return
        hit = self.stream_dst.get(d.idx)
        if hit is None:
            same = [c for c in self.centrals if c.ip is not None and c.dept == d.dept]
            target = same[0] if same else next((c for c in self.centrals if c.ip is not None), None)
            dst = target.ip if target is not None and target.ip is not None else self._server("ehr")
            hit = (dst, self._peer(d, dst)[0])
            if target is not None:
                self.stream_dst[d.idx] = hit
        dst, pmac = hit
        port = 24105 if d.p.key.startswith("philips") else 24107
        payload = self._payload(60 + int(self.rng.random() * 180))
        self.w_write(
            t, pk.udp_frame(d.mac, pmac, d.ip, dst, port, port, payload, self._id(d), d.p.ttl, d.vlan_tag)
        )

    def _ev_imaging(self, t: int, d: _Dev, arg: int) -> None:
        """A DICOM C-STORE of one image to a PACS: associate, store, release (PS3.8, PS3.7)."""
        if d.ip is None or not self.pacs:
            return
        pacs = self.rng.choice(self.pacs)
        if pacs.ip is None:
            return
        r = self.rng
        size = max(int(r.uniform(30_000, 120_000) * self.cfg.scale), 1000)
        impl_uid, impl_version = med.DICOM_IMPLEMENTATION.get(d.p.key, ("1.2.826.0.1.3680043.2.1", "GENERIC"))
        syntaxes = med.STORAGE_SOP.get(d.p.kind, med.STORAGE_SOP["ct_scanner"])
        calling = (d.host or f"MOD{d.idx}").upper().replace("-", "_")[:16]
        called = (pacs.host or "PACS").upper()[:16]
        instance = f"1.2.826.0.1.3680043.10.{d.idx}.{r.getrandbits(40)}"
        flow = self._flow(d, pacs.ip, 104)
        t = self._emit(t, flow.handshake())
        t = self._emit(
            t,
            flow.send(
                True,
                med.associate_rq(
                    calling,
                    called,
                    (*syntaxes, med.VERIFICATION),
                    impl_uid=impl_uid,
                    impl_version=impl_version,
                ),
                200,
            ),
        )
        pacs_uid, pacs_version = med.PACS_IMPLEMENTATION
        t = self._emit(
            t,
            flow.send(
                False,
                med.associate_ac(
                    calling, called, len(syntaxes) + 1, impl_uid=pacs_uid, impl_version=pacs_version
                ),
                900,
            ),
        )
        command = med.c_store_rq(1, syntaxes[0], instance, 1) + med.dataset_header(1, size)
        t = self._emit(t, flow.send(True, command, 300))
        t = self._transfer(t, flow, True, size, 40)
        t = self._emit(t, flow.send(False, med.c_store_rsp(1, syntaxes[0], instance, 1), 800))
        t = self._emit(t, flow.send(True, med.release_rq(), 300))
        t = self._emit(t, flow.send(False, med.release_rp(), 400))
        self._emit(t, flow.close(True))
        self._done(d, flow)

    def _ev_hl7(self, t: int, d: _Dev, arg: int) -> None:
        """One HL7 v2 ORU^R01 over MLLP to the EHR or LIS, and its ACK."""
        if d.ip is None:
            return
        app, facility, server, receiver, codes = med.HL7_SENDERS[d.p.key]
        r = self.rng
        stamp = datetime.fromtimestamp(t / 1e6, UTC).strftime("%Y%m%d%H%M%S")
        control = f"{d.idx:03d}{r.getrandbits(24):07d}"
        message = med.oru_r01(
            sending_app=app,
            sending_facility=facility,
            receiving_app=receiver,
            receiving_facility="STMARY",
            timestamp=stamp,
            control_id=control,
            patient=med.synthetic_patient(r),
            observations=codes,
        )
        flow = self._flow(d, self._server(server), 2575)
        t = self._emit(t, flow.handshake())
        t = self._emit(t, flow.send(True, message, 150))
        reply = med.ack(
            sending_app=receiver, receiving_app=app.split("^")[0], timestamp=stamp, control_id=control
        )
        t = self._emit(t, flow.send(False, reply, 2000))
        self._emit(t, flow.close(True))
        self._done(d, flow)

    def _ev_background(self, t: int, d: _Dev, arg: int) -> None:
        if d.ip is None:
            return
        name, port = BACKGROUND_SERVICE.get(d.p.kind, ("ehr", 9000))
        r = self.rng
        flow = self._flow(d, self._server(name), port)
        size = int(math.exp(r.uniform(math.log(1000), math.log(8000))) * self.cfg.scale)
        t = self._emit(t, flow.handshake())
        t = self._emit(t, flow.send(True, self._payload(r.randrange(200, 800)), 120))
        t = self._transfer(t, flow, False, max(size, 64), r.randrange(500, 20000))
        self._emit(t, flow.close(True))
        self._done(d, flow)

    # ------------------------------------------------------------------ run

    def run(self) -> SimResult:
        self._build_devices()
        self._register()
        self._plan()
        devs = self.devs
        handlers = self.handlers
        with PcapWriter(self.out) as w:
            self.w = w
            for t, _seq, h, di, arg in self.events:
                handlers[h](t, devs[di], arg)
        result_devs = [self._result_device(d) for d in devs]
        return SimResult(
            path=self.out,
            packets=w.packets,
            bytes=w.bytes,
            devices=result_devs,
            config=self.cfg,
            first_us=self.events[0][0] if self.events else self.start,
            last_us=max(w.last_us, self.start),
            servers={f"{k}.{DOMAIN}": v[0] for k, v in SERVERS.items()},
        )

    def _result_device(self, d: _Dev) -> SimDevice:
        p = d.p
        if not d.ips and d.ip is not None:
            d.ips.append(pk.ip4_str(d.ip))
        protocols = ["arp"] if p.kind != "router" else ["arp", "dhcp_server"]
        if d.dhcp_style:
            protocols.append("dhcp")
        feat_proto = {
            "mdns_printer": "mdns",
            "mdns_vendor": "mdns",
            "mdns_host": "mdns",
            "ssdp": "ssdp",
            "http_server": "http",
            "http_client": "http",
            "wsus": "http",
            "tls_client": "tls",
            "tls_server": "tls",
            "dns_client": "dns",
            "snmp": "snmp",
            "lldp": "lldp",
            "cdp": "cdp",
            "lldp_med": "lldp",
            "sip": "sip",
            "stream": "udp",
            "imaging": "dicom",
            "background": "tcp",
        }
        for f in p.features:
            name = feat_proto.get(f)
            if name and name not in protocols:
                protocols.append(name)
        if p.key in med.HL7_SENDERS:
            protocols.append("hl7")
        if p.kind == "pacs":
            protocols.append("dicom")
        return SimDevice(
            index=d.idx,
            kind=p.kind,
            profile=p.key,
            vendor=None if d.randomized else p.vendor,
            mac=pk.mac_str(d.mac),
            mac_randomized=d.randomized,
            ips=tuple(d.ips),
            department=d.dept,
            vlan=d.vlan,
            tagged=d.vlan_tag is not None,
            dhcp=d.dhcp_style is not None,
            model=d.model,
            serial=d.serial,
            firmware=d.fw,
            hostname=d.host,
            os=d.os,
            reveals=p.reveals,
            protocols=tuple(protocols),
        )


WIN7_UA = "Mozilla/5.0 (Windows NT 6.1; Win64; x64; Trident/7.0; rv:11.0) like Gecko"


def _u16list(values: Sequence[int]) -> bytes:
    return struct.pack(f"!H{len(values)}H", 2 * len(values), *values)


def _ext(ext_type: int, data: bytes) -> bytes:
    return struct.pack("!HH", ext_type, len(data)) + data


def _hs(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def _record(content_type: int, body: bytes) -> bytes:
    return struct.pack("!BHH", content_type, 0x0303, len(body)) + body


def simulate(config: SimConfig, out: str | Path) -> SimResult:
    """Generate the capture described by ``config`` into ``out`` (gzip if it ends in .gz)."""
    if config.devices < 1:
        raise ValueError("devices must be >= 1")
    if config.scale <= 0:
        raise ValueError("scale must be > 0")
    return _Sim(config, Path(out)).run()


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=UTC).isoformat().replace("+00:00", "Z")


def truth_json(result: SimResult) -> dict[str, Any]:
    """Ground truth for a simulated capture.

    Per device: mac, ips (in order held), vendor (IEEE OUI organisation; null for randomized MACs), kind,
    and model / serial / firmware / hostname / os where the device's traffic reveals them (null otherwise).
    """
    devices = []
    for d in result.devices:
        shown = set(d.reveals)
        devices.append(
            {
                "mac": d.mac,
                "mac_randomized": d.mac_randomized,
                "ips": list(d.ips),
                "vendor": d.vendor,
                "kind": d.kind,
                "model": d.model if "model" in shown else None,
                "serial": d.serial if "serial" in shown else None,
                "firmware": d.firmware if "firmware" in shown else None,
                "hostname": d.hostname if "hostname" in shown or d.dhcp else None,
                "os": d.os if "os" in shown else None,
                "department": d.department,
                "vlan": d.vlan,
                "vlan_tagged": d.tagged,
                "dhcp": d.dhcp,
                "profile": d.profile,
                "protocols": list(d.protocols),
            }
        )
    return {
        "schema": "wardwatch.simulate.truth/1",
        "config": asdict(result.config),
        "capture": {
            "file": result.path.name,
            "packets": result.packets,
            "bytes": result.bytes,
            "first": _iso(result.first_us),
            "last": _iso(result.last_us),
        },
        "servers": [{"fqdn": k, "ip": v} for k, v in result.servers.items()],
        "devices": devices,
    }
