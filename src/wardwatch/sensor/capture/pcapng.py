"""The pcapng file format: a sequence of typed blocks, grouped into sections.

Understood: Section Header (either byte order; a later one may switch it and starts a fresh
interface table), Interface Description (link type, snap length, ``if_tsresol`` in powers of 10
or 2, ``if_tsoffset``), Enhanced Packet, Simple Packet (interface 0, no timestamp: it takes the
timestamp of the packet before it, 0 if none) and the obsolete Packet block. Every other block
(name resolution, statistics, decryption secrets, custom, unknown) is skipped by its length.
Each block's length is checked at both ends.

As for pcap, the hot loop only notes where packet blocks start; NumPy checks and decodes their
fixed fields for a whole batch at once, and the batch's bytes are copied once.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from wardwatch.sensor.capture._common import (
    MAX_BLOCK,
    MAX_CAPLEN,
    SUPPORTED_LINKTYPES,
    Window,
    add_error,
    linktype_label,
    make_batch,
    unsupported_message,
)
from wardwatch.sensor.capture.batch import PacketBatch
from wardwatch.sensor.capture.errors import CaptureError, ReadStats

MAGIC = b"\x0a\x0d\x0d\x0a"
SHB = 0x0A0D0D0A
IDB = 1
PB = 2  # obsolete Packet Block
SPB = 3
EPB = 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
_WIRELEN_MAX = 2**31 - 1
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_SUPPORTED = np.array(sorted(SUPPORTED_LINKTYPES), dtype=np.int64)
_FIELD_COLS = np.arange(28, dtype=np.int64)
_U32_COLS = np.arange(4, dtype=np.int64)


@dataclass(slots=True)
class _Iface:
    linktype: int
    snaplen: int
    units: int  # timestamp ticks per second
    offset_s: int  # if_tsoffset, added to every timestamp


def ticks_to_ns(ticks: npt.NDArray[np.uint64], units: int, offset_s: int) -> npt.NDArray[np.int64]:
    """``floor(ticks * 1e9 / units) + offset_s * 1e9`` exactly, clamped to the int64 range."""
    off_ns = offset_s * 1_000_000_000
    if len(ticks) and units < 2**63 and abs(off_ns) < 2**62:
        u = np.uint64(units)
        sec = ticks // u
        rem = ticks % u
        sub: npt.NDArray[np.uint64] | None = None
        if units % 1_000_000_000 == 0:
            sub = rem // np.uint64(units // 1_000_000_000)
        elif units <= 2**34:  # rem * 1e9 < 2**64: exact in uint64
            sub = rem * np.uint64(1_000_000_000) // u
        # sec * 1e9 + sub + off_ns stays below 2**63 under these bounds.
        if sub is not None and int(sec.max()) <= 2**62 // 1_000_000_000:
            return sec.astype(np.int64) * 1_000_000_000 + sub.astype(np.int64) + off_ns
    # Exotic resolutions or absurd values: exact Python integers, rare enough not to matter.
    out = [min(max(t * 1_000_000_000 // units + off_ns, _INT64_MIN), _INT64_MAX) for t in ticks.tolist()]
    return np.array(out, dtype=np.int64)


def _parse_idb(buf: bytes | bytearray, p: int, blen: int, endian: str) -> _Iface | str:
    if blen < 20:
        return f"interface description block too short ({blen} bytes)"
    linktype, _reserved, snaplen = struct.unpack_from(endian + "HHI", buf, p + 8)
    units = 1_000_000
    offset_s = 0
    o = p + 16
    end = p + blen - 4
    opt = struct.Struct(endian + "HH")
    while o + 4 <= end:
        code, olen = opt.unpack_from(buf, o)
        if code == 0:
            break
        v = o + 4
        if v + olen > end:
            break  # a malformed option list: keep what we understood, the packets are still fine
        if code == 9 and olen >= 1:  # if_tsresol
            r = buf[v]
            units = 2 ** (r & 0x7F) if r & 0x80 else 10**r
        elif code == 14 and olen >= 8:  # if_tsoffset, seconds
            offset_s = struct.unpack_from(endian + "q", buf, v)[0]
        o = v + ((olen + 3) & ~3)
    return _Iface(linktype, snaplen, units, offset_s)


class _Reader:
    """The state of one pcapng file being read."""

    def __init__(self, win: Window, label: str, batch_size: int, stats: ReadStats) -> None:
        self.win = win
        self.label = label
        self.batch_size = batch_size
        self.stats = stats
        self.endian = "<"
        self.ifaces: list[_Iface] = []
        self._if_arrays: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None
        self.index = 0
        self.last_ts = 0
        self.supported_iface_seen = False
        self.first_unsupported: tuple[int, int] | None = None  # (link type, file offset of its IDB)

    def _set_endian(self, endian: str) -> None:
        self.endian = endian
        self.block_head = struct.Struct(endian + "II").unpack_from
        self.u32 = struct.Struct(endian + "I").unpack_from
        self.u32_dtype = np.dtype(endian + "u4")
        self.u16_dtype = np.dtype(endian + "u2")

    def _add_iface(self, iface: _Iface, offset: int) -> None:
        self.ifaces.append(iface)
        self._if_arrays = None
        if iface.linktype in SUPPORTED_LINKTYPES:
            self.supported_iface_seen = True
        elif self.first_unsupported is None:
            self.first_unsupported = (iface.linktype, offset)

    def _parse_shb(self, buf: bytes | bytearray, p: int, end: int) -> tuple[str, int | str]:
        """("ok", block end) / ("incomplete", bytes needed) / ("corrupt", message)."""
        (bom_le,) = struct.unpack_from("<I", buf, p + 8)
        if bom_le == BYTE_ORDER_MAGIC:
            endian = "<"
        elif struct.unpack_from(">I", buf, p + 8)[0] == BYTE_ORDER_MAGIC:
            endian = ">"
        else:
            return "corrupt", f"section header block with bad byte-order magic 0x{bom_le:08x}"
        (blen,) = struct.unpack_from(endian + "I", buf, p + 4)
        if blen < 28 or blen & 3 or blen > MAX_BLOCK:
            return "corrupt", f"section header block with bad length {blen}"
        if p + blen > end:
            return "incomplete", blen
        (trailer,) = struct.unpack_from(endian + "I", buf, p + blen - 4)
        if trailer != blen:
            return "corrupt", f"block length mismatch (header says {blen}, trailer says {trailer})"
        (major,) = struct.unpack_from(endian + "H", buf, p + 12)
        if major != 1:
            return "corrupt", f"unsupported pcapng version {major}"
        self._set_endian(endian)
        self.ifaces = []
        self._if_arrays = None
        return "ok", p + blen

    def run(self) -> Iterator[PacketBatch]:
        win = self.win
        self._set_endian("<")
        pos = 0
        batch_size = self.batch_size
        while True:
            buf = win.buf
            end = len(buf)
            block_head = self.block_head
            blocks: list[int] = []
            append = blocks.append
            p = pos
            n = 0
            need = 0
            stop = ""
            fault = ""
            # The hot loop: note packet blocks, act on the rare others, stop at anything unusual.
            while True:
                if p + 12 > end:
                    stop, need = "incomplete", 12
                    break
                btype, blen = block_head(buf, p)
                if btype == SHB:
                    stop = "shb"
                    break
                if blen < 12 or blen & 3 or blen > MAX_BLOCK:
                    stop, fault = "corrupt", f"bad block length {blen} (block type 0x{btype:x})"
                    break
                q = p + blen
                if q > end:
                    stop, need = "incomplete", blen
                    break
                if btype in (6, 3, 2):  # EPB, SPB, PB
                    append(p)
                    p = q
                    n += 1
                    if n >= batch_size:
                        stop = "full"
                        break
                    continue
                (trailer,) = self.u32(buf, q - 4)
                if trailer != blen:
                    stop, fault = (
                        "corrupt",
                        f"block length mismatch (header says {blen}, trailer says {trailer})",
                    )
                    break
                if btype == IDB:
                    iface = _parse_idb(buf, p, blen, self.endian)
                    if isinstance(iface, str):
                        stop, fault = "corrupt", iface
                        break
                    self._add_iface(iface, win.base + p)
                p = q

            if blocks:
                yield from self._emit(buf, blocks)

            if stop == "full":
                pos = p
                continue
            if stop == "corrupt":
                raise CaptureError(self.label, win.base + p, fault)
            if stop == "shb":
                state, value = self._parse_shb(buf, p, end)
                if state == "ok":
                    assert isinstance(value, int)
                    pos = value
                    continue
                if state == "corrupt":
                    raise CaptureError(self.label, win.base + p, str(value))
                assert isinstance(value, int)
                need = value
            # The next block runs past the buffered bytes: read on.
            if win.refill(p, need):
                pos = 0
                continue
            err = win.error_at_end(self.label)
            if err is not None:
                raise err
            left = len(win.buf)
            if left:
                self.stats.skipped_records += 1
                if need <= 12:
                    msg = f"truncated block header ({left} of 12 bytes)"
                else:
                    msg = f"truncated block (header says {need} bytes, {left} left)"
                add_error(self.stats, self.label, win.base, msg)
            break

        if not self.supported_iface_seen and self.first_unsupported is not None:
            linktype, offset = self.first_unsupported
            raise CaptureError(self.label, offset, unsupported_message(linktype))

    def _iface_arrays(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        if self._if_arrays is None:
            lt = np.array([i.linktype for i in self.ifaces], dtype=np.int64)
            self._if_arrays = (lt, np.isin(lt, _SUPPORTED).astype(np.int64))
        return self._if_arrays

    def _emit(self, buf: bytes | bytearray, blocks: list[int]) -> Iterator[PacketBatch]:
        """Check and decode the packet blocks at ``blocks``; yield them; raise at the first bad one."""
        lo = blocks[0]
        (last_len,) = self.block_head(buf, blocks[-1])[1:]
        hi = blocks[-1] + last_len
        # Zero padding so that fixed-field gathers of a short block at the end stay in bounds.
        data = np.zeros(hi - lo + 32, dtype=np.uint8)
        data[: hi - lo] = np.frombuffer(buf, dtype=np.uint8, count=hi - lo, offset=lo)
        rel = np.array(blocks, dtype=np.int64) - lo
        fields = data[rel[:, None] + _FIELD_COLS]
        words = fields.view(self.u32_dtype).astype(np.int64)  # (n, 7) u32 words
        btype = words[:, 0]
        blen = words[:, 1]
        trailer = (
            data[(rel + blen - 4)[:, None] + _U32_COLS].view(self.u32_dtype).reshape(-1).astype(np.int64)
        )
        is_spb = btype == SPB
        is_pb = btype == PB
        any_spb = bool(is_spb.any())

        if_id = words[:, 2].copy()
        if is_pb.any():
            if_id[is_pb] = fields[is_pb, 8:10].copy().view(self.u16_dtype).reshape(-1)
        caplen = words[:, 5].copy()
        wirelen = words[:, 6].copy()
        data_off = rel + 28
        n_if = len(self.ifaces)
        if any_spb:
            if_id[is_spb] = 0
            wirelen[is_spb] = words[is_spb, 2]
            room = blen[is_spb] - 16
            spb_cap = np.minimum(wirelen[is_spb], room)
            if n_if and self.ifaces[0].snaplen:
                spb_cap = np.minimum(spb_cap, self.ifaces[0].snaplen)
            caplen[is_spb] = spb_cap
            data_off[is_spb] = rel[is_spb] + 12  # type, length, original length

        min_len = np.where(is_spb, 16, 32)
        room = blen - np.where(is_spb, 16, 32)
        bad = (
            (trailer != blen)
            | (blen < min_len)
            | (if_id >= n_if)
            | (caplen > room)
            | (caplen > MAX_CAPLEN)
            | (caplen > wirelen)
            | (wirelen > _WIRELEN_MAX)
        )
        fault: CaptureError | None = None
        if bad.any():
            k = int(np.argmax(bad))
            fault = CaptureError(
                self.label,
                self.win.base + blocks[k],
                self._describe(k, blen, trailer, if_id, caplen, wirelen, is_spb),
            )
            rel, btype, words, is_spb = rel[:k], btype[:k], words[:k], is_spb[:k]
            if_id, caplen, wirelen, data_off = if_id[:k], caplen[:k], wirelen[:k], data_off[:k]
        n = len(rel)
        if n:
            lt_of, ok_of = self._iface_arrays()
            linktype = lt_of[if_id]
            ticks = (words[:, 3].astype(np.uint64) << np.uint64(32)) | words[:, 4].astype(np.uint64)
            ts_ns = np.zeros(n, dtype=np.int64)
            for i in np.unique(if_id).tolist():
                sel = if_id == i
                if any_spb:
                    sel &= ~is_spb
                if sel.any():
                    iface = self.ifaces[i]
                    ts_ns[sel] = ticks_to_ns(ticks[sel], iface.units, iface.offset_s)
            if any_spb:
                # Simple packets carry no time: each takes the time of the packet before it.
                has = np.where(~is_spb, np.arange(n), -1)
                src = np.maximum.accumulate(has)
                ts_ns = np.where(src >= 0, ts_ns[np.maximum(src, 0)], self.last_ts)
            self.last_ts = int(ts_ns[-1])
            keep = ok_of[if_id].astype(bool)
            if not keep.all():
                self.stats.unsupported_linktype_packets += int(n - keep.sum())
                data_off, caplen, wirelen, ts_ns, linktype = (
                    data_off[keep],
                    caplen[keep],
                    wirelen[keep],
                    ts_ns[keep],
                    linktype[keep],
                )
            m = len(data_off)
            if m:
                self.stats.packets += m
                self.stats.bytes += int(caplen.sum())
                yield make_batch(data, data_off, caplen, wirelen, ts_ns, linktype, self.index, self.label)
                self.index += m
        if fault is not None:
            raise fault

    def _describe(
        self,
        k: int,
        blen: npt.NDArray[np.int64],
        trailer: npt.NDArray[np.int64],
        if_id: npt.NDArray[np.int64],
        caplen: npt.NDArray[np.int64],
        wirelen: npt.NDArray[np.int64],
        is_spb: npt.NDArray[np.bool_],
    ) -> str:
        b, t, i, c, w = (int(a[k]) for a in (blen, trailer, if_id, caplen, wirelen))
        if t != b:
            return f"block length mismatch (header says {b}, trailer says {t})"
        if b < (16 if is_spb[k] else 32):
            return f"packet block too short ({b} bytes)"
        if i >= len(self.ifaces):
            return f"packet block for undefined interface {i}"
        if c > b - (16 if is_spb[k] else 32):
            return f"corrupt packet block (captured length {c} exceeds block length {b})"
        if c > MAX_CAPLEN:
            return f"corrupt packet block (captured length {c} > {MAX_CAPLEN})"
        if c > w:
            return f"corrupt packet block (captured length {c} > original length {w})"
        return f"corrupt packet block (original length {w} absurd)"


def read_pcapng(win: Window, label: str, batch_size: int, stats: ReadStats) -> Iterator[PacketBatch]:
    """Yield the packets of a pcapng file whose first bytes are in ``win``.

    Raises ``CaptureError`` for a corrupt block (after yielding the packets before it) and when
    every interface of the file has a link type wardwatch does not decode; a truncated last
    block is counted in ``stats`` instead.
    """
    yield from _Reader(win, label, batch_size, stats).run()


__all__ = ["MAGIC", "linktype_label", "read_pcapng", "ticks_to_ns"]
