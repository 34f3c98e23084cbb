"""Pieces shared by the pcap and pcapng parsers: limits, link-type names, the byte window.

``Window`` is the reading model both parsers use: a file (plain, gzip or a pipe) arrives as
big chunks; a parser walks complete records inside the current chunk and, when the next record
runs past its end, asks for more, keeping only the unfinished tail. Nothing is read per packet.
``MappedWindow`` does the same over a memory-mapped file: it cuts the same chunks out of the
mapping as views instead of reading them, so the parser, its batches and its error offsets are
exactly those of the read path; only the copying is gone.
"""

from __future__ import annotations

import gzip
import importlib
import mmap
import os
import zlib
from typing import Any, BinaryIO, Protocol, TypeAlias, cast

import numpy as np
import numpy.typing as npt

from wardwatch.sensor.capture.batch import LinkType, PacketBatch
from wardwatch.sensor.capture.errors import CaptureError, ReadStats

# A captured packet longer than this is a corrupt record header, not a packet: 262144 is
# tcpdump's largest default snap length, and nothing wardwatch decodes comes near it.
MAX_CAPLEN = 262_144
# pcapng blocks other than packets (name resolution, custom) may be larger, but a block of more
# than this is a corrupt length field; refusing it bounds the memory a bad file can make us use.
MAX_BLOCK = 32 * 1024 * 1024
# Read size: big enough that the per-chunk Python work vanishes, small enough for a sensor box.
CHUNK = 16 * 1024 * 1024

SUPPORTED_LINKTYPES = frozenset(int(t) for t in LinkType)

#: What a parser walks: a chunk read into memory, or a view of a memory-mapped file.
Buffer: TypeAlias = bytes | bytearray | memoryview

# Not every platform has madvise or this advice (Windows, some BSDs): releasing pages is an
# optimisation of resident memory, never needed for correctness.
_DONTNEED: int | None = getattr(mmap, "MADV_DONTNEED", None) if hasattr(mmap.mmap, "madvise") else None

# Names for the messages about link types we do not decode (tcpdump.org LINKTYPE_* list).
LINKTYPE_NAMES: dict[int, str] = {
    0: "BSD loopback",
    1: "Ethernet",
    3: "AX.25",
    6: "IEEE 802.5 Token Ring",
    7: "ARCNET",
    8: "SLIP",
    9: "PPP",
    10: "FDDI",
    50: "PPP in HDLC-like framing",
    51: "PPPoE",
    100: "ATM RFC 1483",
    101: "raw IP",
    104: "Cisco HDLC",
    105: "IEEE 802.11",
    107: "Frame Relay",
    108: "OpenBSD loopback",
    113: "Linux cooked capture v1",
    117: "OpenBSD pflog",
    119: "Prism header 802.11",
    127: "radiotap 802.11",
    138: "IP over Fibre Channel",
    139: "SS7 MTP2",
    143: "DOCSIS",
    147: "user-defined 0",
    163: "AVS 802.11",
    187: "Bluetooth HCI H4",
    189: "Linux USB",
    192: "PPI",
    195: "IEEE 802.15.4 with FCS",
    201: "Bluetooth HCI H4 with phdr",
    215: "IEEE 802.15.4 non-ASK PHY",
    220: "Linux USB mmapped",
    228: "raw IPv4",
    229: "raw IPv6",
    230: "IEEE 802.15.4 without FCS",
    249: "USBPcap",
    251: "Bluetooth LE LL",
    252: "Wireshark upper PDU",
    253: "Linux netlink",
    254: "Bluetooth Linux monitor",
    256: "Bluetooth LE LL with phdr",
    264: "ISO 14443",
    276: "Linux cooked capture v2",
    283: "IEEE 802.15.4 TAP",
    290: "Zigbee ZBOSS NCP",
}


