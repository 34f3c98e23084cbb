"""All dissectors the sensor runs, and the documented fields they may emit.

Each dissector module exposes ``DISSECTORS`` (instances) and ``FIELDS`` (name -> description).
``tests/unit/sensor/test_fields_documented.py`` fails when a dissector emits a field that is not
documented here, and docs/observations.md is generated from :data:`FIELDS`.
"""

from __future__ import annotations

import importlib

from wardwatch.sensor.dissect.base import Dissector

#: Module names under wardwatch.sensor.dissect, in the order their dissectors are tried.
MODULES: tuple[str, ...] = (
    "arp",
    "dhcp",
    "dhcpv6",
    "dns",  # DNS, mDNS/DNS-SD and LLMNR share one wire format
    "nbns",
    "ssdp",
    "upnp",
    "lldp",
    "cdp",
    "snmp",
    "http",
    "tls",
    "smb",
    "syslog",
    # medical and building protocols (issue 3)
    "dicom",
    "hl7",
    "fhir",
    "poct1",
    "sdc",
    "intellivue",
    "mqtt",
    "modbus",
    "bacnet",
    "tcpstack",
)


def _load() -> tuple[tuple[Dissector, ...], dict[str, str]]:
    dissectors: list[Dissector] = []
    fields: dict[str, str] = {}
    for name in MODULES:
        module = importlib.import_module(f"wardwatch.sensor.dissect.{name}")
        dissectors.extend(module.DISSECTORS)
        fields.update(module.FIELDS)
    return tuple(dissectors), fields


DISSECTORS, FIELDS = _load()
