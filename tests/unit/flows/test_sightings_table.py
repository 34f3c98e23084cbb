"""The sightings table in C (``_native.SightingTable``) against the Python reference, call by call.

``PySightingTable`` is the reference. Random batches (MACs: none, multicast, unicast, values past
2**63; addresses: none, IPv4, IPv6, the unspecified ones, values past 2**63; decode errors) and
small caps, so that eviction happens all the time, with dirty and full reports in between: both
tables must return equal evictions and reports, and hold as many entries, at every step. Plus
hand-checked examples of the filter, eviction order and dirty order, the engine on real captures
with both tables, and the argument checks of the C type.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import DATA
from tests.unit.flows.flowpkts import arp, eth, ipv4, ipv6, udp

from wardwatch.sensor.capture import _common
from wardwatch.sensor.capture.batch import PacketBatch
from wardwatch.sensor.capture.reader import read_packets
from wardwatch.sensor.flows.decode import _OUT_DTYPES, V4_MAPPED, Decoded, decode
from wardwatch.sensor.flows.engine import SensorConfig, SensorEngine
from wardwatch.sensor.flows.sightings import (
    NativeSightingTable,
    PySightingTable,
    SightingTable,
    new_sighting_table,
)
from wardwatch.store.ports import Sighting

C_TYPE = getattr(_common._NATIVE, "SightingTable", None)
needs_c = pytest.mark.skipif(C_TYPE is None, reason="the C extension has no SightingTable (not built)")


@pytest.fixture(autouse=True)
def decode_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Overrides the directory's two-way fixture: these tests make both tables themselves."""
    monkeypatch.delenv("WARDWATCH_PURE_PYTHON", raising=False)
    yield "both"


def c_table(cap: int) -> NativeSightingTable:
    assert C_TYPE is not None
    return NativeSightingTable(cap, C_TYPE)


class Pkt(NamedTuple):
    """What the table reads of one packet."""

    mac: int
    ipv: int = 0
    hi: int = 0
    lo: int = 0
    ts: int = 0
    wirelen: int = 60
    ttl: int = 0
    ok: bool = True


def arrays(pkts: Sequence[Pkt]) -> tuple[PacketBatch, Decoded, npt.NDArray[np.bool_]]:
    """A batch and its Decoded with the fields the table reads set (the rest zero)."""
    n = len(pkts)
    cols: dict[str, npt.NDArray[Any]] = {
        f.name: np.zeros(n, dtype=dt) for f, dt in zip(dataclasses.fields(Decoded), _OUT_DTYPES, strict=True)
    }
    cols["src_mac"][:] = [p.mac for p in pkts]
    cols["ip_version"][:] = [p.ipv for p in pkts]
    cols["src_hi"][:] = [p.hi for p in pkts]
    cols["src_lo"][:] = [p.lo for p in pkts]
    cols["ttl"][:] = [p.ttl for p in pkts]
    cols["error"][:] = [0 if p.ok else 4 for p in pkts]
    dec = Decoded(**cols)
    batch = PacketBatch(
        data=np.zeros(0, dtype=np.uint8),
        offset=np.zeros(n, dtype=np.int64),
        caplen=np.zeros(n, dtype=np.int32),
        wirelen=np.array([p.wirelen for p in pkts], dtype=np.int32),
        ts_ns=np.array([p.ts for p in pkts], dtype=np.int64),
        linktype=np.ones(n, dtype=np.int32),
        first_index=0,
        source="<test>",
    )
    return batch, dec, dec.error == 0


def v4(a: int) -> int:
    return V4_MAPPED | a


