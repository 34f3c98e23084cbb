"""The flow table and segment loop in C (``FlowTable``, ``_flowtable.c``) equal the Python
``FlowMeter``, hook call by hook call.

``NativeFlowMeter`` must call ``on_update(flow, start, end)`` and ``on_end(flow, reason)`` in the
same order with the same arguments as the Python reference, with flows whose fields are equal
at every call, and keep the same counters and the same live flows in the same order. Hypothesis
feeds both the same batches (the prologue test's strategy: repeated keys, both directions, idle
gaps, TCP flags of every kind, timestamps going back and reaching the int64 extremes, L2 and
IPv6 flows whose texts come from Python), with small flow caps so eviction runs, and sweeps and
flushes as the engine does.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import DATA, DEMO
from tests.unit.flows.test_meter_prologue import batches

from wardwatch.sensor.capture import _common
from wardwatch.sensor.capture.batch import PacketBatch
from wardwatch.sensor.capture.reader import read_packets
from wardwatch.sensor.flows import engine as engine_mod
from wardwatch.sensor.flows import meter as meter_mod
from wardwatch.sensor.flows.conversations import (
    NativeConversationTable,
    PyConversationTable,
    conversation_args,
)
from wardwatch.sensor.flows.decode import Decoded
from wardwatch.sensor.flows.engine import SensorConfig, SensorEngine
from wardwatch.sensor.flows.meter import FlowMeter, FlowState, NativeFlowMeter, new_flow_meter

_FIELDS = (
    "uid", "id", "key", "tcode", "cls", "transport", "vlan", "lo_ip", "hi_ip", "lo_port", "hi_port",
    "ethertype", "a_is_lo", "a_mac", "b_mac", "first_ns", "last_ns", "pk_lo", "pk_hi", "by_lo",
    "by_hi", "server", "server_final", "fin_lo", "fin_hi", "close_ns", "touch",
)  # fmt: skip


def _state(f: FlowState) -> tuple[Any, ...]:
    values = tuple(getattr(f, name) for name in _FIELDS)
    # the same Python types too (bool, not int; None, not 0)
    return values + tuple(type(v).__name__ for v in values) + (f.server_side(),)


class _Recorder:
    """Hooks that write down every call and the flow as the hook sees it. With ``convs`` fed from
    Python, ``on_end`` adds each ended flow to it as the engine's Python path does."""

    def __init__(self, convs: NativeConversationTable | None = None, feed: bool = False) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.convs = convs
        self.feed = feed
        self.evicted: list[Any] = []

    def on_update(self, f: FlowState, s: int, e: int) -> None:
        self.events.append(("update", s, e, _state(f), f.ext))
        f.ext = (f.ext or 0) + 1  # the engine keeps its per-flow state here

    def on_end(self, f: FlowState, reason: str) -> None:
        self.events.append(("end", reason, _state(f), f.record(reason)))
        if self.feed and self.convs is not None:
            row = self.convs.add(*conversation_args(f))
            if row is not None:
                self.evicted.append(row)

    def take_evicted(self, meter: FlowMeter) -> list[Any]:
        rows, self.evicted = [*self.evicted, *meter.evicted_conversations()], []
        return rows


def _need_native(decode_path: str) -> Any:
    nat = _common._NATIVE
    if nat is None or decode_path == "pure":
        pytest.skip("compares the C flow table with the Python one: runs once, where the extension is built")
    return nat


def _run(meter: FlowMeter, rec: _Recorder, feed: list[tuple[Decoded, PacketBatch]]) -> list[Any]:
    """Feed the batches as the engine does (process, then a sweep at the batch's last time), then
    flush; the hook calls and the meter's state after each step."""
    seen: list[Any] = []
    for dec, batch in feed:
        view = meter.process(dec, batch)
        seen.append(("view", view.order.tolist(), view.bits.tolist()))
        if len(batch):
            meter.expire(int(batch.ts_ns.max()))
        seen.append(("after", len(meter), [_state(f) for f in meter.flows()], _stats(meter)))
        seen.append(("evicted", rec.take_evicted(meter)))
    meter.flush()
    seen.append(("flushed", len(meter), _stats(meter), rec.take_evicted(meter)))
    if rec.convs is not None:
        seen.append(("conversations", rec.convs.report(True), rec.convs.evicted))
    return [*rec.events, *seen]


def _stats(meter: FlowMeter) -> tuple[int, ...]:
    s = meter.stats
    return (
        s.flows_created,
        s.flows_expired_idle,
        s.flows_expired_active,
        s.flows_closed,
        s.flows_evicted,
        s.flows_end_of_capture,
    )


