"""HL7 FHIR over unencrypted HTTP: Device resources and the server's CapabilityStatement.

References: HL7 FHIR R4 (4.0.1) §3.1 RESTful API / §2.6 formats (``application/fhir+json``,
``application/fhir+xml``; DSTU2's ``application/json+fhir``), Device resource R4 §8.17
(``manufacturer``, ``deviceName[].name/type``, ``modelNumber``, ``serialNumber``,
``version[].value``, ``udiCarrier[].deviceIdentifier``, ``type`` CodeableConcept), Device R5
(``name[].value/type``, ``displayName``, ``type[]``), Bundle §3.3 (``entry[].resource``),
CapabilityStatement §8.x (``software.name``, ``software.version``, ``fhirVersion``). XML form:
elements in the ``http://hl7.org/fhir`` namespace with primitive values in the ``value``
attribute (R4 §2.6.2).

PHI: FHIR traffic is full of Patient, Observation, Encounter ... resources. This module reads ONLY
Device and CapabilityStatement resources (and the list of resource type names present); nothing
of any other resource, no URL, query, header value or reference is kept. Device ``patient``,
``owner``, ``location``, ``note``, ``identifier`` and ``lotNumber`` elements are not read either,
nor device names of type ``patient-reported-name``.

Subject: a Device resource in a *request* body (a device or gateway PUT/POSTs its own Device) is
about the client that sent it, when it is the only Device in that body: ``fhir.device_*``. Device
resources in a *response* describe devices the server knows, not the server, so they are kept
only as a bounded summary about the server (``fhir.listed_devices``), never as its identity. A
CapabilityStatement in a response names the server software (``fhir.server``).

Each direction's stream prefix may hold several HTTP messages (keep-alive); at most
:data:`MAX_MESSAGES` are read, each body at most :data:`MAX_BODY` bytes. XML goes through the safe
scanner of :mod:`wardwatch.sensor.dissect.sdc` (DTD/ENTITY documents rejected); JSON through the
standard library parser, whose depth errors are caught like any other bad input.
"""

from __future__ import annotations

import json
from typing import Any

from wardwatch.model.flow import Transport
from wardwatch.model.observation import FieldValue, Observation
from wardwatch.sensor.dissect.base import PacketContext, safe_text
from wardwatch.sensor.dissect.sdc import METHODS, Element, header, http_messages, observe, scan_elements

MAX_BODY = 65536
MAX_HEADER = 8192
MAX_LIST = 16
MAX_RESOURCES = 256
FHIR_NS = b"http://hl7.org/fhir"
#: DeviceNameType (R4 valueset device-nametype) of names a patient gives a device: never kept.
PATIENT_NAME_TYPE = "patient-reported-name"

_KEYS = ("manufacturer", "name", "model", "model_number", "serial", "version", "udi_di", "type")

Device = dict[str, list[str]]


def _text(value: object) -> str:
    return safe_text(value.encode("utf-8")) if isinstance(value, str) else ""


def _add(device: Device, key: str, value: object) -> None:
    text = _text(value)
    if text and text not in device.setdefault(key, []) and len(device[key]) < MAX_LIST:
        device[key].append(text)


def _is_fhir_status(head: bytes) -> bool:
    """A 200 or 201 response: only those carry the resource that was read or stored."""
    status = head.split(b"\r\n", 1)[0].split()
    return len(status) >= 2 and status[1] in (b"200", b"201")


# ---- JSON ------------------------------------------------------------------------------------


def _json_resources(doc: Any) -> list[dict[str, Any]]:
    """Top-level resource, Bundle entry resources and contained resources (bounded)."""
    out: list[dict[str, Any]] = []
    todo = [doc]
    while todo and len(out) < MAX_RESOURCES:
        item = todo.pop(0)
        if not isinstance(item, dict) or not isinstance(item.get("resourceType"), str):
            continue
        out.append(item)
        entries = item.get("entry") if item["resourceType"] == "Bundle" else None
        if isinstance(entries, list):
            todo += [e.get("resource") for e in entries[:MAX_RESOURCES] if isinstance(e, dict)]
        contained = item.get("contained")
        if isinstance(contained, list):
            todo += contained[:MAX_RESOURCES]
    return out


def _json_coding_texts(concept: Any, device: Device) -> None:
    concepts = concept if isinstance(concept, list) else [concept]
    for cc in concepts[:MAX_LIST]:
        if not isinstance(cc, dict):
            continue
        for coding in cc.get("coding", [])[:MAX_LIST] if isinstance(cc.get("coding"), list) else []:
            if isinstance(coding, dict):
                _add(device, "type", coding.get("display") or coding.get("code"))
        _add(device, "type", cc.get("text"))


