"""The TCP streams kept by the C flow table (``set_streams``, "TCP streams" in ``_flowtable.c``)
equal the engine's Python walk (``SensorEngine._tcp``, the reference), call by call.

Hypothesis draws real frames (Ethernet, IPv4, TCP, decoded by the real decoder) of a few flows:
handshakes, data in order, retransmitted, overlapping, out of order within the window and past
it, sequence numbers wrapping at 2**32, FINs and RSTs from either side, segments cut by the
snap length, idle gaps that end flows, and small caps on prefixes, open streams and flows. Both
engines get recording dissectors (one by port, one by probe, one that raises, one for SYNs);
every dissector call (its context and bytes), every output and every counter must be equal.
"""

from __future__ import annotations

from dataclasses import asdict
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.unit.flows.flowpkts import FakeDissector, eth, ipv4, tcp

from wardwatch.model.flow import Transport
from wardwatch.sensor.capture import _common
from wardwatch.sensor.capture.batch import PacketBatch
from wardwatch.sensor.flows import engine as engine_mod
from wardwatch.sensor.flows.engine import SensorConfig, SensorEngine
from wardwatch.sensor.flows.meter import FlowMeter, NativeFlowMeter

_HOSTS = {
    "a": ("10.0.0.1", "02:00:00:00:00:01"),
    "b": ("10.0.0.2", "02:00:00:00:00:02"),
    "c": ("10.0.0.3", "02:00:00:00:00:03"),
}
# client, client port, server, server port (80: the port dissector's)
_FLOWS = [("a", 50000, "b", 80), ("a", 50001, "c", 9999), ("c", 40000, "b", 80)]
# mostly data, so that streams live long enough to hold segments out of order
_FLAGS = ["PA"] * 14 + ["A", "A", "S", "SA", "FA", "F", "R", "RA"]


def _dissectors() -> list[FakeDissector]:
    tcp_only = frozenset({Transport.TCP})
    return [
        FakeDissector("port", transports=tcp_only, tcp_ports=frozenset({80}), magic=b"P"),
        FakeDissector("probe", transports=tcp_only, magic=b"A"),
        FakeDissector("boom", transports=tcp_only, magic=b"B", raises=True),
        FakeDissector("syn", transports=tcp_only, wants_syn=True),
    ]


@st.composite
def captures(draw: st.DrawFn) -> list[list[tuple[int, bytes, int]]]:
    """Batches of (ts_ns, frame, wirelen) of the flows above."""
    isn = {
        (k, d): draw(st.sampled_from([0, 1000, 2**32 - 7, 2**31 - 3]))
        for k in range(len(_FLOWS))
        for d in (0, 1)
    }
    cursor = dict(isn)
    n = draw(st.integers(1, 80))
    ts = 10**18
    packets: list[tuple[int, bytes, int]] = []
    for _ in range(n):
        # mostly one flow, mostly from its client: long streams, holes filled late
        k = draw(st.sampled_from([0, 0, 0, 0, 1, 2]))
        d = draw(st.sampled_from([0, 0, 0, 1]))  # 0: from the client
        client, cport, server, sport = _FLOWS[k]
        (src, smac), (dst, dmac) = (
            (_HOSTS[client], _HOSTS[server]) if d == 0 else (_HOSTS[server], _HOSTS[client])
        )
        ports = (cport, sport) if d == 0 else (sport, cport)
        flags = draw(st.sampled_from(_FLAGS))
        size = 0 if "S" in flags or "R" in flags else draw(st.sampled_from([0, 1, 3, 7, 12, 30]))
        head = draw(st.sampled_from([b"P", b"A", b"B", b"x"]))
        payload = (head + draw(st.binary(min_size=size, max_size=size)))[:size]
        where = draw(
            st.sampled_from(["next"] * 6 + ["again", "overlap", "ahead", "ahead5", "ahead5", "edge", "far"])
        )
        c = cursor[(k, d)]
        seq = {
            "next": c,
            "again": c - size,
            "overlap": c - 2,
            "ahead": c + draw(st.integers(1, 40)),
            "ahead5": c + 5,  # the same place again, with other bytes
            "edge": c + draw(st.sampled_from([65_536, 65_537])),  # the window's edge
            "far": c + 70_000,
        }[where] % 2**32
        if "S" in flags:
            seq = (isn[(k, d)] - 1) % 2**32
        elif where == "next":
            cursor[(k, d)] = (c + size) % 2**32
        frame = eth(dmac, smac, 0x0800, ipv4(src, dst, 6, tcp(*ports, seq, 1, flags, payload)))
        cut = draw(st.sampled_from([0, 0, 0, 0, 2]))  # the snap length cut the payload's end
        cut = min(cut, size)
        ts += draw(st.sampled_from([1] * 8 + [2, 1000, 5 * 10**9]))
        packets.append((ts, frame[: len(frame) - cut], len(frame)))
    splits = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    edges = [0, *splits, n]
    return [packets[a:b] for a, b in pairwise(edges) if b > a]


