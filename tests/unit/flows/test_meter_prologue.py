"""The meter's per-batch set-up in C (``_meter.c``) equals its NumPy reference, array by array.

``FlowMeter.process`` starts each batch by computing every packet's flow key, sorting the
packets by flow and cutting them into segments (``_prologue_numpy``); the C extension does the
same in two passes (``_prologue_native``). Hypothesis draws decoded batches from small value
pools, so keys repeat (flows with many packets), directions meet, idle gaps cut segments, and
odd values (negative ports, VLAN -1, L2 frames with IP fields set, decode errors) come up.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wardwatch.sensor.capture import _common
from wardwatch.sensor.capture.batch import PacketBatch
from wardwatch.sensor.flows.decode import Decoded
from wardwatch.sensor.flows.meter import FlowMeter

_DTYPES = {
    "error": np.uint8,
    "transport": np.uint8,
    "ip_proto": np.uint8,
    "vlan": np.int32,
    "src_hi": np.uint64,
    "src_lo": np.uint64,
    "dst_hi": np.uint64,
    "dst_lo": np.uint64,
    "src_port": np.int32,
    "dst_port": np.int32,
    "ethertype": np.int64,
    "src_mac": np.uint64,
    "dst_mac": np.uint64,
    "tcp_flags": np.int32,
}
# pools: few values each, so that drawn packets share flows; the extremes of each type included
_POOLS: dict[str, list[int]] = {
    "error": [0, 0, 0, 0, 3],
    "transport": [0, 1, 1, 2, 2, 3, 4, 5],
    "ip_proto": [0, 6, 17, 1, 58, 255],
    "vlan": [-1, -1, 0, 7, 4095],
    "src_hi": [0, 1, 2**64 - 1],
    "src_lo": [0, 0xFFFF_0A00_0001, 0xFFFF_0A00_0002, 2**64 - 1],
    "dst_hi": [0, 1, 2**64 - 1],
    "dst_lo": [0, 0xFFFF_0A00_0001, 0xFFFF_0A00_0002, 2**64 - 1],
    "src_port": [0, 80, 443, 50000, 65535, -1],
    "dst_port": [0, 80, 443, 50000, 65535, -1],
    "ethertype": [0x0800, 0x0806, 0x88CC, 0x20000],
    "src_mac": [0, 1, 0x0000_5E00_5301, 2**48 - 1, 2**64 - 1],
    "dst_mac": [0, 0xFFFF_FFFF_FFFF, 0x0000_5E00_5302],
    "tcp_flags": [0, 0x02, 0x12, 0x10, 0x11, 0x04, 0x14, 0x18, 0x3F],
}


@st.composite
def batches(draw: st.DrawFn) -> tuple[Decoded, PacketBatch]:
    n = draw(st.integers(0, 120))
    cols: dict[str, Any] = {}
    for name, pool in _POOLS.items():
        picks = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
        cols[name] = np.array(picks, dtype=_DTYPES[name])
    # timestamps: mostly rising in small steps, with jumps past the idle timeouts and some going
    # back (real captures are not always ordered); the last entries reach the int64 extremes
    steps = draw(st.lists(st.sampled_from([0, 1, 5, 10**9, 200 * 10**9, -(10**9)]), min_size=n, max_size=n))
    ts = np.cumsum(np.array(steps, dtype=np.int64)) + 10**18
    if n and draw(st.booleans()):
        ts[-1] = draw(st.sampled_from([np.iinfo(np.int64).min, np.iinfo(np.int64).max]))
    wirelen = np.array(draw(st.lists(st.integers(0, 2**31 - 1), min_size=n, max_size=n)), dtype=np.int32)
    zeros = {f.name: np.zeros(n, dtype=np.int64) for f in fields(Decoded)}
    dec = Decoded(**{**zeros, **cols})
    batch = PacketBatch(
        data=np.zeros(0, dtype=np.uint8),
        offset=np.zeros(n, dtype=np.int64),
        caplen=np.zeros(n, dtype=np.int32),
        wirelen=wirelen,
        ts_ns=ts,
        linktype=np.ones(n, dtype=np.int32),
        first_index=0,
        source="<hypothesis>",
    )
    return dec, batch


# decode_path only selects C or NumPy for the whole test: nothing in it needs resetting per input
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches(), st.sampled_from([(120.0, None, None), (1.0, 30.0, 0.5)]))
def test_native_prologue_equals_numpy(
    decode_path: str, drawn: tuple[Decoded, PacketBatch], timeouts: tuple[float, float | None, float | None]
) -> None:
    nat = _common._NATIVE
    if nat is None or decode_path == "pure":
        pytest.skip("compares the C extension with NumPy: runs once, where the extension is built")
    dec, batch = drawn
    idle, tcp, udp = timeouts
    meter = FlowMeter(idle_timeout_s=idle, tcp_idle_timeout_s=tcp, udp_idle_timeout_s=udp)
    want_view, want_iter = meter._prologue_numpy(dec, batch)
    want_segs = list(want_iter)
    want_cums = meter._cums
    got_view, got_iter = meter._prologue_native(nat, dec, batch)
    got_segs = list(got_iter)
    for name in ("order", "ts", "from_lo", "bits"):
        want, got = getattr(want_view, name), getattr(got_view, name)
        assert got.dtype == want.dtype and got.tolist() == want.tolist(), name
    assert got_segs == want_segs
    for k in range(len(got_segs)):  # the same Python types, not only equal values
        assert [type(v) for v in got_segs[k]] == [type(v) for v in want_segs[k]]
    if want_segs:
        assert [c.tolist() for c in meter._cums] == [c.tolist() for c in want_cums]


def test_bad_arrays_are_refused(decode_path: str) -> None:
    nat = _common._NATIVE
    if nat is None or decode_path == "pure":
        pytest.skip("the C extension's argument checks: runs once, where it is built")
    n = 4
    u8 = np.zeros(n, dtype=np.uint8)
    i32 = np.zeros(n, dtype=np.int32)
    u64 = np.zeros(n, dtype=np.uint64)
    i64 = np.zeros(n, dtype=np.int64)
    outs = [i64, u64, u64, u64, u64, u64, np.zeros(n, dtype=bool), u64]
    args = [u8, u8, u8, i32, u64, u64, u64, u64, i32, i32, i64, u64]
    assert nat.meter_keys(*args, *outs) == n
    with pytest.raises(ValueError, match="vlan has the wrong item size"):
        nat.meter_keys(*args[:3], i64, *args[4:], *outs)
    with pytest.raises(ValueError, match="src_mac has the wrong length"):
        nat.meter_keys(*args[:11], u64[:2], *outs)
    with pytest.raises(TypeError, match="takes 20 arguments"):
        nat.meter_keys(*args)
    # an order that points outside the batch is refused, not followed
    order = np.array([0, 1, 2, 7], dtype=np.int64)
    seg_args = [u8, i64, i32, i32, u64, u64, np.zeros(6, dtype=np.int64)]
    view = [
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=bool),
        np.zeros(n, dtype=np.int64),
    ]
    cums = [np.zeros(n + 1, dtype=np.int64) for _ in range(3)]
    with pytest.raises(ValueError, match="sorted position 3 is out of range"):
        nat.meter_segments(
            n, order, i64, u64, u64, u64, u64, u64, np.zeros(n, dtype=bool), *seg_args, *view, *cums
        )