# --- random batches ---------------------------------------------------------------------------------
MACS = st.one_of(
    st.sampled_from(
        [
            0,  # no Ethernet header (raw IP)
            0x001122334455,
            0x001122334456,
            0x020000000001,
            0x01005E000001,  # multicast (IPv4)
            0x333300000001,  # multicast (IPv6)
            0xFFFFFFFFFFFF,  # broadcast
            (1 << 63) | 5,  # bit 40 clear, top bit set: sorts last unsigned, first signed
        ]
    ),
    st.integers(0, (1 << 48) - 1),
)
ADDRS = st.one_of(
    st.sampled_from(
        [
            (0, 0, 0),  # not IP
            (4, 0, v4(0)),  # 0.0.0.0
            (4, 0, v4(0x0A000001)),
            (4, 0, v4(0x0A000002)),
            (4, 0, v4(0xC0A80101)),
            (6, 0, 0),  # ::
            (6, 0, V4_MAPPED),  # ::ffff:0.0.0.0, also unspecified
            (6, 0xFE80000000000000, 1),
            (6, 0x20010DB800000000, (1 << 63) | 7),
            (6, (1 << 63) | 3, 0),
            (0, 5, 6),  # an address without an IP version counts as none
            (4, 0, 0),
        ]
    ),
    st.tuples(st.sampled_from([4, 6]), st.integers(0, 3), st.integers(0, 3)),
)
PKTS = st.builds(
    lambda mac, addr, ts, wirelen, ttl, ok: Pkt(mac, addr[0], addr[1], addr[2], ts, wirelen, ttl, ok),
    MACS,
    ADDRS,
    st.integers(-(2**40), 2**40),
    st.integers(0, 65535),
    st.integers(0, 255),
    st.sampled_from([True, True, True, False]),  # mostly decoded
)
OPS = st.lists(
    st.one_of(
        st.lists(PKTS, max_size=24),
        st.sampled_from(["dirty", "all"]),
    ),
    max_size=14,
)


def run_both(cap: int, ops: Sequence[list[Pkt] | str]) -> list[list[Sighting]]:
    """Apply the operations to both tables, asserting equal results at each step; returns them."""
    py: SightingTable = PySightingTable(cap)
    c: SightingTable = c_table(cap)
    seen: list[list[Sighting]] = []
    for op in ops:
        if isinstance(op, str):
            want, got = py.report(op == "all"), c.report(op == "all")
        else:
            args = arrays(op)
            want, got = py.update(*args), c.update(*args)
        assert got == want, op
        assert len(c) == len(py) and c.evicted == py.evicted
        seen.append(want)
    assert c.report(True) == py.report(True)
    return seen


@needs_c
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cap=st.integers(1, 5), ops=OPS)
def test_c_table_matches_python_small_caps(cap: int, ops: list[list[Pkt] | str]) -> None:
    run_both(cap, ops)


@needs_c
@settings(max_examples=100, deadline=None)
@given(cap=st.integers(1, 200), ops=OPS)
def test_c_table_matches_python_any_cap(cap: int, ops: list[list[Pkt] | str]) -> None:
    run_both(cap, ops)


@needs_c
def test_growth_and_many_evictions_match() -> None:
    # Many keys through small and large caps: the C index grows, and evicts in long runs (the
    # backward-shift deletion) while keys keep coming back.
    rng = np.random.default_rng(7)
    for cap in (1, 3, 64, 1000, 5000):
        ops: list[list[Pkt] | str] = []
        for b in range(30):
            macs = rng.integers(1, 4000, size=300) << 1  # even: unicast, bit 40 clear
            ips = rng.integers(0, 3, size=300)
            ops.append(
                [
                    Pkt(int(m), 4, 0, v4(int(a)), ts=b * 1000 + k, wirelen=k, ttl=int(m) % 256)
                    for k, (m, a) in enumerate(zip(macs, ips, strict=True))
                ]
            )
            if b % 4 == 3:
                ops.append("dirty" if b % 8 == 3 else "all")
        run_both(cap, ops)


# --- hand-checked examples -----------------------------------------------------------------------
A, B, C = 0x020000000001, 0x020000000002, 0x020000000003


def sighting(
    mac: str | None, ip: str | None, first: int, last: int, packets: int, nbytes: int, ttl: int
) -> Sighting:
    return Sighting(mac=mac, ip=ip, first_ns=first, last_ns=last, packets=packets, bytes=nbytes, ttl=ttl)


def tables(cap: int) -> list[SightingTable]:
    return [PySightingTable(cap), c_table(cap)] if C_TYPE is not None else [PySightingTable(cap)]


@pytest.mark.parametrize("which", ["python", "c"])
def test_filter_and_aggregation(which: str) -> None:
    if which == "c" and C_TYPE is None:
        pytest.skip("the C extension has no SightingTable (not built)")
    t = PySightingTable(10) if which == "python" else c_table(10)
    batch = [
        Pkt(B, 4, 0, v4(0x0A000002), ts=50, wirelen=100, ttl=64),
        Pkt(B, 4, 0, v4(0x0A000002), ts=20, wirelen=60, ttl=128),
        Pkt(B, 4, 0, v4(0x0A000002), ts=30, wirelen=1, ttl=1, ok=False),  # not decoded: left out
        Pkt(A, 0, ts=40, wirelen=42),  # ARP and the like: the MAC alone
        Pkt(A, 4, 0, v4(0), ts=41, wirelen=10, ttl=255),  # 0.0.0.0 (DHCP discover): the MAC alone
        Pkt(0x01005E000001, 4, 0, v4(0x0A000003), ts=1),  # multicast source: left out
        Pkt(0, 6, 0xFE80000000000000, 1, ts=7, wirelen=80, ttl=255),  # raw IP: no MAC
        Pkt(0, 6, 0, 0, ts=8),  # raw IP from :: : nothing to tell
        Pkt(0, 0, ts=9),  # no MAC, no IP
    ]
    assert t.update(*arrays(batch)) == []
    # dirty order = the order the batch's keys are applied: by MAC, then IP
    assert t.report(False) == [
        sighting(None, "fe80::1", 7, 7, 1, 80, 255),
        sighting("02:00:00:00:00:01", None, 40, 41, 2, 52, 255),
        sighting("02:00:00:00:00:02", "10.0.0.2", 20, 50, 2, 160, 128),
    ]
    assert t.report(False) == []
    assert len(t) == 3


