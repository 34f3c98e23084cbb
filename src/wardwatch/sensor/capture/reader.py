"""Read packets from capture files into ``PacketBatch``es: the sensor's way in for offline data.

``read_packets`` takes a pcap or pcapng file, either one gzip-compressed (recognised by its
magic bytes, not its name), a directory of them, or ``"-"`` for standard input, and yields
batches of packets in file order. How it treats damaged input:

* Not a capture (unknown magic), an empty file, a bad file header, an unsupported link type for
  the whole file, a corrupt record or block in the middle, or a gzip failure (bad CRC, truncated
  gzip stream): ``CaptureError(source, byte_offset, message)``, raised only after every complete
  packet before the fault has been yielded. We do not try to resynchronise after a corrupt
  record: guessing the next record header in arbitrary bytes risks feeding made-up packets to
  the inventory, and a capture corrupt in the middle is rare enough to be worth a loud error.
* A truncated *last* record or block (the usual state of a capture that was cut off, e.g. a
  tcpdump killed mid-write) is recoverable: everything before it is fine and nothing follows.
  It is counted in ``stats.skipped_records``, described by a one-line message in
  ``stats.errors`` (same ``file: byte N: ...`` shape as ``CaptureError``), and does not raise.
* In a directory, a file that cannot be read (not a capture, corrupt, unsupported link type) is
  noted in ``stats.errors`` and reading goes on with the next file; packets yielded from it
  before its fault stand.
* Packets of an interface whose link type wardwatch does not decode (one interface of several
  in a pcapng file) are counted in ``stats.unsupported_linktype_packets`` and not yielded.

``CaptureError`` is the only exception that escapes for any input bytes. ``PacketBatch.source``
is the file's path (``"<stdin>"`` for standard input) and ``PacketBatch.first_index`` counts
yielded packets from 0 within that file. ``stats.files`` counts files recognised as captures,
``stats.packets``/``stats.bytes`` the packets yielded and their captured bytes.

A regular, non-empty, uncompressed classic pcap file is memory-mapped (read-only) instead of
read: reading a 5 GB capture into fresh buffers and copying every batch out of them cost about
twenty times the CPU of touching the same pages through a mapping. Its batches' ``data`` are then
read-only views of the mapping (consumers must not write into them), and the pages a consumer is
done with are handed back as it asks for the next batch, so resident memory stays about two
chunks, not the file. The mapped path cuts the same chunks as the read path, so batches, errors,
offsets and stats are identical. Everything else (gzip, pcapng, pipes and other special files,
standard input, a platform or file that cannot be mapped) is read as a stream, and
``WARDWATCH_NO_MMAP`` (set, not "0") forces the stream for every file, to compare the two. A
mapped file must not be truncated while it is read (the process would get SIGBUS); a capture
still being written is read up to its size when it was opened.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import stat
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from wardwatch.sensor.capture import pcap, pcapng
from wardwatch.sensor.capture._common import ByteSource, MappedWindow, SourceError, Window
from wardwatch.sensor.capture.batch import PacketBatch
from wardwatch.sensor.capture.errors import CaptureError, ReadStats

STDIN_LABEL = "<stdin>"

# Formats people mistake for pcap, named so the error says what the file is.
_KNOWN_OTHER = {
    b"\xa1\xb2\xcd\x34": "modified (Kuznetzov) pcap, not supported",
    b"\x34\xcd\xb2\xa1": "modified (Kuznetzov) pcap, not supported",
    b"snoo": "Solaris snoop capture, not supported",
    b"PK\x03\x04": "a zip archive",
    b"BZh": "a bzip2 archive",
    b"\xfd7zXZ": "an xz archive",
    b"\x28\xb5\x2f\xfd": "a zstd archive",
}


#: Packets per batch. Large batches amortise the per-batch NumPy set-up and give each flow longer
#: runs (segments) per batch, which the meter handles in one step; the bytes of a batch are
#: bounded anyway by the reader's chunk (``_common.CHUNK``). On the 5.5 M-packet bench capture
#: 32768 measured 58-59 s of engine CPU against 54-78 s for 4096 on a shared machine: steadier,
#: not clearly faster once decoding became native.
DEFAULT_BATCH = 32768


def read_packets(
    source: str | Path, *, batch_size: int = DEFAULT_BATCH, stats: ReadStats | None = None
) -> Iterator[PacketBatch]:
    """Yield the packets of ``source`` (file, gzip file, directory or ``"-"``) in batches.

    Each batch holds at most ``batch_size`` packets of one file. ``stats``, when given, is
    filled with what was read and skipped. Raises ``CaptureError`` (see the module docstring
    for which faults raise and which are only counted).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if stats is None:
        stats = ReadStats()
    if isinstance(source, str) and source == "-":
        stdin = getattr(sys.stdin, "buffer", None)
        if stdin is None:
            raise CaptureError(STDIN_LABEL, None, "standard input is not available")
        yield from _read_stream(stdin, STDIN_LABEL, batch_size, stats)
        return
    label = str(source)
    try:
        st = os.stat(source)
    except FileNotFoundError:
        raise CaptureError(label, None, "no such file") from None
    except OSError as e:
        raise CaptureError(label, None, f"cannot open ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        yield from _read_directory(Path(source), label, batch_size, stats)
    else:
        yield from _read_file(Path(source), label, batch_size, stats)


def _read_file(path: Path, label: str, batch_size: int, stats: ReadStats) -> Iterator[PacketBatch]:
    try:
        # Unbuffered: we read in big chunks ourselves, a second buffer would only copy.
        f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        raise CaptureError(label, None, "no such file") from None
    except OSError as e:
        raise CaptureError(label, None, f"cannot open ({e.strerror or e})") from None
    with f:
        mapping = _map_classic_pcap(f.fileno())
        if mapping is None:
            yield from _read_stream(f, label, batch_size, stats)
            return
    # Our descriptor is closed now; the mapping keeps the file itself.
    stats.files += 1
    yield from _guarded(pcap.read_pcap(MappedWindow(mapping), label, batch_size, stats), label)


def _mmap_disabled() -> bool:
    # Read at every file, like WARDWATCH_PURE_PYTHON, so tests can switch with monkeypatch.setenv.
    flag = os.environ.get("WARDWATCH_NO_MMAP", "")
    return bool(flag) and flag != "0"


def _map_classic_pcap(fd: int) -> mmap.mmap | None:
    """The file mapped read-only if it is a regular, uncompressed classic pcap file, else None.

    Only classic pcap: its parser is where the copying cost was, and pcapng keeps the one
    stream path. None for anything the stream path must handle (gzip, other formats, pipes and
    devices, empty files) and whenever mapping fails, so the stream path reports it as before.
    """
    if _mmap_disabled():
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            return None
        # pread leaves the file position at 0 for the stream path if we decline. Neither gzip
        # (1f 8b) nor pcapng starts with a classic pcap magic, so this check excludes both.
        if os.pread(fd, 4, 0) not in pcap.MAGICS:
            return None
        mapping = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError, OverflowError):
        # Not mappable here (a file system without mmap, a file too big for a 32-bit address
        # space, a file that shrank to 0 meanwhile): the stream path still works.
        return None
    advise = getattr(mapping, "madvise", None)
    sequential = getattr(mmap, "MADV_SEQUENTIAL", None)
    if advise is not None and sequential is not None:
        with contextlib.suppress(OSError):  # a hint only
            advise(sequential)  # read-ahead for a front-to-back walk
    return mapping