def _pair(
    nat: Any, conv_cap: int = 0, **kw: Any
) -> tuple[tuple[FlowMeter, _Recorder], tuple[FlowMeter, _Recorder]]:
    """The Python meter and the C one with recording hooks. With ``conv_cap``, each has a C
    conversations table of that cap: the Python meter's hooks feed theirs (conversation_args,
    the engine's Python path), the C meter feeds its own (``feed_conversations``)."""
    out = []
    for native in (False, True):
        rec = _Recorder(NativeConversationTable(conv_cap) if conv_cap else None, feed=not native)
        meter = NativeFlowMeter(nat, **kw) if native else FlowMeter(**kw)
        meter.on_update, meter.on_end = rec.on_update, rec.on_end
        if native and rec.convs is not None:
            assert meter.feed_conversations(rec.convs)
        out.append((meter, rec))
    return out[0], out[1]


def _real_ports(drawn: tuple[Decoded, PacketBatch]) -> tuple[Decoded, PacketBatch]:
    """The prologue test also draws port -1, which the decoder never gives: it overwrites the
    key's transport bits, and the Python meter stops at the unknown transport (the C table refuses
    it with a ValueError)."""
    dec, batch = drawn
    for ports in (dec.src_port, dec.dst_port):
        ports[ports < 0] = 65535
    return dec, batch


_TIMEOUTS = st.sampled_from(
    [
        {"idle_timeout_s": 120.0},
        {"idle_timeout_s": 1.0, "tcp_idle_timeout_s": 30.0, "udp_idle_timeout_s": 0.5},
        # an active timeout and a close grace short enough to cut segments in two
        {"idle_timeout_s": 60.0, "active_timeout_s": 1e-9 * 6, "tcp_close_grace_s": 1e-9 * 3},
        {"idle_timeout_s": 300.0, "active_timeout_s": 2.0, "tcp_close_grace_s": 0.0},
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(batches().map(_real_ports), min_size=1, max_size=4),
    _TIMEOUTS,
    st.sampled_from([1, 2, 3, 5, 500_000]),
    st.sampled_from([24, 3]),
    st.sampled_from([0, 1, 3, 1000]),
)
def test_native_meter_equals_python(
    decode_path: str,
    feed: list[tuple[Decoded, PacketBatch]],
    timeouts: dict[str, float],
    cap: int,
    idx_bits: int,
    conv_cap: int,
) -> None:
    nat = _need_native(decode_path)
    # idx_bits 3: batches of 8 packets or more take the NumPy set-up (the path of batches of
    # 2**24 packets or more), in both meters
    old = meter_mod._IDX_BITS
    meter_mod._IDX_BITS = idx_bits
    try:
        (py, py_rec), (c, c_rec) = _pair(nat, conv_cap, max_flows=cap, **timeouts)
        want = _run(py, py_rec, feed)
        got = _run(c, c_rec, feed)
    finally:
        meter_mod._IDX_BITS = old
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"step {k}"


_V4 = [0xFFFF_0A00_0001, 0xFFFF_0A00_0002, 0xFFFF_0A00_0003]


@st.composite
def tcp_batches(draw: st.DrawFn) -> tuple[Decoded, PacketBatch]:
    """Few flows, mostly TCP, timestamps in nanosecond steps against timeouts of a few ns: every
    packet can cross an active timeout, a close grace or an idle gap, and handshakes, FINs from
    both sides and RSTs come in every order, inside segments of every length."""
    from dataclasses import fields

    n = draw(st.integers(1, 40))
    pick = lambda pool: np.array(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)))  # noqa: E731
    src, dst = pick([0, 1, 2]), pick([0, 1, 2])
    cols: dict[str, Any] = {f.name: np.zeros(n, dtype=np.int64) for f in fields(Decoded)}
    transport = pick([1, 1, 1, 1, 1, 2, 0]).astype(np.uint8)
    cols.update(
        error=np.zeros(n, dtype=np.uint8),
        transport=transport,
        ip_proto=np.where(transport == 2, 17, 6).astype(np.uint8),
        vlan=np.full(n, -1, dtype=np.int32),
        src_hi=np.zeros(n, dtype=np.uint64),
        src_lo=np.array(_V4, dtype=np.uint64)[src],
        dst_hi=np.zeros(n, dtype=np.uint64),
        dst_lo=np.array(_V4, dtype=np.uint64)[dst],
        src_port=np.where(src <= dst, 50000, 80).astype(np.int32),
        dst_port=np.where(src <= dst, 80, 50000).astype(np.int32),
        ethertype=np.full(n, 0x0800, dtype=np.int64),
        src_mac=(src + 1).astype(np.uint64),
        dst_mac=(dst + 1).astype(np.uint64),
        tcp_flags=pick([0x10, 0x18, 0x02, 0x02, 0x02, 0x12, 0x11, 0x04, 0x14, 0x01]).astype(np.int32),
    )
    steps = pick([0, 1, 1, 2, 3, 5, 11, 40])
    batch = PacketBatch(
        data=np.zeros(0, dtype=np.uint8),
        offset=np.zeros(n, dtype=np.int64),
        caplen=np.zeros(n, dtype=np.int32),
        wirelen=pick([60, 1514]).astype(np.int32),
        ts_ns=np.cumsum(steps).astype(np.int64) + draw(st.sampled_from([10**18, 10**18 + 20])),
        linktype=np.ones(n, dtype=np.int32),
        first_index=0,
        source="<hypothesis>",
    )
    return Decoded(**cols), batch


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(tcp_batches(), min_size=1, max_size=4),
    st.sampled_from([3e-9, 6e-9, 20e-9]),
    st.sampled_from([0.0, 2e-9, 5e-9]),
    st.sampled_from([8e-9, 30e-9]),
    st.sampled_from([1, 2, 500_000]),
    st.sampled_from([0, 2, 1000]),
)
def test_native_meter_equals_python_on_tcp_edges(
    decode_path: str,
    feed: list[tuple[Decoded, PacketBatch]],
    active: float,
    grace: float,
    idle: float,
    cap: int,
    conv_cap: int,
) -> None:
    nat = _need_native(decode_path)
    # batches restart near the same time: later batches go back in time, as merged captures can
    kw: dict[str, Any] = {"max_flows": cap, "idle_timeout_s": idle, "active_timeout_s": active}
    (py, py_rec), (c, c_rec) = _pair(nat, conv_cap, tcp_close_grace_s=grace, **kw)
    want = _run(py, py_rec, feed)
    got = _run(c, c_rec, feed)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"step {k}"


