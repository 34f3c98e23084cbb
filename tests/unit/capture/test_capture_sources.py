"""Where captures come from: gzip (by magic), directories, standard input."""

from __future__ import annotations

import gzip
import io
import struct
import sys
from pathlib import Path

import pytest
from _capture_writers import Pkt, epb, frame, idb, pcap_bytes, shb

from wardwatch.sensor.capture.batch import PacketBatch
from wardwatch.sensor.capture.errors import CaptureError, ReadStats
from wardwatch.sensor.capture.reader import read_packets


def frames_of(batches: list[PacketBatch]) -> list[bytes]:
    return [b.packet(i) for b in batches for i in range(len(b))]


def some_pcap(n: int = 20, first: int = 0) -> tuple[bytes, list[bytes]]:
    pkts = [Pkt(1_700_000_000 + i, i, frame(first + i, 60 + i)) for i in range(n)]
    return pcap_bytes(pkts), [p.data for p in pkts]


def some_pcapng(n: int = 20) -> tuple[bytes, list[bytes]]:
    frames = [frame(100 + i, 70) for i in range(n)]
    return shb() + idb(1) + b"".join(epb(0, i, f) for i, f in enumerate(frames)), frames


def read_until_error(path: Path | str, stats: ReadStats | None = None) -> tuple[list[bytes], CaptureError]:
    got: list[bytes] = []
    with pytest.raises(CaptureError) as info:
        for b in read_packets(path, batch_size=3, stats=stats):
            got.extend(frames_of([b]))
    return got, info.value


# --- gzip ---------------------------------------------------------------------------------


@pytest.mark.parametrize("maker", [some_pcap, some_pcapng])
def test_gzip_detected_by_magic_not_name(tmp_path: Path, maker: object) -> None:
    content, frames = maker()  # type: ignore[operator]
    path = tmp_path / "capture.bin"  # no .gz in the name
    path.write_bytes(gzip.compress(content))
    assert frames_of(list(read_packets(path))) == frames


def test_gzip_multi_member(tmp_path: Path) -> None:
    content, frames = some_pcap(30)
    path = tmp_path / "multi.pcap.gz"
    path.write_bytes(gzip.compress(content[:500]) + gzip.compress(content[500:]))
    assert frames_of(list(read_packets(path))) == frames


def test_gzip_bad_crc(tmp_path: Path) -> None:
    content, frames = some_pcap(30)
    gz = bytearray(gzip.compress(content))
    gz[-8] ^= 0xFF  # CRC32 in the trailer
    path = tmp_path / "crc.pcap.gz"
    path.write_bytes(bytes(gz))
    got, err = read_until_error(path)
    assert got == frames  # every byte arrived before the trailer said it was wrong
    assert err.offset == len(content)
    assert str(err).startswith(f"{path}: byte {len(content)}: corrupt gzip stream (CRC check failed")


