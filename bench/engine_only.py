"""Packets/s of SensorEngine.feed with trivial dissectors (decode + meter + dispatch, no I/O).

Usage: ``.venv/bin/python bench/engine_only.py [packets] [--worst]``. Builds a synthetic mix in
memory first (not timed): TCP connections with handshake, request/response data and FIN, with
heavy-tailed lengths (most short, a few bulk), plus DNS-like UDP exchanges and some ARP, all
interleaved by timestamp. Request packets (200 bytes) and the first server packets (1400 bytes)
are captured whole, later server packets are cut to their headers, as by a snap length. ``--worst`` makes every packet a new 2-packet UDP flow
(no locality at all inside a batch).
"""

from __future__ import annotations

import struct
import sys
import time

import numpy as np

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.capture.batch import LinkType, PacketBatch
from wardwatch.sensor.dissect.base import PacketContext
from wardwatch.sensor.flows import SensorEngine


class Trivial:
    """A dissector that does nothing (measures the packet path, not the dissectors)."""

    def __init__(self, name: str, transports: set[Transport], udp: frozenset[int] = frozenset(),
                 tcp: frozenset[int] = frozenset(), eth: frozenset[int] = frozenset(),
                 wants_syn: bool = False) -> None:  # fmt: skip
        self.name = name
        self.transports = frozenset(transports)
        self.udp_ports = frozenset(udp)
        self.tcp_ports = frozenset(tcp)
        self.ethertypes = frozenset(eth)
        self.wants_syn = wants_syn

    def probe(self, payload: bytes) -> bool:
        return False

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        return []


def dissectors() -> list[Trivial]:
    return [
        Trivial("arp", set(), eth=frozenset({0x0806})),
        Trivial("dns", {Transport.UDP}, udp=frozenset({53, 5353})),
        Trivial("http", {Transport.TCP}, tcp=frozenset({80})),
        Trivial("tls", {Transport.TCP}, tcp=frozenset({443})),
        Trivial("ssdp", {Transport.UDP}, udp=frozenset({1900})),
        Trivial("tcpstack", {Transport.TCP}, wants_syn=True),
    ]


def _frame(src: int, dst: int, proto: int, l4: bytes, wire_payload: int) -> tuple[bytes, int]:
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(l4) + wire_payload, 0, 0x4000, 64, proto, 0, src, dst)
    smac = (0x020000000000 | src & 0xFFFFFF).to_bytes(6, "big")
    dmac = (0x020000000000 | dst & 0xFFFFFF).to_bytes(6, "big")
    frame = dmac + smac + b"\x08\x00" + ip + l4
    wire = len(frame) + wire_payload
    return frame, wire


def build(total: int, worst: bool, seed: int = 7) -> list[PacketBatch]:
    rng = np.random.default_rng(seed)
    pkts: list[tuple[int, bytes, int]] = []
    if worst:
        for i in range(total):
            src, dst = 0x0A000000 + (i % 60000), 0x0A100000 + i // 60000
            udp = struct.pack("!HHHH", 1024 + i % 50000, 9999, 8 + 32, 0) + bytes(32)
            f, w = _frame(src, dst, 17, udp, 0)
            pkts.append((i * 1000, f, w))
    else:
        while len(pkts) < total:
            kind = rng.random()
            start = int(rng.integers(0, 60_000_000_000))
            cli, srv = 0x0A000000 + int(rng.integers(1, 2000)), 0x0A640000 + int(rng.integers(1, 200))
            cport = int(rng.integers(1024, 65535))
            if kind < 0.3:  # DNS-ish query/response
                for k, (a, b, sp, dp) in enumerate(((cli, srv, cport, 53), (srv, cli, 53, cport))):
                    f, w = _frame(a, b, 17, struct.pack("!HHHH", sp, dp, 8 + 40, 0) + bytes(40), 0)
                    pkts.append((start + k * 1000, f, w))
            elif kind < 0.33:  # ARP
                f = (
                    b"\xff" * 6
                    + (0x020000000000 | cli & 0xFFFFFF).to_bytes(6, "big")
                    + b"\x08\x06"
                    + bytes(28)
                )
                pkts.append((start, f, 60))
            else:  # TCP connection, heavy-tailed length
                n = int(min(20000, 6 + rng.pareto(1.2) * 8))
                port = 443 if rng.random() < 0.6 else (80 if rng.random() < 0.5 else 2575)
                seq_c, seq_s = 1000, 5000
                ts = start

                def tcpf(
                    a: int, b: int, sp: int, dp: int, seq: int, ack: int, fl: int, pl: int, snap: int = 64
                ) -> None:
                    nonlocal ts
                    ts += int(rng.integers(10_000, 2_000_000))
                    hdr = struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 0x50, fl, 64240, 0, 0)
                    data = bytes(min(pl, snap))
                    f, w = _frame(a, b, 6, hdr + data, pl - len(data))
                    pkts.append((ts, f, w))

                tcpf(cli, srv, cport, port, seq_c, 0, 0x02, 0)
                tcpf(srv, cli, port, cport, seq_s, seq_c + 1, 0x12, 0)
                seq_c += 1
                seq_s += 1
                for k in range(n):
                    if k % 4 == 0:
                        tcpf(cli, srv, cport, port, seq_c, seq_s, 0x18, 200, 200)
                        seq_c += 200
                    else:
                        tcpf(srv, cli, port, cport, seq_s, seq_c, 0x10, 1400, 1400 if k < 6 else 0)
                        seq_s += 1400
                tcpf(cli, srv, cport, port, seq_c, seq_s, 0x11, 0)
                tcpf(srv, cli, port, cport, seq_s, seq_c + 1, 0x11, 0)
        pkts = pkts[:total]
        pkts.sort(key=lambda p: p[0])
    return [
        PacketBatch.from_packets(pkts[i : i + 4096], linktype=LinkType.ETHERNET)
        for i in range(0, len(pkts), 4096)
    ]


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 1_000_000
    worst = "--worst" in sys.argv
    batches = build(total, worst)
    n = sum(len(b) for b in batches)
    engine = SensorEngine(dissectors=dissectors())
    # CPU time of this process: wall time on a shared machine measures the neighbours too
    t0, c0 = time.perf_counter(), time.process_time()
    for b in batches:
        engine.feed(b)
    t1, c1 = time.perf_counter(), time.process_time()
    engine.finish()
    c2 = time.process_time()
    s = engine.stats
    print(f"{n} packets in {len(batches)} batches: feed {c1 - c0:.2f} s CPU = {n / (c1 - c0):,.0f} packets/s "
          f"(wall {n / (t1 - t0):,.0f}/s); with finish {n / (c2 - c0):,.0f} packets/s")  # fmt: skip
    print(f"flows {s.flows_created}, dissector calls {s.dissector_calls}, decode errors {s.decode_errors}")


if __name__ == "__main__":
    main()
