"""Memory-mapped classic pcap files: exactly the batches, errors and stats of the read path.

Every test reads the same file twice, mapped (the default for a regular, uncompressed classic
pcap file) and as a stream (``WARDWATCH_NO_MMAP=1``), and compares everything a consumer can
see: batch boundaries, each batch's bytes and arrays, the stats and the error. Like the rest of
this directory, each test runs with the C record walk and with the NumPy fallback.
"""

from __future__ import annotations

import gzip
import mmap
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _capture_writers import Pkt, epb, frame, idb, pcap_bytes, pcap_header, pcap_record, shb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wardwatch.sensor.capture._common as common
from wardwatch.sensor.capture import pcap
from wardwatch.sensor.capture.batch import PacketBatch
from wardwatch.sensor.capture.errors import CaptureError, ReadStats
from wardwatch.sensor.capture.reader import read_packets

# Kept before any test replaces mmap.mmap, for the isinstance checks.
_MMAP = mmap.mmap
_CHUNK = common.CHUNK
_DATA = Path(__file__).resolve().parents[2] / "data"
_FIXTURES = sorted(_DATA.rglob("*.pcap"))


def maps_file(batch: PacketBatch) -> bool:
    """Whether ``batch.data`` is a view of a memory mapping (follows the chain of buffer owners)."""
    obj: object = batch.data
    while True:
        if isinstance(obj, _MMAP):
            return True
        if isinstance(obj, np.ndarray):
            obj = obj.base
        elif isinstance(obj, memoryview):
            obj = obj.obj
        else:
            return False


@dataclass
class Outcome:
    """All a consumer of ``read_packets`` sees, in comparable form."""

    batches: list[tuple[Any, ...]]
    stats: ReadStats
    error: tuple[str, int | None] | None
    mapped: list[bool]


def read(path: Path, monkeypatch: pytest.MonkeyPatch, *, mapped: bool, batch_size: int = 32768) -> Outcome:
    if mapped:
        monkeypatch.delenv("WARDWATCH_NO_MMAP", raising=False)
    else:
        monkeypatch.setenv("WARDWATCH_NO_MMAP", "1")
    stats = ReadStats()
    batches: list[PacketBatch] = []
    error = None
    try:
        # Keep every batch until the end: the pages of early ones have been released by then
        # (MADV_DONTNEED), so this also checks that they read back correctly.
        for b in read_packets(path, batch_size=batch_size, stats=stats):
            batches.append(b)
    except CaptureError as e:
        error = (str(e), e.offset)
    rows = [
        (
            b.first_index,
            b.source,
            len(b),
            b.data.tobytes(),
            b.offset.tolist(),
            b.caplen.tolist(),
            b.wirelen.tolist(),
            b.ts_ns.tolist(),
            b.linktype.tolist(),
            b.data.dtype.str,
            b.caplen.dtype.str,
        )
        for b in batches
    ]
    return Outcome(rows, stats, error, [maps_file(b) for b in batches])


def assert_same(path: Path, monkeypatch: pytest.MonkeyPatch, *, batch_size: int = 32768) -> Outcome:
    """Read ``path`` both ways, assert everything matches, return the mapped outcome."""
    got = read(path, monkeypatch, mapped=True, batch_size=batch_size)
    want = read(path, monkeypatch, mapped=False, batch_size=batch_size)
    assert not any(want.mapped)
    assert [len(r[4]) for r in got.batches] == [len(r[4]) for r in want.batches]  # boundaries first
    assert got.batches == want.batches
    assert got.stats == want.stats
    assert got.error == want.error
    return got


# --- a multi-chunk file ---------------------------------------------------------------------


@dataclass(frozen=True)
class BigFile:
    content: bytes
    starts: list[int]  # file offset of every record header


@pytest.fixture(scope="module")
def big() -> BigFile:
    """~20 MB of records (more than one CHUNK), sizes from empty to 70 000 bytes, some snapped."""
    rng = np.random.default_rng(2024)
    pool = rng.integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
    sizes = rng.choice([0, 1, 14, 60, 61, 300, 1514, 9000, 70_000], size=60_000).tolist()
    offs = rng.integers(0, len(pool) - 70_000, size=60_000).tolist()
    parts = [pcap_header()]
    starts: list[int] = []
    at = len(parts[0])
    target = common.CHUNK + 4 * 1024 * 1024
    for i, (n, o) in enumerate(zip(sizes, offs, strict=True)):
        if at >= target:
            break
        wire = n + 100 if i % 11 == 5 else n
        rec = (
            struct.pack("<IIII", 1_700_000_000 + i // 100, (i * 7919) % 1_000_000, n, wire) + pool[o : o + n]
        )
        starts.append(at)
        parts.append(rec)
        at += len(rec)
    return BigFile(b"".join(parts), starts)


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("batch_size", [32768, 1000])
def test_multi_chunk_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, big: BigFile, batch_size: int
) -> None:
    assert len(big.content) > common.CHUNK
    got = assert_same(write(tmp_path, "big.pcap", big.content), monkeypatch, batch_size=batch_size)
    assert got.mapped and all(got.mapped)
    assert got.error is None and got.stats.packets == len(big.starts)
    assert len(got.batches) > 1