def json_device(res: dict[str, Any]) -> Device:
    """The identity elements of one Device resource (R4 or R5 JSON)."""
    device: Device = {}
    _add(device, "manufacturer", res.get("manufacturer"))
    names = res.get("deviceName")  # R4
    r5_names = res.get("name")  # R5
    for item in (names if isinstance(names, list) else []) + (r5_names if isinstance(r5_names, list) else []):
        if not isinstance(item, dict):
            continue
        value = item.get("name", item.get("value"))
        kind = item.get("type")
        if kind == PATIENT_NAME_TYPE:
            continue  # a name the patient gave the device: may identify the patient
        _add(device, "name", value)
        if isinstance(kind, str) and kind in ("model-name", "model"):
            _add(device, "model", value)
    _add(device, "name", res.get("displayName"))
    _add(device, "model_number", res.get("modelNumber"))
    _add(device, "serial", res.get("serialNumber"))
    versions = res.get("version")
    for v in versions[:MAX_LIST] if isinstance(versions, list) else []:
        if isinstance(v, dict):
            _add(device, "version", v.get("value"))
    carriers = res.get("udiCarrier")
    for c in carriers[:MAX_LIST] if isinstance(carriers, list) else []:
        if isinstance(c, dict):
            _add(device, "udi_di", c.get("deviceIdentifier"))
    _json_coding_texts(res.get("type"), device)
    return device


def _json_capability(res: dict[str, Any], fields: dict[str, FieldValue]) -> None:
    software = res.get("software")
    if isinstance(software, dict):
        server = " ".join(t for t in (_text(software.get("name")), _text(software.get("version"))) if t)
        if server:
            fields["fhir.server"] = server
    version = _text(res.get("fhirVersion"))
    if version:
        fields["fhir.fhir_version"] = version


# ---- XML -------------------------------------------------------------------------------------

_XML_MAP: dict[tuple[str, ...], str] = {
    ("manufacturer",): "manufacturer",
    ("deviceName", "name"): "name",
    ("name", "value"): "name",
    ("displayName",): "name",
    ("modelNumber",): "model_number",
    ("serialNumber",): "serial",
    ("version", "value"): "version",
    ("udiCarrier", "deviceIdentifier"): "udi_di",
    ("type", "coding", "display"): "type",
    ("type", "text"): "type",
}


def xml_documents(elements: list[Element]) -> tuple[list[str], list[Device], dict[str, FieldValue]]:
    """Resource type names, Device identities and CapabilityStatement fields of a FHIR XML body."""
    types: list[str] = []
    devices: list[Device] = []
    capability: dict[str, FieldValue] = {}
    current: Device | None = None
    root: tuple[str, ...] = ()
    last_name = ""
    software: list[str] = []
    for el in elements:
        is_resource = len(el.path) == 1 or el.path[-2] in ("resource", "contained")
        if is_resource and el.name[:1].isupper():
            if el.name not in types and len(types) < MAX_LIST:
                types.append(el.name)
            root, current = el.path, None
            if el.name == "Device" and len(devices) < MAX_RESOURCES:
                current = {}
                devices.append(current)
            continue
        if el.path[: len(root)] != root or not root:
            continue
        rel = el.path[len(root) :]
        value = el.attr("value")
        if current is not None:
            key = _XML_MAP.get(rel)
            if key:
                _add(current, key, value)
                if key == "name":
                    last_name = value
            elif rel in (("deviceName", "type"), ("name", "type")) and value in ("model-name", "model"):
                _add(current, "model", last_name)
            elif (
                rel in (("deviceName", "type"), ("name", "type"))
                and value == PATIENT_NAME_TYPE
                and last_name in current.get("name", [])
            ):
                # the name element came first: take it back (it may identify the patient)
                current["name"].remove(last_name)
        elif root[-1] == "CapabilityStatement":
            if rel in (("software", "name"), ("software", "version")) and value:
                software.append(_text(value))
            elif rel == ("fhirVersion",):
                capability["fhir.fhir_version"] = _text(value)
    if software:
        capability["fhir.server"] = " ".join(software[:2])
    return types, devices, capability


# ---- dissector -------------------------------------------------------------------------------


