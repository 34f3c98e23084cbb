"""Buffered classic-pcap writer (microsecond timestamps, Ethernet link type), gzip when the name ends in .gz.

The gzip header carries no file name and a zero mtime so that the same frames always give the same bytes.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from types import TracebackType
from typing import IO, cast

from wardwatch.simulate.packets import REC_HDR

PCAP_MAGIC_US = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
SNAPLEN = 65535
_FLUSH_PARTS = 8192


class PcapWriter:
    """Writes pcap records through one large buffer; enforces strictly increasing timestamps."""

    def __init__(self, path: str | Path, compresslevel: int = 6) -> None:
        self.path = Path(path)
        self._raw: IO[bytes] = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._out: IO[bytes]
        if self.path.name.endswith(".gz"):
            self._out = cast(
                IO[bytes],
                gzip.GzipFile(
                    filename="", mode="wb", compresslevel=compresslevel, fileobj=self._raw, mtime=0
                ),
            )
        else:
            self._out = self._raw
        self._out.write(struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
        self._parts: list[bytes] = []
        self._pack = REC_HDR.pack
        self.packets = 0
        self.bytes = 0
        self.last_us = -1

    def write(self, ts_us: int, frame: bytes) -> int:
        """Append one frame; returns the timestamp used (bumped to stay strictly increasing)."""
        if ts_us <= self.last_us:
            ts_us = self.last_us + 1
        self.last_us = ts_us
        n = len(frame)
        parts = self._parts
        parts.append(self._pack(ts_us // 1_000_000, ts_us % 1_000_000, n, n))
        parts.append(frame)
        self.packets += 1
        self.bytes += n
        if len(parts) >= _FLUSH_PARTS:
            self._flush()
        return ts_us

    def write_records(self, records: bytes | memoryview, count: int, frame_bytes: int, last_us: int) -> None:
        """Append pre-built records (header + frame each) whose times are all > the writer's ``last_us``.

        Large blocks go straight to the file (no copy through the join buffer).
        """
        self._flush()
        self._out.write(records)
        self.packets += count
        self.bytes += frame_bytes
        self.last_us = max(self.last_us, last_us)

    def _flush(self) -> None:
        if self._parts:
            self._out.write(b"".join(self._parts))
            self._parts.clear()

    def close(self) -> None:
        """Flush and close the file."""
        self._flush()
        if self._out is not self._raw:
            self._out.close()
        self._raw.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
