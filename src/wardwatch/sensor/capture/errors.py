"""The one error a capture reader may raise, and the counters of what it skipped."""

from __future__ import annotations

from dataclasses import dataclass, field


class CaptureError(Exception):
    """A capture cannot be read (further). Names the file and the byte offset.

    ``str(err)`` is a one-line message fit for a user, e.g.
    ``x.pcap: byte 1048: truncated packet record (header says 1514 bytes, 212 left)``.
    Packets read before the error have already been yielded and are kept.
    """

    def __init__(self, source: str, offset: int | None, message: str) -> None:
        self.source = source
        self.offset = offset
        self.message = message
        where = f"{source}: byte {offset}: " if offset is not None else f"{source}: "
        super().__init__(where + message)


@dataclass(slots=True)
class ReadStats:
    """What a reader read and what it skipped, for the discovery summary."""

    files: int = 0
    packets: int = 0
    bytes: int = 0
    skipped_records: int = 0
    unsupported_linktype_packets: int = 0
    errors: list[str] = field(default_factory=list)
