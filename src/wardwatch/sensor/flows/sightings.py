"""The engine's sightings: (source MAC, source IP) aggregates over a whole capture, bounded.

Two implementations with one behaviour, call by call:

* :class:`PySightingTable`: NumPy groups each batch, a Python loop merges the groups into an
  ``OrderedDict``. The reference (and what runs without the C extension).
* :class:`NativeSightingTable`: the same in C (``SightingTable`` of ``wardwatch.sensor._native``,
  see ``_sightings.c``): filter, grouping and merge in one pass without Python objects per key.

What both do per batch: keep the packets that decoded, whose source is a unicast MAC, or no MAC
(raw IP captures) with a real source address; the key is (MAC, IP) with the IP part ``(0, 0)``
for packets without an address (non-IP frames, ``::`` and ``0.0.0.0``). Each key of the batch is
aggregated (earliest and latest timestamp, packets, wire bytes, largest TTL), then the batch's keys
are applied in ascending (MAC, IP) order: merged into an existing entry, which becomes the most
recently updated, or added as the newest after the least recently updated entry is evicted when
the table holds ``cap``. Evicted entries come out at once (the caller must emit them: the store
max-merges, so nothing is lost). Keys applied since the last report are *dirty*, in the order
they first became dirty; a report gives them (or every entry, in LRU order) and clears the set.

:func:`new_sighting_table` picks the C table when the extension is there and
``WARDWATCH_PURE_PYTHON`` is not set (looked up once per table).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol, cast

import numpy as np
import numpy.typing as npt

from wardwatch.model._build import builder
from wardwatch.sensor.capture._common import native
from wardwatch.sensor.capture.batch import PacketBatch
from wardwatch.sensor.flows._tables import BoundedTable, CTable, CTableType, NativeTable, check_cap
from wardwatch.sensor.flows.decode import V4_MAPPED, Decoded, format_ip, format_mac
from wardwatch.sensor.flows.meter import _P1, _P2
from wardwatch.store.ports import Sighting

#: A table row as the C code gives it: mac, ip hi, ip lo, first_ns, last_ns, packets, bytes, ttl.
Row = tuple[int, int, int, int, int, int, int, int]

_new_sighting = builder(Sighting)  # the object Sighting(...) makes, without the frozen __setattr__


class SightingTable(BoundedTable, Protocol):
    """What the engine uses of a sightings table (both implementations); evicted entries are
    returned by :meth:`update`."""

    def update(self, batch: PacketBatch, dec: Decoded, ok: npt.NDArray[np.bool_]) -> list[Sighting]:
        """Add one batch (``ok``: the packets that decoded); returns the entries evicted meanwhile,
        in eviction order."""
        ...

    def report(self, all_: bool) -> list[Sighting]:
        """Every entry in LRU order (``all_``) or the dirty ones in dirty order; then none is dirty."""
        ...


def _check_cap(cap: int) -> int:
    return check_cap(cap, "sightings")


class PySightingTable:
    """The reference :class:`SightingTable`: NumPy per batch, then Python per distinct key."""

    def __init__(self, cap: int) -> None:
        self.cap = _check_cap(cap)
        self.evicted = 0
        self._table: OrderedDict[tuple[int, int, int], list[int]] = OrderedDict()
        # a dict as an insertion-ordered set, so reports come out in a deterministic order
        self._dirty: dict[tuple[int, int, int], None] = {}

    def __len__(self) -> int:
        return len(self._table)

    def update(self, batch: PacketBatch, dec: Decoded, ok: npt.NDArray[np.bool_]) -> list[Sighting]:
        """Aggregate (source MAC, source IP) for the batch with NumPy, then merge per distinct pair."""
        evicted: list[Sighting] = []
        mac = dec.src_mac
        unicast = (mac != 0) & ((mac >> np.uint64(40)) & np.uint64(1) == 0)
        hi, lo = dec.src_hi.copy(), dec.src_lo.copy()
        unspecified = (hi == 0) & ((lo == 0) | (lo == np.uint64(V4_MAPPED)))
        has_ip = (dec.ip_version != 0) & ~unspecified
        hi[~has_ip] = 0
        lo[~has_ip] = 0
        keep = ok & (unicast | ((mac == 0) & has_ip))
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            return evicted
        m, h, low = mac[idx], hi[idx], lo[idx]
        # Group by a hash with an unstable sort (the reductions do not care about order within
        # a group; 4x cheaper than a lexsort of the three keys), cut where the exact key
        # changes, then visit the groups in (MAC, IP) order as before: a hash collision only
        # makes two adjacent groups of one key, which the loop below merges.
        with np.errstate(over="ignore"):
            mix = (m * _P1) ^ (low * _P2) ^ h
            mix ^= mix >> np.uint64(29)
            mix *= _P1
        order = np.argsort(mix)
        m, h, low = m[order], h[order], low[order]
        sidx = idx[order]
        brk = np.empty(sidx.shape[0], dtype=bool)
        brk[0] = True
        brk[1:] = (m[1:] != m[:-1]) | (h[1:] != h[:-1]) | (low[1:] != low[:-1])
        starts = np.flatnonzero(brk)
        m, h, low = m[starts], h[starts], low[starts]
        by_key = np.lexsort((low, h, m))
        m, h, low = m[by_key], h[by_key], low[by_key]
        ts = batch.ts_ns[sidx]
        first = np.minimum.reduceat(ts, starts)[by_key].tolist()
        last = np.maximum.reduceat(ts, starts)[by_key].tolist()
        nbytes = np.add.reduceat(batch.wirelen[sidx].astype(np.int64), starts)[by_key].tolist()
        ttl = np.maximum.reduceat(dec.ttl[sidx], starts)[by_key].tolist()
        counts = np.diff(np.append(starts, sidx.shape[0]))[by_key].tolist()
        table, dirty, cap = self._table, self._dirty, self.cap
        for key, f0, l0, c, b, t in zip(
            zip(m.tolist(), h.tolist(), low.tolist(), strict=True),
            first,
            last,
            counts,
            nbytes,
            ttl,
            strict=True,
        ):
            agg = table.get(key)
            if agg is None:
                if len(table) >= cap:
                    old, vals = table.popitem(last=False)
                    self.evicted += 1
                    evicted.append(self._sighting(old, vals))
                    dirty.pop(old, None)
                table[key] = [f0, l0, c, b, t]
            else:
                agg[0] = min(agg[0], f0)
                agg[1] = max(agg[1], l0)
                agg[2] += c
                agg[3] += b
                agg[4] = max(agg[4], t)
                table.move_to_end(key)
            dirty[key] = None
        return evicted

    def report(self, all_: bool) -> list[Sighting]:
        """Every entry in LRU order (``all_``) or the dirty ones in dirty order; then none is dirty."""
        keys = list(self._table if all_ else self._dirty)
        found = [self._sighting(k, self._table[k]) for k in keys]
        self._dirty.clear()
        return found

    def clear(self) -> None:
        """Forget every entry (``evicted`` stays)."""
        self._table.clear()
        self._dirty.clear()

    @staticmethod
    def _sighting(key: tuple[int, int, int], v: list[int]) -> Sighting:
        mac, hi, lo = key
        ip = None if hi == 0 and lo == 0 else format_ip(hi, lo)
        return Sighting(
            mac=format_mac(mac), ip=ip, first_ns=v[0], last_ns=v[1], packets=v[2], bytes=v[3], ttl=v[4]
        )


class _CTable(CTable, Protocol):
    """``wardwatch.sensor._native.SightingTable`` (see ``_sightings.c``)."""

    def update(
        self,
        src_mac: npt.NDArray[np.uint64],
        src_hi: npt.NDArray[np.uint64],
        src_lo: npt.NDArray[np.uint64],
        ip_version: npt.NDArray[np.uint8],
        ok: npt.NDArray[np.bool_],
        ts_ns: npt.NDArray[np.int64],
        wirelen: npt.NDArray[np.int32],
        ttl: npt.NDArray[np.uint8],
        /,
    ) -> list[Row]: ...

    def report(self, all_: bool, /) -> list[Row]: ...


def _native_type() -> CTableType[_CTable] | None:
    """The C table type, or None (no extension, ``WARDWATCH_PURE_PYTHON``, or an older build)."""
    return cast("CTableType[_CTable] | None", getattr(native(), "SightingTable", None))


def _sightings(rows: list[Row]) -> list[Sighting]:
    """C rows to :class:`Sighting` objects: the MAC and IP to text as ``PySightingTable`` does."""
    fmac, fip, new = format_mac, format_ip, _new_sighting
    return [
        new(fmac(m), None if h == 0 and lo == 0 else fip(h, lo), f, la, p, b, t)
        for m, h, lo, f, la, p, b, t in rows
    ]


class NativeSightingTable(NativeTable[_CTable]):
    """A :class:`SightingTable` whose work is done by the C extension (same behaviour as
    :class:`PySightingTable`); only the MAC and IP text is made in Python (cached there)."""

    def __init__(self, cap: int, table_type: CTableType[_CTable] | None = None) -> None:
        kind = table_type or _native_type()
        if kind is None:
            raise RuntimeError("the C extension wardwatch.sensor._native (SightingTable) is not available")
        super().__init__("sightings", cap, kind)

    def update(self, batch: PacketBatch, dec: Decoded, ok: npt.NDArray[np.bool_]) -> list[Sighting]:
        """Add one batch (see the module docstring); returns the evicted entries in eviction order."""
        rows = self._t.update(
            np.ascontiguousarray(dec.src_mac, dtype=np.uint64),
            np.ascontiguousarray(dec.src_hi, dtype=np.uint64),
            np.ascontiguousarray(dec.src_lo, dtype=np.uint64),
            np.ascontiguousarray(dec.ip_version, dtype=np.uint8),
            np.ascontiguousarray(ok, dtype=np.bool_),
            np.ascontiguousarray(batch.ts_ns, dtype=np.int64),
            np.ascontiguousarray(batch.wirelen, dtype=np.int32),
            np.ascontiguousarray(dec.ttl, dtype=np.uint8),
        )
        return _sightings(rows) if rows else []

    def report(self, all_: bool) -> list[Sighting]:
        """Every entry in LRU order (``all_``) or the dirty ones in dirty order; then none is dirty."""
        return _sightings(self._t.report(all_))


def new_sighting_table(cap: int) -> SightingTable:
    """The C table when the extension has it and ``WARDWATCH_PURE_PYTHON`` is not set, else Python."""
    kind = _native_type()
    return NativeSightingTable(cap, kind) if kind is not None else PySightingTable(cap)


__all__ = ["NativeSightingTable", "PySightingTable", "SightingTable", "new_sighting_table"]
