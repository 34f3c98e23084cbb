"""Modbus/TCP Read Device Identification: bytes from the Modbus specifications, fuzzing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import modbus
from wardwatch.sensor.dissect.base import PacketContext

CTX = PacketContext(
    ts_ns=1,
    flow_uid="B",
    transport=Transport.TCP,
    src_mac="02:00:00:00:00:02",
    src_ip="10.2.0.9",
    dst_ip="10.2.0.1",
    src_port=502,
    dst_port=50000,
    client_is_src=False,
)


def mbap(tid: int, unit: int, pdu: bytes) -> bytes:
    """Modbus Messaging on TCP/IP V1.0b §3.1.3: tid, protocol 0, length = unit + PDU, unit id."""
    return tid.to_bytes(2, "big") + b"\x00\x00" + (len(pdu) + 1).to_bytes(2, "big") + bytes([unit]) + pdu


# Modbus Application Protocol V1.1b3 §6.21, the example response of the specification: basic
# device identification (ReadDevId 01), conformity 0x01, no more follows, next object 0, three
# objects: 0 "Company identification", 1 "Product code XX", 2 "V2.11".
BASIC = b"\x2b\x0e\x01\x01\x00\x00\x03\x00\x16Company identification\x01\x0fProduct code XX\x02\x05V2.11"
# A regular read (ReadDevId 02) answered with objects 3-6, conformity 0x83 (extended, individual).
REGULAR = (
    b"\x2b\x0e\x02\x83\x00\x00\x04\x03\x12http://x.example/a\x04\x0bGas alarm 4\x05\x07AP-4000\x06\x05OR-B2"
)
READ_HOLDING = b"\x03\x02\x00\x00"  # function 3 response: 1 register = 0


def test_spec_example_basic_identification() -> None:
    payload = mbap(1, 1, BASIC)
    d = modbus.ModbusDissector()
    assert d.probe(payload)
    [o] = d.dissect(CTX, payload)
    assert o.ip == "10.2.0.9"
    assert o.fields == {
        "modbus.vendor_name": "Company identification",
        "modbus.product_code": "Product code XX",
        "modbus.revision": "V2.11",
        "modbus.conformity_level": 1,
        "modbus.unit_id": 1,
    }


def test_frames_are_merged_after_other_functions() -> None:
    payload = mbap(1, 7, READ_HOLDING) + mbap(2, 7, BASIC) + mbap(3, 7, REGULAR)
    d = modbus.ModbusDissector()
    assert not d.probe(payload)  # the first frame is not 43/14: only port 502 brings it here
    [o] = d.dissect(CTX, payload)
    assert o.fields["modbus.vendor_url"] == "http://x.example/a"
    assert o.fields["modbus.product_name"] == "Gas alarm 4"
    assert o.fields["modbus.model_name"] == "AP-4000"
    assert o.fields["modbus.user_application_name"] == "OR-B2"
    assert o.fields["modbus.vendor_name"] == "Company identification"
    assert o.fields["modbus.unit_id"] == 7 and o.fields["modbus.conformity_level"] == 1


def test_requests_exceptions_and_garbage() -> None:
    d = modbus.ModbusDissector()
    request = mbap(1, 1, b"\x2b\x0e\x01\x00")  # §6.21 request: ReadDevId 1, object 0
    exception = mbap(1, 1, b"\xab\x02")  # §7: illegal data address
    bad_protocol = b"\x00\x01\x00\x05" + mbap(1, 1, BASIC)[4:]
    for payload in (request, exception, bad_protocol, b"", b"HTTP/1.1 200 OK\r\n"):
        assert d.dissect(CTX, payload) == []


def test_truncated_response_keeps_whole_objects() -> None:
    payload = mbap(1, 1, BASIC)[:-3]
    [o] = modbus.ModbusDissector().dissect(CTX, payload)
    assert "modbus.revision" not in o.fields
    assert o.fields["modbus.product_code"] == "Product code XX"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 60))
def test_fuzz(data: bytes, cut: int) -> None:
    d = modbus.ModbusDissector()
    good = mbap(1, 1, BASIC)
    for payload in (data, good[:cut] + data, good[:8] + data, mbap(1, 1, data[:250])):
        assert isinstance(d.probe(payload), bool)
        for o in d.dissect(CTX, payload):
            assert isinstance(o, Observation) and set(o.fields) <= set(modbus.FIELDS)
