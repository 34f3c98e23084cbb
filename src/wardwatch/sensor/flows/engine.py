"""SensorEngine: batches in; observations, flow records, sightings and conversations out.

``feed(batch)`` runs decode (NumPy) -> flow meter (per distinct flow segment) -> dispatch (only
identity-bearing packets reach Python dissectors) and returns what became final in that batch;
``finish()`` ends the capture and flushes everything.

Dispatch rules (see docs/adr/002-packet-path.md):

* L2 (non-IP) frames whose EtherType is in a dissector's ``ethertypes``: every frame, payload =
  the frame after the Ethernet/VLAN (and LLC/SNAP) header.
* UDP: if either port of the flow is in a dissector's ``udp_ports``, every payload packet goes
  to those dissectors. Otherwise the first payload packet of each direction is probed with every
  UDP dissector; the first that matches is remembered for the flow and gets the first
  :data:`PROBE_PACKETS` payload packets per direction.
* ICMP/ICMPv6: the first :data:`PROBE_PACKETS` payload packets per direction go to dissectors
  whose ``transports`` contain that transport (NDP, router advertisements).
* TCP: each direction keeps an in-order prefix (reassembled by sequence number, retransmissions
  and overlap trimmed, out-of-order segments held within a small window) up to
  ``stream_prefix_bytes``. The decision to keep a direction is made on its first in-order bytes:
  kept when a dissector's ``tcp_ports`` has the server port (either port while roles are
  unknown) or a TCP dissector's ``probe`` accepts those bytes; otherwise the direction is
  dropped at once, which keeps bulk traffic off the Python path. A kept prefix is handed over
  once: when full, on FIN (that direction) or RST (both), or at flow end, to the port-matched
  dissectors and those whose ``probe(prefix)`` is true.
* TCP SYN and SYN-ACK packets go, with :class:`TcpTraits`, to *SYN dissectors*: those named
  ``"tcpstack"`` or having ``wants_syn = True`` with TCP in ``transports``. SYN dissectors get
  only SYNs, never stream prefixes.
* With the C flow table (``NativeFlowMeter``) the TCP walk above runs in C ("TCP streams" in
  ``_flowtable.c``): TCP flows never reach ``_on_update``; the table calls back only to decide a
  direction (``_decide``), hand a prefix over (``_deliver``) and run the SYN dissectors
  (``_syn``). ``_tcp`` is the reference it is held equal to (tests/unit/flows/test_streams.py)
  and the walk of the Python meter.

A dissector that raises despite its contract is counted in ``dissector_errors``; the packet path
carries on.

Sightings (source MAC, source IP) and conversations (flows aggregated by client, server,
transport and server port; the server is ``b`` when unknown; L2 flows use the EtherType as the
server port) are cumulative over the capture, matching the store's max-merge. ``feed`` emits the
ones that changed each time capture time crosses a multiple of ``report_interval_s`` (so a live
sensor reports presence as it goes); ``finish`` emits all of them. Both tables are in C when the
extension is built (``sightings.py``, ``conversations.py``).

Observations come out one object per occurrence (``occurrences="each"``), or, as a store needs
them, per distinct fact of the output its first and last occurrence with a count
(``"combined"``: what ``discover`` and the live sensor use; a repeat then costs no object).
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from wardwatch.model._build import builder
from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.capture._common import native
from wardwatch.sensor.capture.batch import PacketBatch
from wardwatch.sensor.dissect.base import Dissector, PacketContext, TcpTraits
from wardwatch.sensor.flows.config import SensorConfig, SensorOutput, SensorStats
from wardwatch.sensor.flows.conversations import conversation_args, conversation_of, new_conversation_table
from wardwatch.sensor.flows.decode import (
    ERROR_NAMES,
    T_ICMP,
    T_ICMP6,
    T_L2,
    T_TCP,
    T_UDP,
    Decoded,
    decode,
    format_mac,
)
from wardwatch.sensor.flows.meter import (
    B_END,
    B_FIN,
    B_RST,
    B_SYN_HI,
    B_SYN_LO,
    B_SYNACK_HI,
    B_SYNACK_LO,
    BatchView,
    FlowState,
    new_flow_meter,
    port_server,
)
from wardwatch.sensor.flows.sightings import new_sighting_table

#: Payload packets per direction handed to a probe-matched UDP (or ICMP) dissector.
PROBE_PACKETS = 8
#: Largest payload whose dissector results are remembered (datagrams and L2 frames, not prefixes).
CACHE_MAX_PAYLOAD = 2048
_BUNDLED = "wardwatch.sensor.dissect."
#: Out-of-order TCP segments held per direction, and how far ahead of the next byte they may be.
MAX_PENDING = 16
OOO_WINDOW = 65536
_M32 = 0xFFFF_FFFF
_B_SYNS = B_SYN_LO | B_SYN_HI | B_SYNACK_LO | B_SYNACK_HI
_B_SYN_RST = _B_SYNS | B_RST
#: Context fields a remembered SYN result may depend on (the sender, its TTL, the traits).
_SYN_CONTEXT = frozenset({"src_mac", "src_ip", "ttl", "tcp"})


class _Stream:
    """One TCP direction's in-order prefix."""

    __slots__ = ("buf", "decided", "next_seq", "pending")

    def __init__(self, next_seq: int | None) -> None:
        self.next_seq = next_seq
        self.buf = bytearray()
        self.pending: dict[int, bytes] = {}
        self.decided = False


class _TcpExt:
    __slots__ = ("done", "isn", "streams")

    def __init__(self) -> None:
        self.streams: list[_Stream | None] = [None, None]  # by direction: 0 from lo, 1 from hi
        self.done = [False, False]
        self.isn: list[int | None] = [None, None]


class _ProbeExt:
    """UDP/ICMP per-flow dispatch state."""

    __slots__ = ("matched", "port_ds", "probed", "seen")

    def __init__(self, port_ds: tuple[Dissector, ...]) -> None:
        self.port_ds = port_ds
        self.matched: tuple[Dissector, ...] = ()
        self.probed = [False, False]
        self.seen = [0, 0]


_NOTHING = ()  # ext of flows with nothing to dispatch


_Memo = OrderedDict[tuple[object, ...], tuple[tuple[Observation, ...], ...]]
"""Remembered packet steps: key -> the observations of each dissector (see ``_remembered``)."""


@dataclass(frozen=True)
class _SynRows:
    """What ``SensorEngine._syn`` reads of one batch's SYN/SYN-ACK packets, row ``rank[k]`` for
    sorted position ``k``."""

    key: Callable[..., tuple[object, ...]]  # (packet view, l3, l4, ip version, syn_ack)
    """``_syn_key``, or the same in C when the extension is built (ADR 010)."""
    rank: dict[int, int]
    offset: list[int]
    caplen: list[int]
    l3: list[int]
    l4: list[int]
    ipv: list[int]
    src_mac: list[int]
    ttl: list[int]
    ts: list[int]
    from_lo: list[bool]
    # A memoryview of the batch's bytes. ``Any``: mypyc cannot resolve ``memoryview`` in an
    # attribute annotation of a compiled class (the module would not import).
    data: Any