def _run(batches: list[list[tuple[int, bytes, int]]], config: SensorConfig) -> tuple[Any, ...]:
    ds = _dissectors()
    engine = SensorEngine(config, ds)
    outs = [engine.feed(PacketBatch.from_packets(b)) for b in batches]
    outs.append(engine.finish())
    seen = [
        (
            [(o.uid, o.ts_ns, o.flow_uid, o.protocol, o.fields) for o in out.observations],
            out.flows,
            out.counts,
        )
        for out in outs
    ]
    return seen, [(d.name, d.calls) for d in ds], asdict(engine.stats), type(engine.meter)


_ROOMY = {"stream_prefix_bytes": 16384, "max_streams": 50_000, "max_flows": 500_000, "idle_timeout_s": 120.0}
_TIGHT = st.fixed_dictionaries(
    {
        "stream_prefix_bytes": st.sampled_from([1, 4, 16, 64, 16384]),
        "max_streams": st.sampled_from([0, 1, 2, 50_000]),
        "max_flows": st.sampled_from([2, 500_000]),
        "idle_timeout_s": st.sampled_from([120.0, 2.0]),
    }
)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    captures(),
    # half the time nothing is cut short: long streams, where holes are filled late
    st.one_of(st.just(_ROOMY), _TIGHT),
    st.sampled_from(["each", "combined"]),
)
def test_c_streams_equal_the_python_walk(
    decode_path: str,
    monkeypatch: pytest.MonkeyPatch,
    batches: list[list[tuple[int, bytes, int]]],
    caps: dict[str, Any],
    occurrences: Any,
) -> None:
    if _common._NATIVE is None or decode_path == "pure":
        pytest.skip("compares the C streams with the Python walk: runs once, where the extension is built")
    config = SensorConfig(tcp_close_grace_s=1.0, occurrences=occurrences, **caps)
    got = _run(batches, config)
    with monkeypatch.context() as m:
        m.setattr(engine_mod, "new_flow_meter", lambda **kw: FlowMeter(**kw))
        want = _run(batches, config)
    assert got[3] is NativeFlowMeter and want[3] is FlowMeter
    assert got[2] == want[2]  # the counters: dissector calls and errors, streams evicted ...
    assert got[1] == want[1]  # every dissector call, its context and bytes, in order
    assert got[0] == want[0]


def test_without_tcp_dissectors_the_table_keeps_no_streams(decode_path: str) -> None:
    if _common._NATIVE is None or decode_path == "pure":
        pytest.skip("the C table's streams: where the extension is built")
    udp_only = FakeDissector("dns", transports=frozenset({Transport.UDP}), udp_ports=frozenset({53}))
    engine = SensorEngine(SensorConfig(), [udp_only])
    assert not engine._streams_by_meter
    assert SensorEngine(SensorConfig(), _dissectors())._streams_by_meter


def test_the_streams_callbacks_are_let_go_at_close(decode_path: str) -> None:
    """``close`` drops the callbacks the C table holds (they reach the engine: a cycle)."""
    if _common._NATIVE is None or decode_path == "pure":
        pytest.skip("the C table's streams: where the extension is built")
    import gc
    import weakref

    gc.disable()
    try:
        engine = SensorEngine(SensorConfig(), _dissectors())
        engine.finish()
        engine.close()
        ref = weakref.ref(engine.meter)  # held by the engine (itself not weakly referable compiled)
        del engine
        assert ref() is None  # both freed by reference counting alone
    finally:
        gc.enable()


def _client_packet(ts: int, seq: int, flags: str, payload: bytes) -> tuple[int, bytes, int]:
    (src, smac), (dst, dmac) = _HOSTS["a"], _HOSTS["b"]
    frame = eth(dmac, smac, 0x0800, ipv4(src, dst, 6, tcp(50000, 80, seq, 1, flags, payload)))
    return ts, frame, len(frame)


@pytest.mark.parametrize("table", ["c", "python"])
def test_a_held_segment_is_replaced_only_by_a_longer_one(
    decode_path: str, monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    """Out-of-order bytes are held per sequence number; the same place again replaces them only
    when it brings more bytes, and a hole filled lets them in, trimmed to what is new."""
    if table == "python":
        monkeypatch.setattr(engine_mod, "new_flow_meter", lambda **kw: FlowMeter(**kw))
    c = 1000
    packets = [
        _client_packet(1, c - 1, "S", b""),
        _client_packet(2, c, "PA", b"P1234"),  # in order: kept (port 80)
        _client_packet(3, c + 8, "PA", b"abcdef"),  # ahead: held
        _client_packet(4, c + 8, "PA", b"ABCDEF"),  # as long: the first stays
        _client_packet(5, c + 18, "PA", b"tail"),  # held too (it overlaps what comes before it)
        _client_packet(6, c + 8, "PA", b"XYZXYZXYZXYZ"),  # longer: replaces it
        _client_packet(7, c + 5, "PA", b"567"),  # the hole: both held segments come in
        _client_packet(8, c + 22, "FA", b""),
    ]
    ds = _dissectors()
    engine = SensorEngine(SensorConfig(), ds)
    engine.feed(PacketBatch.from_packets(packets))
    engine.finish()
    assert [p for _, p in ds[0].calls] == [b"P1234567XYZXYZXYZXYZil"]
    assert engine._streams_by_meter is (
        table == "c" and _common._NATIVE is not None and decode_path != "pure"
    )
