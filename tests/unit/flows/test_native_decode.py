"""The C decoder (``wardwatch.sensor._native.decode_into``) against the NumPy one, field by field.

``decode_numpy`` is the reference. Compared on every fixture capture, the demo capture, a
simulated hospital, and generated frames: random bytes under every link type, and structured
frames (VLAN tags, LLC/SNAP, IPv4 options and fragments, IPv6 extension chains, TCP/UDP/ICMP)
mutated byte by byte and cut at every length. Plus the dispatch (``WARDWATCH_PURE_PYTHON``) and
the argument checks that keep the C code from reading outside its buffers.
"""

from __future__ import annotations

import dataclasses
import importlib
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import DATA, DEMO
from tests.unit.flows.flowpkts import arp, ipv4, ipv6, mac, tcp, udp

from wardwatch.sensor.capture import _common
from wardwatch.sensor.capture.batch import LinkType, PacketBatch
from wardwatch.sensor.capture.reader import read_packets
from wardwatch.sensor.flows.decode import Decoded, decode, decode_numpy
from wardwatch.simulate import SimConfig, simulate

# The module, not the function ``wardwatch.sensor.flows`` re-exports under the same name.
decode_mod = importlib.import_module("wardwatch.sensor.flows.decode")
NATIVE = _common._NATIVE
pytestmark = pytest.mark.skipif(
    NATIVE is None, reason="the C extension wardwatch.sensor._native is not built"
)

LINKTYPES = [int(x) for x in LinkType]
CAPTURES = [*sorted(DATA.glob("captures/**/*.pcap")), DEMO / "hospital-demo.pcap.gz"]


@pytest.fixture(autouse=True)
def decode_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Overrides the directory's two-way fixture: these tests call both implementations themselves."""
    monkeypatch.delenv("WARDWATCH_PURE_PYTHON", raising=False)
    yield "both"


def native_decode(batch: PacketBatch) -> Decoded:
    """``decode`` on its C path (the autouse fixture has cleared ``WARDWATCH_PURE_PYTHON``)."""
    assert _common.native() is not None
    return decode(batch)


def assert_same(batch: PacketBatch) -> Decoded:
    """Both decoders give the same arrays (dtype, shape and every value) for every field."""
    got, want = native_decode(batch), decode_numpy(batch)
    for f in dataclasses.fields(Decoded):
        a, b = getattr(got, f.name), getattr(want, f.name)
        assert a.dtype == b.dtype and a.shape == b.shape, f.name
        if not np.array_equal(a, b):
            i = int(np.flatnonzero(a != b)[0])
            start, cap = int(batch.offset[i]), int(batch.caplen[i])
            frame = bytes(batch.data[start : start + cap]).hex()
            pytest.fail(f"{f.name}[{i}]: C {a[i]} != NumPy {b[i]} (linktype {batch.linktype[i]}, {frame})")
    return got


def batch_of(frames: list[tuple[bytes, int]]) -> PacketBatch:
    b = PacketBatch.from_packets([(i, f) for i, (f, _) in enumerate(frames)])
    b.linktype = np.array([lt for _, lt in frames], dtype=np.int32)
    return b


def test_constants_agree_with_decode_py() -> None:
    assert NATIVE is not None
    c = NATIVE.CONSTANTS
    for name in [n for n in c if n[:2] in ("T_", "E_")]:
        assert c[name] == getattr(decode_mod, name), name
    assert {k[3:]: v for k, v in c.items() if k.startswith("LT_")} == {t.name: int(t) for t in LinkType}
    for name in ("MAX_VLAN_TAGS", "MAX_EXT_HEADERS", "LLC_BASE", "CISCO_SNAP_BASE", "V4_MAPPED"):
        assert c[name] == getattr(decode_mod, name), name
    assert len(decode_mod._OUT_DTYPES) == len(dataclasses.fields(Decoded))


# --- real and simulated traffic --------------------------------------------------------------------
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_fixture_captures_decode_the_same(path: Path) -> None:
    n = 0
    for batch in read_packets(path, batch_size=1000):
        assert_same(batch)
        n += len(batch)
    assert n > 0


