"""IEEE 11073 SDC: WS-Discovery and DPWS metadata as the OASIS specifications write them, fuzzing."""

from __future__ import annotations

import gzip

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import sdc
from wardwatch.sensor.dissect.base import PacketContext

CTX = PacketContext(
    ts_ns=1,
    flow_uid="S",
    transport=Transport.UDP,
    src_mac="02:00:00:00:00:06",
    src_ip="10.6.0.40",
    dst_ip="239.255.255.250",
    src_port=3702,
    dst_port=3702,
)
TCP = PacketContext(
    ts_ns=1,
    flow_uid="T",
    transport=Transport.TCP,
    src_mac="02:00:00:00:00:06",
    src_ip="10.6.0.40",
    dst_ip="10.6.0.1",
    src_port=6464,
    dst_port=50000,
    client_is_src=False,
)

# WS-Discovery 1.1 §4.1 Hello (SOAP 1.2 envelope, WS-Addressing 1.0 header), with the SDC types
# and scopes of IEEE 11073-20701 §9.3, including a patient context scope that must be dropped.
HELLO = b"""<?xml version="1.0" encoding="UTF-8"?>
<s12:Envelope xmlns:s12="http://www.w3.org/2003/05/soap-envelope"
  xmlns:wsa="http://www.w3.org/2005/08/addressing"
  xmlns:wsd="http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01"
  xmlns:dpws="http://docs.oasis-open.org/ws-dd/ns/dpws/2009/01"
  xmlns:mdpws="http://standards.ieee.org/downloads/11073/11073-20702-2016">
 <s12:Header>
  <wsa:Action>http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01/Hello</wsa:Action>
  <wsa:MessageID>urn:uuid:0a6dc791-2be6-4991-9af1-454778a1917a</wsa:MessageID>
  <wsa:To>urn:docs-oasis-open-org:ws-dd:ns:discovery:2009:01</wsa:To>
  <wsd:AppSequence InstanceId="1077004800" MessageNumber="1"/>
 </s12:Header>
 <s12:Body>
  <wsd:Hello>
   <wsa:EndpointReference><wsa:Address>urn:uuid:98190dc2-0890-4ef8-ac9a-5940995e6119</wsa:Address></wsa:EndpointReference>
   <wsd:Types>dpws:Device mdpws:MedicalDevice</wsd:Types>
   <wsd:Scopes>
     sdc.ctxt.loc:/sdc.ctxt.loc.detail/HOSP%2FB%2F2%2FICU%2F7%2F3?fac=HOSP&amp;bldng=B&amp;flr=2&amp;poc=ICU&amp;rm=7&amp;bed=3
     sdc.ctxt.pat:/urn%3Aoid%3A1.2.3/MRN-PHI-42
     sdc.cdc.type:///69837
     sdc.mds.pkp:1.2.840.10004.20701.1.1
     http://vendor.example/scope/icu
   </wsd:Scopes>
   <wsd:XAddrs>https://10.6.0.40:6464/98190dc2</wsd:XAddrs>
   <wsd:MetadataVersion>3</wsd:MetadataVersion>
  </wsd:Hello>
 </s12:Body>
</s12:Envelope>
"""

PROBE = b"""<s12:Envelope xmlns:s12="http://www.w3.org/2003/05/soap-envelope"
 xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:wsd="http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01">
 <s12:Header><wsa:Action>http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01/Probe</wsa:Action></s12:Header>
 <s12:Body><wsd:Probe><wsd:Types xmlns:m="urn:m">m:MedicalDevice</wsd:Types></wsd:Probe></s12:Body>
</s12:Envelope>"""

# DPWS 1.1 §4.1 / WS-MetadataExchange GetMetadata response: ThisModel, ThisDevice, Relationship.
METADATA = b"""<?xml version="1.0" encoding="UTF-8"?>
<s12:Envelope xmlns:s12="http://www.w3.org/2003/05/soap-envelope"
  xmlns:wsx="http://schemas.xmlsoap.org/ws/2004/09/mex"
  xmlns:dpws="http://docs.oasis-open.org/ws-dd/ns/dpws/2009/01">
 <s12:Body><wsx:Metadata>
  <wsx:MetadataSection Dialect="http://docs.oasis-open.org/ws-dd/ns/dpws/2009/01/ThisModel">
   <dpws:ThisModel>
    <dpws:Manufacturer xml:lang="en">Example Medical</dpws:Manufacturer>
    <dpws:Manufacturer xml:lang="de">Beispiel Medizin</dpws:Manufacturer>
    <dpws:ManufacturerUrl>http://med.example</dpws:ManufacturerUrl>
    <dpws:ModelName>VitalView</dpws:ModelName>
    <dpws:ModelNumber>VV-7</dpws:ModelNumber>
   </dpws:ThisModel>
  </wsx:MetadataSection>
  <wsx:MetadataSection Dialect="http://docs.oasis-open.org/ws-dd/ns/dpws/2009/01/ThisDevice">
   <dpws:ThisDevice>
    <dpws:FriendlyName>Bed 3 monitor</dpws:FriendlyName>
    <dpws:FirmwareVersion>7.3.1</dpws:FirmwareVersion>
    <dpws:SerialNumber>SN-0042</dpws:SerialNumber>
   </dpws:ThisDevice>
  </wsx:MetadataSection>
  <wsx:MetadataSection Dialect="http://docs.oasis-open.org/ws-dd/ns/dpws/2009/01/Relationship">
   <dpws:Relationship Type="http://docs.oasis-open.org/ws-dd/ns/dpws/2009/01/host">
    <dpws:Host><dpws:Types xmlns:m="urn:m">dpws:Device m:MedicalDevice</dpws:Types></dpws:Host>
    <dpws:Hosted><dpws:Types xmlns:s="urn:s">s:GetService s:SetService</dpws:Types></dpws:Hosted>
   </dpws:Relationship>
  </wsx:MetadataSection>
 </wsx:Metadata></s12:Body>
</s12:Envelope>
"""


