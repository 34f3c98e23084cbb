"""The SYN memo key covers everything the TCP traits are made of.

``SensorEngine`` remembers a host's SYN results by ``_syn_key`` (see ``_syn``): two SYNs with the
same key must have the same traits, and SYNs that differ only in what changes per connection
(sequence numbers, IP id, ports, addresses, checksums, timestamp values) must share a key.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.sensor.flows.engine import _syn_key, _tcp_traits

OPTION = st.one_of(
    st.just(b"\x01"),  # nop
    st.just(b"\x00"),  # eol
    st.integers(0, 65535).map(lambda v: b"\x02\x04" + struct.pack("!H", v)),  # mss
    st.integers(0, 20).map(lambda v: b"\x03\x03" + bytes([v])),  # window scale
    st.just(b"\x04\x02"),  # sack permitted
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)).map(
        lambda t: b"\x08\x0a" + struct.pack("!II", *t)
    ),  # timestamps
    st.binary(min_size=1, max_size=6),  # anything, damaged included
)


@st.composite
def syn(draw: st.DrawFn) -> tuple[bytes, int, int, int, bool, dict[str, int]]:
    """A SYN/SYN-ACK (IPv4 or IPv6) and the per-connection values it was built with."""
    v6 = draw(st.booleans())
    opts = b"".join(draw(st.lists(OPTION, max_size=8)))[:40]
    opts += b"\x00" * (-len(opts) % 4)
    per = {
        "seq": draw(st.integers(0, 2**32 - 1)),
        "ack": draw(st.integers(0, 2**32 - 1)),
        "ident": draw(st.integers(0, 65535)),
        "sport": draw(st.integers(0, 65535)),
        "urg": draw(st.integers(0, 65535)),
    }
    flags = draw(st.sampled_from([0x02, 0x12, 0x02 | 0x40 | 0x80, 0x12 | 0x08, 0x02 | 0x20]))
    window = draw(st.integers(0, 65535))
    off = (20 + len(opts)) // 4 << 4
    tcp = struct.pack(
        "!HHIIBBHHH", per["sport"], 443, per["seq"], per["ack"], off, flags, window, 0, per["urg"]
    )
    tcp += opts
    ttl = draw(st.integers(0, 255))
    if v6:
        ip = struct.pack("!BBHHBB", 0x60, draw(st.integers(0, 255)), 0, len(tcp), 6, ttl) + bytes(32)
        l4 = 40
    else:
        ip_opts = draw(st.sampled_from([b"", b"\x01\x01\x01\x00"]))
        frag = draw(st.sampled_from([0, 0x4000, 0x8000, 0xC000]))
        ihl = (20 + len(ip_opts)) // 4
        ip = struct.pack("!BBHHHBBH", 0x40 | ihl, draw(st.integers(0, 255)), 0, per["ident"], frag, ttl, 6, 0)
        ip += bytes(8) + ip_opts
        l4 = 20 + len(ip_opts)
    return ip + tcp, 0, l4, 6 if v6 else 4, bool(flags & 0x10), per


def _respin(pkt: bytes, l3: int, l4: int, ipv: int, per: dict[str, int], seed: int) -> bytes:
    """The same SYN with new per-connection values of the same zero-ness (the next connection)."""

    def same_zeroness(value: int, bits: int) -> int:
        return 0 if value == 0 else 1 + (value * 7919 + seed) % ((1 << bits) - 1)

    b = bytearray(pkt)
    if ipv == 4:
        struct.pack_into("!H", b, l3 + 4, same_zeroness(per["ident"], 16))
        struct.pack_into("!II", b, l3 + 12, seed, ~seed & 0xFFFFFFFF)  # addresses
    struct.pack_into("!H", b, l4, (per["sport"] + seed) & 0xFFFF)
    struct.pack_into("!I", b, l4 + 4, same_zeroness(per["seq"], 32))
    struct.pack_into("!I", b, l4 + 8, same_zeroness(per["ack"], 32))
    struct.pack_into("!H", b, l4 + 16, seed & 0xFFFF)  # checksum
    struct.pack_into("!H", b, l4 + 18, same_zeroness(per["urg"], 16))
    # timestamp values, only inside a real timestamp option
    off = (b[l4 + 12] >> 4) * 4
    i, end = l4 + 20, l4 + off
    while i < end:
        kind = b[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= end or b[i + 1] < 2 or i + b[i + 1] > end:
            break
        if kind == 8 and b[i + 1] == 10:
            for at in (i + 2, i + 6):
                (value,) = struct.unpack_from("!I", b, at)
                struct.pack_into("!I", b, at, same_zeroness(value, 32))
        i += b[i + 1]
    return bytes(b)


@settings(max_examples=400, deadline=None)
@given(syn(), st.integers(1, 2**31))
def test_next_connection_of_a_host_has_the_same_key_and_traits(
    made: tuple[bytes, int, int, int, bool, dict[str, int]], seed: int
) -> None:
    pkt, l3, l4, ipv, syn_ack, per = made
    other = _respin(pkt, l3, l4, ipv, per, seed)
    assert _syn_key(pkt, l3, l4, ipv, syn_ack) == _syn_key(other, l3, l4, ipv, syn_ack)
    assert _tcp_traits(pkt, l3, l4, ipv, syn_ack) == _tcp_traits(other, l3, l4, ipv, syn_ack)


@settings(max_examples=600, deadline=None)
@given(syn(), st.data())
def test_a_byte_that_changes_the_traits_changes_the_key(
    made: tuple[bytes, int, int, int, bool, dict[str, int]], data: st.DataObject
) -> None:
    pkt, l3, l4, ipv, syn_ack, _ = made
    at = data.draw(st.integers(0, len(pkt) - 1))
    value = data.draw(st.integers(0, 255))
    other = pkt[:at] + bytes([value]) + pkt[at + 1 :]
    if (other[l4 + 12] >> 4) * 4 < 20:
        return  # a TCP header length below 20 never reaches the SYN path (decode refuses it)
    if _syn_key(pkt, l3, l4, ipv, syn_ack) == _syn_key(other, l3, l4, ipv, syn_ack):
        assert _tcp_traits(pkt, l3, l4, ipv, syn_ack) == _tcp_traits(other, l3, l4, ipv, syn_ack)


def test_timestamp_values_do_not_split_a_host() -> None:
    def linux_syn(tsval: int) -> bytes:
        opts = b"\x02\x04\x05\xb4\x04\x02\x08\x0a" + struct.pack("!II", tsval, 0) + b"\x01\x03\x03\x07"
        tcp = struct.pack("!HHIIBBHHH", 40000, 443, 1, 0, (20 + len(opts)) // 4 << 4, 0x02, 64240, 0, 0)
        ip = struct.pack("!BBHHHBBH", 0x45, 0, 0, 1234, 0x4000, 64, 6, 0) + bytes(8)
        return ip + tcp + opts

    one, two = linux_syn(1000), linux_syn(2_000_000)
    assert _syn_key(one, 0, 20, 4, False) == _syn_key(two, 0, 20, 4, False)
    assert _syn_key(one, 0, 20, 4, False) != _syn_key(linux_syn(0), 0, 20, 4, False)  # ts1- quirk
    assert "ts" in _tcp_traits(one, 0, 20, 4, False).options


def _native_syn_key():  # type: ignore[no-untyped-def]
    from wardwatch.sensor.capture import _common

    if _common._NATIVE is None:
        pytest.skip("the C extension wardwatch.sensor._native is not built")
    return _common._NATIVE.syn_key


@settings(max_examples=600, deadline=None)
@given(syn(), st.data())
def test_the_c_key_is_the_python_key(
    made: tuple[bytes, int, int, int, bool, dict[str, int]], data: st.DataObject
) -> None:
    """The engine takes ``syn_key`` from the C extension when it is built (ADR 010): it must give
    the very tuple ``_syn_key`` gives, on SYNs and on SYNs with any byte damaged or cut short."""
    native_key = _native_syn_key()
    pkt, l3, l4, ipv, syn_ack, _ = made
    at = data.draw(st.integers(0, len(pkt) - 1))
    damaged = pkt[:at] + bytes([data.draw(st.integers(0, 255))]) + pkt[at + 1 :]
    cut = pkt[: data.draw(st.integers(l4 + 20, len(pkt)))]  # the TCP header is always captured
    for frame in (pkt, damaged, cut, b"\xee" * 14 + pkt):
        shift = len(frame) - len(pkt) if frame[:14] == b"\xee" * 14 else 0
        args = (memoryview(frame), l3 + shift, l4 + shift, ipv, syn_ack)
        want = _syn_key(*args)
        got = native_key(*args)
        assert got == want and [type(x) for x in got] == [type(x) for x in want]


def test_the_c_key_refuses_a_packet_without_its_tcp_header() -> None:
    native_key = _native_syn_key()
    with pytest.raises(ValueError):
        native_key(b"\x00" * 30, 0, 20, 4, False)
    with pytest.raises(struct.error):
        _syn_key(b"\x00" * 30, 0, 20, 4, False)