def test_simulated_hospital_decodes_the_same(tmp_path: Path) -> None:
    out = tmp_path / "sim.pcap"
    simulate(SimConfig(devices=30, seed=11, duration_s=600.0), out)
    transports: set[int] = set()
    for batch in read_packets(out, batch_size=2048):
        transports |= set(assert_same(batch).transport.tolist())
    assert {1, 2} <= transports  # TCP and UDP were really decoded, not only errors


def test_empty_batch_and_empty_packets() -> None:
    assert len(native_decode(PacketBatch.from_packets([]))) == 0
    dec = assert_same(batch_of([(b"", lt) for lt in [*LINKTYPES, 7]]))
    assert dec.error.tolist() == [1, 1, 1, 1, 4, 4, 1, 2]


def test_zero_and_negative_caplen_read_nothing() -> None:
    # Readers never make these, but the C code must not read for them (nor fault on a stray offset).
    b = batch_of([(bytes(64), lt) for lt in LINKTYPES])
    b.caplen = np.array([0, -1, -5, 0, -1, 0, -70], dtype=np.int32)
    b.offset = np.array([0, 10**9, -(10**9), 64, 3, 2**40, 0], dtype=np.int64)
    dec = native_decode(b)
    assert (dec.error != 0).all() and (dec.pay_len == 0).all()
    b.offset = np.zeros(len(b), dtype=np.int64)
    assert_same(b)


# --- generated frames ----------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=120), st.sampled_from([*LINKTYPES, 7, 300])), max_size=16))
def test_random_bytes(frames: list[tuple[bytes, int]]) -> None:
    assert_same(batch_of(frames))


ports = st.integers(0, 65535)


