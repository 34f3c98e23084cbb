"""The simulator writes valid, reproducible captures whose frames decode with dpkt."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections import Counter
from pathlib import Path

import dpkt
import numpy as np
import pytest

from wardwatch.simulate import SimConfig, scale_for_packets_per_device, simulate, truth_json
from wardwatch.simulate import packets as pk
from wardwatch.simulate.profiles import KINDS, PROFILES

DATA = Path(__file__).parents[2] / "data" / "simulate"
SMALL = SimConfig(devices=24, seed=5, duration_s=900.0)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sim") / "small.pcap"
    result = simulate(SMALL, out)
    return out, truth_json(result)


def _frames(path: Path) -> list[tuple[float, bytes]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        return list(dpkt.pcap.Reader(f))


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    s = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def test_every_frame_decodes_with_correct_lengths_and_checksums(small: tuple[Path, dict]) -> None:
    path, truth = small
    frames = _frames(path)
    assert len(frames) == truth["capture"]["packets"]
    seen: Counter[str] = Counter()
    last = -1.0
    for ts, buf in frames:
        assert ts > last
        last = ts
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        if isinstance(ip, dpkt.ip.IP):
            raw = buf[18:] if getattr(eth, "vlan_tags", None) else buf[14:]
            assert ip.len == len(raw), "IP total length must equal the bytes present"
            assert _sum16(raw[:20]) == 0xFFFF, "IP header checksum"
            l4 = raw[20:]
            pseudo = raw[12:20] + bytes([0, ip.p]) + len(l4).to_bytes(2, "big")
            assert _sum16(pseudo + l4) == 0xFFFF, f"L4 checksum (proto {ip.p})"
            t = ip.data
            if isinstance(t, dpkt.udp.UDP):
                assert t.ulen == len(l4)
                if 67 in (t.sport, t.dport):
                    dpkt.dhcp.DHCP(t.data)
                    seen["dhcp"] += 1
                elif 53 in (t.sport, t.dport) or t.sport == 5353:
                    dns = dpkt.dns.DNS(t.data)
                    seen["mdns" if t.sport == 5353 else "dns"] += 1
                    assert dns.qd or dns.an
                elif 161 in (t.sport, t.dport):
                    snmp = dpkt.snmp.SNMP(t.data) if hasattr(dpkt, "snmp") else None
                    seen["snmp"] += 1
                    del snmp
                elif t.dport == 1900:
                    assert t.data.startswith(b"NOTIFY * HTTP/1.1\r\n")
                    seen["ssdp"] += 1
            elif isinstance(t, dpkt.tcp.TCP):
                seen["tcp"] += 1
                if t.data.startswith(b"\x16\x03\x03") and t.data[5] == 1:
                    rec = dpkt.ssl.TLSRecord(t.data)
                    hs = dpkt.ssl.TLSHandshake(rec.data)
                    assert isinstance(hs.data, dpkt.ssl.TLSClientHello)
                    seen["clienthello"] += 1
                if t.data.startswith(b"HTTP/1.1 200 OK"):
                    seen["http"] += 1
        elif isinstance(ip, dpkt.arp.ARP):
            seen["arp"] += 1
        elif eth.type == pk.ETH_LLDP:
            seen["lldp"] += 1
        elif isinstance(ip, dpkt.llc.LLC):
            assert isinstance(ip.data, dpkt.cdp.CDP)
            seen["cdp"] += 1
    for proto in ("dhcp", "dns", "mdns", "snmp", "ssdp", "tcp", "clienthello", "http", "arp", "lldp", "cdp"):
        assert seen[proto] > 0, proto


def test_dhcp_carries_the_client_fingerprint(small: tuple[Path, dict]) -> None:
    path, truth = small
    by_mac = {d["mac"]: d for d in truth["devices"]}
    hostnames: dict[str, str] = {}
    nak = 0
    for _ts, buf in _frames(path):
        eth = dpkt.ethernet.Ethernet(buf)
        if not isinstance(eth.data, dpkt.ip.IP) or not isinstance(eth.data.data, dpkt.udp.UDP):
            continue
        udp = eth.data.data
        if udp.dport != 67:
            if udp.sport == 67 and dict(dpkt.dhcp.DHCP(udp.data).opts).get(53) == b"\x06":
                nak += 1
            continue
        msg = dpkt.dhcp.DHCP(udp.data)
        opts = dict(msg.opts)
        mac = pk.mac_str(msg.chaddr[:6])
        hostnames[mac] = opts[12].decode()
        assert opts[61] == b"\x01" + msg.chaddr[:6]
        assert 55 in opts
        if by_mac[mac]["os"] and by_mac[mac]["os"].startswith("Windows"):
            assert opts[60] == b"MSFT 5.0"
    assert hostnames
    for mac, host in hostnames.items():
        assert by_mac[mac]["hostname"] == host
    movers = [d for d in truth["devices"] if len(d["ips"]) > 1 and d["kind"] != "router"]
    assert movers and nak >= len(movers)


def test_reproducible_byte_for_byte(tmp_path: Path) -> None:
    cfg = SimConfig(devices=18, seed=9, duration_s=300.0)
    a, b, c = tmp_path / "a.pcap.gz", tmp_path / "b.pcap.gz", tmp_path / "c.pcap.gz"
    simulate(cfg, a)
    simulate(cfg, b)
    simulate(SimConfig(devices=18, seed=10, duration_s=300.0), c)
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b, c)]
    assert digest[0] == digest[1]
    assert digest[0] != digest[2]
    plain = tmp_path / "a.pcap"
    simulate(cfg, plain)
    assert gzip.decompress(a.read_bytes()) == plain.read_bytes()


def test_devices_cover_every_kind(small: tuple[Path, dict]) -> None:
    _path, truth = small
    devices = truth["devices"]
    assert len(devices) == SMALL.devices
    assert {d["kind"] for d in devices} == set(KINDS)
    assert len({d["mac"] for d in devices}) == len(devices)


def test_truth_schema(small: tuple[Path, dict]) -> None:
    _path, truth = small
    json.dumps(truth)
    assert truth["schema"] == "wardwatch.simulate.truth/1"
    keys = {"mac", "ips", "vendor", "kind", "model", "serial", "firmware", "hostname", "os", "mac_randomized"}
    for d in truth["devices"]:
        assert keys <= set(d)
        assert d["ips"] and all(ip.startswith("10.") for ip in d["ips"])
        assert d["kind"] in KINDS
        first = int(d["mac"][:2], 16)
        assert bool(first & 0x02) == d["mac_randomized"]
        assert (d["vendor"] is None) == d["mac_randomized"]


def _registry() -> dict[str, str]:
    with open(DATA / "oui-subset.csv", newline="", encoding="utf-8") as f:
        return {row[1]: row[2] for row in csv.reader(f) if row[0] == "MA-L"}


def test_every_oui_is_a_real_ma_l_assignment_of_the_named_vendor(small: tuple[Path, dict]) -> None:
    reg = _registry()
    for p in PROFILES:
        assert 1 <= len(p.ouis) <= 3, p.key
        for oui in p.ouis:
            assert reg.get(oui) == p.vendor, (p.key, oui)
    for d in small[1]["devices"]:
        if not d["mac_randomized"]:
            assert reg[d["mac"].replace(":", "")[:6].upper()] == d["vendor"]


def test_bulk_builder_matches_the_frame_by_frame_path() -> None:
    rng = np.random.default_rng(0)
    pool = pk.PayloadPool(rng.integers(0, 256, 1 << 16, dtype=np.uint8).tobytes())

    def flow() -> pk.TcpFlow:
        return pk.TcpFlow(
            b"\x00\x11\x22\x33\x44\x55",
            b"\x66\x77\x88\x99\xaa\xbb",
            pk.ip4("10.1.2.3"),
            pk.ip4("10.1.9.9"),
            50000,
            104,
            0xFFFFF000,
            123456,
            65530,
            7,
            128,
            64,
            130,
        )

    groups, offset = 5, 1000
    fa, fb = flow(), flow()
    records, last = pk.bulk_tcp_records(fa, True, groups, pool, offset, 1_000_000, 20)
    expected = fb.send(True, pool.data[offset : offset + 2 * groups * 1460])
    # send() puts PSH on its last segment; the bulk path never ends a transfer, so compare flags-free.
    got, pos, raw = [], 0, records.tobytes()
    while pos < len(raw):
        n = int.from_bytes(raw[pos + 8 : pos + 12], "little")
        got.append(raw[pos + 16 : pos + 16 + n])
        pos += 16 + n
    assert len(got) == len(expected) == 3 * groups
    for i, (g, (_gap, e)) in enumerate(zip(got, expected, strict=True)):
        if i == len(got) - 2:
            continue  # last data segment differs only by PSH (and so checksum)
        assert g == e, i
    assert fa.seq == fb.seq and fa.ident == fb.ident
    assert last == 1_000_000 + 9 * 20 + 10


def test_scale_for_packets_per_device_is_monotonic() -> None:
    assert scale_for_packets_per_device(2000) > scale_for_packets_per_device(1000) > 0
