"""No patient data leaves the sensor: not into the database, not into CLI output, not into logs.

Captures full of realistic synthetic patient data (names, MRNs, birth dates, accession numbers,
addresses, phone numbers, OBX-5 values, PID/NK1/PV1 contents, DICOM data set elements, a DICOM
passcode) go through the whole path -- ``wardwatch discover`` into a store, then ``devices``
(table, json, csv) and ``device ID`` (table, json) -- and every patient value is searched for,
case-insensitively, in the database (SQLite file bytes, and every row of every table on SQLite
and PostgreSQL), in everything the CLI printed and in every log record.

To add a protocol (e.g. FHIR), append a :class:`PhiCase` to :data:`CASES`: a capture (a file, or
a builder writing one into the test's temporary directory) and the PHI markers it carries. Each
marker must really be in the capture's bytes (checked), so the test can fail.
"""

from __future__ import annotations

import gzip
import json
import logging
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import DATA, DEMO
from tests.pg import scratch_database
from typer.testing import CliRunner

from wardwatch.services.cli.main import app
from wardwatch.simulate.packets import TcpFlow, ip4
from wardwatch.simulate.pcapwriter import PcapWriter

runner = CliRunner()
CAPTURES = DATA / "captures"


@dataclass(frozen=True)
class PhiCase:
    """A capture carrying patient data and the values that must never come out."""

    name: str
    markers: tuple[str, ...]
    path: Path | None = None
    build: Callable[[Path], Path] | None = None

    def capture(self, tmp: Path) -> Path:
        """The capture file (built into ``tmp`` when the case has a builder)."""
        if self.path is not None:
            return self.path
        assert self.build is not None
        return self.build(tmp)


# ------------------------------------------------------------------ a synthetic PHI-laden capture

SYN_NAME = "ZUBIZARRETA"
SYN_GIVEN = "MIRENTXU"
SYN_MRN = "MRN60217748"
SYN_DOB = "19410611"
SYN_ACCESSION = "ACC2026112399001"
SYN_SSN = "078-05-1120"
SYN_PHONE = "555-0177"
SYN_ADDRESS = "19 CALLE ARRANTZALE"
SYN_OBX5 = "SEPSIS SCREEN POSITIVE LACTATE"
SYN_NOTE = "BASQUE INTERPRETER REQUESTED"
SYN_NEXT_OF_KIN = "ETXEBERRIA"
SYN_PASSCODE = "Ospitalea#2026"


def _obx() -> str:
    """An OBX with an OBX-5 value, and PHI in OBX-17 and OBX-19 around the OBX-18 the dissector reads."""
    fields = ["OBX"] + [""] * 19
    fields[1], fields[2], fields[3], fields[11], fields[14] = "1", "ST", "LACT^Lactate^L", "F", "20261123"
    fields[5] = f"{SYN_OBX5} \\X41\\ {SYN_NAME}"
    fields[17] = f"{SYN_NAME} METHOD"
    fields[18] = "F0E1D2C3B4A59687^ANALYZER^F0E1D2C3B4A59687^EUI-64"
    fields[19] = SYN_DOB
    return "|".join(fields)


def _hl7_with_phi_everywhere() -> bytes:
    segments = [
        "MSH|^~\\&|LAB_ANALYZER^F0E1D2C3B4A59687^EUI-64|CORE_LAB|LIS|HOSP|20261123160000||ORU^R01|LAB0099|P|2.5.1",
        f"PID|1||{SYN_MRN}^^^HOSP^MR~{SYN_SSN}^^^USSSA^SS||{SYN_NAME}\\T\\SONS^{SYN_GIVEN}||{SYN_DOB}|F"
        f"|||{SYN_ADDRESS}^^BILBAO||{SYN_PHONE}",
        f"NK1|1|{SYN_NEXT_OF_KIN}^JOSU|BRO||{SYN_PHONE}",
        f"PV1|1|E|ED^4^1||||9001^{SYN_NEXT_OF_KIN}^AMAIA",
        f"ORC|RE|{SYN_ACCESSION}",
        f"OBR|1|{SYN_ACCESSION}|{SYN_ACCESSION}|LACT^Lactate^L",
        f"NTE|1||{SYN_NOTE}",
        _obx(),
        f"ZPI|1|{SYN_GIVEN} {SYN_NAME} CELL {SYN_PHONE}",
    ]
    return b"\x0b" + "\r".join(segments).encode() + b"\r\x1c\r"


