"""FHIR over HTTP: Device / CapabilityStatement in JSON and XML (HL7 FHIR R4), PHI, fuzzing."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import fhir
from wardwatch.sensor.dissect.base import PacketContext

CLIENT = PacketContext(
    ts_ns=1,
    flow_uid="F",
    transport=Transport.TCP,
    src_mac="02:00:00:00:00:07",
    src_ip="10.7.0.50",
    dst_ip="10.7.0.2",
    src_port=50000,
    dst_port=8080,
    client_is_src=True,
)
SERVER = PacketContext(
    ts_ns=1,
    flow_uid="F",
    transport=Transport.TCP,
    src_mac="02:00:00:00:00:08",
    src_ip="10.7.0.2",
    dst_ip="10.7.0.50",
    src_port=8080,
    dst_port=50000,
    client_is_src=False,
)

# HL7 FHIR R4 §8.17 Device, modelled on the specification's example-pacemaker resource.
DEVICE = {
    "resourceType": "Device",
    "id": "example-pacemaker",
    "udiCarrier": [{"deviceIdentifier": "51022222233336", "carrierHRF": "(01)51022222233336(21)1234"}],
    "manufacturer": "Acme Devices, Inc",
    "lotNumber": "A213B1",
    "serialNumber": "1234",
    "deviceName": [
        {"name": "Cardiac Pacemaker", "type": "user-friendly-name"},
        {"name": "Model XYZ Pacemaker", "type": "model-name"},
    ],
    "modelNumber": "XYZ-2014",
    "version": [{"value": "10.23-23423"}],
    "type": {"coding": [{"system": "http://snomed.info/sct", "code": "octane2014", "display": "Pace maker"}]},
    "patient": {"reference": "Patient/PHI-REF-1"},
    "note": [{"text": "implanted in PHI-NOTE-PATIENT"}],
}
# The same Device in FHIR XML (R4 §2.6.2: primitive values in the value attribute).
DEVICE_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<Device xmlns="http://hl7.org/fhir">
  <id value="example-pacemaker"/>
  <udiCarrier><deviceIdentifier value="51022222233336"/></udiCarrier>
  <manufacturer value="Acme Devices, Inc"/>
  <serialNumber value="1234"/>
  <deviceName><name value="Cardiac Pacemaker"/><type value="user-friendly-name"/></deviceName>
  <deviceName><name value="Model XYZ Pacemaker"/><type value="model-name"/></deviceName>
  <modelNumber value="XYZ-2014"/>
  <version><value value="10.23-23423"/></version>
  <type><coding><system value="http://snomed.info/sct"/><display value="Pace maker"/></coding></type>
  <patient><reference value="Patient/PHI-REF-1"/></patient>
</Device>
"""
EXPECTED = {
    "fhir.message": "request",
    "fhir.resource_types": ("Device",),
    "fhir.device_manufacturer": "Acme Devices, Inc",
    "fhir.device_name": ("Cardiac Pacemaker", "Model XYZ Pacemaker"),
    "fhir.device_model": "Model XYZ Pacemaker",
    "fhir.device_model_number": "XYZ-2014",
    "fhir.device_serial": "1234",
    "fhir.device_version": ("10.23-23423",),
    "fhir.device_udi_di": ("51022222233336",),
    "fhir.device_type": ("Pace maker",),
}
PATIENT_BUNDLE = {
    "resourceType": "Bundle",
    "type": "searchset",
    "entry": [
        {
            "resource": {
                "resourceType": "Patient",
                "name": [{"family": "PHIFAMILY", "given": ["PHIGIVEN"]}],
                "birthDate": "1931-02-03",
                "identifier": [{"value": "MRN-PHI-9"}],
                "contained": [{"resourceType": "Device", "manufacturer": "Contained Co"}],
            }
        },
        {
            "resource": {
                "resourceType": "Observation",
                "valueQuantity": {"value": 87.25},
                "subject": {"display": "PHIGIVEN PHIFAMILY"},
            }
        },
        {"resource": DEVICE},
    ],
}