@pytest.mark.parametrize("which", ["python", "c"])
def test_eviction_order_and_dirty_order(which: str) -> None:
    if which == "c" and C_TYPE is None:
        pytest.skip("the C extension has no SightingTable (not built)")
    t = PySightingTable(2) if which == "python" else c_table(2)
    ip = v4(0x0A000001)
    assert t.update(*arrays([Pkt(B, 4, 0, ip, ts=2), Pkt(A, 4, 0, ip, ts=1)])) == []
    # A again: the LRU order becomes B, A; the dirty order stays A, B (set earlier, kept)
    assert t.update(*arrays([Pkt(A, 4, 0, ip, ts=3, wirelen=40)])) == []
    # C is new and the table is full: B, the least recently updated, goes (and leaves the dirty set)
    gone = t.update(*arrays([Pkt(C, 4, 0, ip, ts=4)]))
    assert gone == [sighting("02:00:00:00:00:02", "10.0.0.1", 2, 2, 1, 60, 0)]
    assert t.evicted == 1
    assert [s.mac for s in t.report(False)] == ["02:00:00:00:00:01", "02:00:00:00:00:03"]
    # nothing dirty now; A updated: dirty A only, LRU order C, A
    t.update(*arrays([Pkt(A, 4, 0, ip, ts=5)]))
    assert t.report(False) == [sighting("02:00:00:00:00:01", "10.0.0.1", 1, 5, 3, 160, 0)]
    assert [s.mac for s in t.report(True)] == ["02:00:00:00:00:03", "02:00:00:00:00:01"]
    # one batch of two new keys evicts both old ones, oldest first, in key order of the batch
    gone = t.update(*arrays([Pkt(B, 0, ts=6), Pkt(A + 0x10, 0, ts=6)]))
    assert [s.mac for s in gone] == ["02:00:00:00:00:03", "02:00:00:00:00:01"]
    assert [s.mac for s in t.report(False)] == ["02:00:00:00:00:02", "02:00:00:00:00:11"]
    t.clear()
    assert len(t) == 0 and t.report(True) == [] and t.evicted == 3


def test_a_key_evicted_within_its_batch() -> None:
    # cap 1: every new key of a batch evicts the one before it, the last one stays
    for t in tables(1):
        gone = t.update(*arrays([Pkt(C, ts=3), Pkt(A, ts=1), Pkt(B, ts=2)]))
        assert [s.mac for s in gone] == ["02:00:00:00:00:01", "02:00:00:00:00:02"]
        assert [s.mac for s in t.report(False)] == ["02:00:00:00:00:03"]


# --- real frames and the engine ----------------------------------------------------------------------
def frame(kind: int, src: str, ip_last: int, ttl: int) -> bytes:
    if kind == 0:
        return eth(
            "ff:ff:ff:ff:ff:ff",
            src,
            0x0806,
            arp(1, src, f"10.0.0.{ip_last}", "00:00:00:00:00:00", "10.0.0.9"),
        )
    if kind == 1:
        return eth(
            "02:00:00:00:00:99",
            src,
            0x0800,
            ipv4(f"10.0.0.{ip_last}", "10.0.0.9", 17, udp(1, 2, b"x"), ttl=ttl),
        )
    if kind == 2:
        return eth(
            "02:00:00:00:00:99",
            src,
            0x86DD,
            ipv6(f"fe80::{ip_last}", "fe80::9", 17, udp(1, 2, b"y"), hlim=ttl),
        )
    if kind == 3:
        return eth(
            "ff:ff:ff:ff:ff:ff", src, 0x0800, ipv4("0.0.0.0", "255.255.255.255", 17, udp(68, 67, b"z"))
        )
    return eth("02:00:00:00:00:99", src, 0x0800, b"\x45")  # truncated IPv4: a decode error


