"""The CLI end to end on the demo capture: right vendor and kind, idempotent, bad input kept safe."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.conftest import DEMO
from typer.testing import CliRunner

from wardwatch.identify.knowledge import Knowledge
from wardwatch.services.cli.main import app

DEMO_PCAP = DEMO / "hospital-demo.pcap.gz"
TRUTH = json.loads((DEMO / "hospital-demo.truth.json").read_text())
runner = CliRunner()


def _devices(db: str) -> list[dict]:  # type: ignore[type-arg]
    result = runner.invoke(app, ["--db", db, "devices", "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["devices"]  # type: ignore[no-any-return]


def test_demo_vendor_and_kind_and_idempotent(sqlite_url: str) -> None:
    first = runner.invoke(app, ["--db", sqlite_url, "discover", str(DEMO_PCAP)])
    assert first.exit_code == 0, first.output
    devices = {d["mac"]: d for d in _devices(sqlite_url) if d["mac"]}
    knowledge = Knowledge.bundled()
    wrong_kind, unknown_kind, wrong_vendor = [], [], []
    for truth in TRUTH["devices"]:
        device = devices[truth["mac"]]  # every simulated device is listed
        if truth["vendor"] and knowledge.canonical_vendor(truth["vendor"]) != device["vendor"]:
            wrong_vendor.append(truth["mac"])
        if device["device_type"] is None:
            unknown_kind.append(truth["mac"])
        elif device["device_type"] != truth["kind"]:
            wrong_kind.append((truth["kind"], device["device_type"]))
    assert wrong_vendor == []
    # The PACS is a Dell server: only its DICOM role (it accepts image storage) makes it a PACS.
    assert wrong_kind == []
    assert unknown_kind == []
    count = len(devices)
    again = runner.invoke(app, ["--db", sqlite_url, "discover", str(DEMO_PCAP), "--format", "json"])
    assert again.exit_code == 0
    summary = json.loads(again.stdout)
    assert summary["devices_new"] == 0
    assert summary["sources"][0]["new_observations"] == 0
    assert len([d for d in _devices(sqlite_url) if d["mac"]]) == count


def test_device_shows_evidence(sqlite_url: str) -> None:
    runner.invoke(app, ["--db", sqlite_url, "discover", str(DEMO_PCAP)])
    monitor = next(t for t in TRUTH["devices"] if t["kind"] == "patient_monitor")
    result = runner.invoke(app, ["--db", sqlite_url, "device", monitor["mac"], "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "wardwatch.device/1"
    vendor = data["attributes"]["vendor"]
    assert vendor["evidence"] and all(e["rule"] and e["detail"] for e in vendor["evidence"])


def test_truncated_and_garbage_captures_keep_what_was_read(sqlite_url: str, tmp_path: Path) -> None:
    raw = gzip.decompress(DEMO_PCAP.read_bytes())
    truncated = tmp_path / "cut.pcap"
    truncated.write_bytes(raw[: len(raw) // 2])
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"\x00not a capture at all" * 10)
    result = runner.invoke(app, ["--db", sqlite_url, "discover", str(truncated), str(garbage)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "garbage.pcap: byte 0:" in result.output
    assert len(_devices(sqlite_url)) > 20  # what the truncated file held was kept