def test_gzip_truncated_stream(tmp_path: Path) -> None:
    content, frames = some_pcap(200)
    gz = gzip.compress(content)
    path = tmp_path / "cut.pcap.gz"
    path.write_bytes(gz[: len(gz) // 2])
    got, err = read_until_error(path)
    assert got and got == frames[: len(got)]
    assert err.message == "truncated gzip stream (ended before its end-of-stream marker)"
    assert str(err) == f"{path}: byte {err.offset}: {err.message}"


def test_gzip_corrupt_deflate_data(tmp_path: Path) -> None:
    gz = bytearray(gzip.compress(some_pcap(50)[0]))
    gz[20:40] = b"\xff" * 20
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(gz))
    _, err = read_until_error(path)
    assert "gzip" in err.message


def test_gzip_of_garbage_and_of_nothing(tmp_path: Path) -> None:
    (tmp_path / "g.gz").write_bytes(gzip.compress(b"just some text"))
    assert "not a pcap or pcapng file" in read_until_error(tmp_path / "g.gz")[1].message
    (tmp_path / "e.gz").write_bytes(gzip.compress(b""))
    assert read_until_error(tmp_path / "e.gz")[1].message == "empty file (after gzip decompression)"
    (tmp_path / "h.gz").write_bytes(b"\x1f\x8b\x08")
    assert "gzip" in read_until_error(tmp_path / "h.gz")[1].message


# --- directories ------------------------------------------------------------------------------


def test_directory_sorted_recursive_with_bad_files(tmp_path: Path) -> None:
    a, fa = some_pcap(5, first=0)
    b, fb = some_pcapng(4)
    c, fc = some_pcap(6, first=50)
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.pcap").write_bytes(a)
    (tmp_path / "a.txt").write_bytes(b"README, not a capture")
    (tmp_path / "c.pcapng.gz").write_bytes(gzip.compress(b))
    (tmp_path / "sub" / "d.pcap").write_bytes(c[:-7])  # truncated last record
    (tmp_path / "e.pcap").write_bytes(a[:100] + struct.pack("<IIII", 0, 0, 999_999, 999_999) + a[100:])
    (tmp_path / "empty.pcap").write_bytes(b"")
    stats = ReadStats()
    batches = list(read_packets(tmp_path, batch_size=4, stats=stats))
    sources = [bt.source for bt in batches]
    order = [str(tmp_path / n) for n in ("b.pcap", "c.pcapng.gz", "e.pcap", "sub/d.pcap")]
    assert sorted(set(sources), key=sources.index) == order
    # e.pcap yields its first packet (the bad record follows at byte 100) before failing.
    assert frames_of(batches) == fa + fb + fa[:1] + fc[:-1]
    assert all(bt.first_index == 0 for bt in batches if bt.source.endswith("e.pcap"))
    assert stats.files == 4
    assert stats.skipped_records == 1
    assert len(stats.errors) == 4
    assert stats.errors[0].startswith(f"{tmp_path / 'a.txt'}: byte 0: not a pcap or pcapng file")
    assert stats.errors[1].startswith(f"{tmp_path / 'e.pcap'}: byte 100: corrupt packet record")
    assert stats.errors[2] == f"{tmp_path / 'empty.pcap'}: byte 0: empty file"
    assert stats.errors[3].startswith(f"{tmp_path / 'sub' / 'd.pcap'}: byte ")


def test_empty_directory(tmp_path: Path) -> None:
    stats = ReadStats()
    assert list(read_packets(tmp_path, stats=stats)) == []
    assert stats.files == 0


# --- standard input ---------------------------------------------------------------------------


class _Trickle(io.RawIOBase):
    """A pipe that hands out a few bytes per read, like a slow producer."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        k = min(7, len(self._data) - self._pos) if n < 0 else min(n, 7)
        out = self._data[self._pos : self._pos + k]
        self._pos += len(out)
        return out


class _FakeStdin:
    def __init__(self, raw: io.RawIOBase | io.BytesIO) -> None:
        self.buffer = raw


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("trickle", [False, True])
def test_stdin(monkeypatch: pytest.MonkeyPatch, compress: bool, trickle: bool) -> None:
    content, frames = some_pcapng(30)
    data = gzip.compress(content) if compress else content
    monkeypatch.setattr(sys, "stdin", _FakeStdin(_Trickle(data) if trickle else io.BytesIO(data)))
    stats = ReadStats()
    batches = list(read_packets("-", batch_size=8, stats=stats))
    assert frames_of(batches) == frames
    assert {b.source for b in batches} == {"<stdin>"}
    assert stats.files == 1 and stats.packets == 30


def test_stdin_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _FakeStdin(io.BytesIO(b"GET / HTTP/1.1\r\n")))
    _, err = read_until_error("-")
    assert str(err) == "<stdin>: byte 0: not a pcap or pcapng file (magic 47 45 54 20 'GET ')"


def test_stdin_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    assert read_until_error("-")[1].message == "standard input is not available"


def test_binary_garbage_shows_the_magic_bytes_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes that are not ASCII text get no text hint (it would print replacement characters)."""
    monkeypatch.setattr(sys, "stdin", _FakeStdin(io.BytesIO(b"\x56\xcb\xcf\x22" + bytes(100))))
    _, err = read_until_error("-")
    assert str(err) == "<stdin>: byte 0: not a pcap or pcapng file (magic 56 cb cf 22)"