class NativeModule(Protocol):
    """What the optional C extension ``wardwatch.sensor._native`` provides (see ``_native.c``)."""

    CONSTANTS: dict[str, int]

    def decode_into(self, *arrays: npt.NDArray[np.generic]) -> None: ...

    def walk_pcap(
        self,
        buf: Buffer,
        pos: int,
        end: int,
        big_endian: bool,
        max_caplen: int,
        starts: npt.NDArray[np.int64],
        headers: npt.NDArray[np.int64],
        /,
    ) -> tuple[int, int, int]: ...

    def syn_key(
        self, pkt: Buffer, l3: int, l4: int, ip_version: int, syn_ack: bool, /
    ) -> tuple[object, ...]: ...

    def meter_keys(self, *arrays: npt.NDArray[Any]) -> int: ...

    def meter_segments(self, m: int, /, *arrays: npt.NDArray[Any]) -> list[Any]: ...

    def meter_view(self, m: int, /, *arrays: npt.NDArray[Any]) -> int: ...

    FlowCore: type
    ConversationTable: type
    FlowTable: Any  # the type (``_flowtable.c``); meter.py's NativeFlowMeter is its only user

    def content_uid(
        self, protocol: str, mac: str | None, ip: str | None, fields: dict[str, Any], /
    ) -> str | None: ...

    def flow_uid(
        self, prefix: str, lo_ip: str, lo_port: int, hi_ip: str, hi_port: int, first_ns: int, /
    ) -> str | None: ...


def _load_native() -> NativeModule | None:
    # The extension is optional (setup.py builds it with optional=True): a machine without a C
    # compiler installs fine and runs the NumPy code instead.
    try:
        return cast(NativeModule, importlib.import_module("wardwatch.sensor._native"))
    except ImportError:
        return None


_NATIVE = _load_native()


def native() -> NativeModule | None:
    """The C extension, or None when it is not built or ``WARDWATCH_PURE_PYTHON`` is set (not "0").

    Looked up at every call (once per batch or file, never per packet), so tests can switch
    between the C and the NumPy path with ``monkeypatch.setenv``.
    """
    flag = os.environ.get("WARDWATCH_PURE_PYTHON", "")
    if flag and flag != "0":
        return None
    return _NATIVE


def linktype_label(linktype: int) -> str:
    """``105 (IEEE 802.11)``, or just the number when we have no name for it."""
    name = LINKTYPE_NAMES.get(linktype)
    return f"{linktype} ({name})" if name else str(linktype)


def unsupported_message(linktype: int) -> str:
    return f"unsupported link type {linktype_label(linktype)}"


