"""``wardwatch discover --workers 2`` stores the same observations and inventory as one process."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.conftest import DATA
from typer.testing import CliRunner

from wardwatch.services.cli.main import app


def discover(
    db: Path, workers: int, *paths: Path
) -> tuple[list[tuple[object, ...]], list[dict[str, object]]]:
    url = f"sqlite:///{db}"
    result = CliRunner().invoke(app, ["--db", url, "discover", "--workers", str(workers), *map(str, paths)])
    assert result.exit_code == 0, result.output
    devices = CliRunner().invoke(app, ["--db", url, "devices", "--format", "json"])
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select uid, first_ns, last_ns from observation order by uid").fetchall()
    found = json.loads(devices.stdout)["devices"]
    return rows, [{k: d[k] for k in ("mac", "ip", "attributes") if k in d} for d in found]


def test_two_workers_store_what_one_stores(tmp_path: Path) -> None:
    caps = [
        DATA / "captures" / n
        for n in ("dhcp-dnsmasq-dhclient.pcap", "http-curl-pythonhttp.pcap", "lldp-lldpd.pcap")
    ]
    one = discover(tmp_path / "one.sqlite", 1, *caps)
    two = discover(tmp_path / "two.sqlite", 2, *caps)
    assert one[0] and one == two
