"""pcapng files: all packet block kinds, sections of both byte orders, resolutions, broken blocks."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from _capture_writers import (
    block,
    custom,
    epb,
    frame,
    idb,
    isb,
    nrb,
    obsolete_pb,
    shb,
    spb,
    unknown_block,
)

from wardwatch.sensor.capture.batch import LinkType, PacketBatch
from wardwatch.sensor.capture.errors import CaptureError, ReadStats
from wardwatch.sensor.capture.pcapng import ticks_to_ns
from wardwatch.sensor.capture.reader import read_packets

Row = tuple[int, bytes, int, int, int]


def write(tmp_path: Path, content: bytes, name: str = "x.pcapng") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def rows(batches: list[PacketBatch]) -> list[Row]:
    """(index, bytes, ts_ns, wirelen, linktype) for every packet."""
    return [
        (b.first_index + i, b.packet(i), int(b.ts_ns[i]), int(b.wirelen[i]), int(b.linktype[i]))
        for b in batches
        for i in range(len(b))
    ]


def mixed_file(e: str) -> tuple[bytes, list[Row]]:
    """Three interfaces (Ethernet usec, raw IP 10^-9, Linux SLL 2^-20 + offset) and all block kinds."""
    raw_ip = b"\x45" + bytes(range(40))
    sll = bytes(16) + b"\x60" + bytes(39)
    t_us = 1_700_000_000_123_456
    t_ns = 1_700_000_001_987_654_321
    t_b2 = (1_700_000_002 << 20) | (1 << 19)  # .5 s in 2^-20 units
    content = (
        shb(e)
        + idb(LinkType.ETHERNET, snaplen=50, endian=e)
        + nrb(e)
        + idb(LinkType.RAW, tsresol=9, endian=e)
        + custom(e)
        + idb(LinkType.LINUX_SLL, tsresol=0x80 | 20, tsoffset=100, endian=e)
        + epb(0, t_us, frame(0, 50), wirelen=1514, endian=e)
        + epb(1, t_ns, raw_ip, endian=e)
        + unknown_block(e)
        + spb(frame(1, 47), endian=e)  # takes the previous packet's time
        + spb(frame(2, 50), wirelen=900, endian=e)  # cut to the IDB 0 snap length
        + isb(0, e)
        + obsolete_pb(2, t_b2, sll, endian=e)
        + epb(0, t_us + 1, frame(3, 61), endian=e)
    )
    expected = [
        (0, frame(0, 50), t_us * 1000, 1514, 1),
        (1, raw_ip, t_ns, len(raw_ip), 101),
        (2, frame(1, 47), t_ns, 47, 1),
        (3, frame(2, 50), t_ns, 900, 1),
        (4, sll, (1_700_000_002 + 100) * 1_000_000_000 + 500_000_000, len(sll), 113),
        (5, frame(3, 61), (t_us + 1) * 1000, 61, 1),
    ]
    return content, expected


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("batch_size", [1, 2, 4096])
def test_round_trip_all_blocks(tmp_path: Path, endian: str, batch_size: int) -> None:
    content, expected = mixed_file(endian)
    stats = ReadStats()
    batches = list(read_packets(write(tmp_path, content), batch_size=batch_size, stats=stats))
    assert rows(batches) == expected
    assert stats.files == 1 and stats.packets == 6 and stats.errors == []
    assert stats.bytes == sum(len(r[1]) for r in expected)
    assert all(b.linktype.dtype == np.int32 for b in batches)


def test_sections_switch_byte_order(tmp_path: Path) -> None:
    le, exp_le = mixed_file("<")
    be, exp_be = mixed_file(">")
    got = rows(list(read_packets(write(tmp_path, le + be + le), batch_size=4)))
    expected = [(i, *r[1:]) for i, r in enumerate(exp_le + exp_be + exp_le)]
    assert got == expected


def test_new_section_resets_interfaces(tmp_path: Path) -> None:
    # Interface 1 exists in the first section only; in the second it is undefined.
    content = (
        shb()
        + idb(1)
        + idb(101)
        + epb(1, 5, b"\x45" + bytes(19))
        + shb(">")
        + idb(1, endian=">")
        + epb(1, 6, frame(0), endian=">")
    )
    path = write(tmp_path, content)
    got: list[bytes] = []
    with pytest.raises(CaptureError) as info:
        for b in read_packets(path):
            got.extend(b.packet(i) for i in range(len(b)))
    assert got == [b"\x45" + bytes(19)]
    offset = len(shb() + idb(1) + idb(101) + epb(1, 5, b"\x45" + bytes(19)) + shb(">") + idb(1, endian=">"))
    assert str(info.value) == f"{path}: byte {offset}: packet block for undefined interface 1"


def test_unsupported_interface_packets_are_counted(tmp_path: Path) -> None:
    content = shb() + idb(105) + idb(1) + epb(0, 1, b"w" * 30) + epb(1, 2, frame(0)) + epb(0, 3, b"w" * 30)
    stats = ReadStats()
    got = rows(list(read_packets(write(tmp_path, content), stats=stats)))
    assert got == [(0, frame(0), 2000, 60, 1)]
    assert stats.unsupported_linktype_packets == 2 and stats.packets == 1


def test_whole_file_unsupported(tmp_path: Path) -> None:
    content = shb() + idb(105) + epb(0, 1, b"w" * 30)
    path = write(tmp_path, content)
    with pytest.raises(CaptureError) as info:
        list(read_packets(path))
    assert str(info.value) == f"{path}: byte {len(shb())}: unsupported link type 105 (IEEE 802.11)"


def test_resolutions() -> None:
    t = np.array([0, 1, 123_456_789_012, 2**40 + 3], dtype=np.uint64)
    assert ticks_to_ns(t, 10**6, 0).tolist() == [int(x) * 1000 for x in t]
    assert ticks_to_ns(t, 10**9, -5).tolist() == [int(x) - 5_000_000_000 for x in t]
    for units in (10**12, 2**20, 2**30, 2**40, 2**60, 10, 1, 3):
        expected = [min(int(x) * 10**9 // units + 7 * 10**9, 2**63 - 1) for x in t]
        assert ticks_to_ns(t, units, 7).tolist() == expected, units
    # Values beyond the int64 range clamp instead of wrapping.
    assert ticks_to_ns(np.array([2**64 - 1], dtype=np.uint64), 1, 0).tolist() == [2**63 - 1]


def read_until_error(path: Path, stats: ReadStats | None = None) -> tuple[list[bytes], CaptureError]:
    got: list[bytes] = []
    with pytest.raises(CaptureError) as info:
        for b in read_packets(path, batch_size=2, stats=stats):
            got.extend(b.packet(i) for i in range(len(b)))
    return got, info.value


def good_prefix(n: int) -> tuple[bytes, list[bytes]]:
    frames = [frame(i, 40 + i) for i in range(n)]
    return shb() + idb(1) + b"".join(epb(0, i, f) for i, f in enumerate(frames)), frames


def test_trailer_mismatch(tmp_path: Path) -> None:
    head, frames = good_prefix(5)
    bad = bytearray(epb(0, 9, frame(9)))
    bad[-4:] = struct.pack("<I", 1234)
    path = write(tmp_path, head + bytes(bad) + epb(0, 10, frame(10)))
    got, err = read_until_error(path)
    assert got == frames
    assert (
        str(err)
        == f"{path}: byte {len(head)}: block length mismatch (header says {len(bad)}, trailer says 1234)"
    )


def test_trailer_mismatch_in_other_block(tmp_path: Path) -> None:
    head, frames = good_prefix(3)
    bad = bytearray(nrb())
    bad[-4:] = b"\0\0\0\0"
    path = write(tmp_path, head + bytes(bad) + epb(0, 10, frame(10)))
    got, err = read_until_error(path)
    assert got == frames and err.offset == len(head)
    assert "block length mismatch" in err.message


def test_block_length_not_multiple_of_4(tmp_path: Path) -> None:
    head, frames = good_prefix(3)
    bad = struct.pack("<II", 6, 37) + bytes(40)
    path = write(tmp_path, head + bad)
    got, err = read_until_error(path)
    assert got == frames
    assert str(err) == f"{path}: byte {len(head)}: bad block length 37 (block type 0x6)"


def test_caplen_beyond_block(tmp_path: Path) -> None:
    head, frames = good_prefix(3)
    body = struct.pack("<IIIII", 0, 0, 0, 500, 500) + bytes(64)
    bad = block(6, body)
    path = write(tmp_path, head + bad + epb(0, 1, frame(1)))
    got, err = read_until_error(path)
    assert got == frames
    msg = f"corrupt packet block (captured length 500 exceeds block length {len(bad)})"
    assert str(err) == f"{path}: byte {len(head)}: {msg}"


def test_truncated_last_block_is_counted(tmp_path: Path) -> None:
    head, frames = good_prefix(4)
    last = epb(0, 99, frame(99))
    path = write(tmp_path, head + last[:-10])
    stats = ReadStats()
    got = rows(list(read_packets(path, stats=stats)))
    assert [r[1] for r in got] == frames
    assert stats.skipped_records == 1
    assert stats.errors == [
        f"{path}: byte {len(head)}: truncated block (header says {len(last)} bytes, {len(last) - 10} left)"
    ]


def test_truncated_inside_block_header(tmp_path: Path) -> None:
    head, _frames = good_prefix(2)
    path = write(tmp_path, head + b"\x06\x00\x00")
    stats = ReadStats()
    assert len(rows(list(read_packets(path, stats=stats)))) == 2
    assert stats.errors == [f"{path}: byte {len(head)}: truncated block header (3 of 12 bytes)"]


def test_truncated_section_header(tmp_path: Path) -> None:
    path = write(tmp_path, shb()[:20])
    stats = ReadStats()
    assert list(read_packets(path, stats=stats)) == []
    assert stats.skipped_records == 1 and "truncated block" in stats.errors[0]


def test_bad_byte_order_magic(tmp_path: Path) -> None:
    bad = bytearray(shb())
    bad[8:12] = b"\xde\xad\xbe\xef"
    path = write(tmp_path, bytes(bad))
    _, err = read_until_error(path)
    assert str(err) == f"{path}: byte 0: section header block with bad byte-order magic 0xefbeadde"


def test_packet_before_any_interface(tmp_path: Path) -> None:
    path = write(tmp_path, shb() + spb(frame(0)))
    _, err = read_until_error(path)
    assert err.message == "packet block for undefined interface 0" and err.offset == len(shb())
