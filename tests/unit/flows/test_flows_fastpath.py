"""The fast paths give exactly the plain path's output, on every fixture capture and the demo.

Fast paths under test: the dissector-result cache (``SensorConfig.dissect_cache_entries``), the
offline report interval of ``discover`` (aggregates reported once at the end), and the sharded
``--workers`` path (flows and observations identical to one process). Plus the memory bounds:
a capture with more flows than ``max_flows`` keeps the table at the cap and counts evictions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import DATA, DEMO
from tests.unit.flows.flowpkts import SEC, eth, ipv4, udp

from wardwatch.sensor.capture.batch import LinkType, PacketBatch
from wardwatch.sensor.capture.reader import read_packets
from wardwatch.sensor.flows.engine import SensorConfig, SensorEngine, SensorOutput
from wardwatch.sensor.parallel import merge, run_shard, shard_of
from wardwatch.services.discovery import OFFLINE_REPORT_INTERVAL_S

CAPTURES = [*sorted(DATA.glob("captures/**/*.pcap")), DEMO / "hospital-demo.pcap.gz"]


def run(path: Path, config: SensorConfig) -> tuple[SensorOutput, SensorEngine]:
    engine = SensorEngine(config)
    total = SensorOutput()
    for batch in read_packets(path):
        out = engine.feed(batch)
        total.observations += out.observations
        total.flows += out.flows
        total.sightings += out.sightings
        total.conversations += out.conversations
    out = engine.finish()
    total.observations += out.observations
    total.flows += out.flows
    total.sightings += out.sightings
    total.conversations += out.conversations
    return total, engine


def final(items: list, key) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """The last report per key: aggregates are cumulative, the store keeps the latest (max)."""
    return {key(x): x for x in items}


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_dissect_cache_and_offline_reports_change_nothing(path: Path) -> None:
    plain, _ = run(path, SensorConfig(dissect_cache_entries=0))
    fast, engine = run(path, SensorConfig(report_interval_s=OFFLINE_REPORT_INTERVAL_S))
    assert fast.observations == plain.observations  # same facts, same order
    assert fast.flows == plain.flows
    skey = lambda s: (s.mac, s.ip)  # noqa: E731
    ckey = lambda c: (c.client_ip, c.client_mac, c.server_ip, c.server_mac, c.transport, c.server_port)  # noqa: E731
    assert final(fast.sightings, skey) == final(plain.sightings, skey)
    assert final(fast.conversations, ckey) == final(plain.conversations, ckey)
    if path.name.startswith("hospital-demo"):
        assert engine.stats.dissect_cache_hits > 0  # the cache is really used on repeated announcements


@pytest.mark.parametrize("name", ["hospital-demo.pcap.gz", "dhcp-dnsmasq-dhclient.pcap", "tls12-curl.pcap"])
def test_two_shards_give_the_flows_and_observations_of_one(name: str) -> None:
    path = DEMO / name if name.startswith("hospital") else DATA / "captures" / name
    config = SensorConfig(report_interval_s=OFFLINE_REPORT_INTERVAL_S)
    one, _ = run(path, config)
    shards = [run_shard(str(path), i, 2, config) for i in range(2)]
    assert all(len(s.output.flows) for s in shards) or name != "hospital-demo.pcap.gz"
    merged, stats = merge(shards)
    key = lambda o: (o.ts_ns, o.flow_uid, o.protocol, o.uid)  # noqa: E731
    assert sorted(map(key, merged.observations)) == sorted(map(key, one.observations))
    fkey = lambda f: (f.uid, f.packets_ab, f.packets_ba, f.bytes_ab, f.bytes_ba, f.server)  # noqa: E731
    assert sorted(map(fkey, merged.flows)) == sorted(map(fkey, one.flows))
    assert stats["packets"] == sum(len(b) for b in read_packets(path))

    def sums(items):
        return sorted((str(s.mac), str(s.ip), s.packets, s.bytes, s.first_ns, s.last_ns) for s in items)

    assert sums(merged.sightings) == sums(one.sightings)


def test_shards_are_symmetric() -> None:
    a2b = eth(
        "02:00:00:00:00:0b",
        "02:00:00:00:00:0a",
        0x0800,
        ipv4("10.0.0.1", "10.0.0.2", 17, udp(1234, 53, b"x")),
    )
    b2a = eth(
        "02:00:00:00:00:0a",
        "02:00:00:00:00:0b",
        0x0800,
        ipv4("10.0.0.2", "10.0.0.1", 17, udp(53, 1234, b"y")),
    )
    pkts = [(i, a2b if i % 2 else b2a) for i in range(10)]
    for workers in (2, 3, 7):
        shards = shard_of(PacketBatch.from_packets(pkts, linktype=LinkType.ETHERNET), workers)
        assert len(set(shards.tolist())) == 1


def test_flow_table_stays_at_its_cap_and_counts_evictions() -> None:
    cap = 100
    engine = SensorEngine(SensorConfig(max_flows=cap, max_sightings=50, max_conversations=60), dissectors=[])
    sizes = []
    for b in range(10):
        pkts = []
        for i in range(100):
            n = b * 100 + i
            src = f"10.1.{n // 250}.{n % 250 + 1}"
            frame = eth("02:00:00:00:00:01", f"02:00:00:00:{n // 250:02x}:{n % 250:02x}", 0x0800,
                        ipv4(src, "10.9.9.9", 17, udp(40000, 9999, b"q")))  # fmt: skip
            pkts.append((b * SEC + i, frame))
        engine.feed(PacketBatch.from_packets(pkts, linktype=LinkType.ETHERNET))
        sizes.append(len(engine.meter))
    assert max(sizes) == cap
    assert engine.stats.flows_created == 1000
    assert engine.stats.flows_evicted == 900
    assert len(engine._sightings) <= 50 and engine.stats.sightings_evicted == 950
    assert len(engine._convs) <= 60 and engine.stats.conversations_evicted > 0
    out = engine.finish()
    assert len(out.flows) == cap


def _one_batch(pkts: list[tuple[int, bytes]], config: SensorConfig) -> tuple[list[object], SensorEngine]:
    """The observations of ``pkts`` fed as one batch (and finished), and the engine."""
    engine = SensorEngine(config)
    found = engine.feed(PacketBatch.from_packets(pkts, linktype=LinkType.ETHERNET)).observations
    return [*found, *engine.finish().observations], engine


def test_repeated_frames_and_datagrams_are_remembered_whole() -> None:
    """Identical ARP frames and SSDP datagrams (bundled dissectors) are remembered as whole
    packet steps: the same observations as dissecting each again, every call counted; a frame
    that differs in one context field (the destination MAC) is not taken for a repeat."""
    from tests.unit.flows.flowpkts import arp

    who = arp(1, "02:00:00:00:00:0a", "10.0.0.10", "00:00:00:00:00:00", "10.0.0.1")
    frame = eth("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:0a", 0x0806, who)
    other_dst = eth("02:00:00:00:00:01", "02:00:00:00:00:0a", 0x0806, who)
    notify = (
        b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\n"
        b"NTS: ssdp:alive\r\nSERVER: Linux/5.10 UPnP/1.0 InfusionPump/2.1\r\n"
        b"LOCATION: http://10.0.0.10:80/desc.xml\r\nUSN: uuid:1234::upnp:rootdevice\r\n\r\n"
    )
    ssdp = eth("01:00:5e:7f:ff:fa", "02:00:00:00:00:0a", 0x0800,
               ipv4("10.0.0.10", "239.255.255.250", 17, udp(1900, 1900, notify)))  # fmt: skip
    pkts = [(i * SEC, frame) for i in range(5)] + [(6 * SEC, other_dst)]
    pkts += [(10 * SEC + i, ssdp) for i in range(4)]

    plain, plain_engine = _one_batch(pkts, SensorConfig(dissect_cache_entries=0))
    fast, engine = _one_batch(pkts, SensorConfig())
    assert fast == plain and len({o.flow_uid for o in fast}) >= 2  # type: ignore[attr-defined]
    assert engine.stats.dissector_calls == plain_engine.stats.dissector_calls
    # 4 ARP repeats and 3 SSDP repeats came from the memo; the frame to another MAC did not
    assert len(engine._memo) == 3
    assert engine.stats.dissect_cache_hits >= 7


def test_a_repeated_http_poll_is_a_cache_hit() -> None:
    """HTTP declares its context fields, so the same request from the same device on a new
    connection (another client port) is answered from the cache, with the plain output."""
    from tests.unit.flows.flowpkts import tcp

    req = b"GET /status HTTP/1.1\r\nHost: pump-7\r\nUser-Agent: InfusionAgent/2.1\r\n\r\n"

    def c2s(sport: int, seq: int, flags: str, payload: bytes = b"") -> bytes:
        segment = tcp(sport, 80, seq, 1, flags, payload)
        return eth(
            "02:00:00:00:00:0b", "02:00:00:00:00:0a", 0x0800, ipv4("10.0.0.10", "10.0.0.2", 6, segment)
        )

    pkts = []
    for n, sport in enumerate((40001, 40002, 40003)):
        t = n * 10 * SEC
        pkts += [(t, c2s(sport, 1000, "S")), (t + 1, c2s(sport, 1001, "PA", req))]
        pkts += [(t + 2, c2s(sport, 1001 + len(req), "FA"))]

    plain, _ = _one_batch(pkts, SensorConfig(dissect_cache_entries=0))
    fast, engine = _one_batch(pkts, SensorConfig())
    http = [o for o in fast if o.protocol == "http"]  # type: ignore[attr-defined]
    assert fast == plain and len(http) == 3 and len({o.flow_uid for o in http}) == 3  # type: ignore[attr-defined]
    http_keys = [k for k in engine._cache if isinstance(k[-1], bytes) and k[-1].startswith(b"GET")]
    assert len(http_keys) == 1  # one entry served all three connections