@st.composite
def l4(draw: st.DrawFn, ip6: bool) -> tuple[int, bytes]:
    kind = draw(st.sampled_from(["tcp", "udp", "icmp", "other"]))
    payload = draw(st.binary(max_size=30))
    if kind == "tcp":
        opts = draw(st.binary(max_size=44))
        seg = tcp(draw(ports), draw(ports), draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1)),
                  "", payload, options=opts[: len(opts) // 4 * 4])  # fmt: skip
        # any flags, and sometimes any data offset (too small, beyond the segment)
        seg = (
            seg[:12]
            + bytes([draw(st.sampled_from([seg[12], draw(st.integers(0, 255))])), draw(st.integers(0, 255))])
            + seg[14:]
        )
        return 6, seg
    if kind == "udp":
        seg = udp(draw(ports), draw(ports), payload)
        ulen = draw(st.sampled_from([len(seg), len(seg), 0, 7, 8, 9, len(seg) - 1, len(seg) + 1, 0xFFFF]))
        return 17, seg[:4] + struct.pack("!H", max(ulen, 0)) + seg[6:]
    if kind == "icmp":
        return (58 if ip6 else 1), draw(st.binary(max_size=12))
    return draw(st.sampled_from([0, 47, 50, 132, 255])), payload


@st.composite
def network(draw: st.DrawFn) -> tuple[int, bytes]:
    kind = draw(st.sampled_from(["ipv4", "ipv6", "llc", "arp", "other"]))
    if kind == "ipv4":
        proto, seg = draw(l4(False))
        opts = draw(st.binary(max_size=40))
        pkt = ipv4("10.0.0.1", "192.168.7.9", proto, seg, ttl=draw(st.integers(0, 255)), df=draw(st.booleans()),
                   options=opts[: len(opts) // 4 * 4], frag=draw(st.sampled_from([0, 0, 1, 185])),
                   mf=draw(st.booleans()))  # fmt: skip
        total = draw(st.sampled_from([len(pkt), len(pkt), 0, 19, 20, 21, len(pkt) - 1, len(pkt) + 1, 0xFFFF]))
        pkt = pkt[:2] + struct.pack("!H", max(total, 0)) + pkt[4:]
        if draw(st.integers(0, 5)) == 0:
            pkt = bytes([draw(st.integers(0, 255))]) + pkt[1:]  # version / IHL garbage
        return 0x0800, pkt
    if kind == "ipv6":
        proto, seg = draw(l4(True))
        chain, nh = b"", proto
        for t in reversed(draw(st.lists(st.sampled_from([0, 43, 44, 51, 60]), max_size=10))):
            if t == 44:
                hdr = struct.pack(
                    "!BBHI", nh, 0, draw(st.sampled_from([0, 0, 8, 100])) << 3 | draw(st.integers(0, 1)), 9
                )
            elif t == 51:
                ln = draw(st.integers(0, 3))
                hdr = bytes([nh, ln]) + bytes((ln + 2) * 4 - 2)
            else:
                ln = draw(st.integers(0, 2))
                hdr = bytes([nh, ln]) + bytes(6 + 8 * ln)
            chain, nh = hdr + chain, t
        pkt = ipv6("2001:db8::1", "fe80::abcd", nh, seg, ext=chain, hlim=draw(st.integers(0, 255)))
        plen = len(pkt) - 40
        plen = draw(st.sampled_from([plen, plen, 0, 1, 8, plen - 1, plen + 1, 0xFFFF]))
        return 0x86DD, pkt[:4] + struct.pack("!H", max(plen, 0)) + pkt[6:]
    if kind == "llc":
        inner = (
            draw(network())
            if draw(st.integers(0, 3)) == 0
            else (0x0800, ipv4("1.2.3.4", "5.6.7.8", 17, udp(1, 2, b"x")))
        )
        body = draw(st.sampled_from([
            b"\xaa\xaa\x03\x00\x00\x0c" + struct.pack("!H", 0x2000) + bytes(20),  # CDP
            b"\xaa\xaa\x03\x00\x00\x00" + struct.pack("!H", max(inner[0], 0)) + inner[1],  # RFC 1042
            b"\xaa\xaa\x03\x00\x80\xc2\x00\x07" + bytes(10),  # SNAP, another OUI
            b"\x42\x42\x03" + bytes(35),  # STP
            b"\xf0\xf0\x00\x00" + bytes(10),  # I-format control
            b"\xaa\xaa\x03\x00\x80",
        ]))  # fmt: skip
        return -1, body  # -1: the link layer writes a length (Ethernet) or protocol 4 (SLL)
    if kind == "arp":
        return 0x0806, arp(1, "00:11:22:33:44:55", "10.0.0.1", "00:00:00:00:00:00", "10.0.0.2")
    return draw(st.integers(0, 0xFFFF)), draw(st.binary(max_size=40))


@st.composite
def structured_frame(draw: st.DrawFn) -> tuple[bytes, int]:
    et, l3 = draw(network())
    lt = draw(st.sampled_from(LINKTYPES))
    tags = b"".join(
        struct.pack("!HH", tp, tci)
        for tp, tci in draw(st.lists(st.tuples(st.sampled_from([0x8100, 0x88A8, 0x9100]), ports), max_size=5))
    )
    if et == -1:
        et = (
            (len(l3) if draw(st.booleans()) else draw(st.integers(0, 1535))) if lt == LinkType.ETHERNET else 4
        )
    if lt == LinkType.ETHERNET:
        f = mac("01:00:0c:cc:cc:cc") + mac("00:11:22:33:44:55") + tags + struct.pack("!H", et) + l3
    elif lt == LinkType.LINUX_SLL:
        f = struct.pack("!HHH", 0, 1, draw(st.sampled_from([6, 0, 8]))) + mac("00:aa:bb:cc:dd:ee") + b"\0\0"
        f += tags + struct.pack("!H", et) + l3
    elif lt == LinkType.LINUX_SLL2:
        first = struct.pack("!H", et) if not tags else tags[:2]
        f = (
            first
            + struct.pack("!HIHBB", 0, 3, 1, 0, draw(st.sampled_from([6, 0])))
            + mac("00:aa:bb:cc:dd:ee")
        )
        f += b"\0\0" + (tags[2:] + struct.pack("!H", et) if tags else b"") + l3
    elif lt == LinkType.NULL:
        f = (
            struct.pack(
                draw(st.sampled_from(["<I", ">I"])), draw(st.sampled_from([2, 24, 28, 30, 7, 0x10000]))
            )
            + l3
        )
    else:
        f = l3
    f += draw(st.sampled_from([b"", bytes(6), b"\xff" * 18]))  # Ethernet-style padding
    # Mutations: some bytes overwritten anywhere, so length fields and offsets go wrong too.
    body = bytearray(f)
    for at, value in draw(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=4)):
        if at < len(body):
            body[at] = value
    if draw(st.integers(0, 9)) == 0:
        lt = draw(st.sampled_from([*LINKTYPES, 2, 276 + 1]))  # the bytes read as another link type
    return bytes(body), lt


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(structured_frame(), min_size=1, max_size=6))
def test_structured_mutated_frames_cut_at_every_length(frames: list[tuple[bytes, int]]) -> None:
    cuts = [(f[:k], lt) for f, lt in frames for k in range(len(f) + 1)]
    assert_same(batch_of(cuts))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structured_frame())
