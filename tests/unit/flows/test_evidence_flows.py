"""``flow_records="evidence"``: only the flows an observation can point to, nothing else changes.

The store keeps, per distinct observation, its first and last occurrence (timestamp, then flow
uid) and the flows of those two. ``discover`` and the live sensor therefore ask the engine for
those flow records only (on a scan, one record instead of a million). These tests hold the mode
to its promise on every fixture capture, the demo and a generated scan:

* observations, sightings and conversations are exactly those of ``"all"``;
* ``flows_ended`` counts every flow; the evidence records are records of ``"all"``;
* every first and last flow of every distinct observation is among them (nothing a store can
  point to is missing), also with one-packet batches and a tracking table of one entry;
* and they are few: at most two per distinct observation when nothing is forgotten.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import DATA, DEMO
from tests.unit.flows.flowpkts import SEC, eth, ipv4, tcp

from wardwatch.model.flow import Flow
from wardwatch.model.observation import Observation
from wardwatch.sensor.capture.batch import PacketBatch
from wardwatch.sensor.capture.reader import read_packets
from wardwatch.sensor.flows.engine import SensorConfig, SensorEngine, SensorOutput

ENGINES: list[SensorEngine] = []
CAPTURES = [*sorted(DATA.glob("captures/**/*.pcap")), DEMO / "hospital-demo.pcap.gz"]


def run(batches: Iterator[PacketBatch] | list[PacketBatch], config: SensorConfig) -> tuple[SensorOutput, int]:
    engine = SensorEngine(config)
    ENGINES.append(engine)
    total = SensorOutput()
    for out in [*(engine.feed(b) for b in batches), engine.finish()]:
        total.observations += out.observations
        total.flows += out.flows
        total.sightings += out.sightings
        total.conversations += out.conversations
        total.flows_ended += out.flows_ended
    return total, engine.stats.flows_created


def extremes(observations: list[Observation]) -> set[str]:
    """The flows a store keeps for these observations: each uid's first and last occurrence."""
    first: dict[str, tuple[int, str]] = {}
    last: dict[str, tuple[int, str]] = {}
    for o in observations:
        at = (o.ts_ns, o.flow_uid)
        first[o.uid] = min(first.get(o.uid, at), at)
        last[o.uid] = max(last.get(o.uid, at), at)
    return {f for _, f in first.values()} | {f for _, f in last.values()}


def check(all_: SensorOutput, created: int, ev: SensorOutput, *, tight: bool) -> None:
    assert ev.observations == all_.observations
    assert ev.sightings == all_.sightings
    assert ev.conversations == all_.conversations
    assert ev.flows_ended == all_.flows_ended == len(all_.flows) == created
    by_uid: dict[str, Flow] = {f.uid: f for f in all_.flows}
    assert all(by_uid[f.uid] == f for f in ev.flows)
    assert len({f.uid for f in ev.flows}) == len(ev.flows)
    needed = extremes(all_.observations)
    assert needed <= {f.uid for f in ev.flows}
    if tight:
        assert len(ev.flows) <= 2 * len({o.uid for o in all_.observations})


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_evidence_records_on_every_capture(path: Path) -> None:
    all_, created = run(read_packets(path), SensorConfig(report_interval_s=1e9))
    ev, _ = run(read_packets(path), SensorConfig(report_interval_s=1e9, flow_records="evidence"))
    check(all_, created, ev, tight=True)


def test_evidence_with_one_packet_batches_and_a_tiny_tracking_table() -> None:
    """Forgetting tracked observations keeps more records, never fewer."""
    path = DEMO / "hospital-demo.pcap.gz"
    for size, cap in ((1, 250_000), (64, 1), (64, 3)):
        all_, created = run(read_packets(path, batch_size=size), SensorConfig(report_interval_s=1e9))
        ev, _ = run(
            read_packets(path, batch_size=size),
            SensorConfig(report_interval_s=1e9, flow_records="evidence", max_evidence=cap),
        )
        check(all_, created, ev, tight=False)
        # the tracking is bounded: at most ``cap`` observations, and counts of live flows only
        assert len(ENGINES[-1]._track) <= cap
        assert not ENGINES[-1]._refs


def _scan(hosts: int, ports: int) -> list[PacketBatch]:
    """One scanner sends a SYN to each port of each host; each answers with a RST."""
    packets: list[tuple[int, bytes]] = []
    t = 1_700_000_000 * SEC
    scanner, mac_s = "10.0.0.1", "02:00:00:00:00:01"
    for h in range(hosts):
        target, mac_t = f"10.0.1.{h + 1}", f"02:00:00:00:01:{h + 1:02x}"
        for p in range(ports):
            sport = 40000 + p
            syn = tcp(sport, 1 + p, 1000, 0, "S", options=b"\x02\x04\x05\xb4")
            rst = tcp(1 + p, sport, 0, 1001, "RA")
            packets.append((t, eth(mac_t, mac_s, 0x0800, ipv4(scanner, target, 6, syn))))
            packets.append((t + 1000, eth(mac_s, mac_t, 0x0800, ipv4(target, scanner, 6, rst))))
            t += 100_000
    return [PacketBatch.from_packets(packets[i : i + 512]) for i in range(0, len(packets), 512)]


def test_a_scan_keeps_a_handful_of_flow_records() -> None:
    batches = _scan(20, 50)
    all_, created = run(batches, SensorConfig(report_interval_s=1e9))
    ev, _ = run(batches, SensorConfig(report_interval_s=1e9, flow_records="evidence"))
    check(all_, created, ev, tight=True)
    assert created == 1000
    assert all_.observations  # the scanner's SYN traits are observed in every flow
    assert len(ev.flows) <= 2 * len({o.uid for o in all_.observations}) < 100
