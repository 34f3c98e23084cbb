"""PacketBatch: many packets at once, as NumPy arrays over one buffer.

The packet path never builds a Python object per packet: a reader fills one contiguous buffer
with the captured bytes of up to a few thousand packets, plus parallel arrays of offsets,
lengths, timestamps and link types, and the decoder works on whole arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt


class LinkType(IntEnum):
    """The LINKTYPE_* values wardwatch decodes (tcpdump.org link-layer header types)."""

    NULL = 0  # BSD loopback: 4-byte host-order address family
    ETHERNET = 1
    RAW = 101  # raw IPv4/IPv6, version from the first nibble
    LINUX_SLL = 113
    IPV4 = 228
    IPV6 = 229
    LINUX_SLL2 = 276


@dataclass(slots=True)
class PacketBatch:
    """Up to a few thousand packets from one source, in capture order.

    Packet ``i`` is ``data[offset[i] : offset[i] + caplen[i]]``; ``wirelen`` is its length on the
    wire (>= caplen when a snap length cut it). ``linktype`` is per packet because one pcapng file
    can hold interfaces of several link types. ``index`` numbers packets from 0 across the whole
    source, for error messages and forensics ("packet 1234 of x.pcap").
    """

    data: npt.NDArray[np.uint8]
    offset: npt.NDArray[np.int64]
    caplen: npt.NDArray[np.int32]
    wirelen: npt.NDArray[np.int32]
    ts_ns: npt.NDArray[np.int64]
    linktype: npt.NDArray[np.int32]
    first_index: int
    source: str

    def __len__(self) -> int:
        return int(self.offset.shape[0])

    def packet(self, i: int) -> bytes:
        """The captured bytes of packet ``i`` (for dissectors and tests, not the hot path)."""
        start = int(self.offset[i])
        return bytes(self.data[start : start + int(self.caplen[i])])

    @classmethod
    def from_packets(
        cls,
        packets: list[tuple[int, bytes]] | list[tuple[int, bytes, int]],
        *,
        linktype: int = LinkType.ETHERNET,
        source: str = "<memory>",
        first_index: int = 0,
    ) -> PacketBatch:
        """Build a batch from ``(ts_ns, frame)`` or ``(ts_ns, frame, wirelen)`` tuples (tests, simulator)."""
        n = len(packets)
        lengths = np.fromiter((len(p[1]) for p in packets), dtype=np.int64, count=n)
        offset = np.zeros(n, dtype=np.int64)
        if n:
            offset[1:] = np.cumsum(lengths)[:-1]
        data = np.frombuffer(b"".join(p[1] for p in packets), dtype=np.uint8).copy()
        wirelen = np.fromiter(
            (p[2] if len(p) > 2 else len(p[1]) for p in packets),  # type: ignore[misc]
            dtype=np.int32,
            count=n,
        )
        return cls(
            data=data,
            offset=offset,
            caplen=lengths.astype(np.int32),
            wirelen=wirelen,
            ts_ns=np.fromiter((p[0] for p in packets), dtype=np.int64, count=n),
            linktype=np.full(n, int(linktype), dtype=np.int32),
            first_index=first_index,
            source=source,
        )
