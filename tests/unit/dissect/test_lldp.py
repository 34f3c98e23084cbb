"""LLDP dissector: hand-built IEEE 802.1AB / 802.1 / LLDP-MED (TIA-1057) LLDPDUs and fuzzing."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import lldp
from wardwatch.sensor.dissect.base import PacketContext

CTX = PacketContext(
    ts_ns=6, flow_uid="L", transport=Transport.L2, src_mac="00:1c:c4:00:00:01", ethertype=0x88CC
)


def tlv(tlv_type: int, value: bytes) -> bytes:
    return struct.pack("!H", (tlv_type << 9) | len(value)) + value


def org(oui: bytes, subtype: int, data: bytes) -> bytes:
    return tlv(127, oui + bytes([subtype]) + data)


MED = b"\x00\x12\xbb"
LLDPDU = (
    tlv(1, b"\x04" + bytes.fromhex("001cc4000001"))
    + tlv(2, b"\x03" + bytes.fromhex("001cc4000001"))
    + tlv(3, struct.pack("!H", 120))
    + tlv(4, b"LAN port")
    + tlv(5, b"VENT-0007")
    + tlv(6, b"AcmeVent 3000 fw 2.4")
    + tlv(7, struct.pack("!HH", 0x00A0, 0x0080))  # telephone + station supported, station enabled
    + tlv(8, bytes([5, 1, 10, 7, 0, 21]) + b"\x02" + struct.pack("!I", 1) + b"\x00")
    + org(b"\x00\x80\xc2", 1, struct.pack("!H", 210))
    + org(b"\x00\x80\xc2", 3, struct.pack("!HB", 210, 7) + b"medical")
    + org(MED, 1, struct.pack("!HB", 0x0033, 3))
    + org(MED, 2, bytes([1]) + struct.pack("!I", (0 << 23) | (1 << 22) | (220 << 9) | (5 << 6) | 46)[1:])
    + org(MED, 5, b"HW-B")
    + org(MED, 6, b"FW 2.4.1")
    + org(MED, 7, b"SW 10.2")
    + org(MED, 8, b"AV3K-001234")
    + org(MED, 9, b"Acme Medical")
    + org(MED, 10, b"AcmeVent 3000")
    + org(MED, 11, b"BIOMED-7781")
    + tlv(0, b"")
)


def test_full_lldpdu() -> None:
    out = lldp.LldpDissector().dissect(CTX, LLDPDU)
    assert len(out) == 1
    o = out[0]
    assert (o.mac, o.ip, o.protocol) == ("00:1c:c4:00:00:01", None, "lldp")
    assert o.fields == {
        "lldp.chassis_id": "00:1c:c4:00:00:01",
        "lldp.chassis_mac": "00:1c:c4:00:00:01",
        "lldp.port_id": "00:1c:c4:00:00:01",
        "lldp.ttl": 120,
        "lldp.port_description": "LAN port",
        "lldp.system_name": "VENT-0007",
        "lldp.system_description": "AcmeVent 3000 fw 2.4",
        "lldp.capabilities": ("telephone", "station"),
        "lldp.capabilities_enabled": ("station",),
        "lldp.mgmt_ip": "10.7.0.21",
        "lldp.port_vlan": 210,
        "lldp.vlan_names": ("210:medical",),
        "lldp.med_device_class": 3,
        "lldp.med_voice_vlan": 220,
        "lldp.med_hardware_rev": "HW-B",
        "lldp.med_firmware_rev": "FW 2.4.1",
        "lldp.med_software_rev": "SW 10.2",
        "lldp.med_serial": "AV3K-001234",
        "lldp.med_manufacturer": "Acme Medical",
        "lldp.med_model": "AcmeVent 3000",
        "lldp.med_asset_id": "BIOMED-7781",
    }


def test_text_chassis_and_interface_port() -> None:
    pdu = tlv(1, b"\x07sw-ward3-a") + tlv(2, b"\x05Gi1/0/12") + tlv(3, b"\x00\x78") + tlv(0, b"")
    fields = lldp.LldpDissector().dissect(CTX, pdu)[0].fields
    assert fields == {"lldp.chassis_id": "sw-ward3-a", "lldp.port_id": "Gi1/0/12", "lldp.ttl": 120}


def test_truncated_keeps_earlier_tlvs() -> None:
    cut = LLDPDU[: LLDPDU.index(b"VENT-0007") + 3]
    fields = lldp.LldpDissector().dissect(CTX, cut)[0].fields
    assert fields["lldp.port_description"] == "LAN port" and "lldp.system_name" not in fields


def _check(out: object) -> None:
    assert isinstance(out, list)
    for o in out:
        assert isinstance(o, Observation) and set(o.fields) <= set(lldp.FIELDS)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300), st.integers(0, len(LLDPDU)), st.integers(0, len(LLDPDU) - 1), st.integers(0, 255)
)
def test_fuzz(data: bytes, cut: int, at: int, byte: int) -> None:
    mutated = bytearray(LLDPDU)
    mutated[at] = byte
    for payload in (data, LLDPDU[:cut], bytes(mutated), LLDPDU[:20] + data):
        _check(lldp.LldpDissector().dissect(CTX, payload))