def parse_body(head: bytes, body: bytes) -> tuple[list[str], list[Device], dict[str, FieldValue]]:
    """Resource types, Devices and CapabilityStatement fields of one message body."""
    ctype = header(head, b"content-type")
    stripped = body.lstrip()
    if stripped.startswith(b"{") and (b"json" in ctype or b'"resourceType"' in body[:MAX_BODY]):
        try:
            doc = json.loads(stripped.decode("utf-8", errors="replace"))
        except (ValueError, RecursionError):
            return [], [], {}
        resources = _json_resources(doc)
        types: list[str] = []
        devices: list[Device] = []
        capability: dict[str, FieldValue] = {}
        for res in resources:
            rtype = _text(res["resourceType"])
            if rtype and rtype not in types and len(types) < MAX_LIST:
                types.append(rtype)
            if rtype == "Device":
                devices.append(json_device(res))
            elif rtype == "CapabilityStatement":
                _json_capability(res, capability)
        return types, devices, capability
    if stripped.startswith(b"<") and FHIR_NS in body[:4096]:
        return xml_documents(scan_elements(body))
    return [], [], {}


def device_fields(device: Device) -> dict[str, FieldValue]:
    """``fhir.device_*`` fields of one self-described Device."""
    fields: dict[str, FieldValue] = {}
    for key in _KEYS:
        values = device.get(key, [])
        if not values:
            continue
        if key in ("name", "version", "udi_di", "type"):
            fields[f"fhir.device_{key}"] = tuple(values)
        else:
            fields[f"fhir.device_{key}"] = values[0]
    return fields


def summary(device: Device) -> str:
    """'manufacturer / model / model number / serial' of a listed device, for the server's record."""
    parts = [(device.get(k) or [""])[0] for k in ("manufacturer", "model", "model_number", "serial")]
    if not parts[1]:
        parts[1] = (device.get("name") or [""])[0]
    return " / ".join(p for p in parts if p)


class FhirDissector:
    """FHIR resources in HTTP messages (any port) -> observations about client or server."""

    name = "fhir"
    transports = frozenset({Transport.TCP})
    udp_ports: frozenset[int] = frozenset()
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """An HTTP message whose prefix shows a FHIR media type, JSON resourceType or the FHIR namespace."""
        if not (payload[:16].startswith(METHODS) or payload.startswith(b"HTTP/1.")):
            return False
        window = payload[: MAX_HEADER + 4096]
        low = window[:MAX_HEADER].lower()
        return b"fhir" in low or b'"resourceType"' in window or FHIR_NS in window

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Never raises."""
        try:
            return self._dissect(ctx, payload)
        except Exception:
            return []

    def _dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        out: list[Observation] = []
        for is_request, head, body in http_messages(payload[: (MAX_HEADER + MAX_BODY) * 2]):
            if not body or (not is_request and not _is_fhir_status(head)):
                continue
            types, devices, capability = parse_body(head, body)
            if not types:
                continue
            fields: dict[str, FieldValue] = {
                "fhir.message": "request" if is_request else "response",
                "fhir.resource_types": tuple(types),
            }
            if is_request and len(devices) == 1:
                fields.update(device_fields(devices[0]))
            elif devices:
                listed = [s for s in dict.fromkeys(summary(d) for d in devices) if s]
                fields["fhir.listed_device_count"] = len(devices)
                if listed:
                    fields["fhir.listed_devices"] = tuple(listed[:MAX_LIST])
            if not is_request:
                fields.update(capability)
            out.append(observe(ctx, self.name, fields))
        return out


DISSECTORS: list[FhirDissector] = [FhirDissector()]

FIELDS: dict[str, str] = {
    "fhir.message": "Whether the FHIR body was in an HTTP request or response.",
    "fhir.resource_types": "resourceType names present (top level, Bundle entries, contained); no content.",
    "fhir.device_manufacturer": "Device.manufacturer of the only Device a client sent (about the client).",
    "fhir.device_name": "Device.deviceName[].name (R4) / name[].value, displayName (R5) of that Device.",
    "fhir.device_model": "The deviceName whose type is model-name.",
    "fhir.device_model_number": "Device.modelNumber of that Device.",
    "fhir.device_serial": "Device.serialNumber of that Device.",
    "fhir.device_version": "Device.version[].value of that Device.",
    "fhir.device_udi_di": "Device.udiCarrier[].deviceIdentifier (UDI device identifier) of that Device.",
    "fhir.device_type": "Device.type coding display (or code) and text of that Device.",
    "fhir.listed_device_count": "Number of Device resources in a response or multi-Device request.",
    "fhir.listed_devices": "'manufacturer / model / model number / serial' of those Devices (not the sender's).",
    "fhir.server": "CapabilityStatement software.name and software.version of a server response.",
    "fhir.fhir_version": "CapabilityStatement fhirVersion.",
}