def test_one_frame_alone_ending_its_buffer(fl: tuple[bytes, int]) -> None:
    # Each cut as the whole buffer, so a read one byte too far leaves the allocation (seen by a
    # sanitizer build of _native.c); the reference is one NumPy decode of all the cuts.
    f, lt = fl
    want = decode_numpy(batch_of([(f[:k], lt) for k in range(len(f) + 1)]))
    for k in range(len(f) + 1):
        got = native_decode(batch_of([(f[:k], lt)]))
        for field in dataclasses.fields(Decoded):
            assert getattr(got, field.name)[0] == getattr(want, field.name)[k], (field.name, k, f.hex())


def _length_field_grid() -> list[bytes]:
    """IP packets with each length field stepped over its boundaries, the rest valid."""
    pay = b"0123456789"
    out: list[bytes] = []
    for ulen in range(24):
        seg = udp(67, 68, pay)
        seg = seg[:4] + struct.pack("!H", ulen) + seg[6:]
        out += [ipv4("10.0.0.1", "10.0.0.2", 17, seg), ipv6("fe80::1", "ff02::2", 17, seg)]
    for doff in range(16):
        seg = tcp(1, 2, 3, 4, "PA", pay, options=bytes(8))
        seg = seg[:12] + bytes([doff << 4 | 1]) + seg[13:]
        out += [ipv4("10.0.0.1", "10.0.0.2", 6, seg), ipv6("fe80::1", "ff02::2", 6, seg)]
    for total in range(0, 80, 3):
        pkt = ipv4("10.0.0.1", "10.0.0.2", 6, tcp(1, 2, 3, 4, "S", pay), options=bytes(4))
        out.append(pkt[:2] + struct.pack("!H", total) + pkt[4:])
    for first in range(0x40, 0x50):
        pkt = ipv4("10.0.0.1", "10.0.0.2", 1, bytes(8), options=bytes(8))
        out.append(bytes([first]) + pkt[1:])
    for plen in range(60):
        ext = struct.pack("!BBHI", 17, 0, 0, 1)  # a first fragment header, then UDP
        pkt = ipv6("fe80::1", "ff02::2", 44, udp(5, 6, pay), ext=ext)
        out.append(pkt[:4] + struct.pack("!H", plen) + pkt[6:])
    return out


def test_length_fields_at_their_boundaries_cut_at_every_length() -> None:
    frames: list[tuple[bytes, int]] = []
    for pkt in _length_field_grid():
        version = pkt[0] >> 4
        ethertype = 0x86DD if version == 6 else 0x0800
        framed = mac("00:11:22:33:44:55") * 2 + struct.pack("!H", ethertype) + pkt + bytes(6)  # padded
        for f, lt in [(pkt, int(LinkType.RAW)), (framed, int(LinkType.ETHERNET))]:
            frames += [(f[:k], lt) for k in range(len(f) + 1)]
    dec = assert_same(batch_of(frames))
    assert len(set(dec.error.tolist())) >= 7  # the grid reaches most error codes, and success