def _record_across(big: BigFile, offset: int) -> int:
    """Index of the record whose bytes contain file offset ``offset``."""
    return int(np.searchsorted(big.starts, offset, side="right")) - 1


@pytest.mark.parametrize(
    "cut",
    ["last byte", "inside header", "inside data", "at chunk end", "after chunk end", "record at chunk"],
)
def test_truncated_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, big: BigFile, cut: str) -> None:
    k = _record_across(big, common.CHUNK)  # the record the first chunk ends in
    size = {
        "last byte": len(big.content) - 1,
        "inside header": big.starts[-3] + 7,
        "inside data": big.starts[-3] + 16 + 1,
        "at chunk end": common.CHUNK,
        "after chunk end": common.CHUNK + 1,
        "record at chunk": big.starts[k] + 3,
    }[cut]
    got = assert_same(write(tmp_path, "cut.pcap", big.content[:size]), monkeypatch)
    assert all(got.mapped)
    assert got.error is None
    if size not in big.starts:
        assert got.stats.skipped_records == 1 and len(got.stats.errors) == 1


@pytest.mark.parametrize("fault", ["caplen above wirelen", "caplen absurd", "wirelen absurd"])
@pytest.mark.parametrize("where", ["first chunk", "second chunk", "last record"])
def test_corrupt_record_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, big: BigFile, fault: str, where: str
) -> None:
    k = {
        "first chunk": 1000,
        "second chunk": _record_across(big, common.CHUNK) + 50,
        "last record": len(big.starts) - 1,
    }[where]
    at = big.starts[k]
    sec, sub, caplen, _wire = struct.unpack_from("<IIII", big.content, at)
    header = {
        "caplen above wirelen": struct.pack("<IIII", sec, sub, caplen, max(caplen, 1) - 1),
        "caplen absurd": struct.pack("<IIII", sec, sub, 300_000, 300_000),
        "wirelen absurd": struct.pack("<IIII", sec, sub, caplen, 2**31),
    }[fault]
    content = big.content[:at] + header + big.content[at + 16 :]
    got = assert_same(write(tmp_path, "corrupt.pcap", content), monkeypatch)
    assert got.error is not None and got.error[1] == at
    assert got.stats.packets == k


# --- small files and every kind of damage ---------------------------------------------------


@pytest.mark.parametrize("path", _FIXTURES, ids=[p.name for p in _FIXTURES])
def test_fixtures(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    got = assert_same(path, monkeypatch)
    with path.open("rb") as f:
        classic = f.read(4) in pcap.MAGICS
    assert got.mapped == [classic] * len(got.mapped)


def test_fixtures_exist() -> None:
    assert len(_FIXTURES) >= 10  # the parametrisation above did not silently go empty


def _small(n: int = 40) -> list[Pkt]:
    return [Pkt(1_700_000_000 + i, i * 1000, frame(i, 14 + (i * 29) % 300), None) for i in range(n)]


def _small_cases() -> dict[str, bytes]:
    pkts = _small()
    good = pcap_bytes(pkts)
    mid = len(pcap_bytes(pkts[:20]))
    return {
        "good": good,
        "big endian nano": pcap_bytes(pkts, endian=">", nano=True),
        "header only": pcap_header(),
        "truncated file header": good[:10],
        "magic only": good[:4],
        "bad version": good[:4] + struct.pack("<H", 3) + good[6:],
        "unsupported linktype": pcap_bytes(pkts, linktype=147),
        "truncated last record": good[:-5],
        "truncated record header": good[: mid + 9],
        "caplen above wirelen": good[:mid] + struct.pack("<IIII", 1, 2, 80, 60) + good[mid + 16 :],
        "caplen absurd": good[:mid] + struct.pack("<IIII", 1, 2, 300_000, 300_000) + good[mid + 16 :],
        "garbage after header": pcap_header() + b"\xff" * 50,
    }


@pytest.mark.parametrize("case", list(_small_cases()))
@pytest.mark.parametrize("chunk", [None, 37, 1000])
@pytest.mark.parametrize("batch_size", [3, 32768])
def test_small_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, chunk: int | None, batch_size: int
) -> None:
    if chunk is not None:
        # A tiny chunk sends every record across a chunk boundary, in both paths.
        monkeypatch.setattr(common, "CHUNK", chunk)
    got = assert_same(write(tmp_path, "x.pcap", _small_cases()[case]), monkeypatch, batch_size=batch_size)
    assert all(got.mapped)


