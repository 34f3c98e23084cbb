"""Medical and building protocol captures (tests/data/captures/README-medical2.md) through the sensor.

Each fact is a value we configured the real software (or the spec-built sender) to send, and must
appear as an observation about the right host. Where tshark 4.0 dissects the protocol (MQTT,
Modbus, BACnet, HTTP with JSON/XML bodies) ``test_tshark_agrees`` reads the same facts out of the
capture with it, as an independent implementation; it is skipped when tshark is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache

import pytest
from tests.conftest import DATA, observations_of

from wardwatch.model.observation import FieldValue, Observation

CAPTURES = DATA / "captures"
MQTT = "mqtt-mosquitto-paho.pcap"
MODBUS = "modbus-pymodbus.pcap"
BACNET = "bacnet-bacpypes3.pcap"
FHIR = "fhir-curl-pythonhttp.pcap"
POCT1 = "poct1-hello.pcap"
INTELLIVUE = "intellivue-connect-indication.pcap"
SDC = "sdc-sdc11073.pcap"

#: (capture, protocol, subject ip, field, value)
FACTS: list[tuple[str, str, str, str, FieldValue]] = [
    (MQTT, "mqtt", "10.98.11.1", "mqtt.client_id", "PUMPGW-SN-7731-0042"),
    (MQTT, "mqtt", "10.98.11.1", "mqtt.protocol_level", 4),
    (MQTT, "mqtt", "10.98.11.1", "mqtt.username_present", True),
    (MQTT, "mqtt", "10.98.11.1", "mqtt.password_present", True),
    (MQTT, "mqtt", "10.98.11.1", "mqtt.will_flag", True),
    (MQTT, "mqtt", "10.98.11.1", "mqtt.keep_alive", 45),
    (MQTT, "mqtt", "10.98.11.1", "mqtt.client_id", "nursecall-bridge-ward3"),
    (MQTT, "mqtt", "10.98.11.1", "mqtt.protocol_level", 5),
    (MQTT, "mqtt", "10.98.11.2", "mqtt.connack_code", 0),
    (MODBUS, "modbus", "10.98.12.2", "modbus.vendor_name", "Example Gas Systems"),
    (MODBUS, "modbus", "10.98.12.2", "modbus.product_code", "EGS-AP4"),
    (MODBUS, "modbus", "10.98.12.2", "modbus.revision", "2.7"),
    (MODBUS, "modbus", "10.98.12.2", "modbus.vendor_url", "http://gas.example.test/"),
    (MODBUS, "modbus", "10.98.12.2", "modbus.product_name", "Medical gas area alarm panel"),
    (MODBUS, "modbus", "10.98.12.2", "modbus.model_name", "AP-4000"),
    (MODBUS, "modbus", "10.98.12.2", "modbus.user_application_name", "OR wing B gas alarms"),
    (MODBUS, "modbus", "10.98.12.2", "modbus.conformity_level", 0x83),
    (BACNET, "bacnet", "10.98.13.2", "bacnet.device_instance", 3056),
    (BACNET, "bacnet", "10.98.13.2", "bacnet.vendor_id", 999),
    (BACNET, "bacnet", "10.98.13.2", "bacnet.object_name", "AHU-3-OR-WING"),
    (BACNET, "bacnet", "10.98.13.2", "bacnet.vendor_name", "Example Building Controls"),
    (BACNET, "bacnet", "10.98.13.2", "bacnet.model_name", "EBC-AHU-200"),
    (BACNET, "bacnet", "10.98.13.2", "bacnet.firmware_revision", "4.1.7"),
    (BACNET, "bacnet", "10.98.13.2", "bacnet.application_software_version", "AHU-OR 2.3"),
    (BACNET, "bacnet", "10.98.13.2", "bacnet.description", "Operating theatre wing air handler"),
    (FHIR, "fhir", "10.98.14.2", "fhir.server", "Example FHIR Server 5.2.1"),
    (FHIR, "fhir", "10.98.14.2", "fhir.fhir_version", "4.0.1"),
    (FHIR, "fhir", "10.98.14.1", "fhir.device_manufacturer", "Example Infusion Co"),
    (FHIR, "fhir", "10.98.14.1", "fhir.device_model", "FlowSure 8"),
    (FHIR, "fhir", "10.98.14.1", "fhir.device_model_number", "FS-8000"),
    (FHIR, "fhir", "10.98.14.1", "fhir.device_serial", "FS8-2231-0042"),
    (FHIR, "fhir", "10.98.14.1", "fhir.device_version", "12.4.1"),
    (FHIR, "fhir", "10.98.14.1", "fhir.device_udi_di", "00812345000421"),
    (FHIR, "fhir", "10.98.14.1", "fhir.device_type", "Infusion pump"),
    (
        FHIR,
        "fhir",
        "10.98.14.2",
        "fhir.listed_devices",
        "Acme Devices, Inc / Model XYZ Pacemaker / XYZ-2014 / 1234",
    ),
    (POCT1, "poct1", "10.98.15.1", "poct1.manufacturer", "Example Diagnostics"),
    (POCT1, "poct1", "10.98.15.1", "poct1.model_id", "GlucoCheck Pro"),
    (POCT1, "poct1", "10.98.15.1", "poct1.serial_id", "GCP-0012345"),
    (POCT1, "poct1", "10.98.15.1", "poct1.sw_version", "3.10.8"),
    (POCT1, "poct1", "10.98.15.1", "poct1.vendor_id", "EXMPL"),
    (INTELLIVUE, "intellivue", "10.98.16.1", "intellivue.manufacturer", "Philips"),
    (INTELLIVUE, "intellivue", "10.98.16.1", "intellivue.model_number", "M8007A"),
    (INTELLIVUE, "intellivue", "10.98.16.1", "intellivue.serial_number", "DE00000042"),
    (INTELLIVUE, "intellivue", "10.98.16.1", "intellivue.sw_revision", "M.00.03"),
    (INTELLIVUE, "intellivue", "10.98.16.1", "intellivue.system_id", "00:09:fb:00:00:42"),
    (SDC, "sdc", "10.98.17.2", "sdc.wsd_action", "Hello"),
    (SDC, "sdc", "10.98.17.2", "sdc.wsd_action", "ProbeMatches"),
    (SDC, "sdc", "10.98.17.2", "sdc.endpoint", "urn:uuid:7f1c8a52-3d1e-4c55-9a8b-0a1b2c3d4e5f"),
    (SDC, "sdc", "10.98.17.2", "sdc.medical", True),
    (SDC, "sdc", "10.98.17.2", "sdc.location", "fac=HOSP1;bldng=B2;flr=3;poc=ICU;rm=12;bed=A"),
    (SDC, "sdc", "10.98.17.2", "sdc.manufacturer", "Example Medical Systems"),
    (SDC, "sdc", "10.98.17.2", "sdc.model_name", "VitalView SDC"),
    (SDC, "sdc", "10.98.17.2", "sdc.model_number", "VV-SDC-7"),
    (SDC, "sdc", "10.98.17.2", "sdc.friendly_name", "ICU bed 12 monitor"),
    (SDC, "sdc", "10.98.17.2", "sdc.firmware", "7.3.1"),
    (SDC, "sdc", "10.98.17.2", "sdc.serial_number", "VV7-0012345"),
    (SDC, "sdc", "10.98.17.1", "sdc.probe_types", "MedicalDevice"),
]


@cache
def observed(capture: str) -> tuple[Observation, ...]:
    return tuple(observations_of(CAPTURES / capture))


def _has(obs: Observation, field: str, value: FieldValue) -> bool:
    seen = obs.fields.get(field)
    if isinstance(seen, tuple) and not isinstance(value, tuple):
        return value in seen
    return seen == value and type(seen) is type(value)


@pytest.mark.parametrize(("capture", "protocol", "ip", "field", "value"), FACTS)
def test_fact_is_observed(capture: str, protocol: str, ip: str, field: str, value: FieldValue) -> None:
    found = [o for o in observed(capture) if o.protocol == protocol and o.ip == ip and _has(o, field, value)]
    assert found, f"{capture}: no {protocol} observation about {ip} with {field}={value!r}"


def test_json_and_xml_device_agree() -> None:
    """The pump PUTs its Device as JSON and POSTs it as XML: both give the same identity."""
    requests = [o.fields for o in observed(FHIR) if o.fields.get("fhir.message") == "request"]
    assert len(requests) == 2
    assert requests[0] == requests[1]


def test_subjects_are_right() -> None:
    """Identity is never attributed to the wrong side: servers listing devices are not those devices."""
    for o in observed(FHIR):
        if o.ip == "10.98.14.2":
            assert not any(k.startswith("fhir.device_") for k in o.fields)
    assert {o.ip for o in observed(MODBUS) if o.protocol == "modbus"} == {"10.98.12.2"}
    assert {o.ip for o in observed(POCT1) if o.protocol == "poct1"} == {"10.98.15.1"}
    assert {o.ip for o in observed(SDC) if "sdc.serial_number" in o.fields} == {"10.98.17.2"}


def test_no_patient_data_or_secrets_in_observations() -> None:
    text = repr([o.to_json() for c in (FHIR, MQTT, SDC) for o in observed(c)])
    for marker in (
        "Quokkaface",
        "Zzyzx",
        "MRN-PHI-778899",
        "1931-02-03",
        "87.25",
        "Wombat",
        "0199-4242",
        "svc-pumpgw",
        "not-a-real-secret",
        "ward3/bed12",
    ):
        assert marker not in text


# ---- identification measured over all captures (README-medical2.md) -------------------------

#: ip -> the identity its software was configured to send (None: nothing sent, must stay unknown)
TRUTH: dict[str, dict[str, str | None]] = {
    "10.98.12.2": {
        "vendor": "Example Gas Systems",
        "model": "AP-4000",
        "device_type": "building_controller",
        "firmware": "2.7",
        "serial": None,
    },
    "10.98.13.2": {
        "vendor": "Example Building Controls",
        "model": "EBC-AHU-200",
        "device_type": "building_controller",
        "firmware": "4.1.7",
        "serial": None,
    },
    "10.98.14.1": {
        "vendor": "Example Infusion",
        "model": "FlowSure 8",
        "device_type": "infusion_pump",
        "firmware": "12.4.1",
        "serial": "FS8-2231-0042",
    },
    "10.98.14.2": {"vendor": None, "model": None, "device_type": "server", "firmware": None, "serial": None},
    "10.98.15.1": {
        "vendor": "Example Diagnostics",
        "model": "GlucoCheck Pro",
        "device_type": "poc_tester",
        "firmware": "3.10.8",
        "serial": "GCP-0012345",
    },
    "10.98.16.1": {
        "vendor": "Philips",
        "model": None,
        "device_type": "patient_monitor",
        "firmware": "M.00.03",
        "serial": "DE00000042",
    },
    "10.98.17.2": {
        "vendor": "Example Medical Systems",
        "model": "VitalView SDC",
        "device_type": "patient_monitor",
        "firmware": "7.3.1",
        "serial": "VV7-0012345",
    },
}


def test_inventory_measure(sqlite_url: str) -> None:
    """Correct / unknown / wrong per attribute over all seven captures: never a wrong answer."""
    from typer.testing import CliRunner

    from wardwatch.services.cli.main import app

    runner = CliRunner()
    captures = [str(CAPTURES / c) for c in (MQTT, MODBUS, BACNET, FHIR, POCT1, INTELLIVUE, SDC)]
    assert runner.invoke(app, ["--db", sqlite_url, "discover", *captures]).exit_code == 0
    listing = runner.invoke(app, ["--db", sqlite_url, "devices", "--format", "json"])
    devices = json.loads(listing.stdout)["devices"]
    assert len(devices) == 13  # one MAC pair per capture: nothing merged
    by_ip = {ip["ip"]: d for d in devices for ip in d["ips"]}
    counts: dict[tuple[str, str], int] = {}
    for ip, device in by_ip.items():
        truth = TRUTH.get(ip, dict.fromkeys(("vendor", "model", "device_type", "firmware", "serial")))
        for attribute, wanted in truth.items():
            seen = device.get(attribute)
            verdict = "unknown" if seen is None else "correct" if seen == wanted else "wrong"
            assert verdict != "wrong", (ip, attribute, seen, wanted)
            if wanted is not None:
                counts[(attribute, verdict)] = counts.get((attribute, verdict), 0) + 1
    assert counts == {
        ("vendor", "correct"): 6,
        ("model", "correct"): 5,
        ("device_type", "correct"): 6,
        ("device_type", "unknown"): 1,  # the SDC provider: no rule maps its MDS type yet
        ("firmware", "correct"): 6,
        ("serial", "correct"): 4,
    }


# ---- tshark, an independent dissector ------------------------------------------------------

TSHARK = shutil.which("tshark")


def tshark(capture: str, *args: str) -> str:
    assert TSHARK is not None
    done = subprocess.run(
        [TSHARK, "-n", "-r", str(CAPTURES / capture), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (apt-get install tshark)")
def test_tshark_agrees() -> None:
    mqtt = tshark(
        MQTT, "-Y", "mqtt.msgtype==1", "-T", "fields", "-e", "ip.src", "-e", "mqtt.clientid", "-e", "mqtt.ver"
    )
    assert "10.98.11.1\tPUMPGW-SN-7731-0042\t4" in mqtt
    assert "10.98.11.1\tnursecall-bridge-ward3\t5" in mqtt
    modbus = tshark(MODBUS, "-Y", "modbus.func_code==43", "-T", "fields", "-e", "modbus.object_str_value")
    for field in (
        "modbus.vendor_name",
        "modbus.product_code",
        "modbus.revision",
        "modbus.vendor_url",
        "modbus.product_name",
        "modbus.model_name",
        "modbus.user_application_name",
    ):
        value = next(v for c, p, _, f, v in FACTS if c == MODBUS and f == field)
        assert str(value) in modbus.split("\n")[-2].split(","), field
    bacnet = tshark(
        BACNET,
        "-Y",
        "bacapp.unconfirmed_service==0",
        "-T",
        "fields",
        "-e",
        "ip.src",
        "-e",
        "bacapp.instance_number",
        "-e",
        "bacapp.vendor_identifier",
    )
    assert "10.98.13.2\t3056\t999" in bacnet
    acks = tshark(BACNET, "-Y", "bacapp.type==3", "-V")
    for c, _p, _, f, v in FACTS:
        if c == BACNET and isinstance(v, str):
            assert v in acks, f
    # tshark 4.0 does not map application/fhir+* to its JSON/XML dissectors: compare with the
    # HTTP bodies it reassembled and de-framed
    bodies = tshark(FHIR, "-Y", "http", "-T", "fields", "-e", "http.file_data")
    for c, _p, _, f, v in FACTS:
        if c == FHIR and f not in ("fhir.listed_devices", "fhir.server") and isinstance(v, str):
            assert v in bodies, f
    assert '"name": "Example FHIR Server", "version": "5.2.1"' in bodies
