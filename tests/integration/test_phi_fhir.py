"""FHIR traffic full of (synthetic) patient data: only Device metadata may reach the store or the CLI.

Inputs: the real FHIR capture (its ``$everything`` Bundle carries a Patient, an Observation and a
Device) and a capture built here in which a device gateway POSTs a transaction Bundle with a
Patient, Observations and its own Device, and a server answers with Patient resources in XML.
``wardwatch discover`` runs into a SQLite store (and a PostgreSQL one when reachable); no PHI
marker may appear in the database, the CLI output (discover, devices, device) or the log records.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from tests.conftest import DATA
from tests.pg import scratch_database
from typer.testing import CliRunner

from wardwatch.services.cli.main import app
from wardwatch.simulate.packets import TcpFlow
from wardwatch.simulate.pcapwriter import PcapWriter
from wardwatch.store import schema

REAL = DATA / "captures" / "fhir-curl-pythonhttp.pcap"
runner = CliRunner()

#: Strings that only occur inside patient data of the two captures.
PHI = (
    "Quokkaface",
    "Zzyzx",
    "Philomena",
    "MRN-PHI-778899",
    "1931-02-03",
    "Wombat",
    "Phiville",
    "0199-4242",
    "87.25",
    "PHI-GATEWAY-MRN-5521",
    "Fernsworth",
    "Ottoline",
    "1944-07-16",
    "Bed 12, Room 4711",
    "+1-555-0100-7711",
    "Sepsis suspected",
    "141.5",
)

TRANSACTION = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        {
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"value": "PHI-GATEWAY-MRN-5521"}],
                "name": [{"family": "Fernsworth", "given": ["Ottoline"]}],
                "birthDate": "1944-07-16",
                "telecom": [{"value": "+1-555-0100-7711"}],
                "address": [{"text": "Bed 12, Room 4711"}],
            },
            "request": {"method": "PUT", "url": "Patient?identifier=PHI-GATEWAY-MRN-5521"},
        },
        {
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "subject": {"reference": "Patient/PHI-GATEWAY-MRN-5521", "display": "Ottoline Fernsworth"},
                "valueQuantity": {"value": 141.5, "unit": "mm[Hg]"},
                "note": [{"text": "Sepsis suspected"}],
                "device": {"reference": "Device/gw-dev"},
            },
            "request": {"method": "POST", "url": "Observation"},
        },
        {
            "resource": {
                "resourceType": "Device",
                "id": "gw-dev",
                "manufacturer": "Example Infusion Co",
                "deviceName": [{"name": "FlowSure 8", "type": "model-name"}],
                "serialNumber": "FS8-0000-7788",
                "patient": {"reference": "Patient/PHI-GATEWAY-MRN-5521"},
            },
            "request": {"method": "PUT", "url": "Device/gw-dev"},
        },
    ],
}
PATIENT_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<Bundle xmlns="http://hl7.org/fhir"><type value="searchset"/>
 <entry><resource><Patient>
  <identifier><value value="PHI-GATEWAY-MRN-5521"/></identifier>
  <name><family value="Fernsworth"/><given value="Ottoline"/></name>
  <birthDate value="1944-07-16"/>
 </Patient></resource></entry>
</Bundle>
"""


def _http(start: bytes, body: bytes, ctype: bytes) -> bytes:
    return (
        start
        + b"\r\nContent-Type: "
        + ctype
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def build_capture(path: Path) -> None:
    """A gateway (10.77.0.5) talks to a FHIR server (10.77.0.2): one transaction, one XML search."""
    flows = [
        (
            _http(
                b"POST /fhir HTTP/1.1\r\nHost: fhir",
                json.dumps(TRANSACTION).encode(),
                b"application/fhir+json",
            ),
            _http(
                b"HTTP/1.1 200 OK",
                b'{"resourceType": "Bundle", "type": "transaction-response"}',
                b"application/fhir+json",
            ),
        ),
        (
            _http(
                b"GET /fhir/Patient?name=Fernsworth&birthdate=1944-07-16 HTTP/1.1\r\nHost: fhir",
                b"",
                b"text/plain",
            ),
            _http(b"HTTP/1.1 200 OK", PATIENT_XML, b"application/fhir+xml"),
        ),
    ]
    ts = 1_700_000_000_000_000
    with PcapWriter(path) as writer:
        for n, (req, resp) in enumerate(flows):
            flow = TcpFlow(
                bytes.fromhex("0277000000" + "05"),
                bytes.fromhex("0277000000" + "02"),
                bytes([10, 77, 0, 5]),
                bytes([10, 77, 0, 2]),
                41000 + n,
                8080,
                1000,
                9000,
                1,
                1,
            )
            for gap, frame in flow.handshake() + flow.send(True, req) + flow.send(False, resp) + flow.close():
                ts += gap
                writer.write(ts, frame)


def _discover_and_show(db: str, captures: list[Path]) -> str:
    """Run the CLI; return every byte it printed."""
    out = []
    result = runner.invoke(app, ["--db", db, "discover", *map(str, captures), "--format", "json"])
    assert result.exit_code == 0, result.output
    out.append(result.output)
    listing = runner.invoke(app, ["--db", db, "devices", "--format", "json"])
    assert listing.exit_code == 0, listing.output
    out.append(listing.output)
    for device in json.loads(listing.stdout)["devices"]:
        key = device.get("mac") or device.get("ip")
        for fmt in ("json", "table"):
            shown = runner.invoke(app, ["--db", db, "device", str(key), "--format", fmt])
            assert shown.exit_code == 0, shown.output
            out.append(shown.output)
    return "\n".join(out)


def _db_text(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return "\n".join(
                repr(row) for table in schema.metadata.sorted_tables for row in conn.execute(select(table))
            )
    finally:
        engine.dispose()


@pytest.fixture
def captures(tmp_path: Path) -> list[Path]:
    built = tmp_path / "fhir-phi.pcap"
    build_capture(built)
    return [REAL, built]


def _assert_clean(text: str, where: str) -> None:
    leaked = [marker for marker in PHI if marker in text]
    assert leaked == [], f"PHI in {where}: {leaked}"


def test_the_inputs_really_carry_phi(captures: list[Path]) -> None:
    raw = b"".join(p.read_bytes() for p in captures)
    for marker in PHI:
        assert marker.encode() in raw, marker


def test_sqlite_store_cli_and_logs_hold_no_phi(
    captures: list[Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db_file = tmp_path / "phi.sqlite"
    url = f"sqlite:///{db_file}"
    with caplog.at_level(logging.DEBUG):
        printed = _discover_and_show(url, captures)
    _assert_clean(printed, "CLI output")
    _assert_clean("\n".join(r.getMessage() for r in caplog.records), "log records")
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("phi.sqlite*"))
    _assert_clean(raw.decode("latin-1"), "SQLite file bytes")
    _assert_clean(_db_text(url), "SQLite rows")
    # the device metadata did arrive: the gateway that PUT its own Device is identified
    assert "FS8-0000-7788" in printed and "Example Infusion Co" in printed


@pytest.fixture
def pg_url() -> Iterator[str]:
    with scratch_database("ww_phi", driver="postgresql+psycopg") as url:
        yield url


@pytest.mark.postgres
def test_postgres_store_holds_no_phi(captures: list[Path], pg_url: str) -> None:
    printed = _discover_and_show(pg_url, captures)
    _assert_clean(printed, "CLI output")
    _assert_clean(_db_text(pg_url), "PostgreSQL rows")
    assert "FS8-0000-7788" in printed
