"""The conversations table in C (``_native.ConversationTable``) against the Python reference.

``PyConversationTable`` is the reference. Random sequences of added flows (keys drawn from a small
pool, so that conversations repeat; IPs as None, equal texts in distinct string objects, MACs past
2**63), small caps so that eviction happens all the time, with dirty and full reports in between:
both tables must return equal evictions and reports, and hold as many entries, at every step.
Plus hand-checked examples of aggregation, eviction and dirty order, the engine on real captures
with both tables, and the argument checks of the C type.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import DATA

from wardwatch.model.flow import Conversation, Transport
from wardwatch.sensor.capture import _common
from wardwatch.sensor.capture.reader import read_packets
from wardwatch.sensor.flows.conversations import (
    ConversationTable,
    NativeConversationTable,
    PyConversationTable,
    Row,
    conversation_of,
    new_conversation_table,
)
from wardwatch.sensor.flows.decode import T_L2, T_TCP, T_UDP
from wardwatch.sensor.flows.engine import SensorConfig, SensorEngine

C_TYPE = getattr(_common._NATIVE, "ConversationTable", None)
needs_c = pytest.mark.skipif(C_TYPE is None, reason="the C extension has no ConversationTable (not built)")


@pytest.fixture(autouse=True)
def decode_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Overrides the directory's two-way fixture: these tests make both tables themselves."""
    monkeypatch.delenv("WARDWATCH_PURE_PYTHON", raising=False)
    yield "both"


def c_table(cap: int) -> NativeConversationTable:
    assert C_TYPE is not None
    return NativeConversationTable(cap, C_TYPE)


Flow = tuple[str | None, int, str | None, int, int, int, int, int, int, int]
"""add()'s arguments."""


def fresh(text: str | None) -> str | None:
    """An equal string that is another object: keys must compare by value, not identity."""
    return None if text is None else "".join(list(text))


IPS = st.sampled_from([None, "10.0.0.1", "10.0.0.2", "fe80::1", "2001:db8::7", ""])
MACS = st.sampled_from([0, 0x020000000001, 0x020000000002, (1 << 63) | 5, (1 << 64) - 1])
FLOWS = st.builds(
    lambda cip, cmac, sip, smac, tcode, port, first, span, packets, nbytes: (
        fresh(cip), cmac, fresh(sip), smac, tcode, port, first, first + span, packets, nbytes
    ),
    IPS,
    MACS,
    IPS,
    MACS,
    st.sampled_from([T_L2, T_TCP, T_UDP]),
    st.sampled_from([0, 80, 443, 0x0806, 65535]),
    st.integers(-(2**62), 2**62),
    st.integers(0, 2**40),
    st.integers(0, 2**40),
    st.integers(0, 2**50),
)  # fmt: skip
OPS = st.lists(st.one_of(FLOWS, st.sampled_from(["dirty", "all"])), max_size=40)


def run_both(cap: int, ops: Sequence[Flow | str]) -> None:
    """Apply the operations to both tables, asserting equal results at each step."""
    py: ConversationTable = PyConversationTable(cap)
    c: ConversationTable = c_table(cap)
    for op in ops:
        want: object
        got: object
        if isinstance(op, str):
            want, got = py.report(op == "all"), c.report(op == "all")
        else:
            want, got = py.add(*op), c.add(*op)
        assert got == want, op
        assert len(c) == len(py) and c.evicted == py.evicted
    assert c.report(True) == py.report(True)


@needs_c
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cap=st.integers(1, 5), ops=OPS)
def test_c_table_matches_python_small_caps(cap: int, ops: list[Flow | str]) -> None:
    run_both(cap, ops)


@needs_c
@settings(max_examples=100, deadline=None)
@given(cap=st.integers(1, 300), ops=OPS)
def test_c_table_matches_python_any_cap(cap: int, ops: list[Flow | str]) -> None:
    run_both(cap, ops)


@needs_c
def test_growth_and_many_evictions_match() -> None:
    # Many keys through small and large caps: the C index grows, and evicts in long runs (the
    # backward-shift deletion) while keys keep coming back.
    rng = np.random.default_rng(11)
    for cap in (1, 3, 64, 1000, 5000):
        ops: list[Flow | str] = []
        for k in range(12_000):
            host, port = int(rng.integers(0, 3000)), int(rng.integers(0, 4))
            ops.append((f"10.0.{host >> 8}.{host & 255}", host, "10.9.9.9", 7, T_TCP, port, k, k + 5, 2, 120))
            if k % 2500 == 2499:
                ops.append("dirty" if k % 5000 == 2499 else "all")
        run_both(cap, ops)


# --- hand-checked examples -----------------------------------------------------------------------
def tables(cap: int) -> list[ConversationTable]:
    return [PyConversationTable(cap), c_table(cap)] if C_TYPE is not None else [PyConversationTable(cap)]


def conv(
    client: str, server: str, port: int, first: int, last: int, flows: int, packets: int, nbytes: int
) -> Conversation:
    return Conversation(
        client_ip=client, client_mac="02:00:00:00:00:01", server_ip=server, server_mac=None,
        transport=Transport.TCP, server_port=port, first_ns=first, last_ns=last, flows=flows,
        packets=packets, bytes=nbytes,
    )  # fmt: skip


