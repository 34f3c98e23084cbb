"""UPnP device description dissector: HTTP framing (chunked / Content-Length), safe XML, fuzzing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import upnp
from wardwatch.sensor.dissect.base import PacketContext

CTX = PacketContext(
    ts_ns=4,
    flow_uid="T",
    transport=Transport.TCP,
    src_mac="00:09:fb:00:00:01",
    src_ip="10.5.0.7",
    dst_mac="00:11:22:33:44:55",
    dst_ip="10.5.0.2",
    src_port=49152,
    dst_port=50123,
    client_is_src=False,
)

XML = b"""<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
  <specVersion><major>1</major><minor>0</minor></specVersion>
  <!-- a comment with <manufacturer>Fake</manufacturer> inside -->
  <device>
    <deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>
    <friendlyName>Bed 12 Monitor</friendlyName>
    <manufacturer>Acme Medical &amp; Co</manufacturer>
    <manufacturerURL>http://www.acme.example/</manufacturerURL>
    <modelDescription>Patient monitor</modelDescription>
    <modelName>VitalView</modelName>
    <modelNumber>VV-700</modelNumber>
    <serialNumber>SN123456</serialNumber>
    <UDN>uuid:2fac1234-31f8-11b4-a222-08002b34c003</UDN>
    <firmwareVersion>4.2.1</firmwareVersion>
    <iconList><icon><mimetype>image/png</mimetype><width>48</width></icon></iconList>
    <serviceList><service>
      <serviceType>urn:schemas-upnp-org:service:ConnectionManager:1</serviceType>
    </service></serviceList>
    <deviceList><device>
      <deviceType>urn:schemas-upnp-org:device:Embedded:1</deviceType>
      <manufacturer>Other Vendor</manufacturer>
      <modelName>NotTheRoot</modelName>
    </device></deviceList>
    <presentationURL>http://10.5.0.7/</presentationURL>
  </device>
</root>
"""

EXPECTED = {
    "upnp.device_type": "urn:schemas-upnp-org:device:Basic:1",
    "upnp.friendly_name": "Bed 12 Monitor",
    "upnp.manufacturer": "Acme Medical & Co",
    "upnp.manufacturer_url": "http://www.acme.example/",
    "upnp.model_description": "Patient monitor",
    "upnp.model_name": "VitalView",
    "upnp.model_number": "VV-700",
    "upnp.serial_number": "SN123456",
    "upnp.udn": "uuid:2fac1234-31f8-11b4-a222-08002b34c003",
    "upnp.firmware": "4.2.1",
    "upnp.presentation_url": "http://10.5.0.7/",
    "upnp.embedded_types": ("urn:schemas-upnp-org:device:Embedded:1",),
    "upnp.service_types": ("urn:schemas-upnp-org:service:ConnectionManager:1",),
}


def content_length(body: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nCONTENT-TYPE: text/xml\r\nContent-Length: %d\r\n\r\n" % len(body)
    return head + body + b"HTTP/1.1 200 OK\r\n"  # pipelined garbage after the body must be ignored


def chunked(body: bytes, size: int = 100) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)
    )
    return head + chunks + b"0\r\n\r\n"


def test_content_length() -> None:
    d = upnp.UpnpDissector()
    payload = content_length(XML)
    assert d.probe(payload)
    out = d.dissect(CTX, payload)
    assert len(out) == 1
    assert (out[0].mac, out[0].ip, out[0].protocol) == ("00:09:fb:00:00:01", "10.5.0.7", "upnp")
    assert out[0].fields == EXPECTED


def test_chunked() -> None:
    out = upnp.UpnpDissector().dissect(CTX, chunked(XML, size=37))
    assert out[0].fields == EXPECTED


def test_truncated_prefix_keeps_what_arrived() -> None:
    payload = content_length(XML)
    cut = payload[: payload.index(b"<serialNumber>")]
    fields = upnp.UpnpDissector().dissect(CTX, cut)[0].fields
    assert fields["upnp.model_number"] == "VV-700"
    assert "upnp.serial_number" not in fields


def test_doctype_and_entities_rejected() -> None:
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        b'<root xmlns="urn:schemas-upnp-org:device-1-0"><device><modelName>&lol2;</modelName></device></root>'
    )
    assert upnp.UpnpDissector().dissect(CTX, content_length(evil)) == []


def test_non_200_and_non_upnp() -> None:
    d = upnp.UpnpDissector()
    assert d.dissect(CTX, content_length(XML).replace(b"200 OK", b"404 Not Found", 1)) == []
    assert not d.probe(b"HTTP/1.1 200 OK\r\n\r\n<html></html>")


def _check(out: object) -> None:
    assert isinstance(out, list)
    for o in out:
        assert isinstance(o, Observation) and set(o.fields) <= set(upnp.FIELDS)


VALID = chunked(XML, 64)


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=500), st.integers(0, len(VALID)), st.integers(0, len(VALID) - 1), st.integers(0, 255)
)
def test_fuzz(data: bytes, cut: int, at: int, byte: int) -> None:
    mutated = bytearray(VALID)
    mutated[at] = byte
    d = upnp.UpnpDissector()
    for payload in (data, VALID[:cut], bytes(mutated), b"HTTP/1.1 200 OK\r\n\r\n" + upnp.MARKER + data):
        assert isinstance(d.probe(payload), bool)
        _check(d.dissect(CTX, payload))


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="<>/!-[]CDATA device root x:=\"' &;#", max_size=300))
def test_fuzz_xml_scanner(text: str) -> None:
    body = b'<root xmlns="urn:schemas-upnp-org:device-1-0">' + text.encode()
    _check(upnp.UpnpDissector().dissect(CTX, b"HTTP/1.1 200 OK\r\n\r\n" + body))