def test_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkts = _small()
    good = pcap_bytes(pkts)
    root = tmp_path / "dir"
    root.mkdir()
    (root / "a.pcap").write_bytes(good)
    (root / "b.pcap.gz").write_bytes(gzip.compress(good))
    (root / "c.pcap").write_bytes(good[:-3])
    (root / "d.pcapng").write_bytes(shb() + idb(1) + epb(0, 5, frame(1, 70)))
    (root / "e.txt").write_bytes(b"not a capture at all")
    (root / "f.pcap").write_bytes(b"")
    (root / "g.pcap").write_bytes(good[:100] + struct.pack("<IIII", 1, 2, 300_000, 300_000))
    got = assert_same(root, monkeypatch, batch_size=7)
    # a.pcap, c.pcap and g.pcap are mapped; the gzip and pcapng files are streams.
    by_source = {(r[1], m) for r, m in zip(got.batches, got.mapped, strict=True)}
    assert {Path(s).name for s, m in by_source if m} == {"a.pcap", "c.pcap", "g.pcap"}
    assert {Path(s).name for s, m in by_source if not m} == {"b.pcap.gz", "d.pcapng"}


@st.composite
def _mutated_pcap(draw: st.DrawFn) -> bytes:
    pkts = [Pkt(1_700_000_000 + i, i, frame(i, 10 + 17 * i)) for i in range(12)]
    data = bytearray(pcap_bytes(pkts, nano=draw(st.booleans())))
    for _ in range(draw(st.integers(0, 4))):
        data[draw(st.integers(4, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(1, len(data)))]
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=_mutated_pcap(),
    chunk=st.sampled_from([_CHUNK, 16, 50, 333]),
    batch_size=st.sampled_from([1, 3, 100]),
)
def test_damaged_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, chunk: int, batch_size: int
) -> None:
    monkeypatch.setattr(common, "CHUNK", chunk)
    # A new name per example: a file must not be rewritten while an old mapping of it lives.
    path = write(tmp_path, f"{os.urandom(8).hex()}.pcap", data)
    got = assert_same(path, monkeypatch, batch_size=batch_size)
    assert all(got.mapped)


# --- which path, and what the batches are ---------------------------------------------------


def test_mapped_batches_are_read_only_views(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARDWATCH_NO_MMAP", raising=False)
    path = write(tmp_path, "x.pcap", pcap_bytes(_small()))
    batches = list(read_packets(path, batch_size=8))
    assert batches and all(maps_file(b) and not b.data.flags.writeable for b in batches)
    with pytest.raises(ValueError, match="read-only"):
        batches[0].data[0] = 1  # consumers must not write into a batch


@pytest.mark.parametrize("flag", ["1", "yes"])
def test_no_mmap_flag_reads_a_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str) -> None:
    monkeypatch.setenv("WARDWATCH_NO_MMAP", flag)
    path = write(tmp_path, "x.pcap", pcap_bytes(_small()))
    batches = list(read_packets(path))
    assert batches and not any(maps_file(b) for b in batches)
    assert all(b.data.flags.writeable for b in batches)


def test_no_mmap_flag_zero_maps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDWATCH_NO_MMAP", "0")
    path = write(tmp_path, "x.pcap", pcap_bytes(_small()))
    assert all(maps_file(b) for b in read_packets(path))


def test_gzip_and_pcapng_are_streams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARDWATCH_NO_MMAP", raising=False)
    gz = write(tmp_path, "x.pcap", gzip.compress(pcap_bytes(_small())))
    ng = write(tmp_path, "x.pcapng", shb() + idb(1) + b"".join(epb(0, i, frame(i, 70)) for i in range(10)))
    for path in (gz, ng):
        batches = list(read_packets(path))
        assert batches and not any(maps_file(b) for b in batches)


def test_mmap_failure_falls_back_to_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "x.pcap", pcap_bytes(_small()))
    want = read(path, monkeypatch, mapped=False, batch_size=5)

    def refuse(*args: object, **kwargs: object) -> mmap.mmap:
        raise OSError(19, "No such device")

    monkeypatch.setattr(mmap, "mmap", refuse)  # the module reader.py maps with
    got = read(path, monkeypatch, mapped=True, batch_size=5)
    assert not any(got.mapped)
    assert got.batches == want.batches and got.stats == want.stats


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_is_a_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARDWATCH_NO_MMAP", raising=False)
    content = pcap_bytes(_small())
    fifo = tmp_path / "pipe.pcap"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("wb") as f:
            f.write(content)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    batches = list(read_packets(fifo, batch_size=7))
    writer.join(timeout=10)
    assert batches and not any(maps_file(b) for b in batches)
    regular = write(tmp_path, "x.pcap", content)
    assert [b.data.tobytes() for b in batches] == [
        b.data.tobytes() for b in read_packets(regular, batch_size=7)
    ]


def test_record_spanning_two_chunks_stays_one_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARDWATCH_NO_MMAP", raising=False)
    monkeypatch.setattr(common, "CHUNK", 64)
    pkts = [Pkt(1_700_000_000, i, frame(i, 100)) for i in range(5)]  # every record longer than CHUNK
    path = write(tmp_path, "x.pcap", pcap_bytes(pkts))
    batches = list(read_packets(path))
    assert [b.packet(i) for b in batches for i in range(len(b))] == [p.data for p in pkts]
    assert all(maps_file(b) for b in batches)
    assert pcap_record(pkts[0])[16:] == batches[0].packet(0)
