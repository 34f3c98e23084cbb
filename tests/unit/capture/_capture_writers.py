"""Hand-written pcap/pcapng writers for the capture reader tests (independent of the reader)."""

from __future__ import annotations

import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class Pkt:
    """One packet as a test writes it: timestamp parts, bytes and wire length."""

    sec: int
    sub: int  # microseconds or nanoseconds, per file
    data: bytes
    wirelen: int | None = None

    @property
    def wire(self) -> int:
        return len(self.data) if self.wirelen is None else self.wirelen


def frame(i: int, size: int = 60) -> bytes:
    """A recognisable fake Ethernet frame of ``size`` bytes."""
    head = struct.pack(">6s6sHI", b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02", 0x0800, i)
    body = bytes((i + k) & 0xFF for k in range(max(0, size - len(head))))
    return (head + body)[:size]


def pcap_header(*, endian: str = "<", nano: bool = False, linktype: int = 1, snaplen: int = 65535) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    return struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(p: Pkt, endian: str = "<") -> bytes:
    return struct.pack(endian + "IIII", p.sec, p.sub, len(p.data), p.wire) + p.data


def pcap_bytes(
    packets: list[Pkt], *, endian: str = "<", nano: bool = False, linktype: int = 1, snaplen: int = 65535
) -> bytes:
    """A whole pcap file."""
    return pcap_header(endian=endian, nano=nano, linktype=linktype, snaplen=snaplen) + b"".join(
        pcap_record(p, endian) for p in packets
    )


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def block(btype: int, body: bytes, endian: str = "<") -> bytes:
    """A pcapng block: type, total length, body padded to 4, total length again."""
    body = _pad4(body)
    total = 12 + len(body)
    return struct.pack(endian + "II", btype, total) + body + struct.pack(endian + "I", total)


def option(code: int, value: bytes, endian: str = "<") -> bytes:
    return struct.pack(endian + "HH", code, len(value)) + _pad4(value)


def end_of_options(endian: str = "<") -> bytes:
    return struct.pack(endian + "HH", 0, 0)


def shb(endian: str = "<", options: bytes = b"") -> bytes:
    body = struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1) + options
    return block(0x0A0D0D0A, body, endian)


def idb(
    linktype: int = 1,
    *,
    snaplen: int = 0,
    tsresol: int | None = None,
    tsoffset: int | None = None,
    endian: str = "<",
) -> bytes:
    opts = option(2, b"eth0\0", endian)  # if_name, to have an option to skip
    if tsresol is not None:
        opts += option(9, bytes([tsresol]), endian)
    if tsoffset is not None:
        opts += option(14, struct.pack(endian + "q", tsoffset), endian)
    opts += end_of_options(endian)
    return block(1, struct.pack(endian + "HHI", linktype, 0, snaplen) + opts, endian)


def epb(if_id: int, ticks: int, data: bytes, wirelen: int | None = None, endian: str = "<") -> bytes:
    wl = len(data) if wirelen is None else wirelen
    body = struct.pack(endian + "IIIII", if_id, ticks >> 32, ticks & 0xFFFFFFFF, len(data), wl)
    body += _pad4(data) + option(1, b"a comment", endian) + end_of_options(endian)
    return block(6, body, endian)


def obsolete_pb(if_id: int, ticks: int, data: bytes, wirelen: int | None = None, endian: str = "<") -> bytes:
    wl = len(data) if wirelen is None else wirelen
    body = struct.pack(endian + "HHIIII", if_id, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), wl) + data
    return block(2, body, endian)


def spb(data: bytes, wirelen: int | None = None, endian: str = "<") -> bytes:
    wl = len(data) if wirelen is None else wirelen
    return block(3, struct.pack(endian + "I", wl) + data, endian)


def nrb(endian: str = "<") -> bytes:
    rec = struct.pack(endian + "HH", 1, 4 + 9) + bytes([10, 0, 0, 1]) + b"pump-01\0\0"
    return block(4, _pad4(rec) + struct.pack(endian + "HH", 0, 0), endian)


def isb(if_id: int = 0, endian: str = "<") -> bytes:
    return block(5, struct.pack(endian + "III", if_id, 0, 0), endian)


def custom(endian: str = "<") -> bytes:
    return block(0x00000BAD, struct.pack(endian + "I", 32473) + b"vendor stuff", endian)


def unknown_block(endian: str = "<") -> bytes:
    return block(0x7777, b"\x01\x02\x03\x04\x05", endian)
