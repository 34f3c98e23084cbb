"""The C pcap record walk (``wardwatch.sensor._native.walk_pcap``) against the Python walks.

Directly: the same starts, stop position and status as a plain Python walk on generated buffers.
Through the reader: the same packets, statistics and errors (message and offset) with the C walk
and with the NumPy/plain-loop fallback on valid, truncated and corrupt files, in small and big
chunks (the fallback's NumPy walk only runs on big ones).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _capture_writers import Pkt, frame, pcap_bytes, pcap_record
from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.sensor.capture import _common
from wardwatch.sensor.capture import pcap as pcap_mod
from wardwatch.sensor.capture.errors import CaptureError, ReadStats
from wardwatch.sensor.capture.reader import read_packets

NATIVE = _common._NATIVE
pytestmark = pytest.mark.skipif(
    NATIVE is None, reason="the C extension wardwatch.sensor._native is not built"
)
MAX = _common.MAX_CAPLEN


@pytest.fixture(autouse=True)
def walk_path() -> Iterator[str]:
    """Overrides the directory's two-way fixture: these tests run both walks themselves."""
    yield "both"


def ref_walk(
    buf: bytes, pos: int, end: int, big: bool, max_caplen: int, max_records: int
) -> tuple[list[int], list[tuple[int, ...]], int, int]:
    """pcap.py's plain loop, written out: (starts, their four header fields, next position,
    status 0 full / 1 incomplete / 2 corrupt)."""
    starts: list[int] = []
    fields: list[tuple[int, ...]] = []
    order = ">" if big else "<"
    while len(starts) < max_records:
        if pos + 16 > end:
            return starts, fields, pos, 1
        head = struct.unpack_from(order + "IIII", buf, pos)
        if head[2] > max_caplen:
            return starts, fields, pos, 2
        if pos + 16 + head[2] > end:
            return starts, fields, pos, 1
        starts.append(pos)
        fields.append(head)
        pos += 16 + head[2]
    return starts, fields, pos, 0


def c_walk(
    buf: bytes | bytearray, pos: int, end: int, big: bool, max_caplen: int, max_records: int
) -> tuple[list[int], list[tuple[int, ...]], int, int]:
    assert NATIVE is not None
    out = np.full(max_records, -7, dtype=np.int64)
    hdr = np.full(4 * max_records, -7, dtype=np.int64)
    count, nxt, status = NATIVE.walk_pcap(buf, pos, end, big, max_caplen, out, hdr)
    # nothing written past the records found
    assert (out[count:] == -7).all() and (hdr[4 * count :] == -7).all()
    fields = [tuple(r) for r in hdr[: 4 * count].reshape(-1, 4).tolist()]
    return out[:count].tolist(), fields, nxt, status


@st.composite
def record_stream(draw: st.DrawFn) -> tuple[bytes, bool]:
    big = draw(st.booleans())
    order = ">" if big else "<"
    parts = []
    for cl in draw(
        st.lists(st.sampled_from([0, 1, 15, 16, 60, 300, 2000, MAX, MAX + 1, 2**32 - 1]), max_size=12)
    ):
        body_len = min(cl, draw(st.integers(0, 2500)))  # often less than announced: incomplete
        parts.append(
            struct.pack(order + "IIII", 1, 2, cl, cl) + draw(st.binary(min_size=body_len, max_size=body_len))
        )
    parts.append(draw(st.binary(max_size=40)))  # a torn tail
    return b"".join(parts), big


@settings(max_examples=400, deadline=None)
@given(
    record_stream(),
    st.integers(0, 64),
    st.integers(0, 64),
    st.integers(0, 14),
    st.sampled_from([MAX, 100, 0]),
)
def test_walk_equals_the_plain_loop(
    stream: tuple[bytes, bool], skip: int, cut: int, max_records: int, max_caplen: int
) -> None:
    buf, big = stream
    end = max(0, len(buf) - cut)
    pos = min(skip if skip % 3 == 0 else 0, end)  # mostly from the start, sometimes mid-record
    want = ref_walk(buf, pos, end, big, max_caplen, max_records)
    assert c_walk(buf, pos, end, big, max_caplen, max_records) == want
    assert (
        c_walk(bytearray(buf), pos, end, big, max_caplen, max_records) == want
    )  # the reader's refill buffers


def test_walk_rejects_positions_and_arrays_that_do_not_fit() -> None:
    assert NATIVE is not None
    out, hdr = np.empty(4, dtype=np.int64), np.empty(16, dtype=np.int64)
    buf = pcap_record(Pkt(1, 2, b"abc")) * 3
    for pos, end in [(-1, 10), (5, 4), (0, len(buf) + 1)]:
        with pytest.raises(ValueError):
            NATIVE.walk_pcap(buf, pos, end, False, MAX, out, hdr)
    for bad_out, bad_hdr in [
        (np.empty(4, dtype=np.int32), hdr),  # wrong item size
        (out, np.empty(15, dtype=np.int64)),  # headers must hold 4 fields per start
        (out, np.empty((4, 4), dtype=np.int64)),  # one-dimensional only
        (np.empty(8, dtype=np.int64)[::2], hdr),  # contiguous only
    ]:
        with pytest.raises((ValueError, BufferError)):
            NATIVE.walk_pcap(buf, 0, len(buf), False, MAX, bad_out, bad_hdr)
    with pytest.raises(TypeError):
        NATIVE.walk_pcap(buf, 0, len(buf), False, MAX, out)  # type: ignore[call-arg]
    empty = np.empty(0, dtype=np.int64)
    assert NATIVE.walk_pcap(buf, 0, len(buf), False, MAX, empty, empty) == (0, 0, 0)
    assert NATIVE.walk_pcap(buf, 0, len(buf), False, MAX, out, hdr) == (3, len(buf), 1)
    assert hdr[:12].tolist() == [1, 2, 3, 3] * 3


