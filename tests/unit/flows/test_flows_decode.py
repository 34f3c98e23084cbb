"""The vectorized decoder against the per-packet reference, plus link-type specifics."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.unit.flows.flowpkts import arp, eth, ipv4, ipv6, mac, tcp, udp
from tests.unit.flows.refdecode import ref_decode

from wardwatch.sensor.capture.batch import LinkType, PacketBatch
from wardwatch.sensor.flows.decode import (
    E_BAD_IHL,
    E_LINK_TRUNCATED,
    T_OTHER,
    T_TCP,
    T_UDP,
    decode,
    format_ip,
    format_mac,
)

LINKTYPES = [int(x) for x in LinkType]


def batch_of(frames: list[tuple[bytes, int]]) -> PacketBatch:
    b = PacketBatch.from_packets([(i, f) for i, (f, _) in enumerate(frames)])
    b.linktype = np.array([lt for _, lt in frames], dtype=np.int32)
    return b


FIELDS = [
    "src_mac", "dst_mac", "ethertype", "vlan", "l3_off", "ip_version", "ip_proto", "ttl", "df", "fragment",
    "frag_nonfirst", "transport", "src_port", "dst_port", "tcp_flags", "tcp_seq", "tcp_window", "tcp_hdr_len",
    "pay_off", "pay_len", "pay_wire",
]  # fmt: skip


def assert_matches_reference(frames: list[tuple[bytes, int]]) -> None:
    dec = decode(batch_of(frames))
    for i, (frame, lt) in enumerate(frames):
        ref = ref_decode(frame, lt)
        assert int(dec.error[i]) == ref["error"], (i, frame.hex(), lt, ref)
        if ref["error"]:
            continue
        for name in FIELDS:
            assert int(getattr(dec, name)[i]) == int(ref[name]), (name, frame.hex(), lt)
        assert (int(dec.src_hi[i]), int(dec.src_lo[i])) == ref["src"]
        assert (int(dec.dst_hi[i]), int(dec.dst_lo[i])) == ref["dst"]


# --- generated packets ---------------------------------------------------------------------------
ports = st.integers(0, 65535)


@st.composite
def l4_segment(draw: st.DrawFn, ip6: bool) -> tuple[int, bytes]:
    kind = draw(st.sampled_from(["tcp", "udp", "icmp", "other"]))
    payload = draw(st.binary(max_size=40))
    if kind == "tcp":
        opts = draw(st.binary(max_size=40))
        opts = opts[: len(opts) // 4 * 4]
        seg = tcp(draw(ports), draw(ports), draw(st.integers(0, 2**32 - 1)), 0, "", payload, options=opts)
        seg = seg[:13] + bytes([draw(st.integers(0, 255))]) + seg[14:]  # any flags
        if draw(st.booleans()):  # sometimes a wrong data offset
            seg = seg[:12] + bytes([draw(st.integers(0, 255))]) + seg[13:]
        return 6, seg
    if kind == "udp":
        seg = udp(draw(ports), draw(ports), payload)
        if draw(st.booleans()):
            seg = seg[:4] + struct.pack("!H", draw(st.integers(0, 100))) + seg[6:]
        return 17, seg
    if kind == "icmp":
        return (58 if ip6 else 1), draw(st.binary(max_size=12))
    return draw(st.sampled_from([47, 50, 132])), payload


@st.composite
def l3_packet(draw: st.DrawFn) -> tuple[int, bytes]:
    kind = draw(st.sampled_from(["ipv4", "ipv6", "arp", "llc", "random"]))
    if kind == "ipv4":
        proto, seg = draw(l4_segment(False))
        opts = draw(st.binary(max_size=40))
        opts = opts[: len(opts) // 4 * 4]
        frag = draw(st.sampled_from([0, 0, 0, 1, 100]))
        pkt = ipv4("10.0.0.1", "192.168.7.9", proto, seg, ttl=draw(st.integers(0, 255)), df=draw(st.booleans()),
                   options=opts, frag=frag, mf=draw(st.booleans()))  # fmt: skip
        if draw(st.integers(0, 5)) == 0:
            pkt = bytes([draw(st.integers(0, 255))]) + pkt[1:]  # version / IHL garbage
        if draw(st.integers(0, 5)) == 0:
            pkt = pkt[:2] + struct.pack("!H", draw(st.integers(0, 120))) + pkt[4:]  # total length
        return 0x0800, pkt
    if kind == "ipv6":
        proto, seg = draw(l4_segment(True))
        exts = draw(st.lists(st.sampled_from([0, 43, 44, 51, 60]), max_size=10))
        chain = b""
        nh = proto
        for t in reversed(exts):
            if t == 44:
                off = draw(st.sampled_from([0, 0, 8]))
                hdr = struct.pack("!BBHI", nh, 0, off << 3 | draw(st.integers(0, 1)), 7)
            elif t == 51:
                hdr = bytes([nh, 1]) + bytes(10)
            else:
                ln = draw(st.integers(0, 2))
                hdr = bytes([nh, ln]) + bytes(6 + 8 * ln)
            chain = hdr + chain
            nh = t
        pkt = ipv6("2001:db8::1", "fe80::abcd", nh, seg, ext=chain, hlim=draw(st.integers(0, 255)))
        if draw(st.integers(0, 5)) == 0:
            pkt = pkt[:4] + struct.pack("!H", draw(st.integers(0, 200))) + pkt[6:]
        return 0x86DD, pkt
    if kind == "arp":
        return 0x0806, arp(1, "00:11:22:33:44:55", "10.0.0.1", "00:00:00:00:00:00", "10.0.0.2")
    if kind == "llc":
        body = draw(st.sampled_from([
            b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + bytes(20),  # CDP
            b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + ipv4("1.2.3.4", "5.6.7.8", 17, udp(1, 2, b"x")),
            b"\x42\x42\x03" + bytes(35),  # STP
            b"\xf0\xf0\x00\x00" + bytes(10),  # I-format control
            b"\xaa\xaa\x03\x00\x80",
        ]))  # fmt: skip
        return len(body), body
    return draw(st.integers(0, 0xFFFF)), draw(st.binary(max_size=60))


@st.composite
def frame(draw: st.DrawFn) -> tuple[bytes, int]:
    et, l3 = draw(l3_packet())
    lt = draw(st.sampled_from([*LINKTYPES, 999]))
    vlans = draw(
        st.lists(st.tuples(st.sampled_from([0x8100, 0x88A8, 0x9100]), st.integers(0, 0xFFFF)), max_size=5)
    )
    tags = b"".join(struct.pack("!HH", tp, tci) for tp, tci in vlans)
    if lt == LinkType.ETHERNET:
        f = mac("01:00:0c:cc:cc:cc") + mac("00:11:22:33:44:55") + tags + struct.pack("!H", et) + l3
    elif lt == LinkType.LINUX_SLL:
        halen = draw(st.sampled_from([6, 0, 8]))
        f = (
            struct.pack("!HHH", 0, 1, halen)
            + mac("00:aa:bb:cc:dd:ee")
            + b"\0\0"
            + tags
            + struct.pack("!H", et)
            + l3
        )
    elif lt == LinkType.LINUX_SLL2:
        halen = draw(st.sampled_from([6, 0]))
        f = (
            struct.pack("!HHIHBB", et if not tags else 0x8100, 0, 3, 1, 0, halen)
            + mac("00:aa:bb:cc:dd:ee")
            + b"\0\0"
        )
        f += tags[2:] + struct.pack("!H", et) + l3 if tags else l3
    elif lt == LinkType.NULL:
        af = draw(st.sampled_from([2, 24, 28, 30, 7]))
        f = struct.pack(draw(st.sampled_from(["<I", ">I"])), af) + l3
    else:
        f = l3
    f += draw(st.sampled_from([b"", bytes(6)]))  # Ethernet-style padding
    if draw(st.integers(0, 3)) == 0:
        f = f[: draw(st.integers(0, len(f)))]
    return f, lt


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frame(), min_size=1, max_size=12))
def test_vectorized_decoder_equals_reference(frames: list[tuple[bytes, int]]) -> None:
    assert_matches_reference(frames)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=80), st.sampled_from([*LINKTYPES, 7])), max_size=10))
def test_arbitrary_bytes_never_raise_and_match_reference(frames: list[tuple[bytes, int]]) -> None:
    assert_matches_reference(frames)


# --- specific cases ------------------------------------------------------------------------------
A, B = "00:11:22:33:44:55", "66:77:88:99:aa:bb"


def test_empty_batch() -> None:
    dec = decode(PacketBatch.from_packets([]))
    assert len(dec) == 0


def test_qinq_keeps_outer_vlan_and_decodes_tcp() -> None:
    f = eth(
        B,
        A,
        0x0800,
        ipv4("10.0.0.1", "10.0.0.2", 6, tcp(1234, 443, 7, 0, "S")),
        vlans=(100, 200),
        tpid=0x88A8,
    )
    dec = decode(PacketBatch.from_packets([(0, f)]))
    assert dec.vlan[0] == 100 and dec.transport[0] == T_TCP and dec.dst_port[0] == 443
    assert format_mac(int(dec.src_mac[0])) == A and format_mac(int(dec.dst_mac[0])) == B
    assert format_ip(int(dec.src_hi[0]), int(dec.src_lo[0])) == "10.0.0.1"


def test_padding_is_not_payload_and_snap_cut_is_seen() -> None:
    f = eth(B, A, 0x0800, ipv4("10.0.0.1", "10.0.0.2", 17, udp(5353, 5353, b"ab"))) + bytes(16)
    dec = decode(PacketBatch.from_packets([(0, f), (1, f[:-17], len(f))]))
    assert dec.transport[0] == T_UDP and dec.pay_len[0] == 2 and dec.pay_wire[0] == 2
    assert dec.pay_len[1] == 1 and dec.pay_wire[1] == 2


def test_cdp_snap_pseudo_ethertype() -> None:
    body = b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + b"\x02\xb4" + bytes(20)
    f = mac("01:00:0c:cc:cc:cc") + mac(A) + struct.pack("!H", len(body)) + body + bytes(10)
    dec = decode(PacketBatch.from_packets([(0, f)]))
    assert dec.error[0] == 0 and dec.ethertype[0] == 0x12000 and dec.l3_off[0] == 22
    assert dec.pay_len[0] == len(body) - 8  # the 802.3 length excludes the padding


def test_link_types_sll_sll2_raw_null() -> None:
    ip = ipv4("10.1.1.1", "10.2.2.2", 17, udp(68, 67, b"dhcp"))
    ip6 = ipv6("fe80::1", "ff02::1:2", 17, udp(546, 547, b"v6"))
    sll = struct.pack("!HHH", 0, 1, 6) + mac(A) + b"\0\0" + struct.pack("!H", 0x0800) + ip
    sll2 = struct.pack("!HHIHBB", 0x86DD, 0, 2, 1, 0, 6) + mac(B) + b"\0\0" + ip6
    frames = [(sll, LinkType.LINUX_SLL), (sll2, LinkType.LINUX_SLL2), (ip, LinkType.RAW), (ip6, LinkType.RAW),
              (struct.pack("<I", 2) + ip, LinkType.NULL), (struct.pack(">I", 30) + ip6, LinkType.NULL),
              (ip, LinkType.IPV4), (ip6, LinkType.IPV6)]  # fmt: skip
    dec = decode(batch_of([(f, int(lt)) for f, lt in frames]))
    assert dec.error.tolist() == [0] * 8
    assert dec.ip_version.tolist() == [4, 6, 4, 6, 4, 6, 4, 6]
    assert format_mac(int(dec.src_mac[0])) == A and format_mac(int(dec.src_mac[1])) == B
    assert dec.src_mac[2:].tolist() == [0] * 6
    assert format_ip(int(dec.dst_hi[1]), int(dec.dst_lo[1])) == "ff02::1:2"
    assert dec.dst_port.tolist() == [67, 547, 67, 547, 67, 547, 67, 547]


def test_fragments() -> None:
    first = ipv4("10.0.0.1", "10.0.0.2", 17, udp(1000, 161, b"x" * 8), mf=True, df=False)
    later = ipv4("10.0.0.1", "10.0.0.2", 17, b"y" * 16, frag=2, df=False)
    dec = decode(batch_of([(first, LinkType.RAW), (later, LinkType.RAW)]))
    assert dec.transport.tolist() == [T_UDP, T_OTHER]
    assert dec.fragment.tolist() == [True, True] and dec.frag_nonfirst.tolist() == [False, True]
    assert dec.dst_port.tolist() == [161, 0]


def test_errors_are_codes_not_exceptions() -> None:
    bad_ihl = bytes([0x43]) + ipv4("1.1.1.1", "2.2.2.2", 6, b"")[1:]
    dec = decode(batch_of([(b"\x00" * 5, LinkType.ETHERNET), (bad_ihl, LinkType.RAW)]))
    assert dec.error.tolist() == [E_LINK_TRUNCATED, E_BAD_IHL]
