"""The flow table: bidirectional flows metered a batch at a time.

Keys. IP packets: ``(ip proto, vlan, transport, canonical (ip, port) pair)`` where the canonical
pair puts the numerically lower ``(ip, port)`` endpoint first ("lo") so both directions meet.
Non-IP frames (ARP, LLDP, CDP ...): ``(vlan, ethertype, source MAC)`` with transport L2.

Batch algorithm (the per-packet work is NumPy, the Python work is per distinct flow segment):

1. build five ``uint64`` key columns per packet and a 64-bit mix of them;
2. stable-argsort by the mix, so each flow's packets are contiguous and stay in capture order;
3. cut the sorted packets into *segments*: runs of one exact key (all five columns compared, so
   hash collisions only cost speed) with no idle gap inside;
4. per segment, one Python step: look the flow up, end it if it timed out, create it if new, add
   the segment's counts (prefix sums), and call the hooks. Segments that contain a TCP FIN/RST
   or cross the active timeout take a slower path that may split them at the right packet.

Steps 1-3 (and the per-segment sums step 4 reads) run in C when the extension is built
(``_meter.c``, ADR 012); ``_prologue_numpy`` is the reference that tests hold it to. Step 4
runs in C too, with the table, in :class:`NativeFlowMeter` (``_flowtable.c``), which the engine
takes where the extension is built (:func:`new_flow_meter`); :class:`FlowMeter`'s Python loop
is its reference (tests/unit/flows/test_flow_table.py).

Timeouts run on packet timestamps, never the wall clock, so a capture replays the same way
whatever the batch sizes (given non-decreasing timestamps). A packet more than the idle timeout
after its flow's last packet, more than the close grace after its TCP close, or at least the
active timeout after the flow's first packet, ends that flow and starts a new one. Idle flows
without further packets are swept after each batch (``expire``); closed flows after their grace.

TCP roles: the side that sent SYN-ACK is the server (final); before that, the receiver of a bare
SYN. With no handshake seen (capture started mid-stream), and for UDP, :func:`port_server`
decides: the side with a port < 1024 (the lower one if both are; none if equal), else the side
with a port in :data:`SERVICE_PORTS`, else unknown (None).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt

from wardwatch.model._build import builder
from wardwatch.model.flow import Flow, Transport
from wardwatch.sensor.capture._common import NativeModule, native
from wardwatch.sensor.capture.batch import PacketBatch
from wardwatch.sensor.flows.decode import (
    ACK,
    FIN,
    RST,
    SYN,
    T_ICMP,
    T_ICMP6,
    T_L2,
    T_OTHER,
    T_TCP,
    T_UDP,
    Decoded,
    format_ip,
    format_mac,
)

#: Transport code (``Decoded.transport``) to the model's Transport.
TRANSPORTS: Final[dict[int, Transport]] = {
    T_L2: Transport.L2,
    T_TCP: Transport.TCP,
    T_UDP: Transport.UDP,
    T_ICMP: Transport.ICMP,
    T_ICMP6: Transport.ICMP6,
    T_OTHER: Transport.OTHER_IP,
}

#: Registered service ports >= 1024 that mark the server side when no handshake was seen
#: (clinical and infrastructure protocols seen in hospitals).
SERVICE_PORTS: Final[frozenset[int]] = frozenset(
    {
        1433, 1521, 1883, 2000, 2575, 3306, 3389, 4242, 5060, 5061, 5353, 5355, 5432, 5671, 5672,
        5683, 5900, 6379, 8000, 8008, 8080, 8081, 8443, 8883, 9000, 9090, 9100, 9200, 11112,
        27017, 47808,
    }
)  # fmt: skip

# special bits per packet (OR-ed per segment)
B_SYN_LO: Final = 1  # bare SYN from the lo endpoint
B_SYN_HI: Final = 2
B_SYNACK_LO: Final = 4
B_SYNACK_HI: Final = 8
B_FIN: Final = 16
B_RST: Final = 32
B_END: Final = B_FIN | B_RST

_P1 = np.uint64(0x9E3779B97F4A7C15)
_P2 = np.uint64(0xBF58476D1CE4E5B9)
_S29 = np.uint64(29)
_S32 = np.uint64(32)


def port_server(lo_port: int, hi_port: int) -> int:
    """The server side by ports: 0 (the first port's side), 1 (the second), or -1 (unknown)."""
    lo_wk = 0 < lo_port < 1024
    hi_wk = 0 < hi_port < 1024
    if lo_wk and hi_wk:
        return -1 if lo_port == hi_port else (0 if lo_port < hi_port else 1)
    if lo_wk != hi_wk:
        return 0 if lo_wk else 1
    lo_sv = lo_port in SERVICE_PORTS
    hi_sv = hi_port in SERVICE_PORTS
    if lo_sv != hi_sv:
        return 0 if lo_sv else 1
    return -1


def flow_uid(transport: Transport | str, vlan: int | None, first_ns: int, end1: str, end2: str) -> str:
    """Deterministic 16-hex-char flow id: blake2b over transport, vlan, endpoints and start.

    ``end1``/``end2`` are endpoint texts in either order (they are sorted): ``"ip#port"`` for IP
    flows, the source MAC and ``"ethertype#0x806"`` for L2 flows. See :func:`endpoint` and
    :func:`uid_of`. Re-reading the same capture gives the same uids.
    """
    lo, hi = (end1, end2) if end1 <= end2 else (end2, end1)
    text = f"{_uid_prefix(transport, vlan)}{lo}|{hi}|{first_ns}"
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _uid_head(transport: Transport | str) -> str:
    """The start of a flow uid's text up to the VLAN."""
    return f"wardwatch-flow/1|{transport}|"


def _uid_prefix(transport: Transport | str, vlan: int | None) -> str:
    """The start of a flow uid's text: everything before the endpoints."""
    return f"{_uid_head(transport)}{'' if vlan is None else vlan}|"


def endpoint(ip: str | None, port: int) -> str:
    """Endpoint text for :func:`flow_uid`."""
    return f"{ip}#{port}"


def uid_of(flow: Flow) -> str:
    """Recompute a flow record's uid (equals ``flow.uid`` for flows metered here)."""
    if flow.transport == Transport.L2:
        return flow_uid(
            flow.transport, flow.vlan, flow.first_ns, str(flow.a_mac), f"ethertype#{flow.ethertype:#x}"
        )
    return flow_uid(
        flow.transport,
        flow.vlan,
        flow.first_ns,
        endpoint(flow.a_ip, flow.a_port),
        endpoint(flow.b_ip, flow.b_port),
    )


_blake2b = hashlib.blake2b
#: The start of a flow uid's text by the key's bits 32-52 (transport code and VLAN + 1).
_UID_PREFIX: dict[int, str] = {}

_new_flow = builder(Flow)  # a frozen dataclass's __init__ costs 3x as much (model/_build.py)


UidC = Callable[[str, str, int, str, int, int], str | None]
"""The C extension's ``flow_uid`` (the same uid as :func:`flow_uid`, computed in C)."""


def _texts(
    key: tuple[int, ...], first_ns: int, uid_c: UidC | None = None
) -> tuple[str | None, str | None, str]:
    """A new flow's ``(lo_ip, hi_ip, uid)`` from its key and first timestamp.

    ``uid_c``: the C extension's ``flow_uid``, or None. The native flow table (``_flowtable.c``)
    makes IPv4 flows' texts itself and calls this for the rest (L2, IPv6).
    """
    c0 = key[0]
    tcode = (c0 >> 32) & 0xFF
    vlan_id = ((c0 >> 40) & 0x1FFF) - 1
    vlan = None if vlan_id < 0 else vlan_id
    if tcode == T_L2:
        l2_uid = flow_uid(Transport.L2, vlan, first_ns, str(format_mac(key[2])), f"ethertype#{key[1]:#x}")
        return None, None, l2_uid
    lo_ip = format_ip(key[1], key[2])
    hi_ip = format_ip(key[3], key[4])
    lo_port = (c0 >> 16) & 0xFFFF
    hi_port = c0 & 0xFFFF
    # flow_uid(transport, vlan, first_ns, endpoint(lo), endpoint(hi)), inlined: one flow each, a
    # million on a scan (tests/unit/flows hold it to flow_uid and uid_of)
    prefix = _UID_PREFIX.get(c0 >> 32)
    if prefix is None:
        if len(_UID_PREFIX) >= 4096:  # bounded: a capture could use every VLAN
            _UID_PREFIX.clear()
        prefix = _UID_PREFIX[c0 >> 32] = _uid_prefix(TRANSPORTS[tcode], vlan)
    uid = None if uid_c is None else uid_c(prefix, lo_ip, lo_port, hi_ip, hi_port, first_ns)
    if uid is None:  # no extension, or text it leaves to Python
        e1 = f"{lo_ip}#{lo_port}"
        e2 = f"{hi_ip}#{hi_port}"
        if e2 < e1:
            e1, e2 = e2, e1
        uid = _blake2b(f"{prefix}{e1}|{e2}|{first_ns}".encode(), digest_size=8).hexdigest()
    return lo_ip, hi_ip, uid


class FlowMethods:
    """What a flow can say of itself; shared by :class:`FlowState` and the C table's flows
    (:class:`NativeFlowMeter`), which have the same fields."""

    __slots__ = ()
    a_is_lo: bool
    a_mac: int
    b_mac: int
    by_hi: int
    by_lo: int
    ethertype: int
    first_ns: int
    hi_ip: str | None
    hi_port: int
    last_ns: int
    lo_ip: str | None
    lo_port: int
    pk_hi: int
    pk_lo: int
    server: int
    tcode: int
    transport: Transport
    uid: str
    vlan: int | None

    def server_side(self) -> int:
        """0 (lo), 1 (hi) or -1: the handshake roles, else the port rule (TCP and UDP only)."""
        if self.server >= 0:
            return self.server
        if self.tcode in (T_TCP, T_UDP):
            return port_server(self.lo_port, self.hi_port)
        return -1

    def record(self, ended_by: str) -> Flow:
        """This flow as a :class:`Flow` record, ``a`` being the first packet's sender."""
        lo_side = (self.lo_ip, self.lo_port, self.pk_lo, self.by_lo)
        hi_side = (self.hi_ip, self.hi_port, self.pk_hi, self.by_hi)
        a, b = (lo_side, hi_side) if self.a_is_lo else (hi_side, lo_side)
        side = self.server_side()
        server = None if side < 0 else ("a" if (side == 0) == self.a_is_lo else "b")
        return _new_flow(
            uid=self.uid,
            transport=self.transport,
            a_mac=format_mac(self.a_mac),
            a_ip=a[0],
            a_port=a[1],
            b_mac=format_mac(self.b_mac),
            b_ip=b[0],
            b_port=b[1],
            vlan=self.vlan,
            first_ns=self.first_ns,
            last_ns=self.last_ns,
            packets_ab=a[2],
            packets_ba=b[2],
            bytes_ab=a[3],
            bytes_ba=b[3],
            server=server,
            ended_by=ended_by,
            ethertype=self.ethertype,
        )


class FlowState(FlowMethods):
    """A live flow. Counters are per canonical direction (lo -> hi, hi -> lo)."""

    __slots__ = (
        "a_is_lo",
        "a_mac",
        "b_mac",
        "by_hi",
        "by_lo",
        "close_ns",
        "cls",
        "ethertype",
        "ext",
        "fin_hi",
        "fin_lo",
        "first_ns",
        "hi_ip",
        "hi_port",
        "id",
        "key",
        "last_ns",
        "lo_ip",
        "lo_port",
        "pk_hi",
        "pk_lo",
        "server",
        "server_final",
        "tcode",
        "touch",
        "transport",
        "uid",
        "vlan",
    )

    def __init__(
        self,
        key: tuple[int, ...],
        fid: int,
        first_ns: int,
        a_is_lo: bool,
        a_mac: int,
        b_mac: int,
        uid_c: UidC | None = None,
    ):
        """``uid_c``: the C extension's ``flow_uid`` (the same uid, computed in C), or None."""
        c0 = key[0]
        self.key = key
        self.id = fid
        self.tcode = tcode = (c0 >> 32) & 0xFF
        self.transport = TRANSPORTS[tcode]
        self.cls = 0 if tcode == T_TCP else (1 if tcode == T_UDP else 2)  # _idle_class, inlined
        vlan = ((c0 >> 40) & 0x1FFF) - 1
        self.vlan = None if vlan < 0 else vlan
        self.first_ns = first_ns
        self.last_ns = first_ns
        self.a_is_lo = a_is_lo
        self.a_mac = a_mac
        self.b_mac = b_mac
        self.pk_lo = self.pk_hi = self.by_lo = self.by_hi = 0
        self.server = -1  # 0: lo side, 1: hi side, -1: unknown
        self.server_final = False
        self.fin_lo = self.fin_hi = False
        self.close_ns = -1
        self.touch = 0
        self.ext: Any = None  # per-flow state of the engine (streams, probe results)
        if tcode == T_L2:
            self.ethertype = key[1]
            self.lo_port = self.hi_port = 0
        else:
            self.ethertype = 0
            self.lo_port = (c0 >> 16) & 0xFFFF
            self.hi_port = c0 & 0xFFFF
        self.lo_ip, self.hi_ip, self.uid = _texts(key, first_ns, uid_c)


_IDX_BITS = 24

_Segment = tuple[tuple[int, ...], int, int, int, int, int, bool, int, int, int, int, int]
"""One segment: (key, start, end, first ts, last ts, OR of bits, from lo of its first packet,
source MAC, destination MAC, packets from lo, bytes, bytes from lo); start and end are sorted
positions."""
_HASH_MASK = np.uint64(~((1 << _IDX_BITS) - 1) & 0xFFFF_FFFF_FFFF_FFFF)


def _group_order(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
    """Positions sorted by hash, ties in batch order: a stable argsort of ``h``, done as an
    unstable (4x faster) sort of the hash's top 40 bits with the position in the low 24.

    Keys that share the top 40 bits sort together in batch order, so they may interleave: the
    segment cuts compare the whole key, and a flow cut into two segments of one batch is
    metered the same (in capture order), so only the order between such flows can differ from
    a sort by all 64 bits (about one batch in 10^6 at 5,000 flows a batch).
    """
    n = h.shape[0]
    if n >= 1 << _IDX_BITS:
        order: npt.NDArray[np.int64] = np.argsort(h, kind="stable")
        return order
    keyed = (h & _HASH_MASK) | np.arange(n, dtype=np.uint64)
    return np.argsort(keyed).astype(np.int64, copy=False)


def _last_ns(f: FlowState) -> int:
    return f.last_ns


def _idle_class(tcode: int) -> int:
    return 0 if tcode == T_TCP else (1 if tcode == T_UDP else 2)


@dataclass(slots=True)
class MeterStats:
    """Flow table counters."""

    flows_created: int = 0
    flows_expired_idle: int = 0
    flows_expired_active: int = 0
    flows_closed: int = 0
    flows_evicted: int = 0
    flows_end_of_capture: int = 0


OnUpdate = Callable[[FlowState, int, int], None]
"""Called with a flow and the half-open range of *sorted* positions of its new packets."""
OnEnd = Callable[[FlowState, str], None]
"""Called once when a flow ends, with the reason (``Flow.ended_by``), after its last update."""
OnSyn = Callable[[FlowState, int, int, bool], None]
"""The TCP walk's call per SYN or SYN-ACK: (flow, sorted position, batch index, syn_ack)."""
Decide = Callable[[FlowState, bytes], bool]
"""Whether to keep a TCP direction, on its first in-order bytes: (flow, head)."""
Handoff = Callable[[FlowState, int, int, bytes], None]
"""A kept TCP direction's prefix, once: (flow, direction (0: from lo), timestamp, prefix)."""


@dataclass(slots=True)
class BatchView:
    """The metered packets of the current batch, sorted by flow (valid during ``process``).

    ``order[k]`` is the batch index of sorted position ``k``; the other arrays are already in
    sorted order. Hooks use it to find the packets of a segment.
    """

    order: npt.NDArray[np.int64]
    ts: npt.NDArray[np.int64]
    from_lo: npt.NDArray[np.bool_]
    bits: npt.NDArray[np.int64]


def _no_update(f: FlowState, s: int, e: int) -> None:
    """A hook that does nothing (no ``on_update`` given, or :meth:`FlowMeter.detach`)."""


def _no_end(f: FlowState, reason: str) -> None:
    """A hook that does nothing (no ``on_end`` given, or :meth:`FlowMeter.detach`)."""


def _no_view(view: BatchView) -> None:
    """A hook that does nothing (no ``on_view`` given, or :meth:`FlowMeter.detach`)."""


class FlowMeter:
    """Bounded bidirectional flow table driven by packet timestamps (see module docstring)."""

    def __init__(
        self,
        *,
        idle_timeout_s: float = 120.0,
        active_timeout_s: float = 1800.0,
        max_flows: int = 500_000,
        tcp_idle_timeout_s: float | None = None,
        udp_idle_timeout_s: float | None = None,
        tcp_close_grace_s: float = 5.0,
        on_update: OnUpdate | None = None,
        on_end: OnEnd | None = None,
        on_view: Callable[[BatchView], None] | None = None,
    ) -> None:
        ns = 1_000_000_000
        other = int(idle_timeout_s * ns)
        tcp = int((tcp_idle_timeout_s if tcp_idle_timeout_s is not None else idle_timeout_s) * ns)
        udp = int((udp_idle_timeout_s if udp_idle_timeout_s is not None else idle_timeout_s) * ns)
        self._idle = (tcp, udp, other)  # by idle class
        self._idle_lut = np.array([other, tcp, udp, other, other, other], dtype=np.int64)  # by tcode
        self._active = int(active_timeout_s * ns)
        self._grace = int(tcp_close_grace_s * ns)
        self.max_flows = max(1, int(max_flows))
        # a million flows on a scan: their uids in C when the extension is there (looked up once)
        self._uid_c = getattr(native(), "flow_uid", None)
        # One LRU per idle class: the front is the least recently updated, so both idle sweeps
        # (stop at the first live flow) and eviction (oldest front) are O(1) per flow.
        self._tables: tuple[OrderedDict[tuple[int, ...], FlowState], ...] = (
            OrderedDict(),
            OrderedDict(),
            OrderedDict(),
        )
        self._closing: deque[tuple[int, tuple[int, ...], int]] = deque()
        self._next_id = 0
        self._tick = 0
        self.stats = MeterStats()
        self.on_update: OnUpdate = on_update or _no_update
        self.on_end: OnEnd = on_end or _no_end
        self.on_view: Callable[[BatchView], None] = on_view or _no_view
        self.view: BatchView | None = None
        empty = np.zeros(0, dtype=np.int64)
        self._orig: npt.NDArray[np.int64] = empty
        self._smac: npt.NDArray[np.uint64] = np.zeros(0, dtype=np.uint64)
        self._dmac: npt.NDArray[np.uint64] = self._smac
        self._ts_s: npt.NDArray[np.int64] = empty
        self._bits: npt.NDArray[np.int64] = empty
        self._from_lo: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._cums: tuple[npt.NDArray[np.int64], ...] = (empty, empty, empty)
        self._keys_sorted: list[npt.NDArray[np.uint64]] = []
        self._ts_l: memoryview | None = None
        self._touched: list[FlowState] = []
        self._bits_l: memoryview = memoryview(b"")
        self._from_lo_l: memoryview = memoryview(b"")

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables)

    def flows(self) -> list[FlowState]:
        """The live flows (for tests and introspection)."""
        return [f for t in self._tables for f in t.values()]

    # --- batch processing ------------------------------------------------------------------------
    def process(self, dec: Decoded, batch: PacketBatch) -> BatchView:
        """Meter every decoded-ok packet of ``batch``; returns the sorted view hooks saw."""
        nat = native()
        if nat is not None and len(batch) < 1 << _IDX_BITS:
            view, segs = self._prologue_native(nat, dec, batch)
        else:
            view, segs = self._prologue_numpy(dec, batch)
        self.view = view
        if view.order.shape[0] == 0:
            return view
        self.on_view(view)
        self._orig = view.order
        self._smac = dec.src_mac
        self._dmac = dec.dst_mac
        self._ts_l = None
        self._ts_s = view.ts
        self._bits = view.bits
        self._from_lo = view.from_lo
        tables = self._tables
        idle = self._idle
        active = self._active
        grace = self._grace
        on_update = self.on_update
        touched = self._touched
        ts_at, bits_at, from_lo_at = view.ts.item, view.bits.item, view.from_lo.item
        for key, s, e, t0, tmax, sb, flo, sm, dm, n_lo, nb, b_lo in segs:
            cls = _idle_class((key[0] >> 32) & 0xFF)
            table = tables[cls]
            f = table.get(key)
            if f is not None and (
                t0 - f.last_ns > idle[cls]
                or (f.close_ns >= 0 and t0 > f.close_ns + grace)
                or t0 - f.first_ns >= active
            ):
                self._end(f, self._why(f, t0))
                f = None
            if f is None:
                f = self._create(key, t0, flo, sm, dm)
                table = tables[cls]
            if sb & B_END or f.close_ns >= 0 or tmax - f.first_ns >= active:
                if (
                    f.close_ns >= 0
                    or tmax - f.first_ns >= active
                    or f.tcode != T_TCP
                    or (e - s != 1 and (e - s != 2 or bits_at(s) & B_END))
                ):
                    self._slow(f, key, s, e, (n_lo, nb, b_lo, tmax, sb))
                    continue
                # A FIN or RST as the last packet of a segment of one or two (a scan's SYN, RST):
                # what ``_slow`` does there, without its per-batch lists and its loop.
                k = e - 1
                if bits_at(k) & B_RST:
                    f.close_ns = ts_at(k)
                elif from_lo_at(k):
                    f.fin_lo = True
                else:
                    f.fin_hi = True
                if f.fin_lo and f.fin_hi:
                    f.close_ns = ts_at(k)
                if f.close_ns >= 0:
                    self._closing.append((f.close_ns + grace, key, f.id))
            f.pk_lo += n_lo
            f.pk_hi += e - s - n_lo
            f.by_lo += b_lo
            f.by_hi += nb - b_lo
            if tmax > f.last_ns:
                f.last_ns = tmax
            if sb and not f.server_final:
                _roles(f, sb)
            touched.append(f)
            on_update(f, s, e)
        # Segments ran in hash order; renew the LRU order by time so idle sweeps (which stop at
        # the first live flow) and eviction see the least recently *seen* flow first.
        touched.sort(key=_last_ns)
        for f in touched:
            table = tables[f.cls]
            if table.get(f.key) is f:
                self._tick += 1
                f.touch = self._tick
                table.move_to_end(f.key)
        touched.clear()
        return view

    def _prologue_numpy(self, dec: Decoded, batch: PacketBatch) -> tuple[BatchView, Iterable[_Segment]]:
        """The batch's sorted view and segments, in NumPy (the reference of ``_prologue_native``)."""
        idx = np.flatnonzero(dec.error == 0)
        m = int(idx.shape[0])
        tc = dec.transport[idx]
        isl2 = tc == T_L2
        sh, sl, sp = dec.src_hi[idx], dec.src_lo[idx], dec.src_port[idx].astype(np.uint64)
        dh, dl, dp = dec.dst_hi[idx], dec.dst_lo[idx], dec.dst_port[idx].astype(np.uint64)
        from_lo = (sh < dh) | ((sh == dh) & ((sl < dl) | ((sl == dl) & (sp <= dp))))
        from_lo |= isl2
        lo_p = np.where(from_lo, sp, dp)
        hi_p = np.where(from_lo, dp, sp)
        c0 = (
            (dec.ip_proto[idx].astype(np.uint64) << np.uint64(56))
            | ((dec.vlan[idx].astype(np.int64) + 1).astype(np.uint64) << np.uint64(40))
            | (tc.astype(np.uint64) << _S32)
            | (lo_p << np.uint64(16))
            | hi_p
        )
        c1 = np.where(from_lo, sh, dh)
        c2 = np.where(from_lo, sl, dl)
        c3 = np.where(from_lo, dh, sh)
        c4 = np.where(from_lo, dl, sl)
        if isl2.any():
            c1[isl2] = dec.ethertype[idx][isl2].astype(np.uint64)
            c2[isl2] = dec.src_mac[idx][isl2]
            c3[isl2] = 0
            c4[isl2] = 0
        h = c0
        for c in (c1, c2, c3, c4):
            h = (h ^ c) * _P1
            h ^= h >> _S29
        h = (h ^ (h >> _S32)) * _P2
        order = _group_order(h)
        cols = [c[order] for c in (c0, c1, c2, c3, c4)]
        ts_s = batch.ts_ns[idx][order]
        tc_s = tc[order]
        from_lo_s = from_lo[order]
        wl_s = batch.wirelen[idx][order].astype(np.int64)
        fl = dec.tcp_flags[idx][order]
        syn = (fl & SYN) != 0
        ackf = (fl & ACK) != 0
        bits = (
            np.where(syn & ~ackf, np.where(from_lo_s, B_SYN_LO, B_SYN_HI), 0)
            | np.where(syn & ackf, np.where(from_lo_s, B_SYNACK_LO, B_SYNACK_HI), 0)
            | np.where((fl & FIN) != 0, B_FIN, 0)
            | np.where((fl & RST) != 0, B_RST, 0)
        ).astype(np.int64)
        orig = idx[order]
        view = BatchView(order=orig, ts=ts_s, from_lo=from_lo_s, bits=bits)
        if m == 0:
            return view, ()

        newseg = np.empty(m, dtype=bool)
        newseg[0] = True
        brk = np.diff(ts_s) > self._idle_lut[tc_s[1:]]
        for c in cols:
            brk |= c[1:] != c[:-1]
        newseg[1:] = brk
        starts = np.flatnonzero(newseg)
        ends = np.append(starts[1:], m)
        seg_bits = np.bitwise_or.reduceat(bits, starts)
        ts_max = np.maximum.reduceat(ts_s, starts)
        cnl = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(from_lo_s, out=cnl[1:])
        cb = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(wl_s, out=cb[1:])
        cbl = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(np.where(from_lo_s, wl_s, 0), out=cbl[1:])
        keys = np.stack([c[starts] for c in cols], axis=1).tolist()
        smac = dec.src_mac[orig[starts]].tolist()
        dmac = dec.dst_mac[orig[starts]].tolist()
        # Per-segment counts for the common path; ``_slow`` reads the prefix sums at its cut
        # points (a list of every packet would be per-packet work).
        seg_lo = (cnl[ends] - cnl[starts]).tolist()
        seg_bytes = (cb[ends] - cb[starts]).tolist()
        seg_bytes_lo = (cbl[ends] - cbl[starts]).tolist()
        self._cums = (cnl, cb, cbl)
        self._keys_sorted = cols
        segs = zip(
            map(tuple, keys),
            starts.tolist(),
            ends.tolist(),
            ts_s[starts].tolist(),
            ts_max.tolist(),
            seg_bits.tolist(),
            from_lo_s[starts].tolist(),
            smac,
            dmac,
            seg_lo,
            seg_bytes,
            seg_bytes_lo,
            strict=True,
        )
        return view, segs

    def _prologue_native(
        self, nat: NativeModule, dec: Decoded, batch: PacketBatch
    ) -> tuple[BatchView, Iterable[_Segment]]:
        """``_prologue_numpy`` in C (``_meter.c``): two passes over the packets, NumPy's sort
        between them. The same view, prefix sums and segments."""
        view, _, _, columns = self._setup_native(nat.meter_segments, nat, dec, batch)
        # columns, zipped as the NumPy path does: zip reuses its result tuple segment by segment
        segs: Iterable[_Segment] = zip(*columns, strict=True)
        return view, segs

    def _setup_native(
        self, second: Callable[..., Any], nat: NativeModule, dec: Decoded, batch: PacketBatch
    ) -> tuple[BatchView, npt.NDArray[np.int64], list[npt.NDArray[np.uint64]], Any]:
        """The C set-up: ``meter_keys``, NumPy's sort, then ``second`` (``meter_segments``, or
        ``meter_view`` for the C table). The view, the sort order, the key columns (in batch
        order) and what ``second`` returned; the prefix sums go to ``self._cums``."""
        n = len(batch)
        u64, i64 = np.uint64, np.int64
        idx = np.empty(n, dtype=i64)
        cols = [np.empty(n, dtype=u64) for _ in range(5)]
        from_lo = np.empty(n, dtype=bool)
        keyed = np.empty(n, dtype=u64)
        m = nat.meter_keys(
            dec.error, dec.transport, dec.ip_proto, dec.vlan, dec.src_hi, dec.src_lo, dec.dst_hi,
            dec.dst_lo, dec.src_port, dec.dst_port, dec.ethertype, dec.src_mac,
            idx, *cols, from_lo, keyed,
        )  # fmt: skip
        order = np.argsort(keyed[:m]).astype(i64, copy=False)
        orig = np.empty(m, dtype=i64)
        ts_s = np.empty(m, dtype=i64)
        from_lo_s = np.empty(m, dtype=bool)
        bits = np.empty(m, dtype=i64)
        cums = (np.empty(m + 1, dtype=i64), np.empty(m + 1, dtype=i64), np.empty(m + 1, dtype=i64))
        result = second(
            m, order, idx, *cols, from_lo, dec.transport, batch.ts_ns, batch.wirelen, dec.tcp_flags,
            dec.src_mac, dec.dst_mac, self._idle_lut, orig, ts_s, from_lo_s, bits, *cums,
        )  # fmt: skip
        self._cums = cums
        return BatchView(order=orig, ts=ts_s, from_lo=from_lo_s, bits=bits), order, cols, result

    def detach(self) -> None:
        """Drop the hooks (they become no-ops): the caller's objects they reach are no longer
        held by the meter (see ``SensorEngine.close``)."""
        self.on_update, self.on_end, self.on_view = _no_update, _no_end, _no_view

    def feed_conversations(self, table: object) -> bool:
        """Whether the meter adds every ended flow to the conversations ``table`` itself (then
        before ``on_end``, and :meth:`evicted_conversations` hands over what that evicted). The
        Python meter does not: the engine adds them in its ``on_end``."""
        return False

    def evicted_conversations(self) -> list[Any]:
        """The conversation rows evicted since the last call (see :meth:`feed_conversations`)."""
        return []

    def feed_streams(
        self, limit: int, max_streams: int, syn: OnSyn | None, decide: Decide, handoff: Handoff
    ) -> bool:
        """Whether the meter walks TCP flows' packets itself, keeping their stream prefixes as
        ``SensorEngine._tcp`` does (the reference) and calling ``syn``, ``decide`` and
        ``handoff`` where it calls its dissectors; TCP flows then never reach ``on_update``.
        The Python meter does not (the engine's ``_tcp`` does it)."""
        return False

    def streams_evicted(self) -> int:
        """Open streams handed over early past ``max_streams`` (see :meth:`feed_streams`)."""
        return 0

    def _why(self, f: FlowState, t: int) -> str:
        if f.close_ns >= 0 and (t > f.close_ns + self._grace or t - f.last_ns > self._idle[f.cls]):
            return "tcp-close"
        if t - f.last_ns > self._idle[f.cls]:
            return "idle"
        return "active"

    def _lists(self) -> tuple[memoryview, memoryview, memoryview]:
        """Timestamps, bits and directions (bool) of the sorted batch, for reads by position:
        memoryviews of the arrays (see ``SensorEngine._packet_lists``: most positions of a
        busy network's batch are never read one by one, so whole-batch lists cost more)."""
        if self._ts_l is None:
            self._ts_l = self._ts_s.data
            self._bits_l = self._bits.data
            self._from_lo_l = self._from_lo.data
        return self._ts_l, self._bits_l, self._from_lo_l

    def _or_bits(self, bits: memoryview, s: int, e: int) -> int:
        if e - s > 32:
            return int(np.bitwise_or.reduce(self._bits[s:e]))
        acc = 0
        for b in bits[s:e]:
            acc |= b
        return acc

    def _slow(
        self,
        f: FlowState | None,
        key: tuple[int, ...],
        s: int,
        e: int,
        seg: tuple[int, int, int, int, int] | None = None,
    ) -> None:
        """Apply sorted positions [s, e) of one key, splitting at active timeout and TCP close.

        ``seg`` is the whole segment's (packets from lo, bytes, bytes from lo, last timestamp,
        OR of the bits), used when no cut falls inside it (the common case: one handshake).
        """
        ts, bits, from_lo = self._lists()
        cls = _idle_class((key[0] >> 32) & 0xFF)
        grace = self._grace
        pos = s
        while pos < e:
            t0 = ts[pos]
            if f is None:
                f = self._tables[cls].get(key)
                if f is not None and (
                    t0 - f.last_ns > self._idle[cls]
                    or (f.close_ns >= 0 and t0 > f.close_ns + grace)
                    or t0 - f.first_ns >= self._active
                ):
                    self._end(f, self._why(f, t0))
                    f = None
                if f is None:
                    k0 = int(self._orig[pos])
                    f = self._create(key, t0, bool(from_lo[pos]), int(self._smac[k0]), int(self._dmac[k0]))
            j = e
            deadline = f.first_ns + self._active
            whole = seg if pos == s else None
            if (whole[3] if whole is not None else max(ts[pos:e])) >= deadline:
                j = pos + 1
                while j < e and ts[j] < deadline:
                    j += 1
            if f.tcode == T_TCP:
                if f.close_ns < 0:
                    if j - pos > 64:
                        ends = (np.flatnonzero(self._bits[pos:j] & B_END) + pos).tolist()
                    else:
                        ends = [k for k in range(pos, j) if bits[k] & B_END]
                    for k in ends:
                        if bits[k] & B_RST:
                            f.close_ns = ts[k]
                        elif from_lo[k]:
                            f.fin_lo = True
                        else:
                            f.fin_hi = True
                        if f.fin_lo and f.fin_hi:
                            f.close_ns = ts[k]
                        if f.close_ns >= 0:
                            self._closing.append((f.close_ns + grace, key, f.id))
                            limit = f.close_ns + grace
                            for k2 in range(k + 1, j):
                                if ts[k2] > limit:
                                    j = k2
                                    break
                            break
                else:
                    limit = f.close_ns + grace
                    for k2 in range(pos + 1, j):
                        if ts[k2] > limit:
                            j = k2
                            break
            if whole is not None and j == e:
                n_lo, nb, b_lo, tmax, sb = whole
            else:
                # Six reads of the prefix sums: cheaper than lists of the whole batch (few cuts).
                cnl, cb, cbl = self._cums
                n_lo = int(cnl[j] - cnl[pos])
                b_lo = int(cbl[j] - cbl[pos])
                nb = int(cb[j] - cb[pos])
                tmax = max(ts[pos:j])
                sb = -1
            f.pk_lo += n_lo
            f.pk_hi += j - pos - n_lo
            f.by_lo += b_lo
            f.by_hi += nb - b_lo
            if tmax > f.last_ns:
                f.last_ns = tmax
            if not f.server_final:
                if sb < 0:
                    sb = self._or_bits(bits, pos, j)
                if sb:
                    _roles(f, sb)
            self._touched.append(f)
            self.on_update(f, pos, j)
            if j < e:
                self._end(f, self._why(f, ts[j]))
                f = None
            pos = j

    def _create(self, key: tuple[int, ...], t0: int, from_lo: bool, smac: int, dmac: int) -> FlowState:
        t = self._tables
        if len(t[0]) + len(t[1]) + len(t[2]) >= self.max_flows:
            self._evict()
        self._next_id += 1
        f = FlowState(key, self._next_id, t0, from_lo, smac, dmac, self._uid_c)
        self._tick += 1
        f.touch = self._tick
        self._tables[f.cls][key] = f
        self.stats.flows_created += 1
        return f

    def _evict(self) -> None:
        """End the least recently updated flow (the oldest LRU front)."""
        victim: FlowState | None = None
        for t in self._tables:
            if t:
                f = next(iter(t.values()))
                if victim is None or f.touch < victim.touch:
                    victim = f
        if victim is not None:
            self._end(victim, "eviction")

    def _end(self, f: FlowState, reason: str) -> None:
        del self._tables[f.cls][f.key]
        st = self.stats
        if reason == "idle":
            st.flows_expired_idle += 1
        elif reason == "active":
            st.flows_expired_active += 1
        elif reason == "tcp-close":
            st.flows_closed += 1
        elif reason == "eviction":
            st.flows_evicted += 1
        else:
            st.flows_end_of_capture += 1
        self.on_end(f, reason)

    def expire(self, now_ns: int) -> None:
        """End flows idle for longer than their timeout at ``now_ns``, and closed flows past grace."""
        for cls, table in enumerate(self._tables):
            limit = now_ns - self._idle[cls]
            while table:
                f = next(iter(table.values()))
                if f.last_ns >= limit:
                    break
                self._end(f, "tcp-close" if f.close_ns >= 0 else "idle")
        closing = self._closing
        while closing and closing[0][0] < now_ns:
            _, key, fid = closing.popleft()
            live = self._tables[0].get(key)
            if live is not None and live.id == fid:
                self._end(live, "tcp-close")

    def flush(self) -> None:
        """End every live flow (end of capture); closed TCP flows keep ``tcp-close``."""
        for table in self._tables:
            for f in list(table.values()):
                self._end(f, "tcp-close" if f.close_ns >= 0 else "end-of-capture")
        self._closing.clear()


class NativeFlowMeter(FlowMeter):
    """:class:`FlowMeter` with its table and per-segment loop in C (``FlowTable`` of the
    extension, ``_flowtable.c``): the same hooks called in the same order with the same
    arguments, the same counters and records; flows are C objects with FlowState's fields.

    The per-batch set-up is ``meter_keys`` and ``meter_view`` (``_meter.c``); the hooks get the
    same sorted view (``view``, ``_lists``) as with the Python loop.
    """

    def __init__(self, nat: NativeModule, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._nat = nat
        self._streams_on = False
        codes = range(len(TRANSPORTS))
        self._core = nat.FlowTable(
            self._idle,
            self._active,
            self._grace,
            self.max_flows,
            _native_flow_type(nat),
            tuple(TRANSPORTS[c] for c in codes),
            tuple(_uid_head(TRANSPORTS[c]) for c in codes),
            _texts,
            SERVICE_PORTS,
            int.from_bytes(os.urandom(8), "little"),  # the layout, never the output, varies
        )

    def __len__(self) -> int:
        return len(self._core)

    def flows(self) -> list[FlowState]:
        """The live flows (for tests and introspection)."""
        return cast("list[FlowState]", self._core.flows())

    def process(self, dec: Decoded, batch: PacketBatch) -> BatchView:
        """Meter every decoded-ok packet of ``batch``; returns the sorted view hooks saw."""
        if len(batch) < 1 << _IDX_BITS:
            view, order, keys, _ = self._setup_native(self._nat.meter_view, self._nat, dec, batch)
        else:
            view, _ = self._prologue_numpy(dec, batch)
            keys = self._keys_sorted
            order = np.arange(view.order.shape[0], dtype=np.int64)
        self.view = view
        if view.order.shape[0] == 0:
            return view
        self.on_view(view)
        # what ``_lists`` serves the hooks
        self._orig, self._smac, self._dmac = view.order, dec.src_mac, dec.dst_mac
        self._ts_l = None
        self._ts_s, self._bits, self._from_lo = view.ts, view.bits, view.from_lo
        # the streams (feed_streams) read payloads by batch index; unused otherwise
        pay_abs = batch.offset + dec.pay_off if self._streams_on else dec.pay_off
        try:
            self._core.process(
                order, *keys, view.ts, view.from_lo, view.bits, *self._cums, view.order, dec.src_mac,
                dec.dst_mac, self._idle_lut, dec.tcp_seq, dec.pay_len, pay_abs, dec.pay_wire, batch.data,
                self.on_update, self.on_end,
            )  # fmt: skip
        finally:  # a hook's exception leaves the counters true too
            self._sync()
        return view

    def feed_conversations(self, table: object) -> bool:
        """Yes when ``table`` holds a C ``ConversationTable`` (``c_table``): the C flow table adds
        each ended flow to it as ``SensorEngine._conversation`` would, with no Python call."""
        inner = getattr(table, "c_table", None)
        if not isinstance(inner, self._nat.ConversationTable):
            return False
        self._core.set_conversations(inner)
        return True

    def evicted_conversations(self) -> list[Any]:
        """The conversation rows evicted since the last call (see :meth:`feed_conversations`)."""
        return cast("list[Any]", self._core.take_evicted())

    def feed_streams(
        self, limit: int, max_streams: int, syn: OnSyn | None, decide: Decide, handoff: Handoff
    ) -> bool:
        """Yes: the C table keeps the TCP streams (``set_streams``, "TCP streams" in
        ``_flowtable.c``); only the callbacks, which run dissectors, stay in Python."""
        self._core.set_streams(limit, max_streams, syn, decide, handoff)
        self._streams_on = True
        return True

    def streams_evicted(self) -> int:
        """Open streams handed over early past ``max_streams`` (see :meth:`feed_streams`)."""
        return int(self._core.streams_evicted())

    def detach(self) -> None:
        """Drop the hooks and the streams' callbacks (see ``FlowMeter.detach``)."""
        super().detach()
        self._core.set_streams(None)
        self._streams_on = False

    def expire(self, now_ns: int) -> None:
        """End flows idle for longer than their timeout at ``now_ns``, and closed flows past grace."""
        try:
            self._core.expire(now_ns, self.on_end)
        finally:
            self._sync()

    def flush(self) -> None:
        """End every live flow (end of capture); closed TCP flows keep ``tcp-close``."""
        try:
            self._core.flush(self.on_end)
        finally:
            self._sync()

    def _sync(self) -> None:
        st = self.stats
        (
            st.flows_created,
            st.flows_expired_idle,
            st.flows_expired_active,
            st.flows_closed,
            st.flows_evicted,
            st.flows_end_of_capture,
        ) = self._core.stats()


_FLOW_TYPES: dict[int, type[FlowState]] = {}


def _native_flow_type(nat: NativeModule) -> type[FlowState]:
    """The class of the C table's flows: its FlowCore with the methods of :class:`FlowMethods`
    (made once per extension module)."""
    kind = _FLOW_TYPES.get(id(nat))
    if kind is None:
        kind = _FLOW_TYPES[id(nat)] = cast(
            "type[FlowState]",
            type("NativeFlowState", (nat.FlowCore, FlowMethods), {"__slots__": (), "__module__": __name__}),
        )
    return kind


def new_flow_meter(**kwargs: Any) -> FlowMeter:
    """A :class:`NativeFlowMeter` where the C extension is built (and not switched off by
    ``WARDWATCH_PURE_PYTHON``), else the Python :class:`FlowMeter`; the arguments are
    FlowMeter's."""
    nat = native()
    if nat is not None and hasattr(nat, "FlowTable"):
        return NativeFlowMeter(nat, **kwargs)
    return FlowMeter(**kwargs)


def _roles(f: FlowState, sb: int) -> None:
    if sb & B_SYNACK_LO:
        f.server, f.server_final = 0, True
    elif sb & B_SYNACK_HI:
        f.server, f.server_final = 1, True
    elif f.server < 0:
        if sb & B_SYN_LO:
            f.server = 1
        elif sb & B_SYN_HI:
            f.server = 0