def request(body: bytes, ctype: bytes = b"application/fhir+json") -> bytes:
    return (
        b"PUT /fhir/Device/example-pacemaker?patient=MRN-PHI-9 HTTP/1.1\r\nHost: fhir\r\nContent-Type: "
        + ctype
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def response(body: bytes, ctype: bytes = b"application/fhir+json", status: bytes = b"200 OK") -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\nContent-Type: "
        + ctype
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def test_device_put_by_the_client_json_and_xml() -> None:
    d = fhir.FhirDissector()
    for payload in (request(json.dumps(DEVICE).encode()), request(DEVICE_XML, b"application/fhir+xml")):
        assert d.probe(payload)
        [o] = d.dissect(CLIENT, payload)
        assert o.ip == "10.7.0.50"
        assert o.fields == EXPECTED


def test_device_in_a_response_is_not_the_servers_identity() -> None:
    [o] = fhir.FhirDissector().dissect(SERVER, response(json.dumps(DEVICE).encode()))
    assert o.ip == "10.7.0.2"
    assert not any(k.startswith("fhir.device_") for k in o.fields)
    assert o.fields["fhir.listed_devices"] == ("Acme Devices, Inc / Model XYZ Pacemaker / XYZ-2014 / 1234",)


def test_bundle_with_patient_data_yields_only_device_metadata() -> None:
    body = json.dumps(PATIENT_BUNDLE).encode()
    [o] = fhir.FhirDissector().dissect(SERVER, response(body))
    assert o.fields["fhir.resource_types"] == ("Bundle", "Patient", "Observation", "Device")
    assert o.fields["fhir.listed_device_count"] == 2
    text = repr(o.to_json())
    for phi in (
        "PHIFAMILY",
        "PHIGIVEN",
        "1931-02-03",
        "MRN-PHI-9",
        "87.25",
        "PHI-REF-1",
        "PHI-NOTE",
        "A213B1",
    ):
        assert phi not in text


def test_patient_reported_device_names_are_dropped() -> None:
    named = dict(DEVICE, deviceName=[{"name": "Grandma PHI-PET-NAME pump", "type": "patient-reported-name"}])
    xml = DEVICE_XML.replace(
        b"<modelNumber",
        b'<deviceName><name value="Grandma PHI-PET-NAME pump"/><type value="patient-reported-name"/></deviceName>'
        b"<modelNumber",
    )
    d = fhir.FhirDissector()
    for payload in (request(json.dumps(named).encode()), request(xml, b"application/fhir+xml")):
        [o] = d.dissect(CLIENT, payload)
        assert "PHI-PET-NAME" not in repr(o.to_json())
        assert o.fields["fhir.device_serial"] == "1234"


def test_request_uri_never_stored() -> None:
    [o] = fhir.FhirDissector().dissect(CLIENT, request(json.dumps(DEVICE).encode()))
    assert "MRN-PHI-9" not in repr(o.to_json())


def test_capability_statement_json_and_xml() -> None:
    cap = {
        "resourceType": "CapabilityStatement",
        "software": {"name": "HAPI FHIR Server", "version": "6.4.0"},
        "fhirVersion": "4.0.1",
    }
    cap_xml = (
        b'<CapabilityStatement xmlns="http://hl7.org/fhir"><software><name value="HAPI FHIR Server"/>'
        b'<version value="6.4.0"/></software><fhirVersion value="4.0.1"/></CapabilityStatement>'
    )
    d = fhir.FhirDissector()
    for payload in (response(json.dumps(cap).encode()), response(cap_xml, b"application/fhir+xml")):
        [o] = d.dissect(SERVER, payload)
        assert o.fields["fhir.server"] == "HAPI FHIR Server 6.4.0"
        assert o.fields["fhir.fhir_version"] == "4.0.1"


def test_r5_names_and_keep_alive_and_chunked() -> None:
    r5 = {
        "resourceType": "Device",
        "manufacturer": "M",
        "displayName": "Pump 9",
        "name": [{"value": "Model Q", "type": "model-name"}],
    }
    body = json.dumps(r5).encode()
    chunked = (
        b"POST /fhir/Device HTTP/1.1\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + hex(len(body))[2:].encode()
        + b"\r\n"
        + body
        + b"\r\n0\r\n\r\n"
    )
    first = b"GET /fhir/metadata HTTP/1.1\r\nAccept: application/fhir+json\r\n\r\n"
    [o] = fhir.FhirDissector().dissect(CLIENT, first + chunked)
    assert o.fields["fhir.device_model"] == "Model Q"
    assert o.fields["fhir.device_name"] == ("Model Q", "Pump 9")


def test_errors_non_fhir_and_dtd() -> None:
    d = fhir.FhirDissector()
    evil = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]>' + DEVICE_XML[39:]
    for payload in (
        response(json.dumps(DEVICE).encode(), status=b"404 Not Found"),
        response(b'{"resourceType": "Device", "manufacturer": ', b"application/fhir+json"),
        response(evil, b"application/fhir+xml"),
        response(b"[" * 100000, b"application/json"),
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html></html>",
    ):
        assert d.dissect(SERVER, payload) == []


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 400))
def test_fuzz(data: bytes, cut: int) -> None:
    d = fhir.FhirDissector()
    good = request(json.dumps(DEVICE).encode())
    for payload in (
        data,
        good[:cut] + data,
        response(data),
        request(DEVICE_XML[:cut] + data, b"application/fhir+xml"),
    ):
        assert isinstance(d.probe(payload), bool)
        for o in d.dissect(CLIENT, payload):
            assert isinstance(o, Observation) and set(o.fields) <= set(fhir.FIELDS)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "resourceType",
                        "entry",
                        "resource",
                        "contained",
                        "deviceName",
                        "name",
                        "type",
                        "manufacturer",
                        "version",
                        "value",
                        "udiCarrier",
                        "coding",
                        "software",
                    ]
                ),
                inner,
                max_size=5,
            )
        ),
        max_leaves=30,
    )
)
def test_fuzz_json_shapes(doc: object) -> None:
    for o in fhir.FhirDissector().dissect(CLIENT, request(json.dumps(doc).encode())):
        assert set(o.fields) <= set(fhir.FIELDS)
