"""DHCPv4 dissector: hand-built RFC 2131/2132 messages (incl. overload, RFC 4702 FQDN) and fuzzing."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import dhcp
from wardwatch.sensor.dissect.base import PacketContext

MAC = bytes.fromhex("a4c138000042")


def ctx(src_ip: str = "0.0.0.0", src_mac: str = "a4:c1:38:00:00:42") -> PacketContext:
    return PacketContext(
        ts_ns=9,
        flow_uid="D",
        transport=Transport.UDP,
        src_mac=src_mac,
        src_ip=src_ip,
        dst_ip="255.255.255.255",
        src_port=68,
        dst_port=67,
    )


def ip(text: str) -> bytes:
    return bytes(int(x) for x in text.split("."))


def opt(code: int, value: bytes) -> bytes:
    return bytes([code, len(value)]) + value


def message(
    op: int,
    options: bytes,
    ciaddr: str = "0.0.0.0",
    yiaddr: str = "0.0.0.0",
    giaddr: str = "0.0.0.0",
    sname: bytes = b"",
    file: bytes = b"",
) -> bytes:
    fixed = struct.pack("!BBBBIHH", op, 1, 6, 0, 0xDEADBEEF, 0, 0x8000)
    fixed += ip(ciaddr) + ip(yiaddr) + ip("0.0.0.0") + ip(giaddr)
    fixed += MAC.ljust(16, b"\x00") + sname.ljust(64, b"\x00") + file.ljust(128, b"\x00")
    assert len(fixed) == 236
    return fixed + dhcp.MAGIC + options


REQUEST_OPTIONS = (
    opt(53, b"\x03")
    + opt(61, b"\x01" + MAC)
    + opt(50, ip("10.20.0.17"))
    + opt(57, b"\x05\xdc")
    + opt(12, b"PUMP-0042")
    + opt(81, b"\x05\x00\x00\x09PUMP-0042\x05ward3\x00")  # E flag: wire-format name
    + opt(60, b"AcmeMed Infusion 5.1")
    + opt(55, bytes([1, 3, 6, 15, 119, 252]))
    + b"\x00\x00"  # pads
    + b"\xff"
)


def test_request_fingerprint_fields() -> None:
    d = dhcp.DhcpDissector()
    payload = message(1, REQUEST_OPTIONS)
    assert d.probe(payload)
    out = d.dissect(ctx(), payload)
    assert len(out) == 1
    o = out[0]
    assert (o.mac, o.ip, o.protocol) == ("a4:c1:38:00:00:42", "10.20.0.17", "dhcp")
    assert o.fields == {
        "dhcp.message_type": "REQUEST",
        "dhcp.hostname": "PUMP-0042",
        "dhcp.vendor_class": "AcmeMed Infusion 5.1",
        "dhcp.requested_ip": "10.20.0.17",
        "dhcp.param_list": (1, 3, 6, 15, 119, 252),
        "dhcp.max_size": 1500,
        "dhcp.client_id": "01a4c138000042",
        "dhcp.client_id_mac": "a4:c1:38:00:00:42",
        "dhcp.fqdn": "PUMP-0042.ward3",
        "dhcp.options": (53, 61, 50, 57, 12, 81, 60, 55),
    }


def test_inform_uses_ciaddr_and_ascii_fqdn() -> None:
    options = opt(53, b"\x08") + opt(81, b"\x01\x00\x00monitor7.ward3.example") + b"\xff"
    out = dhcp.DhcpDissector().dissect(ctx(src_ip="10.20.0.9"), message(1, options, ciaddr="10.20.0.9"))
    assert out[0].ip == "10.20.0.9"
    assert out[0].fields == {
        "dhcp.message_type": "INFORM",
        "dhcp.fqdn": "monitor7.ward3.example",
        "dhcp.options": (53, 81),
    }


def test_discover_without_address() -> None:
    out = dhcp.DhcpDissector().dissect(ctx(), message(1, opt(53, b"\x01") + b"\xff"))
    assert out[0].ip is None and out[0].fields["dhcp.message_type"] == "DISCOVER"


def test_option_overload_file_and_sname() -> None:
    # Options field says overload=3: hostname in 'file', vendor class in 'sname'.
    options = opt(53, b"\x01") + opt(52, b"\x03") + b"\xff"
    payload = message(1, options, file=opt(12, b"ECG-9") + b"\xff", sname=opt(60, b"vendorX") + b"\xff")
    out = dhcp.DhcpDissector().dissect(ctx(), payload)
    assert out[0].fields["dhcp.hostname"] == "ECG-9"
    assert out[0].fields["dhcp.vendor_class"] == "vendorX"
    assert out[0].fields["dhcp.options"] == (53, 52, 12, 60)


def test_long_option_concatenation() -> None:
    options = opt(53, b"\x01") + opt(55, bytes([1, 3])) + opt(55, bytes([6, 15])) + b"\xff"
    out = dhcp.DhcpDissector().dissect(ctx(), message(1, options))
    assert out[0].fields["dhcp.param_list"] == (1, 3, 6, 15)


def test_ack_is_about_client_and_server() -> None:
    options = opt(53, b"\x05") + opt(54, ip("10.20.0.1")) + opt(51, struct.pack("!I", 86400)) + b"\xff"
    payload = message(2, options, yiaddr="10.20.0.17")
    server_ctx = ctx(src_ip="10.20.0.1", src_mac="00:50:56:00:00:01")
    out = dhcp.DhcpDissector().dissect(server_ctx, payload)
    assert len(out) == 2
    client, server = out
    assert (client.mac, client.ip) == ("a4:c1:38:00:00:42", "10.20.0.17")
    assert client.fields == {
        "dhcp.leased_ip": "10.20.0.17",
        "dhcp.message_type": "ACK",
        "dhcp.lease_time": 86400,
    }
    assert (server.mac, server.ip) == ("00:50:56:00:00:01", "10.20.0.1")
    assert server.fields == {"dhcp.server": True, "dhcp.server_id": "10.20.0.1", "dhcp.message_type": "ACK"}


def test_no_cookie_is_ignored() -> None:
    payload = bytearray(message(1, REQUEST_OPTIONS))
    payload[236] = 0
    assert dhcp.DhcpDissector().dissect(ctx(), bytes(payload)) == []


def _check(out: object) -> None:
    assert isinstance(out, list)
    for o in out:
        assert isinstance(o, Observation) and set(o.fields) <= set(dhcp.FIELDS)


VALID = message(1, REQUEST_OPTIONS)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_bytes(data: bytes) -> None:
    d = dhcp.DhcpDissector()
    _check(d.dissect(ctx(), data))
    _check(d.dissect(ctx(), VALID[:240] + data))
    _check(d.dissect(ctx(), message(2, data, yiaddr="10.0.0.1")))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(VALID)), st.integers(0, len(VALID) - 1), st.integers(0, 255))
def test_fuzz_truncated_mutated(cut: int, at: int, byte: int) -> None:
    mutated = bytearray(VALID)
    mutated[at] = byte
    _check(dhcp.DhcpDissector().dissect(ctx(), VALID[:cut]))
    _check(dhcp.DhcpDissector().dissect(ctx(), bytes(mutated)))