# --- through the reader -------------------------------------------------------------------------
def read(
    path: Path, pure: bool, monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> tuple[list[tuple[object, ...]], ReadStats, str | None]:
    """Every packet (index, bytes, ts, wirelen), the stats and the error text, on one path."""
    if pure:
        monkeypatch.setenv("WARDWATCH_PURE_PYTHON", "1")
    else:
        monkeypatch.delenv("WARDWATCH_PURE_PYTHON", raising=False)
    stats = ReadStats()
    got: list[tuple[object, ...]] = []
    error = None
    try:
        for b in read_packets(path, batch_size=batch_size, stats=stats):
            assert len(b) <= batch_size
            got += [
                (b.first_index + i, b.packet(i), int(b.ts_ns[i]), int(b.wirelen[i])) for i in range(len(b))
            ]
    except CaptureError as e:
        error = str(e)
    monkeypatch.delenv("WARDWATCH_PURE_PYTHON", raising=False)
    return got, stats, error


def assert_same_reading(
    path: Path, monkeypatch: pytest.MonkeyPatch, batch_size: int = 64
) -> tuple[int, str | None]:
    c_got, c_stats, c_err = read(path, False, monkeypatch, batch_size)
    py_got, py_stats, py_err = read(path, True, monkeypatch, batch_size)
    assert c_err == py_err
    assert c_got == py_got
    assert (c_stats.packets, c_stats.bytes, c_stats.skipped_records, c_stats.errors) == (
        py_stats.packets,
        py_stats.bytes,
        py_stats.skipped_records,
        py_stats.errors,
    )
    return len(c_got), c_err


def packets(n: int, seed: int) -> list[Pkt]:
    """Mixed sizes up to 70 kB; every 11th was snapped (wire length above the captured one)."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice(
        [0, 1, 14, 60, 300, 1514, 9000, 70_000], size=n, p=[0.02, 0.02, 0.1, 0.4, 0.2, 0.2, 0.05, 0.01]
    )
    return [
        Pkt(1_700_000_000 + i // 40, i % 1_000_000, frame(i, int(s)), int(s) + 100 if i % 11 == 5 else None)
        for i, s in enumerate(sizes)
    ]


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("chunk", ["small", "big"])
def test_valid_truncated_and_corrupt_files_read_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endian: str, chunk: str
) -> None:
    if chunk == "small":
        monkeypatch.setattr(_common, "CHUNK", 1000)  # records across every chunk boundary
    else:
        # big chunks: the fallback uses its NumPy segment walk, which needs more than _FAST_MIN bytes
        monkeypatch.setattr(pcap_mod, "_FAST_MIN", 4096)
        monkeypatch.setattr(pcap_mod, "_SEGMENT", 2048)
    pkts = packets(400, 3)
    good = pcap_bytes(pkts, endian=endian)
    path = tmp_path / "x.pcap"

    path.write_bytes(good)
    assert assert_same_reading(path, monkeypatch) == (len(pkts), None)

    # cut at many places: inside a record header, inside a record's data, on a boundary
    for cut in [1, 7, 16, 17, 100, 1000, 5000, len(good) // 2, len(good) - 30]:
        path.write_bytes(good[:-cut])
        n, err = assert_same_reading(path, monkeypatch, batch_size=50)
        assert err is None and 0 <= n < len(pkts)

    # a corrupt record in the middle: caplen above MAX_CAPLEN, or caplen above wirelen
    head = pcap_bytes(pkts[:150], endian=endian)
    rest = b"".join(pcap_record(p, endian) for p in pkts[150:])
    for bad in [(1, 2, MAX + 1, MAX + 1), (1, 2, 2**32 - 1, 5), (1, 2, 30, 20), (1, 2, 10, 2**31)]:
        path.write_bytes(head + struct.pack(endian + "IIII", *bad) + bytes(min(bad[2], 64)) + rest)
        n, err = assert_same_reading(path, monkeypatch, batch_size=32)
        assert n == 150 and err is not None and f"byte {len(head)}:" in err


def test_gzip_and_odd_batch_sizes_read_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    pkts = packets(300, 8)
    path = tmp_path / "x.pcap.gz"
    path.write_bytes(gzip.compress(pcap_bytes(pkts, nano=True)[:-9]))
    for batch_size in (1, 7, 4096):
        n, err = assert_same_reading(path, monkeypatch, batch_size=batch_size)
        assert n == len(pkts) - 1 and err is None


def test_native_walk_is_used_unless_pure_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = NATIVE

    class Spy:
        CONSTANTS = real.CONSTANTS if real is not None else {}

        def walk_pcap(self, *args: object) -> tuple[int, int, int]:
            calls.append(1)
            assert real is not None
            return real.walk_pcap(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(_common, "_NATIVE", Spy())
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap_bytes(packets(20, 1)))
    read(path, False, monkeypatch, 8)
    assert calls
    calls.clear()
    read(path, True, monkeypatch, 8)
    assert not calls
