"""DHCPv6 dissector: hand-built RFC 8415 messages (DUIDs, FQDN, relay unwrapping) and fuzzing."""

from __future__ import annotations

import ipaddress
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import dhcpv6
from wardwatch.sensor.dissect.base import PacketContext


def ctx(src_ip: str = "fe80::a6c1:38ff:fe00:42", dst_mac: str | None = None) -> PacketContext:
    return PacketContext(
        ts_ns=3,
        flow_uid="D6",
        transport=Transport.UDP,
        src_mac="a4:c1:38:00:00:42",
        dst_mac=dst_mac,
        src_ip=src_ip,
        dst_ip="ff02::1:2",
        src_port=546,
        dst_port=547,
    )


def opt(code: int, value: bytes) -> bytes:
    return struct.pack("!HH", code, len(value)) + value


DUID_LLT = struct.pack("!HHI", 1, 1, 0x2A2B2C2D) + bytes.fromhex("a4c138000042")
SOLICIT = (
    b"\x01\x12\x34\x56"
    + opt(1, DUID_LLT)
    + opt(8, b"\x00\x00")
    + opt(3, b"\x00\x00\x00\x01" + b"\x00" * 8)
    + opt(39, b"\x00\x07monitor\x05ward3\x00")
    + opt(16, struct.pack("!I", 311) + struct.pack("!H", 8) + b"MSFT 5.0")
    + opt(15, struct.pack("!H", 5) + b"pumps")
    + opt(17, struct.pack("!I", 9) + opt(1, b"x"))
    + opt(6, struct.pack("!HHHH", 23, 24, 17, 39))
)


def test_solicit() -> None:
    out = dhcpv6.Dhcpv6Dissector().dissect(ctx(), SOLICIT)
    assert len(out) == 1
    o = out[0]
    assert (o.mac, o.ip) == ("a4:c1:38:00:00:42", "fe80::a6c1:38ff:fe00:42")
    assert o.fields == {
        "dhcpv6.message_type": "SOLICIT",
        "dhcpv6.duid": DUID_LLT.hex(),
        "dhcpv6.duid_type": 1,
        "dhcpv6.duid_mac": "a4:c1:38:00:00:42",
        "dhcpv6.oro": (23, 24, 17, 39),
        "dhcpv6.fqdn": "monitor.ward3",
        "dhcpv6.vendor_enterprise": 311,
        "dhcpv6.vendor_class": ("MSFT 5.0",),
        "dhcpv6.user_class": ("pumps",),
        "dhcpv6.vendor_opts_enterprise": 9,
        "dhcpv6.options": (1, 8, 3, 39, 16, 15, 17, 6),
    }


def test_duid_ll() -> None:
    assert dhcpv6.duid_mac(struct.pack("!HH", 3, 1) + bytes.fromhex("001122334455")) == "00:11:22:33:44:55"
    assert dhcpv6.duid_mac(struct.pack("!HI", 2, 9) + b"abc") is None


def relay(inner: bytes, peer: str, depth: int = 1) -> bytes:
    msg = inner
    for _ in range(depth):
        msg = (
            b"\x0c\x00"
            + ipaddress.IPv6Address("2001:db8::1").packed
            + ipaddress.IPv6Address(peer).packed
            + opt(18, b"eth0")
            + opt(9, msg)
        )
    return msg


def test_relay_forw_is_unwrapped() -> None:
    out = dhcpv6.Dhcpv6Dissector().dissect(ctx(src_ip="2001:db8::1"), relay(SOLICIT, "fe80::1234", depth=2))
    assert len(out) == 1
    assert out[0].mac is None and out[0].ip == "fe80::1234"
    assert out[0].fields["dhcpv6.duid_mac"] == "a4:c1:38:00:00:42"


def test_relay_depth_bounded() -> None:
    assert dhcpv6.Dhcpv6Dissector().dissect(ctx(), relay(SOLICIT, "fe80::1", depth=20)) == []


def test_reply_server_and_client() -> None:
    server_duid = struct.pack("!HHI", 1, 1, 5) + bytes.fromhex("005056000001")
    iaaddr = opt(5, ipaddress.IPv6Address("2001:db8:10::17").packed + struct.pack("!II", 3600, 7200))
    reply = (
        b"\x07\x12\x34\x56"
        + opt(1, DUID_LLT)
        + opt(2, server_duid)
        + opt(3, struct.pack("!III", 1, 0, 0) + iaaddr)
    )
    out = dhcpv6.Dhcpv6Dissector().dissect(ctx(src_ip="fe80::1", dst_mac="a4:c1:38:00:00:99"), reply)
    assert len(out) == 2
    server, client = out
    assert server.ip == "fe80::1"
    assert server.fields == {
        "dhcpv6.server": True,
        "dhcpv6.server_duid": server_duid.hex(),
        "dhcpv6.message_type": "REPLY",
    }
    assert client.mac == "a4:c1:38:00:00:99"
    assert client.fields == {"dhcpv6.message_type": "REPLY", "dhcpv6.leased_ip": ("2001:db8:10::17",)}


def _check(out: object) -> None:
    assert isinstance(out, list)
    for o in out:
        assert isinstance(o, Observation) and set(o.fields) <= set(dhcpv6.FIELDS)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_bytes(data: bytes) -> None:
    d = dhcpv6.Dhcpv6Dissector()
    for payload in (data, b"\x01\x00\x00\x00" + data, b"\x07\x00\x00\x00" + data, relay(data, "fe80::1")):
        _check(d.dissect(ctx(), payload))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(SOLICIT)), st.integers(0, len(SOLICIT) - 1), st.integers(0, 255))
def test_fuzz_truncated_mutated(cut: int, at: int, byte: int) -> None:
    mutated = bytearray(SOLICIT)
    mutated[at] = byte
    _check(dhcpv6.Dhcpv6Dissector().dissect(ctx(), SOLICIT[:cut]))
    _check(dhcpv6.Dhcpv6Dissector().dissect(ctx(), bytes(mutated)))
