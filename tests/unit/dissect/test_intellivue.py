"""IntelliVue Data Export Connect Indication: bytes laid out by the Programming Guide, fuzzing."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import intellivue
from wardwatch.sensor.dissect.base import PacketContext

CTX = PacketContext(
    ts_ns=1,
    flow_uid="I",
    transport=Transport.UDP,
    src_mac="00:09:fb:00:00:42",
    src_ip="10.4.0.20",
    dst_ip="10.4.0.255",
    src_port=24005,
    dst_port=24005,
)

# Philips Data Export Interface Programming Guide, "Connect Indication", written out byte by byte:
# Nomenclature 00 00 01 00 | ROapdus ro_type 0001 (ROIV_APDU), length 0x006a | ROIVapdu invoke_id
# 0000, command_type 0000 (CMD_EVENT_REPORT), length 0x0064 | EventReportArgument managed object
# {0023 (NOM_MOC_MDS_COMPOS_SINGLE_BED), 0000, 0000}, event_time 0000d6d4, event_type 0d17
# (NOM_NOTI_MDS_CONNECT_INDIC), length 0x0056 | AttributeList count 3, length 0x0052:
#   0928 NOM_ATTR_ID_MODEL len 0x0012: VariableLabel 0008 "Philips\0", VariableLabel 0006 "M8007A"
#   092d NOM_ATTR_ID_PROD_SPECN len 0x0030: count 3, length 0x002c,
#        {0001 serial, 0008 product, 000a "DE12345678"}, {0004 sw, 0058 appl sw, 0008 "M.00.03 "},
#        {0005 fw, 0078, 0008 "--------"} (unused component: dashes)
#   0986 NOM_ATTR_SYS_TYPE len 0004: partition 0001, code 114d
INDICATION = bytes.fromhex(
    "00000100"
    "0001006a"
    "000000000064"
    "0023"
    "0000"
    "0000"
    "0000d6d4"
    "0d17"
    "0056"
    "0003"
    "0052"
    "0928"
    "0012"
    "0008" + b"Philips\x00".hex() + "0006" + b"M8007A".hex() + "092d"
    "0030"
    "0003"
    "002c"
    "0001"
    "0008"
    "000a" + b"DE12345678".hex() + "0004"
    "0058"
    "0008" + b"M.00.03 ".hex() + "0005"
    "0078"
    "0008" + b"--------".hex() + "0986"
    "0004"
    "0001"
    "114d"
)


def test_lengths_are_consistent() -> None:
    assert struct.unpack(">H", INDICATION[6:8])[0] == len(INDICATION) - 8
    assert struct.unpack(">H", INDICATION[30:32])[0] == len(INDICATION) - 32


def test_connect_indication() -> None:
    d = intellivue.IntellivueDissector()
    assert d.probe(INDICATION)
    [o] = d.dissect(CTX, INDICATION)
    assert o.ip == "10.4.0.20"
    assert o.fields == {
        "intellivue.message": "connect_indication",
        "intellivue.manufacturer": "Philips",
        "intellivue.model_number": "M8007A",
        "intellivue.serial_number": "DE12345678",
        "intellivue.sw_revision": "M.00.03",
        "intellivue.system_type": "1:4429",
    }


def test_product_component_wins() -> None:
    # a second serial number entry of another component (0x0050 main board) comes first
    spec = bytes.fromhex("000100500004") + b"MB01" + bytes.fromhex("000100080004") + b"PR02"
    attr = (
        bytes.fromhex("092d")
        + (len(spec) + 4).to_bytes(2, "big")
        + b"\x00\x02"
        + len(spec).to_bytes(2, "big")
    )
    attrs = attr + spec
    body = b"\x00\x01" + len(attrs).to_bytes(2, "big") + attrs
    head = bytes.fromhex("000001000001") + b"\x00\x00" + bytes.fromhex("00000000") + b"\x00\x00"
    head += bytes.fromhex("002300000000000000000d17") + len(body).to_bytes(2, "big")
    [o] = intellivue.IntellivueDissector().dissect(CTX, head + body)
    assert o.fields["intellivue.serial_number"] == "PR02"


def test_other_messages_give_nothing() -> None:
    d = intellivue.IntellivueDissector()
    other_event = INDICATION[:24] + b"\x0d\x06" + INDICATION[26:]  # NOM_NOTI_MDS_CREAT
    for payload in (other_event, INDICATION[:31], b"\x00" * 64, b""):
        assert d.dissect(CTX, payload) == []


def test_truncated_keeps_whole_attributes() -> None:
    cut = INDICATION[: INDICATION.index(b"DE1234") + 4]
    [o] = intellivue.IntellivueDissector().dissect(CTX, cut)
    assert o.fields["intellivue.model_number"] == "M8007A"
    assert "intellivue.serial_number" not in o.fields


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, len(INDICATION)))
def test_fuzz(data: bytes, cut: int) -> None:
    d = intellivue.IntellivueDissector()
    for payload in (data, INDICATION[:cut] + data, INDICATION[:32] + data):
        assert isinstance(d.probe(payload), bool)
        for o in d.dissect(CTX, payload):
            assert isinstance(o, Observation) and set(o.fields) <= set(intellivue.FIELDS)
