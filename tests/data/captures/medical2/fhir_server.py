"""FHIR peer for record_medical2.sh: a minimal FHIR R4 REST facade on CPython http.server.

Usage: fhir_server.py HOST PORT
Not a FHIR server product: it serves fixed FHIR R4 resources (the Device ones modelled on the HL7
FHIR R4 Device examples, e.g. ``example-pacemaker``) in JSON and XML, and accepts PUT/POST of a
Device. ``GET /fhir/Patient/p1/$everything`` returns a Bundle full of SYNTHETIC patient data
(names, MRN, birth date, SpO2 value): the PHI test checks none of it leaves the dissector.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

CAPABILITY = {
    "resourceType": "CapabilityStatement",
    "status": "active",
    "date": "2026-11-23",
    "kind": "instance",
    "software": {"name": "Example FHIR Server", "version": "5.2.1"},
    "implementation": {"description": "Ward 3 FHIR facade (synthetic)"},
    "fhirVersion": "4.0.1",
    "format": ["application/fhir+json", "application/fhir+xml"],
}

PACEMAKER = {
    "resourceType": "Device",
    "id": "example-pacemaker",
    "identifier": [{"system": "urn:oid:2.16.840.1.113883.3.3719", "value": "(01)51022222233336(21)1234"}],
    "udiCarrier": [
        {
            "deviceIdentifier": "51022222233336",
            "issuer": "http://hl7.org/fhir/NamingSystem/gs1-di",
            "carrierHRF": "(01)51022222233336(11)141231(17)150707(10)A213B1(21)1234",
        }
    ],
    "status": "active",
    "manufacturer": "Acme Devices, Inc",
    "lotNumber": "A213B1",
    "serialNumber": "1234",
    "deviceName": [
        {"name": "Cardiac Pacemaker", "type": "user-friendly-name"},
        {"name": "Model XYZ Pacemaker", "type": "model-name"},
    ],
    "modelNumber": "XYZ-2014",
    "type": {
        "coding": [
            {
                "system": "http://snomed.info/sct",
                "code": "octane2014",
                "display": "Performance pace maker for high octane patients",
            }
        ]
    },
    "patient": {"reference": "Patient/p1"},
}

OXIMETER = {
    "resourceType": "Device",
    "id": "spo2-bed12",
    "manufacturer": "Example Medical Systems",
    "deviceName": [{"name": "PulseView 300", "type": "model-name"}],
    "modelNumber": "PV-300",
    "serialNumber": "PV3-SN-55120",
    "version": [{"value": "3.4.2"}],
    "type": {
        "coding": [
            {"system": "urn:iso:std:iso:11073:10101", "code": "150456", "display": "MDC_PULS_OXIM_SAT_O2"}
        ]
    },
}

EVERYTHING = {
    "resourceType": "Bundle",
    "type": "searchset",
    "entry": [
        {
            "fullUrl": "http://fhir.example.test/fhir/Patient/p1",
            "resource": {
                "resourceType": "Patient",
                "id": "p1",
                "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-PHI-778899"}],
                "name": [{"family": "Quokkaface", "given": ["Zzyzx", "Philomena"]}],
                "gender": "female",
                "birthDate": "1931-02-03",
                "address": [{"line": ["17 Wombat Crescent"], "city": "Phiville"}],
                "telecom": [{"system": "phone", "value": "+1-555-0199-4242"}],
            },
        },
        {
            "fullUrl": "http://fhir.example.test/fhir/Observation/o1",
            "resource": {
                "resourceType": "Observation",
                "id": "o1",
                "status": "final",
                "code": {
                    "coding": [
                        {"system": "http://loinc.org", "code": "59408-5", "display": "Oxygen saturation"}
                    ]
                },
                "subject": {"reference": "Patient/p1", "display": "Zzyzx Quokkaface"},
                "valueQuantity": {"value": 87.25, "unit": "%"},
                "note": [{"text": "Patient Quokkaface desaturating, DOB 1931-02-03"}],
                "device": {"reference": "Device/spo2-bed12"},
            },
        },
        {"fullUrl": "http://fhir.example.test/fhir/Device/spo2-bed12", "resource": OXIMETER},
    ],
}

XML_BUNDLE = """<?xml version="1.0" encoding="UTF-8"?>
<Bundle xmlns="http://hl7.org/fhir">
  <type value="searchset"/>
  <entry>
    <fullUrl value="http://fhir.example.test/fhir/Device/example-pacemaker"/>
    <resource>
      <Device>
        <id value="example-pacemaker"/>
        <udiCarrier><deviceIdentifier value="51022222233336"/></udiCarrier>
        <status value="active"/>
        <manufacturer value="Acme Devices, Inc"/>
        <serialNumber value="1234"/>
        <deviceName><name value="Model XYZ Pacemaker"/><type value="model-name"/></deviceName>
        <modelNumber value="XYZ-2014"/>
      </Device>
    </resource>
  </entry>
  <entry>
    <resource>
      <Device>
        <id value="spo2-bed12"/>
        <manufacturer value="Example Medical Systems"/>
        <deviceName><name value="PulseView 300"/><type value="model-name"/></deviceName>
        <modelNumber value="PV-300"/>
        <serialNumber value="PV3-SN-55120"/>
      </Device>
    </resource>
  </entry>
</Bundle>
"""


class Handler(BaseHTTPRequestHandler):
    server_version = "ExampleFHIR/5.2.1"

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/fhir/metadata":
            self._send(200, json.dumps(CAPABILITY).encode(), "application/fhir+json")
        elif path == "/fhir/Device/example-pacemaker":
            self._send(200, json.dumps(PACEMAKER, indent=2).encode(), "application/fhir+json; charset=utf-8")
        elif path == "/fhir/Device" and "_format=xml" in self.path:
            self._send(200, XML_BUNDLE.encode(), "application/fhir+xml; charset=utf-8")
        elif path == "/fhir/Patient/p1/$everything":
            self._send(200, json.dumps(EVERYTHING).encode(), "application/fhir+json")
        else:
            self._send(404, b'{"resourceType":"OperationOutcome"}', "application/fhir+json")

    def _store(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        ctype = self.headers.get("Content-Type", "application/fhir+json")
        self._send(201 if self.command == "POST" else 200, body, ctype)

    do_PUT = _store
    do_POST = _store


if __name__ == "__main__":
    HTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
