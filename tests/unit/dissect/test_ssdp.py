"""SSDP dissector: NOTIFY / M-SEARCH / response messages and fuzzing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import ssdp
from wardwatch.sensor.dissect.base import PacketContext

CTX = PacketContext(
    ts_ns=1,
    flow_uid="U",
    transport=Transport.UDP,
    src_mac="00:09:fb:00:00:01",
    src_ip="10.5.0.7",
    dst_ip="239.255.255.250",
    src_port=1900,
    dst_port=1900,
)

NOTIFY = (
    b"NOTIFY * HTTP/1.1\r\n"
    b"HOST: 239.255.255.250:1900\r\n"
    b"CACHE-CONTROL: max-age=1800\r\n"
    b"location: http://10.5.0.7:49152/description.xml\r\n"
    b"NT: urn:schemas-upnp-org:device:MediaServer:1\r\n"
    b"NTS: ssdp:alive\r\n"
    b"Server: Linux/3.14 UPnP/1.0 Philips-IntelliVue/1.0\r\n"
    b"USN: uuid:2fac1234-31f8-11b4-a222-08002b34c003::urn:schemas-upnp-org:device:MediaServer:1\r\n"
    b"\r\n"
)
MSEARCH = (
    b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 2\r\n'
    b"ST: ssdp:all\r\nUSER-AGENT: Windows/10.0 UPnP/1.1 Acme/2\r\n\r\n"
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nEXT:\r\nLOCATION: http://10.5.0.7:80/d.xml\r\n"
    b"SERVER: RTOS/1 UPnP/1.1 Pump/4\r\nST: upnp:rootdevice\r\nUSN: uuid:abc::upnp:rootdevice\r\n\r\n"
)


def test_notify() -> None:
    d = ssdp.SsdpDissector()
    assert d.probe(NOTIFY)
    out = d.dissect(CTX, NOTIFY)
    assert len(out) == 1 and out[0].mac == "00:09:fb:00:00:01" and out[0].ip == "10.5.0.7"
    assert out[0].fields == {
        "ssdp.method": "NOTIFY",
        "ssdp.server": "Linux/3.14 UPnP/1.0 Philips-IntelliVue/1.0",
        "ssdp.usn": "uuid:2fac1234-31f8-11b4-a222-08002b34c003::urn:schemas-upnp-org:device:MediaServer:1",
        "ssdp.nt": "urn:schemas-upnp-org:device:MediaServer:1",
        "ssdp.nts": "ssdp:alive",
        "ssdp.location": "http://10.5.0.7:49152/description.xml",
    }


def test_msearch() -> None:
    out = ssdp.SsdpDissector().dissect(CTX, MSEARCH)
    assert out[0].fields == {
        "ssdp.method": "M-SEARCH",
        "ssdp.st": "ssdp:all",
        "ssdp.user_agent": "Windows/10.0 UPnP/1.1 Acme/2",
    }


def test_response_and_probe() -> None:
    d = ssdp.SsdpDissector()
    assert d.probe(RESPONSE)
    assert not d.probe(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n")
    assert not d.probe(b"GET / HTTP/1.1\r\n\r\n")
    out = d.dissect(CTX, RESPONSE)
    assert out[0].fields == {
        "ssdp.method": "response",
        "ssdp.server": "RTOS/1 UPnP/1.1 Pump/4",
        "ssdp.usn": "uuid:abc::upnp:rootdevice",
        "ssdp.st": "upnp:rootdevice",
        "ssdp.location": "http://10.5.0.7:80/d.xml",
    }


def test_not_ssdp() -> None:
    assert ssdp.SsdpDissector().dissect(CTX, b"\x00\x01garbage") == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(0, len(NOTIFY)))
def test_fuzz(data: bytes, cut: int) -> None:
    d = ssdp.SsdpDissector()
    for payload in (data, NOTIFY[:cut] + data, b"NOTIFY * HTTP/1.1\r\n" + data):
        assert isinstance(d.probe(payload), bool)
        out = d.dissect(CTX, payload)
        assert isinstance(out, list)
        for o in out:
            assert isinstance(o, Observation) and set(o.fields) <= set(ssdp.FIELDS)