def add(t: ConversationTable, client: str, server: str, port: int, first: int, last: int) -> Row | None:
    return t.add(client, 0x020000000001, server, 0, T_TCP, port, first, last, 3, 100)


@pytest.mark.parametrize("which", ["python", "c"])
def test_aggregation_eviction_and_dirty_order(which: str) -> None:
    if which == "c" and C_TYPE is None:
        pytest.skip("the C extension has no ConversationTable (not built)")
    t = PyConversationTable(2) if which == "python" else c_table(2)
    assert add(t, "10.0.0.1", "10.0.0.9", 443, 50, 60) is None
    assert add(t, "10.0.0.2", "10.0.0.9", 443, 10, 20) is None
    # the first again, earlier and later: first = min, last = max, sums; LRU order now 2, 1
    assert add(t, fresh("10.0.0.1") or "", "10.0.0.9", 443, 40, 70) is None
    assert t.report(False) == [
        conv("10.0.0.1", "10.0.0.9", 443, 40, 70, 2, 6, 200),
        conv("10.0.0.2", "10.0.0.9", 443, 10, 20, 1, 3, 100),
    ]
    assert t.report(False) == []
    # another port is another conversation; the table is full: the least recently updated goes
    gone = add(t, "10.0.0.1", "10.0.0.9", 80, 80, 90)
    assert gone is not None and conversation_of(gone) == conv("10.0.0.2", "10.0.0.9", 443, 10, 20, 1, 3, 100)
    assert t.evicted == 1 and len(t) == 2
    assert t.report(False) == [conv("10.0.0.1", "10.0.0.9", 80, 80, 90, 1, 3, 100)]
    assert [c.server_port for c in t.report(True)] == [443, 80]
    # an evicted key that was dirty leaves the dirty set
    add(t, "10.0.0.1", "10.0.0.9", 443, 1, 2)
    gone = add(t, "10.0.0.3", "10.0.0.9", 22, 5, 6)
    assert gone is not None and gone[5] == 80
    assert [c.server_port for c in t.report(False)] == [443, 22]
    t.clear()
    assert len(t) == 0 and t.report(True) == [] and t.evicted == 2


def test_frames_without_addresses_and_transports() -> None:
    for t in tables(10):
        t.add(None, 0x020000000001, None, 0x020000000002, T_L2, 0x88CC, 5, 5, 1, 60)
        t.add(None, 0x020000000001, None, 0x020000000002, T_L2, 0x88CC, 9, 9, 1, 60)
        t.add("10.0.0.1", 0, "10.0.0.2", 0, T_UDP, 0x88CC, 7, 8, 2, 10)
        l2, udp = t.report(True)
        assert (l2.client_ip, l2.server_ip, l2.transport, l2.flows, l2.first_ns, l2.last_ns) == (
            None, None, Transport.L2, 2, 5, 9
        )  # fmt: skip
        assert (udp.client_mac, udp.transport, udp.server_port) == (None, Transport.UDP, 0x88CC)


# --- the engine ----------------------------------------------------------------------------------
CAPTURES = sorted(DATA.glob("captures/**/*.pcap"))[:12]


@needs_c
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_engine_conversations_same_with_either_table(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def run(pure: bool) -> tuple[list[list[Conversation]], int]:
        if pure:
            monkeypatch.setenv("WARDWATCH_PURE_PYTHON", "1")
        else:
            monkeypatch.delenv("WARDWATCH_PURE_PYTHON", raising=False)
        eng = SensorEngine(SensorConfig(max_conversations=2, report_interval_s=0.5), dissectors=[])
        assert isinstance(eng._convs, PyConversationTable if pure else NativeConversationTable)
        outs = [eng.feed(b).conversations for b in read_packets(path, batch_size=7)]
        outs.append(eng.finish().conversations)
        eng.close()
        return outs, eng.stats.conversations_evicted

    assert run(False) == run(True)


# --- selection and argument checks ---------------------------------------------------------------------
def test_factory_follows_pure_python_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDWATCH_PURE_PYTHON", "1")
    assert isinstance(new_conversation_table(5), PyConversationTable)
    monkeypatch.delenv("WARDWATCH_PURE_PYTHON")
    want = PyConversationTable if C_TYPE is None else NativeConversationTable
    assert isinstance(new_conversation_table(5), want)


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PyConversationTable(0)
    if C_TYPE is not None:
        with pytest.raises(ValueError):
            c_table(0)
        with pytest.raises(ValueError):
            C_TYPE(-1)


class Text(str):
    """A str subclass: its own __eq__ and __hash__ could run Python code inside the table."""


@needs_c
def test_c_add_checks_its_arguments() -> None:
    assert C_TYPE is not None
    t = C_TYPE(4)
    good: list[object] = ["10.0.0.1", 1, "10.0.0.2", 2, T_TCP, 80, 1, 2, 3, 4]
    bad = {
        0: [b"10.0.0.1", 5, Text("10.0.0.1")],
        1: [-1, 1 << 64, "1", 1.0],
        2: [7],
        3: [None],
        4: [1 << 63, 2.0],
        9: ["4"],
    }
    for k, values in bad.items():
        for v in values:
            args = list(good)
            args[k] = v
            with pytest.raises(TypeError):
                t.add(*args)
    with pytest.raises(TypeError, match="10 arguments"):
        t.add(*good[:9])
    assert len(t) == 0  # nothing was added by a refused call
    assert t.add(*good) is None and len(t) == 1