def _dicom_with_phi() -> tuple[bytes, bytes]:
    """An ultrasound's association: RQ with a passcode, C-FIND identifier and C-STORE data set with PHI."""

    def item(kind: int, value: bytes) -> bytes:
        return bytes([kind, 0]) + struct.pack(">H", len(value)) + value

    def pdu(kind: int, body: bytes) -> bytes:
        return bytes([kind, 0]) + struct.pack(">I", len(body)) + body

    def element(group: int, elem: int, value: bytes) -> bytes:
        value += b" " if len(value) % 2 else b""
        return struct.pack("<HHI", group, elem, len(value)) + value

    def command(field: int, sop: bytes) -> bytes:
        body = element(0, 0x0002, sop + b"\x00") + element(0, 0x0100, struct.pack("<H", field))
        return element(0, 0x0000, struct.pack("<I", len(body))) + body

    def pdv(ctx: int, header: int, data: bytes) -> bytes:
        return pdu(4, struct.pack(">I", len(data) + 2) + bytes([ctx, header]) + data)

    us, mwl = b"1.2.840.10008.5.1.4.1.1.6.1", b"1.2.840.10008.5.1.4.31"
    identity = bytes([2, 0]) + struct.pack(">H", 6) + b"sonog1" + struct.pack(">H", len(SYN_PASSCODE))
    identity += SYN_PASSCODE.encode()
    body = struct.pack(">H", 1) + b"\x00\x00" + b"PACS_MAIN".ljust(16) + b"US_ECHO_3".ljust(16) + bytes(32)
    body += item(0x10, b"1.2.840.10008.3.1.1.1")
    for ctx, sop in ((1, us), (3, mwl)):
        body += item(0x20, bytes([ctx, 0, 0, 0]) + item(0x30, sop) + item(0x40, b"1.2.840.10008.1.2"))
    body += item(
        0x50, item(0x51, struct.pack(">I", 16384)) + item(0x52, b"1.2.840.113619.6.5") + item(0x58, identity)
    )
    patient = element(0x0008, 0x0050, SYN_ACCESSION.encode()) + element(
        0x0010, 0x0010, f"{SYN_NAME}^{SYN_GIVEN}".encode()
    )
    patient += element(0x0010, 0x0020, SYN_MRN.encode()) + element(0x0010, 0x0030, SYN_DOB.encode())
    rq = pdu(1, body) + pdv(3, 3, command(0x0020, mwl)) + pdv(3, 2, patient)
    rq += pdv(1, 3, command(0x0001, us)) + pdv(1, 0, patient[:20]) + pdv(1, 2, patient[20:])
    ac_body = struct.pack(">H", 1) + b"\x00\x00" + b"PACS_MAIN".ljust(16) + b"US_ECHO_3".ljust(16) + bytes(32)
    ac_body += item(0x10, b"1.2.840.10008.3.1.1.1") + item(
        0x21, bytes([1, 0, 0, 0]) + item(0x40, b"1.2.840.10008.1.2")
    )
    ac = pdu(2, ac_body) + pdv(3, 2, patient)  # a C-FIND match: patient data from the SCP
    return rq, ac


def build_synthetic(tmp: Path) -> Path:
    """HL7 on 2575 and DICOM on 104 between made-up hosts, written with the simulator's TCP writer."""
    path = tmp / "phi-synthetic.pcap"
    with PcapWriter(path) as out:
        ts = 1_790_000_000_000_000
        rq, ac = _dicom_with_phi()
        exchanges = [
            ("02:55:00:00:00:01", "02:55:00:00:00:02", "10.77.0.1", "10.77.0.2", 2575, [(True, _hl7_with_phi_everywhere())]),
            ("02:55:00:00:00:03", "02:55:00:00:00:04", "10.77.0.3", "10.77.0.4", 104, [(True, rq), (False, ac)]),
        ]  # fmt: skip
        for c_mac, s_mac, c_ip, s_ip, port, messages in exchanges:
            flow = TcpFlow(
                bytes.fromhex(c_mac.replace(":", "")), bytes.fromhex(s_mac.replace(":", "")),
                ip4(c_ip), ip4(s_ip), 40000, port, 1000, 9000, 1, 1,
            )  # fmt: skip
            frames = flow.handshake()
            for from_client, data in messages:
                frames += flow.send(from_client, data)
            frames += flow.close()
            for gap, frame in frames:
                ts += gap + 1
                out.write(ts, frame)
    return path


# ------------------------------------------------------------------ the cases

