"""POCT1-A HEL.R01: the DEV object as laid out by CLSI POCT1-A2, safe XML, fuzzing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import poct1
from wardwatch.sensor.dissect.base import PacketContext

CTX = PacketContext(
    ts_ns=1,
    flow_uid="P",
    transport=Transport.TCP,
    src_mac="02:00:00:00:00:05",
    src_ip="10.5.0.30",
    dst_ip="10.5.0.1",
    src_port=50123,
    dst_port=5000,
    client_is_src=True,
)

# CLSI POCT1-A2 Device Messaging Layer: HEL.R01 = HDR + DEV (+ DCP, DSC inside DEV); values in V.
HELLO = b"""<?xml version="1.0" encoding="UTF-8"?>
<HEL.R01>
  <HDR>
    <HDR.message_type V="HEL.R01" SN="POCT1" SV="1.0"/>
    <HDR.control_id V="7135"/>
    <HDR.version_id V="POCT1"/>
    <HDR.creation_dttm V="2010-02-22T14:06:34.00-05:00"/>
  </HDR>
  <DEV>
    <DEV.device_id V="">ICU^BED7</DEV.device_id>
    <DEV.vendor_id V="EXMPL"/>
    <DEV.model_id V="Gluco &amp; Ketone"/>
    <DEV.serial_id V="0600100736"/>
    <DEV.manufacturer_name V="Example Diagnostics"/>
    <DEV.hw_version V="K1"/>
    <DEV.sw_version V="3.10.8.0">3.10.8.0_it-IT</DEV.sw_version>
    <DEV.device_name V="DLO-OV"/>
    <DCP><DCP.application_timeout V="120"/></DCP>
    <DSC><DSC.connection_profile_cd V="SA"/><DSC.max_message_sz V="32768"/></DSC>
  </DEV>
</HEL.R01>
"""


def test_hello() -> None:
    d = poct1.Poct1Dissector()
    assert d.probe(HELLO)
    [o] = d.dissect(CTX, HELLO)
    assert o.ip == "10.5.0.30"
    assert o.fields == {
        "poct1.device_id": "ICU^BED7",  # empty V: the text is used
        "poct1.vendor_id": "EXMPL",
        "poct1.model_id": "Gluco & Ketone",
        "poct1.serial_id": "0600100736",
        "poct1.manufacturer": "Example Diagnostics",
        "poct1.hw_version": "K1",
        "poct1.sw_version": "3.10.8.0",  # V wins over the text
        "poct1.device_name": "DLO-OV",
        "poct1.version": "POCT1",
    }


def test_observation_messages_are_not_read() -> None:
    obs_r01 = (
        b'<OBS.R01><HDR><HDR.version_id V="POCT1"/></HDR><SVC><PT><PT.patient_id V="MRN-PHI-1"/></PT>'
        b'<DEV.serial_id V="X"/></SVC></OBS.R01>'
    )
    d = poct1.Poct1Dissector()
    assert not d.probe(obs_r01)
    assert d.dissect(CTX, obs_r01) == []


def test_doctype_is_rejected() -> None:
    evil = b'<!DOCTYPE x [<!ENTITY a "aaaa">]>' + HELLO.replace(b'V="EXMPL"', b'V="&a;"')
    assert poct1.Poct1Dissector().dissect(CTX, evil) == []


def test_dev_fields_outside_dev_are_ignored() -> None:
    stray = b'<HEL.R01><HDR><DEV.serial_id V="HDR-SERIAL"/></HDR><DEV><DEV.model_id V="M"/></DEV></HEL.R01>'
    [o] = poct1.Poct1Dissector().dissect(CTX, stray)
    assert o.fields == {"poct1.model_id": "M"}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(0, len(HELLO)))
def test_fuzz(data: bytes, cut: int) -> None:
    d = poct1.Poct1Dissector()
    for payload in (data, HELLO[:cut] + data, b"<HEL.R01><DEV>" + data):
        assert isinstance(d.probe(payload), bool)
        for o in d.dissect(CTX, payload):
            assert isinstance(o, Observation) and set(o.fields) <= set(poct1.FIELDS)
