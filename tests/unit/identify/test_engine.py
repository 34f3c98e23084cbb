"""Identification rules and the conflict rule, with hand-computed expectations."""

from __future__ import annotations

import pytest

from wardwatch.identify.engine import identify, resolve
from wardwatch.identify.knowledge import Knowledge
from wardwatch.identify.oui import OuiRegistry
from wardwatch.model.device import Attribute, Evidence
from wardwatch.store.ports import StoredObservation

K = Knowledge.bundled()
OUI = OuiRegistry({"001E8F": ("MA-L", "CANON INC."), "000C29": ("MA-L", "VMware, Inc.")})


def stored(
    protocol: str, fields: dict[str, object], *, mac: str = "00:1e:8f:00:00:01", t: int = 1
) -> StoredObservation:
    return StoredObservation(
        uid=f"{protocol}-{sorted(fields.items())}",
        protocol=protocol,
        mac=mac,
        ip="10.0.0.5",
        fields=fields,  # type: ignore[arg-type]
        first_ns=t,
        last_ns=t,
        first_flow_uid="f",
        last_flow_uid="f",
    )


def ev(attribute: Attribute, value: str, confidence: float, rule: str, t: int = 1) -> Evidence:
    return Evidence(attribute, value, confidence, rule, None, t, t)


def test_agreement_combines_independent_rules() -> None:
    # 1 - (1-0.5)(1-0.85) = 0.925
    resolved = resolve(
        [ev(Attribute.VENDOR, "Philips", 0.5, "oui"), ev(Attribute.VENDOR, "philips", 0.85, "upnp")]
    )
    vendor = resolved["vendor"]
    assert vendor.value == "philips"  # the value of the most confident evidence
    assert vendor.confidence == pytest.approx(0.925)
    assert vendor.chosen_by == "only"


def test_same_rule_repeated_counts_once() -> None:
    resolved = resolve([ev(Attribute.HOSTNAME, "a", 0.8, "dhcp.hostname", t) for t in range(5)])
    assert resolved["hostname"].confidence == pytest.approx(0.8)


def test_conflict_higher_confidence_wins_and_loser_is_kept() -> None:
    resolved = resolve(
        [
            ev(Attribute.HOSTNAME, "pump-7", 0.8, "dhcp.hostname"),
            ev(Attribute.HOSTNAME, "printer-2", 0.6, "syslog.hostname"),
        ]
    )
    hostname = resolved["hostname"]
    assert hostname.value == "pump-7"
    assert hostname.chosen_by == "confidence"
    assert [c.value for c in hostname.conflicts] == ["printer-2"]


def test_agreement_beats_single_stronger_source() -> None:
    # "b": 1-(0.4*0.4)=0.84 from two rules beats "a": 0.8 from one.
    resolved = resolve(
        [
            ev(Attribute.MODEL, "a", 0.8, "r1"),
            ev(Attribute.MODEL, "b", 0.6, "r2"),
            ev(Attribute.MODEL, "b", 0.6, "r3"),
        ]
    )
    assert resolved["model"].value == "b"
    assert resolved["model"].chosen_by == "agreement"
    assert resolved["model"].confidence == pytest.approx(0.84)


def test_tie_goes_to_most_recent() -> None:
    resolved = resolve(
        [ev(Attribute.HOSTNAME, "old", 0.8, "r1", t=1), ev(Attribute.HOSTNAME, "new", 0.8, "r2", t=9)]
    )
    assert resolved["hostname"].value == "new"
    assert resolved["hostname"].chosen_by == "recency"


def test_upnp_description_identifies_a_monitor() -> None:
    result = identify(
        [
            stored(
                "upnp",
                {
                    "upnp.manufacturer": "Philips Medical Systems",
                    "upnp.model_name": "IntelliVue MX800",
                    "upnp.serial_number": "DE12345678",
                },
            )
        ],
        mac="00:1e:8f:00:00:01",
        first_ns=1,
        last_ns=1,
        knowledge=K,
        oui=OUI,
    )
    a = result.attributes
    assert a["vendor"].value == "Philips"
    assert a["model"].value == "IntelliVue MX800"
    assert a["serial"].value == "DE12345678"
    assert a["device_type"].value == "patient_monitor"
    assert a["clinical_category"].value == "therapeutic"
    # the OUI said Canon (the NIC maker) and is kept as conflicting evidence
    assert any(c.rule == "oui" and c.value == "Canon" for c in a["vendor"].conflicts)


def test_vendor_only_gives_a_weak_type_prior() -> None:
    oui = OuiRegistry({"001234": ("MA-L", "Baxter International Inc")})
    result = identify([], mac="00:12:34:00:00:01", first_ns=1, last_ns=1, knowledge=K, oui=oui)
    device_type = result.attributes["device_type"]
    assert result.attributes["vendor"].value == "Baxter"
    assert device_type.value == "infusion_pump"
    assert device_type.confidence < 0.5  # a prior, not a fact
    assert device_type.evidence[0].rule == "vendor-prior"


def test_windows_from_dhcp_and_smb_build() -> None:
    result = identify(
        [
            stored("dhcp", {"dhcp.vendor_class": "MSFT 5.0", "dhcp.hostname": "RAD-WS-12"}),
            stored("smb", {"smb.os_build": "10.0.22631"}),
        ],
        mac="00:0c:29:00:00:01",
        first_ns=1,
        last_ns=1,
        knowledge=K,
        oui=OUI,
    )
    assert result.attributes["os"].value == "Windows"
    assert result.attributes["os_version"].value == "11 (build 22631)"
    assert result.attributes["hostname"].value == "RAD-WS-12"


def test_printer_from_mdns() -> None:
    result = identify(
        [
            stored(
                "mdns",
                {
                    "mdns.services": ("_ipp._tcp", "_printer._tcp"),
                    "mdns.txt": ("ty=HP LaserJet Pro M404dn", "usb_MFG=HP", "txtvers=1"),
                    "mdns.hostname": "NPI1A2B3C.local",
                },
            )
        ],
        mac="02:00:00:00:00:01",
        first_ns=1,
        last_ns=1,
        knowledge=K,
        oui=OUI,
    )
    a = result.attributes
    assert a["device_type"].value == "printer"
    assert a["vendor"].value == "HP"
    assert a["model"].value == "HP LaserJet Pro M404dn"
    assert a["hostname"].value == "NPI1A2B3C"


def test_rules_cite_their_sources_and_types_exist() -> None:
    for rule in K.rules:
        assert rule.source, rule.id
        for attribute, value in rule.set:
            Attribute(attribute)
            if attribute == "device_type":
                assert value in K.types, rule.id
    for family in K.families:
        assert family.device_type in K.types
    for vendor in K.vendors:
        for device_type, _ in vendor.types:
            assert device_type in K.types


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Baxter International Inc", "Baxter"),
        ("Becton Dickinson", "BD"),
        ("CareFusion", "BD"),
        ("Hewlett Packard", "HP"),
        ("Aruba, a Hewlett Packard Enterprise Company", "Aruba"),
        ("Cisco Systems, Inc", "Cisco"),
        ("Example Widgets GmbH", "Example Widgets"),
    ],
)
def test_canonical_vendor(raw: str, canonical: str) -> None:
    assert K.canonical_vendor(raw) == canonical
