"""BACnet/IP: I-Am and device ReadProperty(-Multiple) ACKs encoded by ASHRAE 135, fuzzing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import bacnet
from wardwatch.sensor.dissect.base import PacketContext

CTX = PacketContext(
    ts_ns=1,
    flow_uid="C",
    transport=Transport.UDP,
    src_mac="02:00:00:00:00:03",
    src_ip="10.3.0.4",
    dst_ip="10.3.0.255",
    src_port=47808,
    dst_port=47808,
)


def bvlc(function: int, npdu_apdu: bytes) -> bytes:
    """Annex J.2: type 0x81, function, total length."""
    return bytes([0x81, function]) + (len(npdu_apdu) + 4).to_bytes(2, "big") + npdu_apdu


# §16.10 I-Am, encoded per §20.2: Unconfirmed-Request (0x10), service 0 (I-Am); application tag
# 12 (object id, 4 bytes) 0xC4 = device (8) << 22 | 3056 → 02 00 0B F0; tag 2 unsigned 2 bytes
# (0x22) max APDU 1476 = 05 C4; tag 9 enumerated 1 byte (0x91) segmentation 3 (none); tag 2
# unsigned 1 byte (0x21) vendor id 5.
I_AM = b"\x10\x00" + b"\xc4\x02\x00\x0b\xf0" + b"\x22\x05\xc4" + b"\x91\x03" + b"\x21\x05"
NPDU = b"\x01\x00"  # §6.2: version 1, control 0 (no DNET/SNET, no reply expected)

# §15.5 ReadProperty-ACK: Complex-ACK (0x30), invoke id 7, service 12; context tag 0 object id
# (0x0C) device 3056; context tag 1 property id (0x19) 70 = model-name; opening tag 3 (0x3E);
# application tag 7 CharacterString length 8 (0x75 0x08: extended length) charset 0 + "EBC-200";
# closing tag 3 (0x3F).
RP_MODEL = b"\x30\x07\x0c" + b"\x0c\x02\x00\x0b\xf0" + b"\x19\x46" + b"\x3e\x75\x08\x00EBC-200\x3f"
# The same for object-name (77 = 0x4D) of an analog input (type 0) — not device identity.
RP_AI_NAME = b"\x30\x08\x0c" + b"\x0c\x00\x00\x00\x01" + b"\x19\x4d" + b"\x3e\x74\x00Zn1\x3f"

# §15.7 ReadPropertyMultiple-ACK (service 14): device 3056, results: vendor-name (121 = 0x79)
# UCS-2 charset (4) "AB"; firmware-revision (44 = 0x2C) "1.2"; description (28) error (opening
# tag 5: error class 2, code 32); closing tag 1.
RPM = (
    b"\x30\x09\x0e"
    b"\x0c\x02\x00\x0b\xf0\x1e"
    b"\x29\x79\x4e\x75\x05\x04\x00A\x00B\x4f"
    b"\x29\x2c\x4e\x74\x001.2\x4f"
    b"\x29\x1c\x5e\x91\x02\x91\x20\x5f"
    b"\x1f"
)


def test_i_am() -> None:
    payload = bvlc(0x0B, NPDU + I_AM)
    d = bacnet.BacnetDissector()
    assert d.probe(payload)
    [o] = d.dissect(CTX, payload)
    assert o.ip == "10.3.0.4"
    assert o.fields == {
        "bacnet.message": "I-Am",
        "bacnet.device_instance": 3056,
        "bacnet.max_apdu": 1476,
        "bacnet.vendor_id": 5,
    }


def test_forwarded_npdu_with_source_network() -> None:
    # Annex J.4.5 Forwarded-NPDU: 6-byte original B/IP address; §6.2.2 control 0x08: SNET 0x0005,
    # SLEN 1, SADR 0x21.
    npdu = b"\x01\x08\x00\x05\x01\x21"
    payload = bvlc(0x04, b"\x0a\x03\x00\x04\xba\xc0" + npdu + I_AM)
    [o] = bacnet.BacnetDissector().dissect(CTX, payload)
    assert o.fields["bacnet.device_instance"] == 3056


def test_read_property_ack_device_only() -> None:
    d = bacnet.BacnetDissector()
    [o] = d.dissect(CTX, bvlc(0x0A, NPDU + RP_MODEL))
    assert o.fields == {
        "bacnet.message": "ReadProperty-ACK",
        "bacnet.device_instance": 3056,
        "bacnet.model_name": "EBC-200",
    }
    assert d.dissect(CTX, bvlc(0x0A, NPDU + RP_AI_NAME)) == []


def test_read_property_multiple_ack() -> None:
    [o] = bacnet.BacnetDissector().dissect(CTX, bvlc(0x0A, NPDU + RPM))
    assert o.fields == {
        "bacnet.message": "ReadPropertyMultiple-ACK",
        "bacnet.device_instance": 3056,
        "bacnet.vendor_name": "AB",
        "bacnet.firmware_revision": "1.2",
    }


def test_who_is_and_network_messages_give_nothing() -> None:
    d = bacnet.BacnetDissector()
    who_is = bvlc(0x0B, NPDU + b"\x10\x08")
    network = bvlc(0x0B, b"\x01\x80\x00\x00\x01")  # Who-Is-Router-To-Network
    for payload in (who_is, network, b"\x81\x0b\x00\x04", b""):
        assert d.dissect(CTX, payload) == []
    assert not d.probe(who_is[:-1])  # BVLC length must match the datagram


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 30))
def test_fuzz(data: bytes, cut: int) -> None:
    d = bacnet.BacnetDissector()
    for apdu in (I_AM, RP_MODEL, RPM):
        for payload in (data, bvlc(0x0A, NPDU + apdu[:cut] + data), bvlc(0x0A, NPDU + apdu[:3] + data)):
            assert isinstance(d.probe(payload), bool)
            for o in d.dissect(CTX, payload):
                assert isinstance(o, Observation) and set(o.fields) <= set(bacnet.FIELDS)
