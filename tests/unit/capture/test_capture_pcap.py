"""pcap files: round trips through hand-written files, a dpkt cross-check, and broken files."""

from __future__ import annotations

import struct
from pathlib import Path

import dpkt
import numpy as np
import pytest
from _capture_writers import Pkt, frame, pcap_bytes, pcap_header, pcap_record

from wardwatch.sensor.capture.batch import LinkType, PacketBatch
from wardwatch.sensor.capture.errors import CaptureError, ReadStats
from wardwatch.sensor.capture.reader import read_packets


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def flatten(batches: list[PacketBatch]) -> list[tuple[int, bytes, int, int, int, str]]:
    """(index, bytes, ts_ns, wirelen, linktype, source) for every packet."""
    out = []
    for b in batches:
        for i in range(len(b)):
            out.append(
                (
                    b.first_index + i,
                    b.packet(i),
                    int(b.ts_ns[i]),
                    int(b.wirelen[i]),
                    int(b.linktype[i]),
                    b.source,
                )
            )
    return out


def sample_packets(n: int = 25) -> list[Pkt]:
    # Varying sizes (odd ones included), a snapped packet every 7th, timestamps near 2^32 s.
    return [
        Pkt(
            sec=4_294_967_000 + i,
            sub=(i * 37_123) % 1_000_000,
            data=frame(i, 14 + (i * 13) % 200),
            wirelen=1514 if i % 7 == 3 else None,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
@pytest.mark.parametrize("batch_size", [1, 4, 4096])
def test_round_trip(tmp_path: Path, endian: str, nano: bool, batch_size: int) -> None:
    pkts = sample_packets()
    if nano:
        pkts = [Pkt(p.sec, p.sub * 1000 + 999, p.data, p.wirelen) for p in pkts]
    path = write(tmp_path, "rt.pcap", pcap_bytes(pkts, endian=endian, nano=nano, linktype=101))
    stats = ReadStats()
    batches = list(read_packets(path, batch_size=batch_size, stats=stats))
    assert all(len(b) <= batch_size for b in batches)
    got = flatten(batches)
    mult = 1 if nano else 1000
    assert got == [
        (i, p.data, p.sec * 1_000_000_000 + p.sub * mult, p.wire, 101, str(path)) for i, p in enumerate(pkts)
    ]
    assert stats.files == 1
    assert stats.packets == len(pkts)
    assert stats.bytes == sum(len(p.data) for p in pkts)
    assert stats.errors == [] and stats.skipped_records == 0
    b = batches[0]
    assert b.data.dtype == np.uint8 and b.offset.dtype == np.int64 and b.caplen.dtype == np.int32
    assert b.wirelen.dtype == np.int32 and b.ts_ns.dtype == np.int64 and b.linktype.dtype == np.int32


def test_exact_large_timestamps(tmp_path: Path) -> None:
    # The largest representable pcap timestamp must not go through a float.
    pkts = [Pkt(0xFFFFFFFF, 999_999_999, b"\x45" + b"\0" * 19)]
    path = write(tmp_path, "big.pcap", pcap_bytes(pkts, nano=True, linktype=LinkType.RAW))
    (batch,) = read_packets(path)
    assert int(batch.ts_ns[0]) == 0xFFFFFFFF * 1_000_000_000 + 999_999_999


def test_linktype_fcs_bits_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "fcs.pcap", pcap_bytes([Pkt(1, 2, frame(0))], linktype=1 | (0x3 << 26)))
    (batch,) = read_packets(path)
    assert batch.linktype.tolist() == [LinkType.ETHERNET]


def test_empty_capture_yields_nothing(tmp_path: Path) -> None:
    stats = ReadStats()
    assert list(read_packets(write(tmp_path, "none.pcap", pcap_header()), stats=stats)) == []
    assert stats.files == 1 and stats.packets == 0 and stats.errors == []


def test_packets_spanning_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A tiny read size forces every record across a chunk boundary.
    import wardwatch.sensor.capture._common as common

    monkeypatch.setattr(common, "CHUNK", 37)
    pkts = sample_packets(40)
    path = write(tmp_path, "chunks.pcap", pcap_bytes(pkts))
    got = flatten(list(read_packets(path, batch_size=3)))
    assert [g[1] for g in got] == [p.data for p in pkts]
    assert [g[0] for g in got] == list(range(40))


def test_matches_dpkt(tmp_path: Path) -> None:
    path = tmp_path / "dpkt.pcap"
    rng = np.random.default_rng(7)
    with path.open("wb") as f:
        w = dpkt.pcap.Writer(f, snaplen=65535, linktype=dpkt.pcap.DLT_EN10MB)
        for i in range(500):
            w.writepkt(
                rng.integers(0, 256, int(rng.integers(14, 1515)), dtype=np.uint8).tobytes(), ts=1.7e9 + i
            )
    with path.open("rb") as f:
        expected = [(round(ts * 1e6) * 1000, buf) for ts, buf in dpkt.pcap.Reader(f)]
    got = flatten(list(read_packets(path, batch_size=64)))
    assert [(g[2], g[1]) for g in got] == expected


# --- broken files ---------------------------------------------------------------------------


def read_until_error(path: Path, stats: ReadStats | None = None) -> tuple[list[bytes], CaptureError]:
    got: list[bytes] = []
    with pytest.raises(CaptureError) as info:
        for b in read_packets(path, batch_size=4, stats=stats):
            got.extend(b.packet(i) for i in range(len(b)))
    return got, info.value


def test_truncated_file_header(tmp_path: Path) -> None:
    path = write(tmp_path, "short.pcap", pcap_header()[:10])
    got, err = read_until_error(path)
    assert got == []
    assert str(err) == f"{path}: byte 0: truncated pcap file header (10 of 24 bytes)"
    assert err.source == str(path) and err.offset == 0


def test_truncated_last_record_is_counted_not_raised(tmp_path: Path) -> None:
    pkts = sample_packets(10)
    content = pcap_bytes(pkts)
    cut = content[: len(content) - 5]
    last_start = len(content) - len(pcap_record(pkts[-1]))
    path = write(tmp_path, "cut.pcap", cut)
    stats = ReadStats()
    got = flatten(list(read_packets(path, batch_size=4, stats=stats)))
    assert [g[1] for g in got] == [p.data for p in pkts[:-1]]
    assert stats.skipped_records == 1
    n = len(pkts[-1].data)
    assert stats.errors == [
        f"{path}: byte {last_start}: truncated packet record (header says {n} bytes, {n - 5} left)"
    ]


def test_truncated_inside_last_record_header(tmp_path: Path) -> None:
    content = pcap_bytes(sample_packets(3))
    path = write(tmp_path, "cut.pcap", content + b"\x01\x02\x03")
    stats = ReadStats()
    assert len(flatten(list(read_packets(path, stats=stats)))) == 3
    assert stats.errors == [f"{path}: byte {len(content)}: truncated packet record header (3 of 16 bytes)"]


def test_corrupt_middle_record_huge_caplen(tmp_path: Path) -> None:
    pkts = sample_packets(10)
    good = pcap_bytes(pkts[:6])
    bad = struct.pack("<IIII", 1, 2, 5_000_000, 5_000_000) + b"junk"
    path = write(tmp_path, "bad.pcap", good + bad + b"".join(pcap_record(p) for p in pkts[6:]))
    got, err = read_until_error(path)
    assert got == [p.data for p in pkts[:6]]
    assert str(err) == f"{path}: byte {len(good)}: corrupt packet record (captured length 5000000 > 262144)"


def test_corrupt_record_caplen_above_wirelen(tmp_path: Path) -> None:
    pkts = sample_packets(9)
    good = pcap_bytes(pkts[:5])
    bad = struct.pack("<IIII", 1, 2, 8, 4) + b"12345678"
    path = write(tmp_path, "bad.pcap", good + bad + b"".join(pcap_record(p) for p in pkts[5:]))
    got, err = read_until_error(path)
    assert got == [p.data for p in pkts[:5]]
    assert err.offset == len(good)
    assert (
        str(err) == f"{path}: byte {len(good)}: corrupt packet record (captured length 8 > original length 4)"
    )


def test_unsupported_linktype(tmp_path: Path) -> None:
    path = write(tmp_path, "wifi.pcap", pcap_bytes([Pkt(1, 2, b"x" * 30)], linktype=105))
    got, err = read_until_error(path)
    assert got == []
    assert str(err) == f"{path}: byte 20: unsupported link type 105 (IEEE 802.11)"


def test_unsupported_linktype_without_name(tmp_path: Path) -> None:
    path = write(tmp_path, "odd.pcap", pcap_bytes([], linktype=60000))
    assert str(read_until_error(path)[1]) == f"{path}: byte 20: unsupported link type 60000"


def test_bad_version(tmp_path: Path) -> None:
    content = bytearray(pcap_header())
    content[4:6] = struct.pack("<H", 7)
    path = write(tmp_path, "v7.pcap", bytes(content))
    assert str(read_until_error(path)[1]) == f"{path}: byte 4: unsupported pcap version 7.4"


def test_garbage(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.txt", b"hello, this is not a capture\n")
    _got, err = read_until_error(path)
    assert str(err) == f"{path}: byte 0: not a pcap or pcapng file (magic 68 65 6c 6c 'hell')"


def test_garbage_binary_and_known_formats(tmp_path: Path) -> None:
    assert str(read_until_error(write(tmp_path, "b", b"\x00\xff\x10\x80rest"))[1]).endswith(
        "byte 0: not a pcap or pcapng file (magic 00 ff 10 80)"
    )
    assert "Kuznetzov" in str(read_until_error(write(tmp_path, "k", b"\x34\xcd\xb2\xa1" + b"\0" * 40))[1])
    assert "zip archive" in str(read_until_error(write(tmp_path, "z", b"PK\x03\x04" + b"\0" * 40))[1])


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.pcap", b"")
    assert str(read_until_error(path)[1]) == f"{path}: byte 0: empty file"


def test_tiny_file_prefix_of_magic(tmp_path: Path) -> None:
    path = write(tmp_path, "t.pcap", b"\xd4\xc3")
    assert str(read_until_error(path)[1]) == f"{path}: byte 0: truncated file header (2 bytes)"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pcap"
    with pytest.raises(CaptureError) as info:
        list(read_packets(path))
    assert str(info.value) == f"{path}: no such file"
    assert info.value.offset is None


def test_batch_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        list(read_packets(tmp_path, batch_size=0))


# --- the parallel walk over big chunks ------------------------------------------------------


def tricky_packets(n: int, seed: int) -> list[Pkt]:
    """Packets whose payloads often hold fake record headers, to mislead the segment guesses."""
    rng = np.random.default_rng(seed)
    pkts = []
    for i in range(n):
        sec = 1_700_000_000 + i // 50
        size = int(
            rng.choice(
                [0, 1, 14, 60, 61, 300, 1514, 9000, 70_000],
                p=[0.02, 0.02, 0.06, 0.4, 0.1, 0.2, 0.15, 0.04, 0.01],
            )
        )
        body = bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        for at in range(0, max(0, size - 32), 97):
            if rng.random() < 0.5:  # a plausible header, twice, pointing somewhere wrong
                fake = int(rng.integers(0, 200))
                body[at : at + 16] = struct.pack("<IIII", sec, 5, fake, fake + 10)
        pkts.append(Pkt(sec, i % 1_000_000, bytes(body)))
    return pkts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_parallel_walk_matches_sequential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    import wardwatch.sensor.capture.pcap as pcap_mod

    # Small segments and threshold so that a small file exercises every stitching case.
    monkeypatch.setattr(pcap_mod, "_FAST_MIN", 4096)
    monkeypatch.setattr(pcap_mod, "_SEGMENT", 2048)
    pkts = tricky_packets(600, seed)
    path = write(tmp_path, "big.pcap", pcap_bytes(pkts))
    got = flatten(list(read_packets(path, batch_size=100)))
    assert [g[1] for g in got] == [p.data for p in pkts]
    assert [g[0] for g in got] == list(range(len(pkts)))


def test_parallel_walk_stops_at_corrupt_and_truncated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wardwatch.sensor.capture.pcap as pcap_mod

    monkeypatch.setattr(pcap_mod, "_FAST_MIN", 4096)
    monkeypatch.setattr(pcap_mod, "_SEGMENT", 2048)
    pkts = tricky_packets(300, 9)
    good = pcap_bytes(pkts[:200])
    bad = struct.pack("<IIII", 1, 2, 300_000, 300_000)
    path = write(tmp_path, "bad.pcap", good + bad + b"".join(pcap_record(p) for p in pkts[200:]))
    got, err = read_until_error(path)
    assert got == [p.data for p in pkts[:200]] and err.offset == len(good)

    content = pcap_bytes(pkts)
    path = write(tmp_path, "cut.pcap", content[:-3])
    stats = ReadStats()
    got2 = flatten(list(read_packets(path, stats=stats)))
    assert [g[1] for g in got2] == [p.data for p in pkts[:-1]] and stats.skipped_records == 1
