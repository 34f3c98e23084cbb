"""`wardwatch override`, `overrides` and `reidentify` end to end on the demo capture."""

from __future__ import annotations

import json

from tests.conftest import DEMO
from typer.testing import CliRunner

from wardwatch.services.cli.main import app

runner = CliRunner()
PACS_MAC = "c8:f7:50:39:96:e3"


def test_override_then_reidentify(sqlite_url: str) -> None:
    assert (
        runner.invoke(app, ["--db", sqlite_url, "discover", str(DEMO / "hospital-demo.pcap.gz")]).exit_code
        == 0
    )
    result = runner.invoke(
        app,
        [
            "--db",
            sqlite_url,
            "override",
            PACS_MAC,
            "device_type",
            "vna",
            "--reason",
            "asset label",
            "--author",
            "alice",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["override"]["author"] == "alice" and data["override"]["value"] == "vna"
    # DICOM shows the Dell server accepting image storage (a PACS); the asset list knows it is the VNA.
    assert {"device": f"mac:{PACS_MAC}", "attribute": "device_type", "old": "pacs", "new": "vna"} in data[
        "changes"
    ]

    device = json.loads(
        runner.invoke(app, ["--db", sqlite_url, "device", PACS_MAC, "--format", "json"]).stdout
    )
    assert device["attributes"]["device_type"]["chosen_by"] == "override"
    assert device["attributes"]["clinical_category"]["value"] == "clinical support"

    again = runner.invoke(app, ["--db", sqlite_url, "reidentify", "--format", "json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["changed"] == 0

    listed = json.loads(runner.invoke(app, ["--db", sqlite_url, "overrides", "--format", "json"]).stdout)
    assert [(o["device"], o["attribute"], o["active"]) for o in listed["overrides"]] == [
        (f"mac:{PACS_MAC}", "device_type", True)
    ]


def test_bad_override_is_one_line_error(sqlite_url: str) -> None:
    assert (
        runner.invoke(app, ["--db", sqlite_url, "discover", str(DEMO / "hospital-demo.pcap.gz")]).exit_code
        == 0
    )
    result = runner.invoke(app, ["--db", sqlite_url, "override", PACS_MAC, "device_type", "toaster"])
    assert result.exit_code == 2
    assert "unknown device type 'toaster'" in result.output and "Traceback" not in result.output
