"""The pcap ring: rotation by size and by capture time, a bounded number of files, readable output."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wardwatch.sensor.capture.batch import LinkType, PacketBatch
from wardwatch.sensor.capture.reader import read_packets
from wardwatch.sensor.live import LiveCaptureError, compile_bpf
from wardwatch.sensor.ring import PcapRing, RingConfig

SEC = 1_000_000_000
T0 = 1_767_225_600 * SEC


def batch(start: int, n: int, size: int = 100, step_ns: int = 1000) -> PacketBatch:
    pkts = [(T0 + (start + i) * step_ns, bytes([i % 256]) * size, size + 10) for i in range(n)]
    return PacketBatch.from_packets(pkts, linktype=LinkType.ETHERNET)


def read_all(files: list[Path]) -> list[tuple[int, bytes, int]]:
    out = []
    for f in files:
        for b in read_packets(f):
            out += [(int(b.ts_ns[i]), b.packet(i), int(b.wirelen[i])) for i in range(len(b))]
    return out


def test_round_trip_keeps_timestamps_bytes_and_wire_lengths(tmp_path: Path) -> None:
    ring = PcapRing(RingConfig(directory=tmp_path, max_file_bytes=10_000_000))
    b = batch(0, 50)
    ring.write(b)
    ring.close()
    assert read_all(ring.files()) == [(int(b.ts_ns[i]), b.packet(i), int(b.wirelen[i])) for i in range(50)]


def test_rotates_by_size_and_keeps_at_most_max_files(tmp_path: Path) -> None:
    ring = PcapRing(RingConfig(directory=tmp_path, max_file_bytes=4096, max_files=3))
    for k in range(10):
        ring.write(batch(k * 20, 20))  # 20 x 116 bytes per batch: several files
    ring.close()
    files = ring.files()
    assert len(files) == 3
    assert all(f.stat().st_size <= 4096 for f in files)
    assert ring.stats.files_deleted == ring.stats.files_opened - 3
    kept = read_all(files)
    assert kept and kept[-1][0] == T0 + 199 * 1000  # the newest packets are the ones kept
    assert [t for t, _, _ in kept] == sorted(t for t, _, _ in kept)


def test_rotates_by_capture_time(tmp_path: Path) -> None:
    ring = PcapRing(RingConfig(directory=tmp_path, max_seconds=10, max_files=100))
    ring.write(batch(0, 30, step_ns=SEC))  # 30 s of packets, one a second
    ring.close()
    files = ring.files()
    assert len(files) == 3
    assert [len(read_all([f])) for f in files] == [10, 10, 10]


def test_a_new_ring_continues_the_sequence(tmp_path: Path) -> None:
    first = PcapRing(RingConfig(directory=tmp_path))
    first.write(batch(0, 5))
    first.close()
    second = PcapRing(RingConfig(directory=tmp_path))
    second.write(batch(5, 5))
    second.close()
    assert len(second.files()) == 2 and len(read_all(second.files())) == 10


def test_bad_limits_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        PcapRing(RingConfig(directory=tmp_path, max_files=0))


def test_bpf_compiles_or_names_the_problem() -> None:
    import shutil

    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump is not installed")
    program = compile_bpf("udp port 67 or arp")
    assert program[-1][0] == 6 and len(program) > 3  # ends with a RET
    with pytest.raises(LiveCaptureError, match="--bpf 'tcp and \\('"):
        compile_bpf("tcp and (")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(min_value=14, max_value=3000), min_size=1, max_size=60),
    gaps=st.lists(st.integers(min_value=0, max_value=5 * SEC), min_size=60, max_size=60),
    max_file=st.integers(min_value=1024, max_value=20_000),
    max_seconds=st.floats(min_value=0.5, max_value=20.0),
    split=st.integers(min_value=1, max_value=60),
)
def test_ring_keeps_every_packet_in_order_within_limits(
    tmp_path_factory: pytest.TempPathFactory,
    sizes: list[int],
    gaps: list[int],
    max_file: int,
    max_seconds: float,
    split: int,
) -> None:
    directory = tmp_path_factory.mktemp("ring")
    ts = [T0 + sum(gaps[: i + 1]) for i in range(len(sizes))]
    pkts = [(t, bytes([i % 256]) * n, n) for i, (t, n) in enumerate(zip(ts, sizes, strict=True))]
    ring = PcapRing(
        RingConfig(directory=directory, max_file_bytes=max_file, max_seconds=max_seconds, max_files=10_000)
    )
    for k in range(0, len(pkts), split):
        ring.write(PacketBatch.from_packets(pkts[k : k + split], linktype=LinkType.ETHERNET))
    ring.close()
    files = ring.files()
    assert read_all(files) == pkts
    for f in files:
        records = read_all([f])
        # a file exceeds its size limit only when it holds one record too big for any file
        assert f.stat().st_size <= max_file or len(records) == 1
        assert records[-1][0] - records[0][0] < max_seconds * SEC or len(records) == 1