def test_the_engine_takes_the_c_table_where_built(decode_path: str) -> None:
    meter = new_flow_meter()
    if decode_path == "pure" or _common._NATIVE is None:
        assert type(meter) is FlowMeter
    else:
        assert type(meter) is NativeFlowMeter


def _one_tcp_packet(ts: int = 10**18) -> tuple[Decoded, PacketBatch]:
    """A batch of one SYN from 10.0.0.1:50000 to 10.0.0.2:443."""
    from dataclasses import fields

    n = 1
    cols = {f.name: np.zeros(n, dtype=np.int64) for f in fields(Decoded)}
    cols.update(
        error=np.zeros(n, dtype=np.uint8),
        transport=np.ones(n, dtype=np.uint8),
        ip_proto=np.full(n, 6, dtype=np.uint8),
        vlan=np.full(n, -1, dtype=np.int32),
        src_hi=np.zeros(n, dtype=np.uint64),
        src_lo=np.full(n, 0xFFFF_0A00_0001, dtype=np.uint64),
        dst_hi=np.zeros(n, dtype=np.uint64),
        dst_lo=np.full(n, 0xFFFF_0A00_0002, dtype=np.uint64),
        src_port=np.full(n, 50000, dtype=np.int32),
        dst_port=np.full(n, 443, dtype=np.int32),
        ethertype=np.full(n, 0x0800, dtype=np.int64),
        src_mac=np.full(n, 0x0000_5E00_5301, dtype=np.uint64),
        dst_mac=np.full(n, 0x0000_5E00_5302, dtype=np.uint64),
        tcp_flags=np.full(n, 0x02, dtype=np.int32),
    )
    batch = PacketBatch(
        data=np.zeros(0, dtype=np.uint8),
        offset=np.zeros(n, dtype=np.int64),
        caplen=np.zeros(n, dtype=np.int32),
        wirelen=np.full(n, 60, dtype=np.int32),
        ts_ns=np.full(n, ts, dtype=np.int64),
        linktype=np.ones(n, dtype=np.int32),
        first_index=0,
        source="<test>",
    )
    return Decoded(**cols), batch


def test_a_hook_that_raises_leaves_the_table_usable(decode_path: str) -> None:
    nat = _need_native(decode_path)
    calls: list[str] = []

    def boom(f: FlowState, s: int, e: int) -> None:
        calls.append(f.uid)
        raise KeyError("from the hook")

    meter = NativeFlowMeter(nat, on_update=boom)
    dec, batch = _one_tcp_packet()
    with pytest.raises(KeyError, match="from the hook"):
        meter.process(dec, batch)
    assert len(meter) == 1 and meter.stats.flows_created == 1
    meter.on_update = lambda f, s, e: calls.append("again")
    meter.process(*_one_tcp_packet(10**18 + 1))
    assert calls[-1] == "again" and len(meter) == 1  # the same flow, found again
    ended: list[str] = []
    meter.on_end = lambda f, reason: ended.append(reason)
    meter.flush()
    assert ended == ["end-of-capture"] and len(meter) == 0


