"""The classic libpcap file format: a 24-byte file header, then 16-byte record headers + data.

Both byte orders, microsecond (a1b2c3d4) and nanosecond (a1b23c4d) timestamps. Record starts
are found by the C extension's ``walk_pcap`` when it is built (``wardwatch.sensor._native``).
Without it (or with ``WARDWATCH_PURE_PYTHON`` set), starts in a big chunk are found by
``_FastWalk`` (NumPy, many segments in lockstep, verified exactly) and the chunk's tail and small
files by a plain loop of one ``struct.unpack_from`` per record; all three give the same starts.
The header fields of a batch come from the C walk (it has just read them) or are gathered by
NumPy at once; the batch's bytes are copied in one go (record headers included: offsets point
past them, so no per-packet copy is ever made). When the file is memory-mapped (see
``reader``), they are not copied at all: the batch's ``data`` is a read-only view of the mapping,
and once the consumer asks for the next batch the pages before the one it had are released.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from wardwatch.sensor.capture._common import (
    MAX_CAPLEN,
    SUPPORTED_LINKTYPES,
    Buffer,
    MappedWindow,
    Window,
    add_error,
    make_batch,
    native,
    unsupported_message,
)
from wardwatch.sensor.capture.batch import PacketBatch
from wardwatch.sensor.capture.errors import CaptureError, ReadStats

FILE_HEADER_LEN = 24
RECORD_HEADER_LEN = 16
_WIRELEN_MAX = 2**31 - 1
_HDR_COLS = np.arange(RECORD_HEADER_LEN, dtype=np.int64)
_C4 = np.arange(4, dtype=np.int64)
# Below this many buffered bytes the plain loop is as fast as setting up the parallel walk.
_FAST_MIN = 1 << 20
_SEGMENT = 64 * 1024
# walk_pcap's status (see _native.c; 0 is "the starts array is full"): the next record is not
# complete in the buffer / the next record's captured length is above MAX_CAPLEN.
_WALK_INCOMPLETE = 1
_WALK_CORRUPT = 2
# bytes.find(sub, start, stop) over the current chunk.
_Find = Callable[[bytes, int, int], int]

# magic as read little-endian -> (struct byte order, nanoseconds?)
MAGICS: dict[bytes, tuple[str, bool]] = {
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}


def read_pcap(
    win: Window | MappedWindow, label: str, batch_size: int, stats: ReadStats
) -> Iterator[PacketBatch]:
    """Yield the packets of a pcap file whose first bytes are in ``win`` (read or mapped).

    Raises ``CaptureError`` for a bad header or a corrupt record (after yielding the packets
    before it); a truncated last record is counted in ``stats`` instead.
    """
    if len(win.buf) < FILE_HEADER_LEN and not win.refill(0, FILE_HEADER_LEN):
        err = win.error_at_end(label)
        if err is not None:
            raise err
        raise CaptureError(
            label, 0, f"truncated pcap file header ({len(win.buf)} of {FILE_HEADER_LEN} bytes)"
        )
    endian, nano = MAGICS[bytes(win.buf[:4])]
    major, minor, _zone, _sigfigs, _snaplen, network = struct.unpack_from(endian + "HHiIII", win.buf, 4)
    if major != 2:
        raise CaptureError(label, 4, f"unsupported pcap version {major}.{minor}")
    # The upper bits of the link-type field carry FCS information, not the link type.
    linktype = network & 0xFFFF
    if linktype not in SUPPORTED_LINKTYPES:
        raise CaptureError(label, 20, unsupported_message(linktype))
    sub_mult = 1 if nano else 1000
    hdr_dtype = np.dtype(endian + "u4")
    caplen_at = struct.Struct(endian + "I").unpack_from
    index = 0
    pos = FILE_HEADER_LEN
    walker = _FastWalk(endian, nano)
    nat = native()

    def emit(
        buf: Buffer, starts: npt.NDArray[np.int64], hdr: npt.NDArray[np.int64] | None = None
    ) -> Iterator[PacketBatch]:
        """Check and yield the records at ``starts`` of ``buf``; raise at the first bad one.

        ``hdr``: the records' four header fields when the walk already read them (the C walk).
        """
        nonlocal index
        window = np.frombuffer(buf, dtype=np.uint8)
        if hdr is None:
            hdr = window[starts[:, None] + _HDR_COLS].view(hdr_dtype).astype(np.int64)
        caplen = hdr[:, 2]
        wirelen = hdr[:, 3]
        bad = (caplen > wirelen) | (wirelen > _WIRELEN_MAX)
        fault: CaptureError | None = None
        if bad.any():
            k = int(np.argmax(bad))
            c, w = int(caplen[k]), int(wirelen[k])
            why = f"original length {w} absurd" if c <= w else f"captured length {c} > original length {w}"
            fault = CaptureError(label, win.base + int(starts[k]), f"corrupt packet record ({why})")
            starts, hdr, caplen, wirelen = starts[:k], hdr[:k], caplen[:k], wirelen[:k]
        n = len(starts)
        if n:
            lo = int(starts[0])
            hi = int(starts[-1] + RECORD_HEADER_LEN + caplen[-1])
            # The one copy of the batch's bytes; none for a mapped file, whose view stays valid
            # (read-only) for as long as the batch lives.
            data = window[lo:hi] if win.mapped else window[lo:hi].copy()
            ts_ns = hdr[:, 0] * 1_000_000_000 + hdr[:, 1] * sub_mult
            stats.packets += n
            stats.bytes += int(caplen.sum())
            yield make_batch(
                data,
                starts - (lo - RECORD_HEADER_LEN),
                caplen,
                wirelen,
                ts_ns,
                np.full(n, linktype, dtype=np.int64),
                index,
                label,
            )
            index += n
            # The consumer is back for more: it is done with the pages before this batch.
            win.release_before(win.base + lo)
        if fault is not None:
            raise fault

    while True:
        buf = win.buf
        end = len(buf)
        corrupt_caplen = -1
        if nat is not None:
            # One batch of starts per call; a batch can hold no more records than the buffer.
            room = min(batch_size, (end - pos) // RECORD_HEADER_LEN + 1)
            found = np.empty(room, dtype=np.int64)
            fields = np.empty(4 * room, dtype=np.int64)
            count, p, status = nat.walk_pcap(buf, pos, end, endian == ">", MAX_CAPLEN, found, fields)
            if count:
                yield from emit(buf, found[:count], fields[: 4 * count].reshape(count, 4))
            incomplete = status == _WALK_INCOMPLETE
            if status == _WALK_CORRUPT:
                corrupt_caplen = caplen_at(buf, p + 8)[0]
        else:
            if end - pos >= _FAST_MIN:
                verified, pos = walker.walk(buf, pos, end, win.find)
                for i in range(0, len(verified), batch_size):
                    yield from emit(buf, verified[i : i + batch_size])
            lim = end - RECORD_HEADER_LEN
            starts: list[int] = []
            append = starts.append
            p = pos
            incomplete = False
            # The plain loop, for the tail of a chunk and small files: one unpack per record.
            for _ in range(batch_size):
                if p > lim:
                    incomplete = True
                    break
                cl = caplen_at(buf, p + 8)[0]
                if cl > MAX_CAPLEN:
                    corrupt_caplen = cl
                    break
                q = p + RECORD_HEADER_LEN + cl
                if q > end:
                    incomplete = True
                    break
                append(p)
                p = q
            if starts:
                yield from emit(buf, np.array(starts, dtype=np.int64))
        pos = p

        if corrupt_caplen >= 0:
            raise CaptureError(
                label,
                win.base + p,
                f"corrupt packet record (captured length {corrupt_caplen} > {MAX_CAPLEN})",
            )
        if not incomplete:
            continue  # the batch was full
        need = (
            RECORD_HEADER_LEN if end - p < RECORD_HEADER_LEN else RECORD_HEADER_LEN + caplen_at(buf, p + 8)[0]
        )
        complete = win.refill(p, need)
        pos = 0
        if complete:
            continue
        err = win.error_at_end(label)
        if err is not None:
            raise err
        left = len(win.buf)
        if left == 0:
            return
        stats.skipped_records += 1
        if left < RECORD_HEADER_LEN:
            msg = f"truncated packet record header ({left} of {RECORD_HEADER_LEN} bytes)"
        else:
            says, got = need - RECORD_HEADER_LEN, left - RECORD_HEADER_LEN
            msg = f"truncated packet record (header says {says} bytes, {got} left)"
        add_error(stats, label, win.base, msg)
        return


class _FastWalk:
    """Find the record starts of a big chunk with NumPy instead of one Python step per record.

    Walking records is inherently sequential (each start depends on the previous caplen), so
    the chunk is cut into segments of ``_SEGMENT`` bytes, a plausible record header is guessed
    near the start of each (``bytes.find`` of the high timestamp bytes, then a check of this
    header and the next), and all segments are walked in lockstep, one vector step per record.
    A guess is never trusted: the true walk, coming from the previous segment, must land
    exactly on a position the segment's walk visited (walks that meet coincide from then on);
    where it does not, that segment is walked by the plain loop instead. So the result is
    exactly what the sequential walk gives, only the speed depends on the guesses.
    """

    def __init__(self, endian: str, nano: bool) -> None:
        self.header = struct.Struct(endian + "IIII").unpack_from
        self.caplen_at = struct.Struct(endian + "I").unpack_from
        self.dtype = np.dtype(endian + "u4")
        self.little = endian == "<"
        self.sub_limit = 1_000_000_000 if nano else 1_000_000

    def _plausible(self, buf: Buffer, h: int, end: int) -> bool:
        sec, sub, cl, wl = self.header(buf, h)
        if sub >= self.sub_limit or cl > wl or cl > MAX_CAPLEN or wl > 4 * MAX_CAPLEN:
            return False
        h2 = h + RECORD_HEADER_LEN + cl
        if h2 + RECORD_HEADER_LEN > end:
            return False
        sec2, sub2, cl2, wl2 = self.header(buf, h2)
        return bool(
            abs(sec2 - sec) <= 86_400
            and sub2 < self.sub_limit
            and cl2 <= wl2
            and cl2 <= MAX_CAPLEN
            and wl2 <= 4 * MAX_CAPLEN
        )

    def _guess_starts(self, buf: Buffer, p0: int, end: int, find: _Find) -> list[int]:
        starts = [p0]
        (sec0,) = self.caplen_at(buf, p0)
        # The two high bytes of the seconds stay the same for 18 hours of capture.
        pat = (sec0 >> 16).to_bytes(2, "little" if self.little else "big")
        back = 2 if self.little else 0
        for b in range(p0 + _SEGMENT, end - _SEGMENT // 2, _SEGMENT):
            i = b + back
            stop = min(b + _SEGMENT, end - 2 * RECORD_HEADER_LEN)
            for _ in range(16):
                k = find(pat, i, stop)
                if k < 0:
                    break
                if self._plausible(buf, k - back, end):
                    starts.append(k - back)
                    break
                i = k + 1
        return starts

    def walk(self, buf: Buffer, p0: int, end: int, find: _Find) -> tuple[npt.NDArray[np.int64], int]:
        """Record starts from ``p0`` on (complete records, caplen within limits) and where they end.

        ``find`` is ``buf.find`` (``Window.find``: a mapped window's view has none). Stops early,
        never wrongly: the plain loop takes over at the returned position.
        """
        st = np.array(self._guess_starts(buf, p0, end, find), dtype=np.int64)
        n_chains = len(st)
        stop = np.append(st[1:], end)
        window = np.frombuffer(buf, dtype=np.uint8)
        pos = st.copy()
        alive = np.ones(n_chains, dtype=bool)
        died = np.zeros(n_chains, dtype=bool)
        steps: list[npt.NDArray[np.int64]] = []
        while alive.any():
            head_ok = alive & (pos + RECORD_HEADER_LEN <= end)
            at = np.where(head_ok, pos, 0) + 8
            cl = window[at[:, None] + _C4].view(self.dtype).reshape(-1).astype(np.int64)
            nxt = pos + RECORD_HEADER_LEN + cl
            ok = head_ok & (cl <= MAX_CAPLEN) & (nxt <= end)
            died |= alive & ~ok
            steps.append(np.where(ok, pos, -1))
            pos = np.where(ok, nxt, pos)
            alive = ok & (pos < stop)
        visited = np.stack(steps) if steps else np.empty((0, n_chains), dtype=np.int64)

        # Stitch: follow the true walk from chain 0 through the chains it provably joins.
        parts: list[npt.NDArray[np.int64]] = []
        col = visited[:, 0]
        parts.append(col[col >= 0])
        q = int(pos[0])
        if not died[0]:
            for j in range(1, n_chains):
                if q >= stop[j]:
                    continue  # a long record jumped over this whole segment
                col = visited[:, j]
                cj = col[col >= 0]
                k = int(np.searchsorted(cj, q))
                if k < len(cj) and cj[k] == q:
                    parts.append(cj[k:])
                    q = int(pos[j])
                    if died[j]:
                        break
                    continue
                if died[j] and q == int(pos[j]):
                    break
                # The guess for this segment was wrong: walk it the plain way.
                extra: list[int] = []
                limit = int(stop[j])
                while q < limit:
                    if q + RECORD_HEADER_LEN > end:
                        break
                    (cl1,) = self.caplen_at(buf, q + 8)
                    if cl1 > MAX_CAPLEN or q + RECORD_HEADER_LEN + cl1 > end:
                        break
                    extra.append(q)
                    q += RECORD_HEADER_LEN + cl1
                parts.append(np.array(extra, dtype=np.int64))
                if q < limit:
                    break
        return np.concatenate(parts), q