def http_response(body: bytes, *, gz: bool = False) -> bytes:
    if gz:
        body = gzip.compress(body)
    enc = b"Content-Encoding: gzip\r\n" if gz else b""
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml; charset=utf-8\r\n"
        + enc
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def test_hello() -> None:
    d = sdc.SdcDissector()
    assert d.probe(HELLO)
    [o] = d.dissect(CTX, HELLO)
    assert o.ip == "10.6.0.40"
    f = o.fields
    assert f["sdc.wsd_action"] == "Hello"
    assert f["sdc.endpoint"] == "urn:uuid:98190dc2-0890-4ef8-ac9a-5940995e6119"
    assert f["sdc.types"] == ("Device", "MedicalDevice")
    assert f["sdc.xaddrs"] == ("https://10.6.0.40:6464/98190dc2",)
    assert f["sdc.metadata_version"] == 3
    assert f["sdc.medical"] is True
    assert f["sdc.participant_key_purposes"] == ("1.2.840.10004.20701.1.1",)
    assert f["sdc.mds_types"] == ("69837",)
    assert f["sdc.location"] == "fac=HOSP;bldng=B;flr=2;poc=ICU;rm=7;bed=3"
    assert "http://vendor.example/scope/icu" in f["sdc.scopes"]  # type: ignore[operator]


def test_patient_context_scope_never_leaves() -> None:
    [o] = sdc.SdcDissector().dissect(CTX, HELLO)
    assert "MRN-PHI-42" not in repr(o.to_json())
    assert not any(str(s).startswith("sdc.ctxt.pat") for s in o.fields["sdc.scopes"])  # type: ignore[union-attr]


def test_probe_is_about_the_consumer_query() -> None:
    [o] = sdc.SdcDissector().dissect(CTX, PROBE)
    assert o.fields == {"sdc.wsd_action": "Probe", "sdc.probe_types": ("MedicalDevice",)}


def test_metadata_plain_and_gzip() -> None:
    d = sdc.SdcDissector()
    for payload in (http_response(METADATA), http_response(METADATA, gz=True)):
        assert d.probe(payload)
        [o] = d.dissect(TCP, payload)
        assert o.fields == {
            "sdc.manufacturer": "Example Medical",  # the first localised value
            "sdc.manufacturer_url": "http://med.example",
            "sdc.model_name": "VitalView",
            "sdc.model_number": "VV-7",
            "sdc.friendly_name": "Bed 3 monitor",
            "sdc.firmware": "7.3.1",
            "sdc.serial_number": "SN-0042",
            "sdc.types": ("Device", "MedicalDevice"),
            "sdc.hosted_types": ("GetService", "SetService"),
            "sdc.medical": True,
        }


def test_second_keep_alive_response_is_found() -> None:
    first = http_response(b"<s12:Envelope><s12:Body/></s12:Envelope>")
    [o] = sdc.SdcDissector().dissect(TCP, first + http_response(METADATA, gz=True))
    assert o.fields["sdc.serial_number"] == "SN-0042"


def test_requests_dtd_and_other_xml_give_nothing() -> None:
    d = sdc.SdcDissector()
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + HELLO[38:]
    request = b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n" + METADATA
    for payload in (evil, request, b"<a>http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01</a>", b""):
        assert d.dissect(CTX, payload) == []


def test_scan_elements_is_bounded_on_nesting() -> None:
    deep = b"<a>" * 10000 + b"<b x='1'>t</b>"
    assert len(sdc.scan_elements(deep)) <= sdc.MAX_DEPTH + 2


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(0, len(HELLO)))
def test_fuzz(data: bytes, cut: int) -> None:
    d = sdc.SdcDissector()
    meta = http_response(METADATA, gz=True)
    for payload in (data, HELLO[:cut] + data, meta[: cut % len(meta)] + data, sdc.WSD_NS + data):
        assert isinstance(d.probe(payload), bool)
        for o in d.dissect(CTX, payload):
            assert isinstance(o, Observation) and set(o.fields) <= set(sdc.FIELDS)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="<>/=\"' abx:!-[]&;", max_size=300))
def test_fuzz_xml_scanner(text: str) -> None:
    for el in sdc.scan_elements(text.encode()):
        assert isinstance(el, sdc.Element) and el.path