def _tcp_traits(pkt: bytes | memoryview, l3: int, l4: int, ip_version: int, syn_ack: bool) -> TcpTraits:
    """p0f-style traits of a SYN/SYN-ACK from its captured bytes (bounds-checked)."""
    quirks: list[str] = []
    ttl = 0
    df = False
    ip_opts = max(0, l4 - l3 - (20 if ip_version == 4 else 40))
    if ip_version == 4 and len(pkt) >= l3 + 20:
        tos, ident, frag, ttl = pkt[l3 + 1], *struct.unpack_from("!HH", pkt, l3 + 4), pkt[l3 + 8]
        df = bool(frag & 0x4000)
        if frag & 0x8000:
            quirks.append("0+")
        if df and ident:
            quirks.append("id+")
        if not df and not ident:
            quirks.append("id-")
        if tos & 3:
            quirks.append("ecn")
    elif ip_version == 6 and len(pkt) >= l3 + 40:
        ttl = pkt[l3 + 7]
        if pkt[l3 + 1] & 0x30:
            quirks.append("ecn")
    seq, ack, off, flags, win, _, urg = struct.unpack_from("!IIBBHHH", pkt, l4 + 4)
    if not seq:
        quirks.append("seq-")
    if flags & 0x10:
        if not ack:
            quirks.append("ack-")
    elif ack:
        quirks.append("ack+")
    if flags & 0x20:
        quirks.append("urgf+")
    elif urg:
        quirks.append("uptr+")
    if flags & 0x08:
        quirks.append("pushf+")
    if flags & 0xC0:
        quirks.append("ecn")
    opts = pkt[l4 + 20 : l4 + (off >> 4) * 4]
    layout: list[str] = []
    mss: int | None = None
    ws: int | None = None
    i = 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            layout.append("eol")
            if any(opts[i + 1 :]):
                quirks.append("opt+")
            break
        if kind == 1:
            layout.append("nop")
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2 or i + opts[i + 1] > len(opts):
            quirks.append("bad")
            break
        ln = opts[i + 1]
        body = opts[i + 2 : i + ln]
        if kind == 2 and ln == 4:
            layout.append("mss")
            mss = int.from_bytes(body, "big")
        elif kind == 3 and ln == 3:
            layout.append("ws")
            ws = body[0]
            if ws > 14:
                quirks.append("exws")
        elif kind == 4 and ln == 2:
            layout.append("sok")
        elif kind == 8 and ln == 10:
            layout.append("ts")
            if not int.from_bytes(body[:4], "big"):
                quirks.append("ts1-")
            if not syn_ack and int.from_bytes(body[4:], "big"):
                quirks.append("ts2+")
        else:
            layout.append(f"?{kind}")
        i += ln
    return TcpTraits(
        syn_ack=syn_ack,
        ttl=ttl,
        ip_version=ip_version,
        df=df,
        window=win,
        mss=mss,
        wscale=ws,
        options=tuple(layout),
        ip_header_len=l4 - l3,
        ip_options_len=ip_opts,
        quirks=tuple(dict.fromkeys(quirks)),
    )


def _syn_key(pkt: bytes | memoryview, l3: int, l4: int, ip_version: int, syn_ack: bool) -> tuple[object, ...]:
    """Everything :func:`_tcp_traits` reads of a SYN, as the values or truth values it uses.

    Two SYNs with equal keys have equal traits, so a host's traits are worked out once (the
    sequence number, IP id, ports and timestamp values change with every SYN; only whether
    some of them are zero matters). tests/unit/flows/test_syn_key.py holds the two together.
    """
    if ip_version == 4 and len(pkt) >= l3 + 20:
        ident = pkt[l3 + 4] | pkt[l3 + 5]
        ip: tuple[int, ...] = (pkt[l3 + 1] & 3, pkt[l3 + 6] & 0xC0, ident != 0, pkt[l3 + 8])
    elif ip_version == 6 and len(pkt) >= l3 + 40:
        ip = (pkt[l3 + 1] & 0x30, pkt[l3 + 7])
    else:
        ip = ()
    seq, ack, off, flags, win, _, urg = struct.unpack_from("!IIBBHHH", pkt, l4 + 4)
    opts = bytes(pkt[l4 + 20 : l4 + (off >> 4) * 4])
    if b"\x08\x0a" in opts:
        opts = _mask_timestamps(opts)
    return (ip_version, syn_ack, l4 - l3, ip, seq != 0, ack != 0, off, flags, win, urg != 0, opts)


def _mask_timestamps(opts: bytes) -> bytes:
    """TCP options with each timestamp value replaced by whether it is zero (walked as in
    :func:`_tcp_traits`, so only a real timestamp option is touched)."""
    out = bytearray(opts)
    i = 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2 or i + opts[i + 1] > len(opts):
            break
        ln = opts[i + 1]
        if kind == 8 and ln == 10:
            out[i + 2 : i + 6] = b"\x01\x00\x00\x00" if any(opts[i + 2 : i + 6]) else bytes(4)
            out[i + 6 : i + 10] = b"\x01\x00\x00\x00" if any(opts[i + 6 : i + 10]) else bytes(4)
        i += ln
    return bytes(out)


_new_observation = builder(Observation)
#: A context per dissected packet or prefix: every field given (the defaults of PacketContext).
_new_context = builder(PacketContext)


def _again(o: Observation, ts_ns: int, flow_uid: str) -> Observation:
    """A remembered observation seen again: same content (and uid), this time and flow."""
    return _new_observation(
        ts_ns=ts_ns, flow_uid=flow_uid, protocol=o.protocol, mac=o.mac, ip=o.ip, fields=o.fields, _uid=o.uid
    )


_PacketViews = tuple[memoryview, memoryview, memoryview, memoryview, memoryview, memoryview]
"""Per batch: sorted position -> batch index, then by batch index: TCP sequence number, payload
length, payload offset in the data, payload length on the wire; and the data itself."""


def _fold(repeats: dict[str, list[Any]], o: Observation, ts: int, flow_uid: str) -> None:
    """Count one occurrence of ``o`` (at ``ts`` in ``flow_uid``) in ``repeats``: [observation,
    count, first ts, first flow, last ts, last flow] by uid, extremes by timestamp, then flow."""
    r = repeats.get(o.uid)
    if r is None:
        repeats[o.uid] = [o, 1, ts, flow_uid, ts, flow_uid]
        return
    r[1] += 1
    if ts < r[2] or (ts == r[2] and flow_uid < r[3]):
        r[2], r[3] = ts, flow_uid
    if ts > r[4] or (ts == r[4] and flow_uid > r[5]):
        r[4], r[5] = ts, flow_uid


