"""Pieces shared by the pcap and pcapng parsers: limits, link-type names, the byte window.

``_Window`` is the reading model both parsers use: a file (plain, gzip or a pipe) arrives as
big chunks; a parser walks complete records inside the current chunk and, when the next record
runs past its end, asks for more, keeping only the unfinished tail. Nothing is read per packet.
"""

from __future__ import annotations

import gzip
import importlib
import os
import zlib
from typing import BinaryIO, Protocol, cast

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
        buf: bytes | bytearray,
        pos: int,
        end: int,
        big_endian: bool,
        max_caplen: int,
        starts: npt.NDArray[np.int64],
        headers: npt.NDArray[np.int64],
        /,
    ) -> tuple[int, int, int]: ...


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

    def error_at_end(self, label: str) -> CaptureError | None:
        """The source failure, if any, as a ``CaptureError`` at the offset where the data stopped."""
        if self.error is None:
            return None
        return CaptureError(label, self.base + len(self.buf), str(self.error))


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