HL7_MARKERS = (
    "HALVORSEN", "INGRID", "MRN40417733", "19580314", "OKONKWO", "ADAEZE", "MRN58812094", "19710922",
    "KOWALCZYK", "TOMASZ", "MRN73310562", "19640205", "HARBORVIEW", "QUARRY HILL", "555-0148", "555-0193",
    "555-0194", "998-41-2207", "ACCT7720931", "BRANDSTAETTER", "ASYSTOLE SUSPECTED", "myocardial infarction",
    "PENICILLIN", "SAINT AUDREY PRIMARY CARE", "HEPARIN SODIUM", "PCD0001", "ADT88412",
)  # fmt: skip
DICOM_MARKERS = (
    "HALVORSEN", "INGRID", "MRN40417733", "19580314", "ACC2026112300417", "PULMONARY EMBOLISM",
    "BRANDSTAETTER", "SAINT AUDREY GENERAL", "OKONKWO", "ADAEZE", "MRN58812094", "19710922",
    "ACC2026112300982", "CT ABDOMEN PELVIS", "VANTERPOOL", "Winter2026!",
)  # fmt: skip
SYNTHETIC_MARKERS = (
    SYN_NAME, SYN_GIVEN, SYN_MRN, SYN_DOB, SYN_ACCESSION, SYN_SSN, SYN_PHONE, SYN_ADDRESS, SYN_OBX5,
    SYN_NOTE, SYN_NEXT_OF_KIN, SYN_PASSCODE,
)  # fmt: skip

CASES: tuple[PhiCase, ...] = (
    PhiCase("hl7-mllp", HL7_MARKERS, path=CAPTURES / "hl7-mllp.pcap"),
    PhiCase("hl7-mllp-port6661", ("HALVORSEN", "MRN40417733", "998-41-2207"), path=CAPTURES / "hl7-mllp-port6661.pcap"),
    PhiCase("dicom-pynetdicom", DICOM_MARKERS, path=CAPTURES / "dicom-pynetdicom.pcap"),
    PhiCase("dicom-pynetdicom-port4100", ("HALVORSEN", "MRN40417733"), path=CAPTURES / "dicom-pynetdicom-port4100.pcap"),
    PhiCase("synthetic", SYNTHETIC_MARKERS, build=build_synthetic),
    # the simulator's demo marks its patients ZZTEST* / SIMACCT* (wardwatch.simulate.medical)
    PhiCase("hospital-demo", ("ZZTEST", "SIMACCT"), path=DEMO / "hospital-demo.pcap.gz"),
)  # fmt: skip


def _raw(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


# ------------------------------------------------------------------ stores


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database on SQLite, or on PostgreSQL (skipped with the reason when unreachable)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'phi.sqlite'}"
        return
    with scratch_database("ww_phi") as url:
        yield url


def _database_text(url: str) -> str:
    """Every row of every table, as text, plus (SQLite) the raw bytes of the database files."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(parsed)
    parts: list[str] = []
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                parts.extend(repr(tuple(row)) for row in conn.execute(sa.select(table)))
    finally:
        engine.dispose()
    if url.startswith("sqlite:///"):
        base = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-journal", "-shm"):
            file = base.with_name(base.name + suffix)
            if file.exists():
                parts.append(file.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def _invoke(db: str, *args: str) -> str:
    result = runner.invoke(app, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return result.output


# ------------------------------------------------------------------ the test


def test_markers_are_on_the_wire(tmp_path: Path) -> None:
    """Each marker is really in its capture: otherwise the PHI test could not fail."""
    for case in CASES:
        raw = _raw(case.capture(tmp_path)).decode("latin-1").lower()
        missing = [m for m in case.markers if m.lower() not in raw]
        assert not missing, f"{case.name}: markers not in the capture: {missing}"


def test_no_phi_in_database_cli_output_or_logs(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    paths = [str(case.capture(tmp_path)) for case in CASES]
    outputs = [_invoke(db_url, "discover", *paths)]
    for fmt in ("table", "json", "csv"):
        outputs.append(_invoke(db_url, "devices", "--format", fmt))
    devices = json.loads(_invoke(db_url, "devices", "--format", "json"))["devices"]
    # every device of the captures made for this test, and a sample of the demo's (CLI calls are slow)
    ours = [d for d in devices if str(d["ip"]).startswith(("10.98.", "10.77."))]
    assert len(ours) == 6
    for device in ours + [d for d in devices if d not in ours][:4]:
        outputs.append(_invoke(db_url, "device", str(device["id"])))
        outputs.append(_invoke(db_url, "device", str(device["id"]), "--format", "json"))
    places = {
        "database": _database_text(db_url),
        "cli output": "\n".join(outputs),
        "logs": "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records),
    }
    # the dissectors did run: device metadata from the same traffic is there
    assert "CT_RAD1_SCAN" in places["database"] and "ICU_MON_GW" in places["database"]
    assert "US_ECHO_3" in places["database"] and "LAB_ANALYZER" in places["database"]
    leaks = [
        (case.name, marker, where)
        for case in CASES
        for marker in case.markers
        for where, text in places.items()
        if marker.lower() in text.lower()
    ]
    assert not leaks, f"patient data leaked: {leaks}"
