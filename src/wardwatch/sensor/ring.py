"""A rolling on-disk ring of pcap files, kept for forensics after the live sensor has moved on.

The live sensor appends every captured batch to the current file of the ring. A file is closed
and a new one started when it reaches ``max_file_bytes`` or has been open for ``max_seconds`` of
capture time; when the ring then holds more than ``max_files`` files, the oldest are deleted. So
the ring's disk use is bounded by about ``max_files * max_file_bytes`` whatever the traffic.

Files are classic pcap with nanosecond timestamps (magic ``a1b23c4d``), named
``ww-<UTC start>-<sequence>.pcap`` so a lexical sort is a time sort; every batch is flushed to
the kernel, so a crash loses at most the batch in flight. ``wardwatch discover`` reads them.
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from wardwatch.sensor.capture.batch import PacketBatch

_NS_MAGIC = 0xA1B23C4D
_HEADER = 24
PREFIX = "ww-"


@dataclass(frozen=True, slots=True)
class RingConfig:
    """Limits of the ring: size per file, capture seconds per file, and number of files."""

    directory: Path
    max_file_bytes: int = 64 * 1024 * 1024
    max_files: int = 16
    max_seconds: float = 300.0
    snaplen: int = 65535
    linktype: int = 1


@dataclass(slots=True)
class RingStats:
    """What the ring wrote and deleted."""

    files_opened: int = 0
    files_deleted: int = 0
    packets: int = 0
    bytes: int = 0


class PcapRing:
    """Appends batches to a size-, time- and count-limited ring of pcap files (see module doc)."""

    def __init__(self, config: RingConfig) -> None:
        if config.max_file_bytes < 1024 or config.max_files < 1 or config.max_seconds <= 0:
            raise ValueError("ring limits must be positive (file size at least 1 KiB)")
        self.config = config
        self.stats = RingStats()
        config.directory.mkdir(parents=True, exist_ok=True)
        self._fh: BinaryIO | None = None
        self._path: Path | None = None
        self._size = 0
        self._opened_ns = 0
        existing = self.files()
        self._seq = int(existing[-1].stem.rsplit("-", 1)[-1]) + 1 if existing else 1

    def files(self) -> list[Path]:
        """The ring's files, oldest first."""
        return sorted(
            p for p in self.config.directory.glob(f"{PREFIX}*.pcap") if p.stem.rsplit("-", 1)[-1].isdigit()
        )

    @property
    def current(self) -> Path | None:
        """The file being written, if any."""
        return self._path

    def write(self, batch: PacketBatch) -> None:
        """Append ``batch`` (rotating first when the current file is full or old enough)."""
        n = len(batch)
        if n == 0:
            return
        ts = batch.ts_ns
        caplen = np.minimum(batch.caplen.astype(np.int64), self.config.snaplen)
        # Records are written in runs that each fit the current file, rotating between runs.
        start = 0
        while start < n:
            t0 = int(ts[start])
            if self._fh is None or self._due(t0):
                self._rotate(t0)
            room = self.config.max_file_bytes - self._size
            sizes = 16 + caplen[start:]
            fits = int(np.searchsorted(np.cumsum(sizes), room, side="right"))
            deadline = self._opened_ns + int(self.config.max_seconds * 1e9)
            fits = min(fits, int(np.searchsorted(ts[start:], deadline, side="left")))
            if fits == 0 and self._size > _HEADER:
                self._rotate(t0)  # the next record does not fit: start a fresh file
                continue
            end = start + max(1, fits)  # a fresh file always takes at least one record
            self._write_records(batch, caplen, start, end)
            start = end
        assert self._fh is not None
        self._fh.flush()

    def _due(self, t_ns: int) -> bool:
        return self._size >= self.config.max_file_bytes or t_ns - self._opened_ns >= int(
            self.config.max_seconds * 1e9
        )

    def _write_records(self, batch: PacketBatch, caplen: np.ndarray, start: int, end: int) -> None:
        assert self._fh is not None
        parts: list[bytes] = []
        data = batch.data
        for i in range(start, end):
            t = int(batch.ts_ns[i])
            c = int(caplen[i])
            o = int(batch.offset[i])
            parts.append(
                struct.pack("<IIII", t // 1_000_000_000, t % 1_000_000_000, c, int(batch.wirelen[i]))
            )
            parts.append(data[o : o + c].tobytes())
        blob = b"".join(parts)
        self._fh.write(blob)
        self._size += len(blob)
        self.stats.packets += end - start
        self.stats.bytes += len(blob)

    def _rotate(self, t_ns: int) -> None:
        self.close()
        stamp = dt.datetime.fromtimestamp(t_ns / 1e9, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = self.config.directory / f"{PREFIX}{stamp}-{self._seq:06d}.pcap"
        self._seq += 1
        fh = path.open("wb")
        header = struct.pack("<IHHiIII", _NS_MAGIC, 2, 4, 0, 0, self.config.snaplen, self.config.linktype)
        fh.write(header)
        self._fh, self._path, self._size, self._opened_ns = fh, path, len(header), t_ns
        self.stats.files_opened += 1
        files = self.files()
        for old in files[: max(0, len(files) - self.config.max_files)]:
            old.unlink(missing_ok=True)
            self.stats.files_deleted += 1

    def close(self) -> None:
        """Close the current file (the next write starts a new one)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self._path = None