class SensorEngine:
    """Decode -> meter -> dispatch -> outputs, one batch at a time (see module docstring)."""

    def __init__(self, config: SensorConfig | None = None, dissectors: Sequence[Dissector] | None = None):
        self.config = cfg = config or SensorConfig()
        if dissectors is None:
            from wardwatch.sensor.dissect import registry  # lazy: imports every dissector module

            dissectors = registry.DISSECTORS
        self.dissectors = tuple(dissectors)
        self.stats = SensorStats()
        self._syn_ds = tuple(
            d
            for d in self.dissectors
            if Transport.TCP in d.transports and (d.name == "tcpstack" or getattr(d, "wants_syn", False))
        )
        syn_ids = {id(d) for d in self._syn_ds}
        self._tcp_ds = tuple(
            d for d in self.dissectors if Transport.TCP in d.transports and id(d) not in syn_ids
        )
        self._udp_ds = tuple(d for d in self.dissectors if Transport.UDP in d.transports)
        self._icmp_ds = {
            code: tuple(d for d in self.dissectors if tr in d.transports)
            for code, tr in ((T_ICMP, Transport.ICMP), (T_ICMP6, Transport.ICMP6))
        }
        self._l2: dict[int, tuple[Dissector, ...]] = {}
        for d in self.dissectors:
            for et in d.ethertypes:
                self._l2[et] = (*self._l2.get(et, ()), d)
        self._udp_port_cache: dict[tuple[int, int], tuple[Dissector, ...]] = {}
        self._tcp_port_cache: dict[int, tuple[Dissector, ...]] = {}
        self.meter = new_flow_meter(  # the table and segment loop in C when built (meter.py)
            idle_timeout_s=cfg.idle_timeout_s,
            active_timeout_s=cfg.active_timeout_s,
            max_flows=cfg.max_flows,
            tcp_idle_timeout_s=cfg.tcp_idle_timeout_s,
            udp_idle_timeout_s=cfg.udp_idle_timeout_s,
            tcp_close_grace_s=cfg.tcp_close_grace_s,
            on_update=self._on_update,
            on_end=self._on_end,
            on_view=self._on_view,
        )
        self._streams: OrderedDict[tuple[int, int], tuple[FlowState, int]] = OrderedDict()
        self._sightings = new_sighting_table(cfg.max_sightings)  # C when built (see sightings.py)
        self._convs = new_conversation_table(cfg.max_conversations)  # C when built
        # both in C: the flow table adds each ended flow to its conversation itself
        self._convs_by_meter = self.meter.feed_conversations(self._convs)
        # the C table walks TCP packets and keeps the streams itself; ``_tcp`` is the reference
        self._streams_by_meter = bool(self._tcp_ds or self._syn_ds) and self.meter.feed_streams(
            cfg.stream_prefix_bytes,
            cfg.max_streams,
            self._syn if self._syn_ds else None,
            self._decide,
            self._deliver,
        )
        self._interval = max(1, int(cfg.report_interval_s * 1e9))
        self._next_report: int | None = None
        self._out = SensorOutput()
        self._all_records = cfg.flow_records != "evidence"
        self._combined = cfg.occurrences == "combined"
        # "combined": repeats of this output by uid: [observation, count, first ts, first flow,
        # last ts, last flow] (see ``_combine``)
        self._repeats: dict[str, list[Any]] = {}
        self._ended: list[tuple[FlowState, str]] = []
        self._track: dict[str, list[Any]] = {}  # observation uid -> [first ts, flow, last ts, flow]
        self._refs: dict[str, int] = {}  # flow uid -> extreme positions it holds
        self._cache: OrderedDict[tuple[object, ...], tuple[Observation, ...]] = OrderedDict()
        self._cache_cap = max(0, int(cfg.dissect_cache_entries))
        # Only the bundled dissectors, whose purity the dissector tests (Hypothesis) hold them to.
        self._pure = {id(d) for d in self.dissectors if type(d).__module__.startswith(_BUNDLED)}
        self._ctx_fields: dict[int, tuple[str, ...]] = {
            id(d): tuple(names) for d in self.dissectors if (names := getattr(d, "context_fields", None))
        }
        # Whole packet steps remembered (see ``_remembered``): a frame or datagram with the same
        # context and payload as a remembered one, or a SYN with the same sender, TTL and traits
        # key, gets the remembered results of every dissector it goes to.
        self._memo: _Memo = OrderedDict()
        self._syn_memo: _Memo = OrderedDict()  # apart: a host's SYNs must not push frames out
        self._memo_tags: dict[tuple[int, ...], int] = {}  # dissector ids -> tag
        self._memo_ds: dict[int, tuple[tuple[Dissector, ...], int | None]] = {}  # id(ds) -> ds, tag
        # SYNs are remembered only when every SYN dissector depends on the sender, its TTL and
        # the traits alone (the memo key holds nothing else)
        self._syn_memo_on = bool(self._syn_ds) and all(
            id(d) in self._pure and set(self._ctx_fields.get(id(d), ("-",))) <= _SYN_CONTEXT
            for d in self._syn_ds
        )
        # ``cache_skip`` is honoured only with ``context_fields`` (a declared, tested contract)
        self._cache_skip: dict[int, int] = {
            id(d): int(getattr(d, "cache_skip", 0)) for d in self.dissectors if id(d) in self._ctx_fields
        }
        # ``cache_ignore`` likewise: the byte range is zeroed in the key (the length stays in it)
        self._cache_ignore: dict[int, tuple[int, int]] = {
            id(d): (int(r[0]), int(r[1]))
            for d in self.dissectors
            if id(d) in self._ctx_fields and (r := getattr(d, "cache_ignore", None))
        }
        self._closed = False
        # per-batch state for the hooks
        self._batch: PacketBatch | None = None
        self._dec: Decoded | None = None
        self._view: BatchView | None = None
        self._cc: npt.NDArray[np.int64] = np.zeros(1, dtype=np.int64)
        self._plists: _PacketViews | None = None
        self._csyn: npt.NDArray[np.int64] = self._cc
        self._interesting: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._interesting_l: memoryview | None = None
        self._syns: npt.NDArray[np.bool_] = self._interesting
        self._syn_rst: npt.NDArray[np.bool_] = self._interesting
        self._syn_l: _SynRows | None = None

    # --- public API ------------------------------------------------------------------------------
    def feed(self, batch: PacketBatch) -> SensorOutput:
        """Process one batch; returns what became final during it (flows ended, observations ...)."""
        if self._closed:
            raise RuntimeError("the sensor engine was closed: make a new one")
        out = self._out = SensorOutput()
        n = len(batch)
        if n == 0:
            return out
        st = self.stats
        dec = decode(batch)
        st.packets += n
        st.bytes += int(batch.wirelen.sum(dtype=np.int64))
        if dec.error.any():
            for code, count in enumerate(np.bincount(dec.error).tolist()):
                if code and count:
                    name = ERROR_NAMES.get(code, f"error-{code}")
                    st.decode_errors[name] = st.decode_errors.get(name, 0) + count
        ok = dec.error == 0
        st.non_ip += int(np.count_nonzero(ok & (dec.ip_version == 0)))
        tmin, tmax = int(batch.ts_ns.min()), int(batch.ts_ns.max())
        st.first_ns = tmin if st.first_ns is None else min(st.first_ns, tmin)
        st.last_ns = tmax if st.last_ns is None else max(st.last_ns, tmax)
        if self._next_report is None:
            self._next_report = (tmin // self._interval + 1) * self._interval

        self._batch, self._dec = batch, dec
        self.meter.process(dec, batch)
        self._sight(batch, dec, ok)
        self.meter.expire(st.last_ns)
        self._conversations_evicted()
        self._sync_meter_stats()
        if st.last_ns >= self._next_report:
            self._report(all_=False)
            self._next_report = (st.last_ns // self._interval + 1) * self._interval
        self._batch = self._dec = self._view = None
        self._plists = None
        self._syn_l = None
        if self._combined:
            self._combine()
        if not self._all_records:
            self._settle()
        st.observations += out.occurrences
        return out

    def finish(self) -> SensorOutput:
        """End of capture: end every flow, hand over every stream, emit all aggregates."""
        out = self._out = SensorOutput()
        self.meter.flush()
        self._conversations_evicted()
        self._sync_meter_stats()
        self._report(all_=True)
        if self._combined:
            self._combine()
        if not self._all_records:
            self._settle()
        self.stats.observations += out.occurrences
        return out

    def close(self) -> None:
        """Let go of everything the engine holds (after :meth:`finish`); it cannot be fed again,
        and ``stats`` stay readable.

        The meter calls back into the engine, so the two form a reference cycle, and everything
        the engine holds (remembered results, aggregates, evidence tracking: hundreds of thousands
        of objects) would wait for the cyclic collector: at the end of ``discover`` on the bench's
        hospital capture that one collection took over a second. With the hooks dropped,
        reference counting frees it all as soon as the caller drops the engine."""
        self.meter.detach()
        for table in (self._cache, self._memo, self._syn_memo, self._sightings, self._convs):
            table.clear()
        for other in (self._track, self._refs, self._streams, self._repeats):
            other.clear()
        self._ended.clear()
        self._out = SensorOutput()
        self._closed = True

    # --- meter hooks -----------------------------------------------------------------------------
    def _on_view(self, view: BatchView) -> None:
        assert self._dec is not None
        self._view = view
        self._plists = None
        pay = self._dec.pay_len[view.order]
        interesting = (pay > 0) | ((view.bits & (_B_SYNS | B_END)) != 0)
        cc = np.zeros(interesting.shape[0] + 1, dtype=np.int64)
        np.cumsum(interesting, out=cc[1:])
        self._cc = cc  # read at two positions per update: no per-packet list
        self._interesting = interesting
        self._interesting_l = None
        syns = (view.bits & _B_SYNS) != 0
        cs = np.zeros(syns.shape[0] + 1, dtype=np.int64)
        np.cumsum(syns, out=cs[1:])
        self._csyn = cs
        self._syns = syns
        self._syn_rst = (view.bits & _B_SYN_RST) != 0
        self._syn_l = None

    def _on_update(self, f: FlowState, s: int, e: int) -> None:
        if self._cc[e] == self._cc[s]:
            return
        ext = f.ext
        if ext is None:
            ext = f.ext = self._new_ext(f)
        if isinstance(ext, _TcpExt):
            self._tcp(f, ext, s, e)
        elif isinstance(ext, _ProbeExt):
            self._datagrams(f, ext, s, e)
        elif ext:
            self._l2_frames(f, ext, s, e)

    def _new_ext(self, f: FlowState) -> object:
        tcode = f.tcode
        if tcode == T_TCP:
            if not self._tcp_ds and not self._syn_ds:
                return _NOTHING
            return _TcpExt()
        if tcode == T_L2:
            return self._l2.get(f.ethertype, _NOTHING)
        if tcode == T_UDP:
            key = (f.lo_port, f.hi_port)
            port_ds = self._udp_port_cache.get(key)
            if port_ds is None:
                port_ds = tuple(
                    d for d in self._udp_ds if f.lo_port in d.udp_ports or f.hi_port in d.udp_ports
                )
                if len(self._udp_port_cache) > 65536:
                    self._udp_port_cache.clear()
                self._udp_port_cache[key] = port_ds
            if not port_ds and not self._udp_ds:
                return _NOTHING
            return _ProbeExt(port_ds)
        if tcode in (T_ICMP, T_ICMP6) and self._icmp_ds[tcode]:
            ext = _ProbeExt(())
            ext.matched = self._icmp_ds[tcode]
            ext.probed = [True, True]
            return ext
        return _NOTHING

    def _on_end(self, f: FlowState, reason: str) -> None:
        ext = f.ext
        if isinstance(ext, _TcpExt):
            for d in (0, 1):
                if ext.streams[d] is not None:
                    self._handoff(f, ext, d, f.last_ns)
        self._out.flows_ended += 1
        if not self._convs_by_meter:
            self._conversation(f)
        if self._all_records:
            self._out.flows.append(f.record(reason))
        else:
            self._ended.append((f, reason))

    def _settle(self) -> None:
        """``flow_records="evidence"``: records for the flows that ended in this feed and are an
        extreme (first or last occurrence) of some distinct observation.

        The observations of this feed are counted first: a flow's observations are all emitted
        before it ends (its last prefixes are handed over in ``_on_end``), and once a flow is not
        an extreme of an observation it never becomes one again (extremes only move outwards),
        so the flows left out here are exactly those no store can point to. ``refs`` counts the
        extreme positions each flow holds; an ended flow's count is dropped with it.
        """
        track, refs = self._track, self._refs
        cap = self.config.max_evidence
        for o in self._out.observations:
            ts, fl = o.ts_ns, o.flow_uid
            u = o.uid
            e = track.get(u)
            if e is None:
                track[u] = [ts, fl, ts, fl]
                refs[fl] = refs.get(fl, 0) + 2
                if len(track) > cap:
                    # forget the oldest; the flows it points to keep their counts (kept: a superset)
                    del track[next(iter(track))]
                continue
            if ts < e[0] or (ts == e[0] and fl < e[1]):
                old = e[1]
                if old in refs:
                    refs[old] -= 1
                e[0], e[1] = ts, fl
                refs[fl] = refs.get(fl, 0) + 1
            if ts > e[2] or (ts == e[2] and fl > e[3]):
                old = e[3]
                if old in refs:
                    refs[old] -= 1
                e[2], e[3] = ts, fl
                refs[fl] = refs.get(fl, 0) + 1
        ended, self._ended = self._ended, []
        flows = self._out.flows
        for f, reason in ended:
            if refs.pop(f.uid, 0) > 0:
                flows.append(f.record(reason))

    def _sync_meter_stats(self) -> None:
        ms, st = self.meter.stats, self.stats
        st.flows_created = ms.flows_created
        st.flows_expired_idle = ms.flows_expired_idle
        st.flows_expired_active = ms.flows_expired_active
        st.flows_closed = ms.flows_closed
        st.flows_evicted = ms.flows_evicted
        st.flows_end_of_capture = ms.flows_end_of_capture
        if self._streams_by_meter:
            st.streams_evicted = self.meter.streams_evicted()

    # --- dispatch --------------------------------------------------------------------------------
    def _call(self, d: Dissector, ctx: PacketContext, payload: bytes, remember: bool = True) -> None:
        """Run one dissector, remembering the results of repeated inputs.

        Dissectors are pure functions of (context, payload) (see ``dissect.base``), and devices
        repeat themselves: LLDP/CDP every 30 s, SSDP NOTIFY, mDNS, SNMP polls, and the same TCP
        stack traits in every SYN a host sends. A call whose context and payload equal a
        remembered one in everything but the timestamp and the flow gets the remembered
        observations with this call's timestamp and flow (their uid, which depends on neither,
        is reused), counted as a call all the same: the output is exactly what calling the
        dissector again gives. What "everything" is: every context field, or only the fields a
        dissector declares in ``context_fields`` (a promise its tests hold it to), and the payload
        without the ``cache_skip`` leading bytes it declares never to depend on. Results are
        kept only when every observation carries the context's timestamp and flow. TCP stream
        prefixes are cached only for dissectors that declare their context fields (HTTP: the
        same poll from the same device); with the whole context in the key they would never
        repeat (the client's port changes per connection). Dissectors from outside the bundled
        set are never cached. ``remember=False``: the caller remembers the whole packet step
        under a key at least as fine as this one (``_run``), so this cache is not consulted.
        """
        self.stats.dissector_calls += 1
        key: tuple[object, ...] | None = None
        if (
            remember
            and self._cache_cap
            and (ctx.tcp is not None or ctx.transport is not Transport.TCP or id(d) in self._ctx_fields)
            and len(payload) <= CACHE_MAX_PAYLOAD
            and id(d) in self._pure
        ):
            names = self._ctx_fields.get(id(d))
            if names is None:
                key = (
                    id(d),
                    ctx.transport,
                    ctx.src_mac,
                    ctx.dst_mac,
                    ctx.src_ip,
                    ctx.dst_ip,
                    ctx.src_port,
                    ctx.dst_port,
                    ctx.vlan,
                    ctx.ttl,
                    ctx.ethertype,
                    ctx.client_is_src,
                    ctx.tcp,
                    payload,
                )
            else:
                data = payload
                ignore = self._cache_ignore.get(id(d))
                if ignore is not None and len(payload) > ignore[0]:
                    a, b = ignore
                    data = payload[:a] + bytes(len(payload[a:b])) + payload[b:]
                skip = self._cache_skip.get(id(d), 0)
                key = (id(d), *[getattr(ctx, n) for n in names], data[skip:] if skip else data)
            hit = self._cache.get(key)
            if hit is not None:
                self.stats.dissect_cache_hits += 1
                self._cache.move_to_end(key)
                if hit:
                    self._again((hit,), ctx.ts_ns, ctx.flow_uid)
                return
        try:
            found = d.dissect(ctx, payload)
        except Exception:  # a broken dissector must not stop the sensor
            self.stats.dissector_errors += 1
            return
        if key is not None and all(o.ts_ns == ctx.ts_ns and o.flow_uid == ctx.flow_uid for o in found):
            cache = self._cache
            cache[key] = tuple(found)
            if len(cache) > self._cache_cap:
                cache.popitem(last=False)
                self.stats.dissect_cache_evicted += 1
        if found:
            self._out.observations.extend(found)

    def _memo_tag(self, ds: tuple[Dissector, ...]) -> int | None:
        """The memo's name for the dissector set ``ds``, or None when its packet steps are not
        remembered whole: only bundled (pure) dissectors that read the whole context and payload
        are. One that declares what it reads (``context_fields``, ``cache_skip``: DNS and its
        transaction id) is remembered better by ``_call``; its packets would only fill the memo
        with entries never met again. Dissectors need not be hashable: the tag is a number per
        distinct set of dissector identities (they live as long as the engine)."""
        seen = self._memo_ds.get(id(ds))
        if seen is not None and seen[0] is ds:  # the tuple itself is held, so its id is its own
            return seen[1]
        ids = tuple(map(id, ds))
        tag: int | None = self._memo_tags.setdefault(ids, len(self._memo_tags))
        if not self._cache_cap or not all(i in self._pure and i not in self._ctx_fields for i in ids):
            tag = None
        if len(self._memo_ds) >= 4096:
            self._memo_ds.clear()
        self._memo_ds[id(ds)] = (ds, tag)
        return tag

    def _remembered(self, memo: _Memo, key: tuple[object, ...], n: int, ts: int, flow_uid: str) -> bool:
        """Emit the remembered results of a whole packet step (``n`` dissector calls) again, with
        this packet's time and flow; False when ``key`` is not remembered.

        The key holds the dissectors and everything of the context and payload they read, so the
        output is what calling each of them again gives (they are pure); the calls count as
        calls and cache hits, as in ``_call``.
        """
        hit = memo.get(key)
        if hit is None:
            return False
        memo.move_to_end(key)
        st = self.stats
        st.dissector_calls += n
        st.dissect_cache_hits += n
        self._again(hit, ts, flow_uid)
        return True

    def _again(self, hit: tuple[tuple[Observation, ...], ...], ts: int, flow_uid: str) -> None:
        """Remembered observations occur again, at ``ts`` in ``flow_uid``: each as a new object,
        or under ``occurrences="combined"`` as a count and the extremes of its uid."""
        if not self._combined:
            append = self._out.observations.append
            for found in hit:
                for o in found:
                    append(_again(o, ts, flow_uid))
            return
        repeats = self._repeats
        for found in hit:
            for o in found:
                _fold(repeats, o, ts, flow_uid)

    def _combine(self) -> None:
        """``occurrences="combined"``: the output's observations become each uid's first and last
        occurrence (timestamp, then flow uid), with counts. The dissectors' own results of this
        output (``observations`` so far) are folded into the repeats, then each uid's extremes
        are made: the object itself where it is one, else the remembered one at that time and
        flow (an object equal to what ``"each"`` emits there)."""
        out = self._out
        repeats, self._repeats = self._repeats, {}
        for o in out.observations:
            _fold(repeats, o, o.ts_ns, o.flow_uid)
        combined: list[Observation] = []
        counts: dict[str, int] = {}
        append = combined.append
        for uid, (o, n, t0, f0, t1, f1) in repeats.items():
            append(o if o.ts_ns == t0 and o.flow_uid == f0 else _again(o, t0, f0))
            if t1 != t0 or f1 != f0:
                append(o if o.ts_ns == t1 and o.flow_uid == f1 else _again(o, t1, f1))
            counts[uid] = n
        out.observations = combined
        out.counts = counts

    def _run(
        self,
        memo: _Memo,
        key: tuple[object, ...] | None,
        ds: tuple[Dissector, ...],
        ctx: PacketContext,
        payload: bytes,
    ) -> None:
        """Call every dissector of ``ds`` on one packet; remember the results under ``key`` (when
        given) if no dissector failed and every observation carries the packet's time and flow."""
        out = self._out.observations
        errors = self.stats.dissector_errors
        results: list[tuple[Observation, ...]] = []
        for d in ds:
            before = len(out)
            self._call(d, ctx, payload, key is None)
            results.append(tuple(out[before:]))
        if (
            key is not None
            and self.stats.dissector_errors == errors
            and all(o.ts_ns == ctx.ts_ns and o.flow_uid == ctx.flow_uid for r in results for o in r)
        ):
            memo[key] = tuple(results)
            if len(memo) > self._cache_cap:
                memo.popitem(last=False)

    def _probe(self, d: Dissector, payload: bytes) -> bool:
        try:
            return bool(d.probe(payload))
        except Exception:
            self.stats.dissector_errors += 1
            return False

    def _packet_lists(self) -> _PacketViews:
        """Per-batch views for per-packet access (made once per batch, only when needed).

        Memoryviews of the arrays, not lists: an element read costs about twice a list
        subscript (an int is made per read), but nothing is made per packet up front, and most
        packets of a busy network are never read here (a transfer's bulk, datagrams past the
        probes): whole-batch lists cost the hospital capture about a second. ``ndarray.item``
        would cost four times a list subscript per read."""
        if self._plists is None:
            dec, view, batch = self._dec, self._view, self._batch
            assert dec is not None and view is not None and batch is not None
            self._plists = (
                view.order.data,
                dec.tcp_seq.data,
                dec.pay_len.data,
                (batch.offset + dec.pay_off).data,
                dec.pay_wire.data,
                batch.data.data,  # a memoryview: slicing it copies nothing
            )
        return self._plists

    def _payload(self, i: int) -> bytes:
        _, _, plen_l, pabs_l, _, mv = self._packet_lists()
        o = pabs_l[i]
        return bytes(mv[o : o + plen_l[i]])

    def _positions(self, s: int, e: int) -> list[int]:
        """Sorted positions in [s, e) with payload or SYN/FIN/RST."""
        if e - s > 16:
            return (np.flatnonzero(self._interesting[s:e]) + s).tolist()
        flags = self._interesting_l
        if flags is None:
            flags = self._interesting_l = self._interesting.data  # see _packet_lists
        return [k for k in range(s, e) if flags[k]]

    def _l2_frames(self, f: FlowState, ds: tuple[Dissector, ...], s: int, e: int) -> None:
        dec = self._dec
        assert dec is not None
        order_l, _, plen_l, pabs_l, _, mv = self._packet_lists()
        ts_l = self.meter._lists()[0]
        tag = self._memo_tag(ds)
        n = len(ds)
        for k in self._positions(s, e):
            i = order_l[k]
            plen = plen_l[i]
            if not plen:
                continue
            o = pabs_l[i]
            payload = bytes(mv[o : o + plen])
            ts = ts_l[k]
            smac, dmac = int(dec.src_mac[i]), int(dec.dst_mac[i])
            key: tuple[object, ...] | None = None
            if tag is not None and plen <= CACHE_MAX_PAYLOAD:
                # everything of the context but the time and flow: the MACs (one-to-one with
                # their text), the VLAN and EtherType of the flow
                key = (tag, smac, dmac, f.vlan, f.ethertype, payload)
                if self._remembered(self._memo, key, n, ts, f.uid):
                    continue
            ctx = _new_context(
                ts_ns=ts,
                flow_uid=f.uid,
                transport=Transport.L2,
                src_mac=format_mac(smac),
                dst_mac=format_mac(dmac),
                src_ip=None,
                dst_ip=None,
                src_port=0,
                dst_port=0,
                vlan=f.vlan,
                ethertype=f.ethertype,
                ttl=0,
                client_is_src=None,
                tcp=None,
            )
            self._run(self._memo, key, ds, ctx, payload)

    def _ip_ctx(
        self, f: FlowState, k: int, i: int, client_is_src: bool | None = None, tcp: TcpTraits | None = None
    ) -> PacketContext:
        dec, view = self._dec, self._view
        assert dec is not None and view is not None
        lo = bool(view.from_lo[k])
        return _new_context(
            ts_ns=int(view.ts[k]),
            flow_uid=f.uid,
            transport=f.transport,
            src_mac=format_mac(int(dec.src_mac[i])),
            dst_mac=format_mac(int(dec.dst_mac[i])),
            src_ip=f.lo_ip if lo else f.hi_ip,
            dst_ip=f.hi_ip if lo else f.lo_ip,
            src_port=f.lo_port if lo else f.hi_port,
            dst_port=f.hi_port if lo else f.lo_port,
            vlan=f.vlan,
            ethertype=int(dec.ethertype[i]),
            ttl=int(dec.ttl[i]),
            client_is_src=client_is_src,
            tcp=tcp,
        )

    def _datagrams(self, f: FlowState, ext: _ProbeExt, s: int, e: int) -> None:
        """UDP and ICMP: port-matched dissectors get every payload packet, probed ones a few."""
        view = self._view
        assert view is not None
        if not ext.port_ds and ext.seen[0] >= PROBE_PACKETS and ext.seen[1] >= PROBE_PACKETS:
            f.ext = _NOTHING
            return
        for k in self._positions(s, e):
            i = int(view.order[k])
            if ext.port_ds:
                self._datagram(f, ext.port_ds, k, i, self._payload(i))
                continue
            dr = 0 if view.from_lo[k] else 1
            ext.seen[dr] += 1
            if ext.seen[dr] > PROBE_PACKETS:
                continue
            payload = b""
            if not ext.matched and not ext.probed[dr]:
                ext.probed[dr] = True
                payload = self._payload(i)
                for d in self._udp_ds:
                    if self._probe(d, payload):
                        ext.matched = (d,)
                        break
            if ext.matched:
                self._datagram(f, ext.matched, k, i, payload or self._payload(i))
            elif ext.probed[0] and ext.probed[1]:
                f.ext = _NOTHING  # neither direction matched: nothing more to do for this flow
                return

    def _datagram(self, f: FlowState, ds: tuple[Dissector, ...], k: int, i: int, payload: bytes) -> None:
        """One UDP/ICMP payload to ``ds``, remembered whole when the same context and payload
        come again (a DHCP client's requests, SSDP NOTIFYs, SNMP polls ...)."""
        key: tuple[object, ...] | None = None
        tag = self._memo_tag(ds) if len(payload) <= CACHE_MAX_PAYLOAD else None
        if tag is not None:
            dec, view = self._dec, self._view
            assert dec is not None and view is not None
            lo = bool(view.from_lo[k])
            # the context of ``_ip_ctx`` but the time and flow (MACs as integers: one-to-one)
            key = (
                tag,
                f.transport,
                int(dec.src_mac[i]),
                int(dec.dst_mac[i]),
                lo,
                f.lo_ip,
                f.hi_ip,
                f.lo_port,
                f.hi_port,
                f.vlan,
                int(dec.ethertype[i]),
                int(dec.ttl[i]),
                payload,
            )
            if self._remembered(self._memo, key, len(ds), int(view.ts[k]), f.uid):
                return
        self._run(self._memo, key, ds, self._ip_ctx(f, k, i), payload)

    def _tcp(self, f: FlowState, ext: _TcpExt, s: int, e: int) -> None:
        dec, view, batch = self._dec, self._view, self._batch
        assert dec is not None and view is not None and batch is not None
        if ext.done[0] and ext.done[1]:
            # streams are over: only SYNs (retransmitted, or a reused port) still matter
            if not self._syn_ds or self._csyn[e] == self._csyn[s]:
                return
            positions = (np.flatnonzero(self._syns[s:e]) + s).tolist()
        elif ext.done[0] or ext.done[1]:
            # One direction is over (its prefix handed over or dropped): of its packets only
            # SYNs and RSTs still matter, so the bulk direction of a transfer costs no Python.
            live_lo = not ext.done[0]
            if e - s > 16:
                view_lo = view.from_lo[s:e]
                keep = self._interesting[s:e] & ((view_lo if live_lo else ~view_lo) | self._syn_rst[s:e])
                positions = (np.flatnonzero(keep) + s).tolist()
            else:
                _, bits_l, from_lo_l = self.meter._lists()
                positions = [
                    k for k in self._positions(s, e) if from_lo_l[k] == live_lo or bits_l[k] & _B_SYN_RST
                ]
            if not positions:
                return
        else:
            positions = self._positions(s, e)
        order_l, seq_l, plen_l, pabs_l, pwire_l, mv = self._packet_lists()
        ts_l, bits_l, from_lo_l = self.meter._lists()
        limit = self.config.stream_prefix_bytes
        streams, done = ext.streams, ext.done
        ndone = done[0] + done[1]
        for n, k in enumerate(positions):
            i = order_l[k]
            b = bits_l[k]
            dr = 0 if from_lo_l[k] else 1
            if b & _B_SYNS:
                if ext.isn[dr] is None:
                    ext.isn[dr] = (seq_l[i] + 1) & _M32
                if self._syn_ds:
                    self._syn(f, k, i, bool(b & (B_SYNACK_LO | B_SYNACK_HI)))
            if not done[dr]:
                plen = plen_l[i]
                if plen:
                    st = streams[dr]
                    seq = seq_l[i]
                    o = pabs_l[i]
                    if plen < pwire_l[i]:
                        # cut by the snap length: the stream has a hole after this segment
                        self._stream_data(f, ext, dr, seq, bytes(mv[o : o + plen]), ts_l[k])
                        if streams[dr] is not None:
                            self._handoff(f, ext, dr, ts_l[k])
                        done[dr] = True
                    elif st is not None and st.decided and seq == st.next_seq and not st.pending:
                        # the common case: the next in-order segment
                        st.buf += mv[o : o + plen]
                        st.next_seq = (seq + plen) & _M32
                        if len(st.buf) >= limit:
                            self._handoff(f, ext, dr, ts_l[k])
                    else:
                        self._stream_data(f, ext, dr, seq, bytes(mv[o : o + plen]), ts_l[k])
                if b & B_FIN:
                    if streams[dr] is not None:
                        self._handoff(f, ext, dr, ts_l[k])
                    done[dr] = True
            if b & B_RST:
                for d in (0, 1):
                    if streams[d] is not None:
                        self._handoff(f, ext, d, ts_l[k])
                    done[d] = True
            if done[0] + done[1] != ndone:
                # A direction ended here (its prefix handed over or dropped): the rest of the
                # segment goes through the filters above, so a transfer's bulk direction after
                # its first bytes costs no Python per packet.
                if n + 1 < len(positions):
                    self._tcp(f, ext, k + 1, e)
                return

    def _syn_rows(self) -> _SynRows:
        """Per-batch lists of what ``_syn`` reads, for the SYN/SYN-ACK positions only (built on
        the first SYN of a batch: element reads of NumPy arrays cost more than the work)."""
        rows = self._syn_l
        if rows is None:
            dec, view, batch = self._dec, self._view, self._batch
            assert dec is not None and view is not None and batch is not None
            sp = np.flatnonzero(self._syns)
            ii = view.order[sp]
            nat = native()
            rows = self._syn_l = _SynRows(
                nat.syn_key if nat is not None else _syn_key,
                dict(zip(sp.tolist(), range(sp.shape[0]), strict=True)),
                batch.offset[ii].tolist(),
                batch.caplen[ii].tolist(),
                dec.l3_off[ii].tolist(),
                dec.l4_off[ii].tolist(),
                dec.ip_version[ii].tolist(),
                dec.src_mac[ii].tolist(),
                dec.ttl[ii].tolist(),
                view.ts[sp].tolist(),
                view.from_lo[sp].tolist(),
                batch.data.data,
            )
        return rows

    def _syn(self, f: FlowState, k: int, i: int, syn_ack: bool) -> None:
        rows = self._syn_rows()
        r = rows.rank[k]
        start = rows.offset[r]
        pkt = rows.data[start : start + rows.caplen[r]]  # a view: nothing is copied
        l3, l4, ipv = rows.l3[r], rows.l4[r], rows.ipv[r]
        key: tuple[object, ...] | None = None
        if self._syn_memo_on and self._cache_cap:
            # One host's SYNs share their traits: the whole SYN step (traits, context, every SYN
            # dissector) is remembered per sender, TTL and traits key.
            src_ip = f.lo_ip if rows.from_lo[r] else f.hi_ip
            key = (rows.key(pkt, l3, l4, ipv, syn_ack), rows.src_mac[r], src_ip, rows.ttl[r])
            if self._remembered(self._syn_memo, key, len(self._syn_ds), rows.ts[r], f.uid):
                return
        traits = _tcp_traits(pkt, l3, l4, ipv, syn_ack)
        self._run(
            self._syn_memo,
            key,
            self._syn_ds,
            self._ip_ctx(f, k, i, client_is_src=not syn_ack, tcp=traits),
            b"",
        )

    def _tcp_port_ds(self, f: FlowState) -> tuple[Dissector, ...]:
        side = f.server_side()
        ports = (f.lo_port, f.hi_port) if side < 0 else ((f.lo_port,) if side == 0 else (f.hi_port,))
        found: list[Dissector] = []
        for p in ports:
            ds = self._tcp_port_cache.get(p)
            if ds is None:
                ds = self._tcp_port_cache[p] = tuple(d for d in self._tcp_ds if p in d.tcp_ports)
            found.extend(d for d in ds if d not in found)
        return tuple(found)

    def _stream_data(self, f: FlowState, ext: _TcpExt, dr: int, seq: int, data: bytes, ts: int) -> None:
        st = ext.streams[dr]
        if st is None:
            st = ext.streams[dr] = _Stream(ext.isn[dr])
            self._streams[(f.id, dr)] = (f, dr)
            if len(self._streams) > self.config.max_streams:
                (_, _), (vf, vd) = self._streams.popitem(last=False)
                self.stats.streams_evicted += 1
                vext = vf.ext
                assert isinstance(vext, _TcpExt)
                self._handoff(vf, vext, vd, vf.last_ns)
                if vf is f and vd == dr:
                    return
        if st.next_seq is None:
            st.next_seq = seq
        limit = self.config.stream_prefix_bytes
        rel = (seq - st.next_seq) & _M32
        if rel >= 0x8000_0000:
            rel -= 0x1_0000_0000
        if rel <= 0:
            self._append(st, data, -rel)
            while st.pending and len(st.buf) < limit:
                progressed = False
                for pseq in list(st.pending):
                    r = (pseq - st.next_seq) & _M32
                    if r >= 0x8000_0000:
                        r -= 0x1_0000_0000
                    if r <= 0:
                        self._append(st, st.pending.pop(pseq), -r)
                        progressed = True
                if not progressed:
                    break
        elif rel <= OOO_WINDOW and len(st.pending) < MAX_PENDING:
            if len(data) > len(st.pending.get(seq, b"")):
                st.pending[seq] = data
        else:
            # a gap we will not see filled (capture loss): hand over what is in order
            self._handoff(f, ext, dr, ts)
            return
        if not st.decided and st.buf:
            st.decided = True
            if not self._decide(f, bytes(st.buf)):
                self._drop(f, ext, dr)
                return
        if len(st.buf) >= limit:
            self._handoff(f, ext, dr, ts)

    def _decide(self, f: FlowState, head: bytes) -> bool:
        """Whether to keep a TCP direction whose first in-order bytes are ``head``: a dissector
        has the port, or one's probe accepts them (probed in order, up to the first yes)."""
        return bool(self._tcp_port_ds(f)) or any(self._probe(d, head) for d in self._tcp_ds)

    @staticmethod
    def _append(st: _Stream, data: bytes, skip: int) -> None:
        if skip < len(data):
            st.buf += data[skip:]
            st.next_seq = ((st.next_seq or 0) + len(data) - skip) & _M32

    def _drop(self, f: FlowState, ext: _TcpExt, dr: int) -> None:
        ext.streams[dr] = None
        ext.done[dr] = True
        self._streams.pop((f.id, dr), None)

    def _handoff(self, f: FlowState, ext: _TcpExt, dr: int, ts: int) -> None:
        """Hand one direction's prefix to its dissectors, once; the direction is then done."""
        st = ext.streams[dr]
        self._drop(f, ext, dr)
        if st is None or not st.buf:
            return
        self._deliver(f, dr, ts, bytes(st.buf[: self.config.stream_prefix_bytes]))

    def _deliver(self, f: FlowState, dr: int, ts: int, prefix: bytes) -> None:
        """Hand direction ``dr``'s prefix (not empty) to its dissectors: those of the port, then
        those whose probe accepts it."""
        targets = self._tcp_port_ds(f)
        targets += tuple(d for d in self._tcp_ds if d not in targets and self._probe(d, prefix))
        if not targets:
            return
        lo = dr == 0
        lo_mac, hi_mac = (f.a_mac, f.b_mac) if f.a_is_lo else (f.b_mac, f.a_mac)
        side = f.server_side()
        ctx = _new_context(
            ts_ns=ts,
            flow_uid=f.uid,
            transport=Transport.TCP,
            src_mac=format_mac(lo_mac if lo else hi_mac),
            dst_mac=format_mac(hi_mac if lo else lo_mac),
            src_ip=f.lo_ip if lo else f.hi_ip,
            dst_ip=f.hi_ip if lo else f.lo_ip,
            src_port=f.lo_port if lo else f.hi_port,
            dst_port=f.hi_port if lo else f.lo_port,
            vlan=f.vlan,
            ethertype=0,
            ttl=0,
            client_is_src=None if side < 0 else side != dr,
            tcp=None,
        )
        for d in targets:
            self._call(d, ctx, prefix)

    # --- aggregates ------------------------------------------------------------------------------
    def _sight(self, batch: PacketBatch, dec: Decoded, ok: npt.NDArray[np.bool_]) -> None:
        """Add the batch to the sightings (see ``sightings.py``); evicted ones are emitted at once."""
        evicted = self._sightings.update(batch, dec, ok)
        if evicted:
            self.stats.sightings_evicted += len(evicted)
            self._out.sightings.extend(evicted)

    def _conversation(self, f: FlowState) -> None:
        """Add an ended flow to its conversation (see ``conversation_args``; the C flow table
        does the same in C when both tables are C, ``_convs_by_meter``)."""
        evicted = self._convs.add(*conversation_args(f))
        if evicted is not None:
            self.stats.conversations_evicted += 1
            self._out.conversations.append(conversation_of(evicted))

    def _conversations_evicted(self) -> None:
        """The conversations the meter's ended flows evicted (``_convs_by_meter``), in order: as
        ``_conversation`` emits them, and before any report of this feed."""
        for row in self.meter.evicted_conversations():
            self.stats.conversations_evicted += 1
            self._out.conversations.append(conversation_of(row))

    def _report(self, *, all_: bool) -> None:
        out = self._out
        out.sightings.extend(self._sightings.report(all_))
        out.conversations.extend(self._convs.report(all_))


__all__ = ["SensorConfig", "SensorEngine", "SensorOutput", "SensorStats", "port_server"]