def test_a_hook_may_not_call_back_into_the_table(decode_path: str) -> None:
    nat = _need_native(decode_path)
    meter = NativeFlowMeter(nat)
    meter.on_update = lambda f, s, e: meter.expire(0)
    with pytest.raises(RuntimeError, match="called back into its table"):
        meter.process(*_one_tcp_packet())
    meter.on_update = lambda f, s, e: None
    meter.process(*_one_tcp_packet(10**18 + 1))  # and the table works afterwards
    assert len(meter) == 1


def test_flows_are_made_by_the_table_only(decode_path: str) -> None:
    nat = _need_native(decode_path)
    kind = meter_mod._native_flow_type(nat)
    with pytest.raises(TypeError):
        kind()
    meter = NativeFlowMeter(nat)
    meter.process(*_one_tcp_packet())
    (f,) = meter.flows()
    assert isinstance(f, meter_mod.FlowMethods)
    with pytest.raises(AttributeError):
        f.uid = "x"  # type: ignore[misc]
    f.ext = "engine state"
    assert f.ext == "engine state"


def test_bad_arguments_are_refused(decode_path: str) -> None:
    nat = _need_native(decode_path)
    kind = meter_mod._native_flow_type(nat)
    heads = ("h",) * 6
    ports = frozenset({2575})
    with pytest.raises(TypeError, match="subclass of FlowCore"):
        nat.FlowTable((1, 1, 1), 1, 1, 10, FlowState, (None,) * 6, heads, meter_mod._texts, ports)
    with pytest.raises(ValueError, match="max_flows"):
        nat.FlowTable((1, 1, 1), 1, 1, 0, kind, (None,) * 6, heads, meter_mod._texts, ports)
    with pytest.raises(ValueError, match="service_ports"):
        nat.FlowTable((1, 1, 1), 1, 1, 10, kind, (None,) * 6, heads, meter_mod._texts, [70000])
    table = nat.FlowTable((1, 1, 1), 1, 1, 10, kind, (None,) * 6, heads, meter_mod._texts, ports)
    with pytest.raises(TypeError, match="ConversationTable is needed"):
        table.set_conversations(PyConversationTable(5))
    assert table.take_evicted() == []
    i64, u64 = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.uint64)
    arrays = [
        np.array([0, 5], dtype=np.int64), u64, u64, u64, u64, u64, i64, np.zeros(2, dtype=bool), i64,
        np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64), i64, u64, u64,
        np.zeros(6, dtype=np.int64), i64, i64, i64, i64, np.zeros(10, dtype=np.uint8),
    ]  # fmt: skip
    noop = lambda *a: None  # noqa: E731
    with pytest.raises(ValueError, match="sorted position 1 is out of range"):
        table.process(*arrays, noop, noop)
    with pytest.raises(TypeError, match="on_end must be callable"):
        table.process(*arrays, noop, None)
    with pytest.raises(ValueError, match="cnl has the wrong length"):
        table.process(*arrays[:9], i64, *arrays[10:], noop, noop)
    with pytest.raises(ValueError, match="pay_wire has the wrong length"):
        table.process(*arrays[:19], np.zeros(3, dtype=np.int64), arrays[20], noop, noop)
    with pytest.raises(TypeError, match="5 arguments or None"):
        table.set_streams(10, 10)
    with pytest.raises(TypeError, match="decide must be callable"):
        table.set_streams(10, 10, None, None, noop)
    with pytest.raises(ValueError, match="limit must not be negative"):
        table.set_streams(-1, 10, None, noop, noop)
    assert table.streams_evicted() == 0
    assert len(table) == 0


_CAPTURES = [*sorted(DATA.glob("captures/**/*.pcap")), DEMO / "hospital-demo.pcap.gz"]


def _engine_output(path: Path, config: SensorConfig) -> tuple[list[Any], dict[str, Any]]:
    engine = SensorEngine(config)
    seen: list[Any] = []
    for out in [*(engine.feed(b) for b in read_packets(path)), engine.finish()]:
        seen.append(
            (
                [(o.uid, o.ts_ns, o.flow_uid) for o in out.observations],
                out.flows,
                out.sightings,
                out.conversations,
                out.counts,
            )
        )
    return seen, asdict(engine.stats)


@pytest.mark.parametrize("path", _CAPTURES, ids=lambda p: p.name)
@pytest.mark.parametrize("max_flows", [500_000, 2])
def test_engine_output_is_the_same_with_either_table(
    decode_path: str, path: Path, max_flows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every fixture capture through the whole engine: the C table gives the Python table's
    observations, flow records, sightings, conversations and counters, feed by feed (a cap of 2
    evicts all the time)."""
    _need_native(decode_path)
    config = SensorConfig(max_flows=max_flows, occurrences="combined")
    got = _engine_output(path, config)
    monkeypatch.setattr(engine_mod, "new_flow_meter", lambda **kw: FlowMeter(**kw))
    want = _engine_output(path, config)
    assert got == want