@needs_c
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cap=st.integers(1, 6),
    batches=st.lists(
        st.lists(
            st.tuples(
                st.integers(0, 4),
                st.sampled_from(
                    ["02:00:00:00:00:01", "02:00:00:00:00:02", "00:11:22:33:44:55", "01:00:5e:00:00:01"]
                ),
                st.integers(1, 3),
                st.integers(1, 255),
                st.integers(0, 10**6),
            ),
            min_size=1,
            max_size=16,
        ),
        max_size=6,
    ),
)
def test_decoded_frames_match(cap: int, batches: list[list[tuple[int, str, int, int, int]]]) -> None:
    py, c = PySightingTable(cap), c_table(cap)
    for rows in batches:
        b = PacketBatch.from_packets([(ts, frame(k, src, last, ttl)) for k, src, last, ttl, ts in rows])
        dec = decode(b)
        assert c.update(b, dec, dec.ok) == py.update(b, dec, dec.ok)
        assert c.report(False) == py.report(False)
    assert c.report(True) == py.report(True)


CAPTURES = sorted(DATA.glob("captures/**/*.pcap"))[:12]


@needs_c
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_engine_sightings_same_with_either_table(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def run(pure: bool) -> tuple[list[list[Sighting]], int]:
        if pure:
            monkeypatch.setenv("WARDWATCH_PURE_PYTHON", "1")
        else:
            monkeypatch.delenv("WARDWATCH_PURE_PYTHON", raising=False)
        eng = SensorEngine(SensorConfig(max_sightings=3, report_interval_s=0.5), dissectors=[])
        assert isinstance(eng._sightings, PySightingTable if pure else NativeSightingTable)
        outs = [eng.feed(b).sightings for b in read_packets(path, batch_size=7)]
        outs.append(eng.finish().sightings)
        eng.close()
        return outs, eng.stats.sightings_evicted

    assert run(False) == run(True)


# --- selection and argument checks ---------------------------------------------------------------------
def test_factory_follows_pure_python_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDWATCH_PURE_PYTHON", "1")
    assert isinstance(new_sighting_table(5), PySightingTable)
    monkeypatch.delenv("WARDWATCH_PURE_PYTHON")
    want = PySightingTable if C_TYPE is None else NativeSightingTable
    assert isinstance(new_sighting_table(5), want)


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PySightingTable(0)
    if C_TYPE is not None:
        with pytest.raises(ValueError):
            c_table(0)
        with pytest.raises(ValueError):
            C_TYPE(-1)


@needs_c
def test_c_update_checks_its_arrays() -> None:
    assert C_TYPE is not None
    t = C_TYPE(4)
    n = 3
    good: list[npt.NDArray[np.generic]] = [
        np.ones(n, dtype=np.uint64),
        np.zeros(n, dtype=np.uint64),
        np.zeros(n, dtype=np.uint64),
        np.zeros(n, dtype=np.uint8),
        np.ones(n, dtype=np.bool_),
        np.zeros(n, dtype=np.int64),
        np.zeros(n, dtype=np.int32),
        np.zeros(n, dtype=np.uint8),
    ]
    wrong_kind = [np.int64, np.int64, np.int64, np.int8, np.uint8, np.uint64, np.uint32, np.int8]
    for k, dt in enumerate(wrong_kind):
        args = list(good)
        args[k] = good[k].astype(dt)
        with pytest.raises(ValueError, match="wrong element type"):
            t.update(*args)
        args[k] = np.zeros(n + 1, dtype=good[k].dtype)
        with pytest.raises(ValueError, match="wrong length"):
            t.update(*args)
        args[k] = np.zeros((n, 1), dtype=good[k].dtype)
        with pytest.raises(ValueError, match="one-dimensional"):
            t.update(*args)
        args[k] = np.zeros(2 * n, dtype=good[k].dtype)[::2]
        with pytest.raises((ValueError, BufferError)):
            t.update(*args)
    args = list(good)
    args[0] = np.zeros(n, dtype=np.float64)
    with pytest.raises(ValueError, match=r"item size|element type"):
        t.update(*args)
    with pytest.raises(TypeError):
        t.update(*good[:7])
    assert len(t) == 0 and t.evicted == 0
    assert t.update(*good) == [] and len(t) == 1
    assert t.report(True) == [(1, 0, 0, 0, 0, 3, 0, 0)]
    assert t.update(*(a[:0] for a in good)) == []