class SourceError(Exception):
    """The byte stream under a capture failed (gzip CRC, truncated gzip, I/O error)."""


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class ByteSource:
    """Sequential bytes of one capture, decompressed if it was gzip.

    ``read`` returns what it got before a failure and raises ``SourceError`` only on the next call,
    so a parser always sees every byte that could be recovered before the fault.
    """

    def __init__(self, raw: BinaryIO | _Readable) -> None:
        self._raw = raw
        self._peeked = b""
        self._gz: gzip.GzipFile | None = None
        self._pending: SourceError | None = None
        self._eof = False

    def _read_raw(self, n: int) -> bytes:
        if self._peeked:
            out, self._peeked = self._peeked[:n], self._peeked[n:]
            return out
        return self._raw.read(n)

    def start(self) -> bytes:
        """Detect gzip by its magic (not by name) and return the first bytes of the capture."""
        head = b""
        # Pipes may return short reads; two bytes decide gzip or not.
        while len(head) < 2:
            want = 2 - len(head)
            more = self._guard_io(lambda: self._raw.read(want))  # noqa: B023 - called at once
            if not more:
                break
            head += more
        self._peeked = head
        if head == b"\x1f\x8b":
            self._gz = gzip.GzipFile(fileobj=_Peeked(self), mode="rb")
        return self.read(CHUNK)

    @property
    def gzipped(self) -> bool:
        return self._gz is not None

    def _guard_io(self, fn: _ReadCall) -> bytes:
        try:
            return fn()
        except OSError as e:
            raise SourceError(f"read error: {e.strerror or e}") from e

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at end of data or before a deferred error); b"" at the end."""
        if self._pending is not None:
            err, self._pending = self._pending, None
            raise err
        if self._eof:
            return b""
        pieces: list[bytes] = []
        have = 0
        while have < n:
            try:
                piece = self._next_piece(n - have)
            except SourceError as e:
                if not pieces:
                    raise
                self._pending = e
                break
            if not piece:
                self._eof = True
                break
            pieces.append(piece)
            have += len(piece)
        return b"".join(pieces)

    def readinto(self, into: memoryview) -> int:
        """Fill ``into`` like ``read`` would; the number of bytes, 0 at the end."""
        if self._gz is None and not self._peeked and self._pending is None and not self._eof:
            readinto = getattr(self._raw, "readinto", None)
            if readinto is not None:
                have = 0
                while have < len(into):
                    try:
                        got = readinto(into[have:])
                    except OSError as e:
                        if not have:
                            raise SourceError(f"read error: {e.strerror or e}") from e
                        self._pending = SourceError(f"read error: {e.strerror or e}")
                        break
                    if not got:
                        self._eof = True
                        break
                    have += got
                return have
        data = self.read(len(into))
        into[: len(data)] = data
        return len(data)

    def _next_piece(self, n: int) -> bytes:
        if self._gz is None:
            return self._guard_io(lambda: self._read_raw(n))
        gz = self._gz
        try:
            # read1 returns each decompressed piece as soon as it exists, so a CRC or truncation
            # error further on cannot take the bytes before it down with it.
            return gz.read1(min(n, 1 << 20))
        except EOFError as e:
            raise SourceError("truncated gzip stream (ended before its end-of-stream marker)") from e
        except gzip.BadGzipFile as e:
            raise SourceError(f"corrupt gzip stream ({e})") from e
        except zlib.error as e:
            raise SourceError(f"corrupt gzip stream ({e})") from e
        except OSError as e:
            raise SourceError(f"read error: {e.strerror or e}") from e


class _ReadCall(Protocol):
    def __call__(self) -> bytes: ...


class _Peeked:
    """The raw file with the bytes ``ByteSource.start`` peeked at put back in front, for gzip."""

    mode = "rb"

    def __init__(self, src: ByteSource) -> None:
        self._src = src

    def read(self, n: int = -1, /) -> bytes:
        return self._src._read_raw(n if n >= 0 else CHUNK)

    def seek(self, n: int, /) -> object:
        # GzipFile only seeks to rewind, which we never do; pipes could not anyway.
        raise OSError("capture streams are not seekable")


class Window:
    """The current chunk of a capture and its offset in the (decompressed) file."""

    #: ``buf`` and the batches cut from it are copies, not views of a mapped file.
    mapped = False

    def __init__(self, src: ByteSource, first: bytes) -> None:
        self.src = src
        self.buf: bytes | bytearray = first
        self.base = 0  # file offset of buf[0]
        self.eof = not first
        # A failure of the source (gzip CRC, I/O) ends the data like end of file does; the parser
        # reports it once every complete record before it has been yielded.
        self.error: SourceError | None = None

    def refill(self, keep_from: int, need: int) -> bool:
        """Drop ``buf[:keep_from]`` and read until ``need`` bytes are buffered; False if the data ended."""
        tail = self.buf[keep_from:]
        self.base += keep_from
        t = len(tail)
        if t >= need or self.eof:
            self.buf = tail
            return t >= need
        # Read straight into the new buffer after the tail: one copy of the data, not two.
        store = bytearray(t + max(CHUNK, need - t))
        store[:t] = tail
        view = memoryview(store)
        have = t
        while have < need and not self.eof:
            try:
                got = self.src.readinto(view[have:])
            except SourceError as e:
                self.error = e
                got = 0
            if not got:
                self.eof = True
                break
            have += got
        # Short only at the end of the data: copying the last chunk once is cheaper than making
        # sure no view of the buffer (a traceback may hold one) is left to allow a resize.
        self.buf = store if have == len(store) else store[:have]
        return have >= need

    def find(self, sub: bytes, start: int, stop: int) -> int:
        """``buf.find(sub, start, stop)`` (the same call as on a ``MappedWindow``)."""
        return self.buf.find(sub, start, stop)

    def release_before(self, offset: int) -> None:
        """Nothing to release: read chunks are freed when no batch or chunk holds them."""

    def error_at_end(self, label: str) -> CaptureError | None:
        """The source failure, if any, as a ``CaptureError`` at the offset where the data stopped."""
        if self.error is None:
            return None
        return CaptureError(label, self.base + len(self.buf), str(self.error))


class MappedWindow:
    """``Window`` for a whole memory-mapped, uncompressed file: ``buf`` is a view of the mapping.

    It cuts the same chunks as reading the file would (``CHUNK`` bytes, or what the next record
    needs), so batch boundaries, error offsets and the parser's memory use are exactly those of
    the read path; the chunks just cost nothing. A separate class, not a subclass, because its
    ``buf`` is a memoryview, which has no ``find`` and which the pcapng parser does not take.
    The mapping is never closed here: batches may hold views of it (closing would raise
    ``BufferError``), and it is unmapped with the last of them.
    """

    #: ``buf`` is a read-only view of the file; batches may be views too.
    mapped = True

    def __init__(self, mapping: mmap.mmap) -> None:
        self._mapping = mapping
        self._whole = memoryview(mapping)
        self.buf: memoryview = self._whole[:CHUNK]
        self.base = 0  # file offset of buf[0]
        self.eof = len(self.buf) == len(self._whole)  # the window reaches the end of the file
        self.error: SourceError | None = None  # never set: a mapping has no read errors to defer
        self._released = 0  # file offset up to which pages were handed back (page-aligned)

    def refill(self, keep_from: int, need: int) -> bool:
        """Drop ``buf[:keep_from]`` and extend the view to ``need`` bytes; False if the file ended."""
        # The same sizes as Window.refill, which reads t + max(CHUNK, need - t) bytes (fewer only
        # at the end of the file), so that both cut the file at the same places.
        start = self.base + keep_from
        stop = self.base + len(self.buf)
        t = stop - start
        if t < need:
            stop = min(start + t + max(CHUNK, need - t), len(self._whole))
        self.base = start
        self.buf = self._whole[start:stop]
        self.eof = stop == len(self._whole)
        return stop - start >= need

    def find(self, sub: bytes, start: int, stop: int) -> int:
        """``buf.find(sub, start, stop)``, searched in the mapping (a memoryview has no ``find``)."""
        k = self._mapping.find(sub, self.base + start, self.base + stop)
        return k - self.base if k >= 0 else -1

    def release_before(self, offset: int) -> None:
        """Let the kernel unmap the pages of the file before file offset ``offset``.

        Pages of a file mapping that were touched count as resident memory until unmapped, so
        without this reading a 5 GB file would end with 5 GB resident. ``MADV_DONTNEED`` on a
        read-only file mapping loses nothing: a later access (a batch still held by someone)
        faults the same bytes back in from the page cache.
        """
        if _DONTNEED is None:
            return
        upto = offset - offset % mmap.PAGESIZE
        if upto <= self._released:
            return
        try:
            # Only what is new since the last call: advising the whole prefix again each batch
            # would make the kernel walk ever longer page tables for nothing.
            self._mapping.madvise(_DONTNEED, self._released, upto - self._released)
        except (OSError, ValueError):
            return  # a memory optimisation only; reading goes on correctly without it
        self._released = upto

    def error_at_end(self, label: str) -> CaptureError | None:
        """Always None: see ``Window.error_at_end``; nothing is read, so nothing can fail."""
        return None


def add_error(stats: ReadStats, source: str, offset: int | None, message: str) -> None:
    """Note a recoverable problem in the same one-line shape as a ``CaptureError``."""
    stats.errors.append(str(CaptureError(source, offset, message)))


def make_batch(
    data: npt.NDArray[np.uint8],
    offset: npt.NDArray[np.int64],
    caplen: npt.NDArray[np.int64],
    wirelen: npt.NDArray[np.int64],
    ts_ns: npt.NDArray[np.int64],
    linktype: npt.NDArray[np.int64],
    first_index: int,
    source: str,
) -> PacketBatch:
    return PacketBatch(
        data=data,
        offset=offset.astype(np.int64, copy=False),
        caplen=caplen.astype(np.int32),
        wirelen=wirelen.astype(np.int32),
        ts_ns=ts_ns.astype(np.int64, copy=False),
        linktype=linktype.astype(np.int32),
        first_index=first_index,
        source=source,
    )
