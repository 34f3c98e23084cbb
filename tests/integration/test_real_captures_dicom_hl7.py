"""DICOM and HL7 v2 captures of real peers (pynetdicom, python-hl7) through the sensor.

The captures and how they were made: tests/data/captures/README-dicom-hl7.md. Each test states
the facts we configured the peers to send, checks that the sensor observes them about the right
host, and where tshark (an independent dissector, Wireshark 4.0) is installed, that tshark reads
the same values out of the same packets.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from tests.conftest import DATA, observations_of

from wardwatch.model.observation import Observation

CAPTURES = DATA / "captures"
DICOM = CAPTURES / "dicom-pynetdicom.pcap"
DICOM_4100 = CAPTURES / "dicom-pynetdicom-port4100.pcap"
DICOM_TLS = CAPTURES / "dicom-tls-pynetdicom.pcap"
HL7 = CAPTURES / "hl7-mllp.pcap"
HL7_6661 = CAPTURES / "hl7-mllp-port6661.pcap"

SCU_MAC, SCP_MAC = "02:98:aa:00:00:01", "02:98:bb:00:00:02"
PYNETDICOM_UID = "1.2.826.0.1.3680043.9.3811.3.0.4"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MWL_FIND = "1.2.840.10008.5.1.4.31"
VERIFICATION = "1.2.840.10008.1.1"

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


@cache
def _observations(path: Path) -> tuple[Observation, ...]:
    return tuple(o for o in observations_of(path) if o.protocol in ("dicom", "hl7"))


def _values(path: Path, mac: str, field: str) -> set[object]:
    """Every value (tuple elements flattened) of one field in observations about one host."""
    out: set[object] = set()
    for o in _observations(path):
        if o.mac == mac and field in o.fields:
            value = o.fields[field]
            out.update(value if isinstance(value, tuple) else (value,))
    return out


def _tshark(path: Path, *args: str) -> str:
    return subprocess.run(
        ["tshark", "-r", str(path), *args], check=True, capture_output=True, text=True, timeout=120
    ).stdout


# ------------------------------------------------------------------ DICOM


def test_dicom_association_facts() -> None:
    assert _values(DICOM, SCU_MAC, "dicom.ae_title") == {"CT_RAD1_SCAN"}
    assert _values(DICOM, SCP_MAC, "dicom.ae_title") == {"PACS_ARCHIVE"}
    assert _values(DICOM, SCU_MAC, "dicom.association_role") == {"requestor"}
    assert _values(DICOM, SCP_MAC, "dicom.association_role") == {"acceptor"}
    for mac in (SCU_MAC, SCP_MAC):
        assert _values(DICOM, mac, "dicom.implementation_class_uid") == {PYNETDICOM_UID}
        assert _values(DICOM, mac, "dicom.implementation_version_name") == {"PYNETDICOM_304"}
        assert _values(DICOM, mac, "dicom.implementation_toolkit") == {"pynetdicom"}
        assert _values(DICOM, mac, "dicom.max_pdu_length") == {16382}
        assert _values(DICOM, mac, "dicom.application_context") == {"1.2.840.10008.3.1.1.1"}
    assert _values(DICOM, SCU_MAC, "dicom.proposed_sop_class_uids") == {VERIFICATION, CT_STORAGE, MWL_FIND}
    assert "CT Image Storage" in _values(DICOM, SCU_MAC, "dicom.proposed_sop_classes")
    assert _values(DICOM, SCP_MAC, "dicom.context_results") == {
        "1:acceptance",
        "3:acceptance",
        "5:acceptance",
    }


def test_dicom_dimse_roles_and_services() -> None:
    assert _values(DICOM, SCU_MAC, "dicom.commands") == {"C-ECHO-RQ", "C-STORE-RQ", "C-FIND-RQ"}
    assert _values(DICOM, SCP_MAC, "dicom.commands") == {"C-ECHO-RSP", "C-STORE-RSP", "C-FIND-RSP"}
    assert _values(DICOM, SCU_MAC, "dicom.role") == {"SCU"}
    assert _values(DICOM, SCP_MAC, "dicom.role") == {"SCP"}
    assert _values(DICOM, SCP_MAC, "dicom.scp_sop_classes") == {
        "Verification",
        "CT Image Storage",
        "Modality Worklist Information Model - FIND",
    }
    assert _values(DICOM, SCP_MAC, "dicom.statuses") == {"0x0000 success", "0xff00 pending"}
    assert _values(DICOM, SCU_MAC, "dicom.storage_modality") == {"CT"}


def test_dicom_user_identity_reject_and_abort() -> None:
    assert _values(DICOM, SCU_MAC, "dicom.user_identity_type") == {"username-passcode"}
    assert _values(DICOM, SCU_MAC, "dicom.user_name") == {"ct_tech"}
    assert _values(DICOM, SCU_MAC, "dicom.cleartext_password") == {True}
    assert _values(DICOM, SCP_MAC, "dicom.reject") == {
        "rejected-permanent service-user called-AE-title-not-recognized"
    }
    assert _values(DICOM, SCU_MAC, "dicom.abort") == {"service-user"}
    # the wrong called AE title of the rejected request is not attributed to the acceptor
    assert "WRONG_AE" not in _values(DICOM, SCP_MAC, "dicom.ae_title")
    text = repr([o.to_json() for o in _observations(DICOM)])
    assert "Winter2026!" not in text


def test_dicom_found_by_content_on_a_non_standard_port() -> None:
    assert _values(DICOM_4100, SCU_MAC, "dicom.ae_title") == {"CT_RAD1_SCAN"}
    assert _values(DICOM_4100, SCP_MAC, "dicom.scp_sop_classes") == {"Verification", "CT Image Storage"}
    assert _values(DICOM_4100, SCU_MAC, "dicom.commands") == {"C-ECHO-RQ", "C-STORE-RQ"}


def test_dicom_tls_is_recognised_on_2762() -> None:
    dicom = [o for o in _observations(DICOM_TLS) if o.protocol == "dicom"]
    assert {(o.mac, tuple(o.fields.items())) for o in dicom} == {
        (SCP_MAC, (("dicom.transport", "dicom-tls"),))
    }


@needs_tshark
def test_dicom_association_fields_agree_with_tshark() -> None:
    rows = _tshark(
        DICOM,
        "-Y", "dicom.pdu.type == 1 || dicom.pdu.type == 2",
        "-T", "fields", "-E", "separator=;",
        "-e", "eth.src", "-e", "dicom.pdu.type", "-e", "dicom.assoc.ae.calling", "-e", "dicom.assoc.ae.called",
        "-e", "dicom.userinfo.uid", "-e", "dicom.userinfo.version", "-e", "dicom.max_pdu_len",
        "-e", "dicom.pctx.abss.syntax", "-e", "dicom.userinfo.user_identify.primary_field",
    )  # fmt: skip
    assert rows.strip()
    for row in rows.splitlines():
        mac, pdu, calling, called, impl, version, max_pdu, abstract, user = row.split(";")
        own = calling.strip() if pdu == "0x01" else called.strip()
        if own:
            assert own in _values(DICOM, mac, "dicom.ae_title")
        assert impl in _values(DICOM, mac, "dicom.implementation_class_uid")
        assert version in _values(DICOM, mac, "dicom.implementation_version_name")
        assert int(max_pdu) in _values(DICOM, mac, "dicom.max_pdu_length")
        for uid in re.findall(r"\(([0-9.]+)\)", abstract):
            assert uid in _values(DICOM, mac, "dicom.proposed_sop_class_uids")
        if user:
            assert user in _values(DICOM, mac, "dicom.user_name")


@needs_tshark
def test_dicom_commands_agree_with_tshark() -> None:
    seen: dict[str, set[str]] = {}
    mac = ""
    for line in _tshark(DICOM, "-Y", "dicom.pdu.type == 4", "-V").splitlines():
        if line.startswith("Ethernet II, Src:"):
            mac = line.split("(")[1].split(")")[0]
        found = re.search(r"\(0000,0100\)\s+\d+ Command Field\s+(\S+)", line)
        if found:
            seen.setdefault(mac, set()).add(found.group(1))
    assert seen == {
        SCU_MAC: _values(DICOM, SCU_MAC, "dicom.commands"),
        SCP_MAC: _values(DICOM, SCP_MAC, "dicom.commands"),
    }


# ------------------------------------------------------------------ HL7


def test_hl7_message_header_facts() -> None:
    assert _values(HL7, SCU_MAC, "hl7.sending_application") == {
        "ICU_MON_GW^0012345678ABCDEF^EUI-64",
        "HIS_ADT",
        "INFUSION&PUMP_SRV",  # MSH-3 'INFUSION\T\PUMP_SRV': \T\ is the subcomponent separator
    }
    assert _values(HL7, SCU_MAC, "hl7.sending_facility") == {
        "SAINT_AUDREY_ICU",
        "SAINT_AUDREY",
        "SAINT_AUDREY_PHARM",
    }
    assert _values(HL7, SCU_MAC, "hl7.message_type") == {"ORU^R01", "ADT^A01", "RGV^O15"}
    assert _values(HL7, SCU_MAC, "hl7.version") == {"2.6", "2.5.1", "2.7"}
    assert _values(HL7, SCP_MAC, "hl7.receiving_application") == {"CIS_RECEIVER", "ADT_ENGINE", "MED_ADMIN"}
    assert _values(HL7, SCP_MAC, "hl7.sending_application") == {"CIS_RECEIVER"}
    assert _values(HL7, SCP_MAC, "hl7.message_type") == {"ACK^R01", "ACK^A01", "ACK^O15"}
    assert _values(HL7, SCP_MAC, "hl7.ack_code") == {"AA"}


def test_hl7_device_identity() -> None:
    assert _values(HL7, SCU_MAC, "hl7.equipment_ids") == {
        "1122334455667788^MX800_BED12^1122334455667788^EUI-64",
        "PUMP-7731^^ABCDEF0123456789^EUI-64",
        "PUMPSN-A88213^BD_ALARIS",
    }
    assert _values(HL7, SCU_MAC, "hl7.eui64") == {"0012345678ABCDEF", "1122334455667788", "ABCDEF0123456789"}
    assert _values(HL7, SCU_MAC, "hl7.device_serial") == {"DE44821073"}
    assert _values(HL7, SCU_MAC, "hl7.device_udi") == {"(01)00884838012345(21)SN4482107"}
    assert _values(HL7, SCU_MAC, "hl7.software_vendor") == {"Northwind Medical Systems"}
    assert _values(HL7, SCU_MAC, "hl7.software_version") == {"4.2.1"}
    assert _values(HL7, SCU_MAC, "hl7.software_product") == {"ICU Gateway"}


def test_hl7_found_by_content_on_a_non_standard_port() -> None:
    assert _values(HL7_6661, SCU_MAC, "hl7.message_type") == {"ADT^A01"}
    assert _values(HL7_6661, SCP_MAC, "hl7.sending_application") == {"ADT_ENGINE"}
    assert _values(HL7_6661, SCP_MAC, "hl7.ack_code") == {"AA"}


def _tshark_hl7(path: Path, port: int) -> list[tuple[str, dict[str, dict[int, str]]]]:
    """(sender MAC, {segment: {field number (HL7 numbering): raw text}}) per HL7 message tshark shows."""
    messages: list[tuple[str, dict[str, dict[int, str]]]] = []
    mac = ""
    segment = ""
    for line in _tshark(path, "-d", f"tcp.port=={port},hl7", "-Y", "hl7", "-V").splitlines():
        if line.startswith("Ethernet II, Src:"):
            mac = line.split("(")[1].split(")")[0]
        elif line.startswith("Health Level Seven"):
            messages.append((mac, {}))
        elif messages and (seg := re.match(r"^    ([A-Z][A-Z0-9]{2}) \(", line)):
            segment = seg.group(1)
            messages[-1][1].setdefault(segment, {})
        elif messages and (field := re.match(r"^        field (\d+): (.*)$", line)):
            number = int(field.group(1))
            # tshark counts the segment name as field 1; MSH-1 is the separator, so MSH lines up
            hl7_number = number if segment == "MSH" else number - 1
            messages[-1][1].setdefault(segment, {}).setdefault(hl7_number, field.group(2))
    return messages


@needs_tshark
@pytest.mark.parametrize(("path", "port"), [(HL7, 2575), (HL7_6661, 6661)])
def test_hl7_headers_agree_with_tshark(path: Path, port: int) -> None:
    messages = _tshark_hl7(path, port)
    assert len(messages) >= 2
    for mac, segments in messages:
        msh = segments["MSH"]
        assert msh[3].replace("\\T\\", "&") in _values(path, mac, "hl7.sending_application")
        assert "^".join(msh[9].split("^")[:2]) in _values(path, mac, "hl7.message_type")
        assert msh[12] in _values(path, mac, "hl7.version")
        peer = SCP_MAC if mac == SCU_MAC else SCU_MAC
        assert msh[5].replace("\\T\\", "&") in _values(path, peer, "hl7.receiving_application")
        if "MSA" in segments:
            assert segments["MSA"][1] in _values(path, mac, "hl7.ack_code")
        for obx in [v for k, v in segments.items() if k == "OBX"]:
            if 18 in obx:
                assert set(obx[18].split("~")) <= _values(path, mac, "hl7.equipment_ids")
        if "EQU" in segments:
            assert segments["EQU"][1] in _values(path, mac, "hl7.equipment_ids")
        if "PRT" in segments:
            assert segments["PRT"][10] in _values(path, mac, "hl7.equipment_ids")
            assert segments["PRT"][20] in _values(path, mac, "hl7.device_serial")
