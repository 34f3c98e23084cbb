"""How fast the capture reader alone turns a file into PacketBatches (no decoding).

Generates a pcap (and a pcapng) of N packets with a realistic size mix in a temp directory,
then times ``read_packets`` over it and prints packets/s and MB/s. Usage:

    .venv/bin/python bench/read_only.py [N=2000000] [--gzip]
"""

from __future__ import annotations

import gzip
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from wardwatch.sensor.capture.errors import ReadStats
from wardwatch.sensor.capture.reader import read_packets


def sizes(n: int, rng: np.random.Generator) -> np.ndarray:
    # Hospital traffic is mostly small (ACKs, HL7 fragments, DNS) with a tail of full frames.
    small = rng.integers(60, 200, n)
    big = rng.integers(1000, 1515, n)
    return np.where(rng.random(n) < 0.7, small, big).astype(np.int64)


def make_pcap(n: int, rng: np.random.Generator) -> bytes:
    size = sizes(n, rng)
    starts = 24 + np.concatenate(([0], np.cumsum(size + 16)[:-1]))
    out = rng.integers(0, 256, int(starts[-1] + 16 + size[-1]), dtype=np.uint8)
    hdr = np.empty((n, 4), dtype="<u4")
    hdr[:, 0] = 1_700_000_000 + np.arange(n) // 1000
    hdr[:, 1] = (np.arange(n) % 1000) * 1000
    hdr[:, 2] = size
    hdr[:, 3] = size
    out[starts[:, None] + np.arange(16)] = hdr.view(np.uint8).reshape(n, 16)
    head = np.frombuffer(
        b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(8) + (262144).to_bytes(4, "little") + b"\x01\0\0\0",
        dtype=np.uint8,
    )
    out[:24] = head
    return out.tobytes()


def make_pcapng(n: int, rng: np.random.Generator) -> bytes:
    size = sizes(n, rng)
    padded = (size + 3) & ~3
    blen = 32 + padded
    shb = bytes.fromhex("0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000")
    idb = bytes.fromhex("0100000014000000010000000000040014000000")
    base = len(shb) + len(idb)
    starts = base + np.concatenate(([0], np.cumsum(blen)[:-1]))
    out = rng.integers(0, 256, int(starts[-1] + blen[-1]), dtype=np.uint8)
    out[: len(shb)] = np.frombuffer(shb, dtype=np.uint8)
    out[len(shb) : base] = np.frombuffer(idb, dtype=np.uint8)
    ticks = 1_700_000_000_000_000 + np.arange(n, dtype=np.uint64) * 1000
    hdr = np.empty((n, 7), dtype="<u4")
    hdr[:, 0] = 6
    hdr[:, 1] = blen
    hdr[:, 2] = 0
    hdr[:, 3] = ticks >> np.uint64(32)
    hdr[:, 4] = ticks & np.uint64(0xFFFFFFFF)
    hdr[:, 5] = size
    hdr[:, 6] = size
    out[starts[:, None] + np.arange(28)] = hdr.view(np.uint8).reshape(n, 28)
    trailer = np.asarray(blen, dtype="<u4").reshape(n, 1).view(np.uint8).reshape(n, 4)
    out[(starts + blen - 4)[:, None] + np.arange(4)] = trailer
    return out.tobytes()


def bench(path: Path) -> None:
    best = float("inf")
    for _ in range(3):
        stats = ReadStats()
        t0 = time.perf_counter()
        for _batch in read_packets(path, stats=stats):
            pass
        best = min(best, time.perf_counter() - t0)
    size = path.stat().st_size
    print(
        f"{path.name:18} {stats.packets:>9} packets  {size / 1e6:8.1f} MB  {best:6.3f} s  "
        f"{stats.packets / best / 1e6:5.2f} M packets/s  {size / best / 1e6:7.0f} MB/s"
    )
    assert not stats.errors, stats.errors


def main() -> None:
    n = int(next((a for a in sys.argv[1:] if a.isdigit()), 2_000_000))
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        files = {"bench.pcap": make_pcap(n, rng), "bench.pcapng": make_pcapng(n, rng)}
        for name, content in files.items():
            (Path(tmp) / name).write_bytes(content)
            bench(Path(tmp) / name)
            if "--gzip" in sys.argv:
                gz = Path(tmp) / (name + ".gz")
                gz.write_bytes(gzip.compress(content, compresslevel=1))
                bench(gz)


if __name__ == "__main__":
    main()