def test_snapped_packets_report_wire_payload() -> None:
    seg = udp(5353, 5353, b"abcdefgh")
    f = mac("01:00:5e:00:00:fb") + mac("00:11:22:33:44:55") + struct.pack("!H", 0x0800)
    f += ipv4("10.0.0.1", "224.0.0.251", 17, seg)
    b = PacketBatch.from_packets([(0, f[:-3], len(f))])
    dec = assert_same(b)
    assert dec.pay_len[0] == 5 and dec.pay_wire[0] == 8


# --- dispatch ------------------------------------------------------------------------------------------
class _Spy:
    """A stand-in for the extension that counts calls and forwards them."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls = 0
        self.CONSTANTS = real.CONSTANTS

    def decode_into(self, *arrays: object) -> None:
        self.calls += 1
        self.real.decode_into(*arrays)


@pytest.mark.parametrize(
    ("flag", "uses_c"), [(None, True), ("", True), ("0", True), ("1", False), ("yes", False)]
)
def test_pure_python_flag_selects_the_numpy_path(
    monkeypatch: pytest.MonkeyPatch, flag: str | None, uses_c: bool
) -> None:
    spy = _Spy(NATIVE)
    monkeypatch.setattr(_common, "_NATIVE", spy)
    if flag is None:
        monkeypatch.delenv("WARDWATCH_PURE_PYTHON", raising=False)
    else:
        monkeypatch.setenv("WARDWATCH_PURE_PYTHON", flag)
    f = mac("ff:ff:ff:ff:ff:ff") + mac("00:11:22:33:44:55") + struct.pack("!H", 0x0806) + bytes(28)
    dec = decode(PacketBatch.from_packets([(0, f)]))
    assert spy.calls == (1 if uses_c else 0)
    assert dec.ethertype.tolist() == [0x0806]


def test_without_the_extension_decode_is_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common, "_NATIVE", None)
    b = batch_of([(ipv4("1.1.1.1", "2.2.2.2", 17, udp(1, 53, b"q")), LinkType.RAW)])
    assert decode(b).dst_port.tolist() == [53]


# --- argument checks -------------------------------------------------------------------------------
def _args(batch: PacketBatch) -> list[npt.NDArray[Any]]:
    n = len(batch)
    outs = [np.empty(n, dtype=dt) for dt in decode_mod._OUT_DTYPES]
    return [batch.data, batch.offset, batch.caplen, batch.linktype, *outs]


def test_bad_arguments_raise_instead_of_reading_anywhere() -> None:
    assert NATIVE is not None
    f = bytes(60)
    b = batch_of([(f, 1), (f, 1)])
    NATIVE.decode_into(*_args(b))  # the well-formed call works
    with pytest.raises(TypeError):
        NATIVE.decode_into(*_args(b)[:-1])
    for k, bad in [
        (1, b.offset.astype(np.int32)),  # wrong item size
        (1, b.offset.astype(np.float64)),  # wrong kind
        (2, b.caplen[:1]),  # wrong length
        (4, np.empty(2, dtype=np.int8)),  # error must be unsigned
        (5, np.empty(2, dtype=">u8")),  # byte-swapped
        (17, np.empty((2, 1), dtype=np.bool_)),  # two-dimensional
        (8, np.empty(4, dtype=np.uint64)[::2]),  # not contiguous
    ]:
        args = _args(b)
        args[k] = bad
        with pytest.raises((ValueError, BufferError)):
            NATIVE.decode_into(*args)
    args = _args(b)
    args[4] = np.empty(2, dtype=np.uint8)
    args[4].flags.writeable = False  # outputs must be writable
    with pytest.raises((ValueError, BufferError)):
        NATIVE.decode_into(*args)
    for offset, caplen in [(61, 60), (-1, 60), (0, 121), (2**62, 60)]:
        args = _args(b)
        args[1] = np.array([0, offset], dtype=np.int64)
        args[2] = np.array([60, caplen], dtype=np.int32)
        with pytest.raises(ValueError, match="outside"):
            NATIVE.decode_into(*args)
