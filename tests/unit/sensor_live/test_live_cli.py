"""``wardwatch sensor`` refuses bad input with one clear line and no traceback."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wardwatch.services.cli.main import app


def test_unknown_interface_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--db", f"sqlite:///{tmp_path / 'x.sqlite'}", "sensor", "-i", "nosuch-h5"]
    )
    assert result.exit_code == 2
    assert "nosuch-h5: no such network interface" in result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(os.geteuid() != 0, reason="opening a packet socket needs root")
def test_missing_filter_compiler_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no tcpdump anywhere
    result = CliRunner().invoke(
        app, ["--db", f"sqlite:///{tmp_path / 'x.sqlite'}", "sensor", "-i", "lo", "--bpf", "port 80"]
    )
    assert result.exit_code == 2
    assert "--bpf needs tcpdump" in result.output and "Traceback" not in result.output


@pytest.mark.skipif(os.geteuid() != 0, reason="opening a packet socket needs root")
@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump (the filter compiler) is not installed")
def test_bad_filter_names_the_filter(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--db", f"sqlite:///{tmp_path / 'x.sqlite'}", "sensor", "-i", "lo", "--bpf", "port port"]
    )
    assert result.exit_code == 2
    assert "--bpf 'port port'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(os.geteuid() != 0, reason="opening a packet socket needs root")
def test_duration_stops_and_flushes_on_loopback(tmp_path: Path) -> None:
    db = tmp_path / "x.sqlite"
    result = CliRunner().invoke(
        app, ["--db", f"sqlite:///{db}", "sensor", "-i", "lo", "--duration", "0.5", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert '"interface": "lo"' in result.output
    assert db.exists()