def _list_directory(root: Path, label: str, stats: ReadStats) -> list[Path]:
    walk_errors: list[OSError] = []
    found: list[tuple[tuple[str, ...], Path]] = []
    for dirpath, _dirnames, filenames in os.walk(root, onerror=walk_errors.append):
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_file():  # regular files (and links to them): no FIFOs or devices
                found.append((path.relative_to(root).parts, path))
    for e in walk_errors:
        if e.filename is not None and Path(e.filename) == root:
            raise CaptureError(label, None, f"cannot read directory ({e.strerror or e})")
        stats.errors.append(f"{e.filename}: cannot read directory ({e.strerror or e})")
    found.sort(key=lambda item: item[0])
    return [path for _parts, path in found]


def _read_directory(root: Path, label: str, batch_size: int, stats: ReadStats) -> Iterator[PacketBatch]:
    for path in _list_directory(root, label, stats):
        try:
            yield from _read_file(path, str(path), batch_size, stats)
        except CaptureError as e:
            # One bad file must not cost the rest of the directory.
            stats.errors.append(str(e))


def _describe_magic(head: bytes) -> str:
    for magic, what in _KNOWN_OTHER.items():
        if head.startswith(magic):
            return f"not a pcap or pcapng file ({what})"
    shown = head[:4]
    text = shown.decode("ascii", "replace")
    hint = f" {text!r}" if all(32 <= b < 127 for b in shown) else ""  # ASCII only: no \ufffd
    return f"not a pcap or pcapng file (magic {shown.hex(' ')}{hint})"


def _read_stream(raw: BinaryIO, label: str, batch_size: int, stats: ReadStats) -> Iterator[PacketBatch]:
    src = ByteSource(raw)
    try:
        first = src.start()
    except SourceError as e:
        raise CaptureError(label, 0, str(e)) from None
    if not first:
        raise CaptureError(label, 0, "empty file" + (" (after gzip decompression)" if src.gzipped else ""))
    win = Window(src, first)
    magic = first[:4]
    # Generators: nothing is parsed before _guarded below iterates them.
    if magic in pcap.MAGICS:
        batches = pcap.read_pcap(win, label, batch_size, stats)
    elif magic == pcapng.MAGIC:
        batches = pcapng.read_pcapng(win, label, batch_size, stats)
    else:
        if len(first) < 4 and any(m.startswith(first) for m in (*pcap.MAGICS, pcapng.MAGIC)):
            raise CaptureError(label, 0, f"truncated file header ({len(first)} bytes)")
        raise CaptureError(label, 0, _describe_magic(first))
    stats.files += 1
    yield from _guarded(batches, label)


def _guarded(batches: Iterator[PacketBatch], label: str) -> Iterator[PacketBatch]:
    """``batches``, with a parser's own exceptions turned into ``CaptureError``."""
    try:
        yield from batches
    except (struct.error, ValueError, IndexError, OverflowError, MemoryError) as e:
        # A parser bug, not a property of the input; keep the promise that only CaptureError
        # escapes, but say plainly that it is ours.
        raise CaptureError(label, None, f"internal error reading capture ({type(e).__name__}: {e})") from e
