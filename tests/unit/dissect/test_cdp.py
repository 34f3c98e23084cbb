"""CDP dissector: hand-built CDPv2 advertisements and fuzzing."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import cdp
from wardwatch.sensor.dissect.base import PacketContext

CTX = PacketContext(
    ts_ns=7, flow_uid="C", transport=Transport.L2, src_mac="00:1f:9e:ab:59:f1", ethertype=0x12000
)


def tlv(tlv_type: int, value: bytes) -> bytes:
    return struct.pack("!HH", tlv_type, len(value) + 4) + value


def addresses(*ips: bytes) -> bytes:
    out = struct.pack("!I", len(ips))
    for ip in ips:
        if len(ip) == 4:
            out += b"\x01\x01\xcc" + struct.pack("!H", 4) + ip
        else:
            out += b"\x02\x08" + bytes.fromhex("aaaa0300000086dd") + struct.pack("!H", 16) + ip
    return out


V6 = bytes.fromhex("fe800000000000000000000000000001")
CDP = (
    bytes([2, 180])
    + b"\x00\x00"
    + tlv(0x01, b"SEP001F9EAB59F1")
    + tlv(0x02, addresses(bytes([10, 243, 14, 48]), V6))
    + tlv(0x03, b"Port 1")
    + tlv(0x04, struct.pack("!I", 0x90))  # host + phone
    + tlv(0x05, b"SCCP41.8-2-1S\nCopyright (c) 1986-2008 by Cisco")
    + tlv(0x06, b"Cisco IP Phone 7941")
    + tlv(0x09, b"WARD")
    + tlv(0x0A, struct.pack("!H", 14))
    + tlv(0x0B, b"\x01")
    + tlv(0x0E, b"\x01" + struct.pack("!H", 220))
    + tlv(0x16, addresses(bytes([10, 240, 14, 3])))
)


def test_phone_advertisement() -> None:
    out = cdp.CdpDissector().dissect(CTX, CDP)
    assert len(out) == 1
    o = out[0]
    assert (o.mac, o.ip, o.protocol) == ("00:1f:9e:ab:59:f1", None, "cdp")
    assert o.fields == {
        "cdp.version": 2,
        "cdp.ttl": 180,
        "cdp.device_id": "SEP001F9EAB59F1",
        "cdp.addresses": ("10.243.14.48", "fe80::1"),
        "cdp.port_id": "Port 1",
        "cdp.capabilities": ("host", "phone"),
        "cdp.software": "SCCP41.8-2-1S",
        "cdp.platform": "Cisco IP Phone 7941",
        "cdp.vtp_domain": "WARD",
        "cdp.native_vlan": 14,
        "cdp.duplex": "full",
        "cdp.voice_vlan": 220,
        "cdp.mgmt_addresses": ("10.240.14.3",),
    }


def test_bad_version_and_zero_length_tlv() -> None:
    d = cdp.CdpDissector()
    assert d.dissect(CTX, b"\x07\xb4\x00\x00" + CDP[4:]) == []
    # A TLV with length < 4 stops parsing (no infinite loop) but keeps the header fields.
    assert d.dissect(CTX, CDP[:4] + b"\x00\x01\x00\x00")[0].fields == {"cdp.version": 2, "cdp.ttl": 180}


def _check(out: object) -> None:
    assert isinstance(out, list)
    for o in out:
        assert isinstance(o, Observation) and set(o.fields) <= set(cdp.FIELDS)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, len(CDP)), st.integers(0, len(CDP) - 1), st.integers(0, 255))
def test_fuzz(data: bytes, cut: int, at: int, byte: int) -> None:
    mutated = bytearray(CDP)
    mutated[at] = byte
    for payload in (data, CDP[:cut], bytes(mutated), b"\x02\xb4\x00\x00" + data):
        _check(cdp.CdpDissector().dissect(CTX, payload))
