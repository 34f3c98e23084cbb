"""Issue 8 end to end through the CLI: recalls, CMMS reconciliation, lifecycle and alerts.

The "done when" test: the real openFDA recall Z-0053-2020 (nine lots of REF AK-25502) applied to
an inventory, built through the real store, with affected and unaffected units of that model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import DEMO
from typer.testing import CliRunner

from wardwatch.model.device import Attribute, Device, DeviceIP, Evidence, ResolvedAttribute
from wardwatch.services.cli.main import app
from wardwatch.store.sql import open_store

FDA = Path(__file__).parents[1] / "data" / "fda"
REAL_RECALL = FDA / "real" / "device-recall-response-example.json"
DAY = 86_400 * 1_000_000_000
T0 = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z
runner = CliRunner()


def _run(db: str, *args: str, code: int = 0) -> Any:
    result = runner.invoke(app, ["--db", db, *args])
    assert result.exit_code == code, result.output
    return result


def _json(db: str, *args: str) -> Any:
    return json.loads(_run(db, *args, "--format", "json").stdout)


def _save(db: str, key: int, *, ips: tuple[DeviceIP, ...], last: int, **attrs: str) -> int:
    mac = f"02:00:00:00:00:{key:02x}"
    evidence = [Evidence(Attribute(k), v, 0.9, "test", None, T0, last) for k, v in attrs.items()]
    device = Device(
        id=None,
        key=f"mac:{mac}",
        mac=mac,
        first_ns=T0,
        last_ns=last,
        attributes={
            k: ResolvedAttribute(Attribute(k), v, 0.9, "only", (e,))
            for (k, v), e in zip(attrs.items(), evidence, strict=True)
        },
        ips=ips,
    )
    store = open_store(db)
    try:
        with store.transaction() as tx:
            return tx.save_device(device, evidence)
    finally:
        store.close()


def _inventory(db: str, tmp_path: Path) -> dict[str, int]:
    """Five units of REF AK-25502 (two in listed lots, one in another lot, one lot unknown, one not
    on the network at all) and one device that changed segment."""

    def ip(address: str) -> tuple[DeviceIP, ...]:
        return (DeviceIP(address, T0, T0 + DAY, "dhcp"),)

    ids = {
        "lot-listed-1": _save(
            db,
            1,
            ips=ip("10.120.0.11"),
            last=T0 + DAY,
            vendor="Arrow International",
            model="AK-25502",
            device_type="infusion_pump",
        ),
        "lot-listed-2": _save(
            db,
            2,
            ips=ip("10.120.0.12"),
            last=T0 + DAY,
            vendor="Teleflex",
            model="AK-25502",
            device_type="infusion_pump",
        ),
        "lot-other": _save(
            db,
            3,
            ips=ip("10.120.0.13"),
            last=T0 + DAY,
            vendor="Teleflex",
            model="AK-25502",
            device_type="infusion_pump",
        ),
        "lot-unknown": _save(
            db,
            4,
            ips=ip("10.120.0.14"),
            last=T0 + 20 * DAY,
            vendor="Teleflex",
            model="AK-25502",
            device_type="infusion_pump",
        ),
        "moved": _save(
            db,
            5,
            ips=(
                DeviceIP("10.120.0.15", T0, T0 + DAY, "dhcp"),
                DeviceIP("10.130.0.15", T0 + 2 * DAY, T0 + 20 * DAY, "dhcp"),
            ),
            last=T0 + 20 * DAY,
            vendor="Philips",
            model="IntelliVue MX450",
            device_type="patient_monitor",
        ),
    }
    cmms = tmp_path / "cmms.csv"
    cmms.write_text(
        "Tag,Vendor,Model,Serial,MAC,Lot,Ward\n"
        "T-1,Teleflex,AK-25502,,02:00:00:00:00:01,13F18C0374,ICU\n"
        "T-2,Teleflex,AK-25502,,02:00:00:00:00:02,13F18G0480,ICU\n"
        "T-3,Teleflex,AK-25502,,02:00:00:00:00:03,13F18Z0001,ED\n"
        "T-9,Teleflex,AK-25502,,,13F18L0936,Stores\n"
    )
    _run(
        db, "assets", "import", str(cmms), "--map", "tag=Tag,manufacturer=Vendor", "--map", "department=Ward"
    )
    return ids


def test_real_recall_lists_exactly_the_affected_units(sqlite_url: str, tmp_path: Path) -> None:
    ids = _inventory(sqlite_url, tmp_path)
    out = _run(sqlite_url, "recalls", "import", str(REAL_RECALL)).stdout
    assert "1 recalls (1 new, 0 updated)" in out
    findings = _json(sqlite_url, "recalls")["findings"]
    affected = {
        (f["match"]["device_id"], f["asset_tag"]) for f in findings if f["match"]["level"] == "affected"
    }
    assert affected == {(ids["lot-listed-1"], "T-1"), (ids["lot-listed-2"], "T-2"), (None, "T-9")}
    possible = [f for f in findings if f["match"]["level"] == "possible"]
    assert [f["match"]["device_id"] for f in possible] == [ids["lot-unknown"]]  # model matches, lot unknown
    assert ids["lot-other"] not in {f["match"]["device_id"] for f in findings}  # listed only with --all
    first = next(f for f in findings if f["asset_tag"] == "T-1")
    evidence = {e["criterion"]: e for e in first["match"]["evidence"]}
    assert evidence["lot"]["outcome"] == "match" and evidence["lot"]["device_value"] == "13F18C0374"
    assert evidence["lot"]["source"] == "asset T-1 (cmms.csv row 2): lot"
    assert evidence["catalog"]["recall_value"] == "AK-25502"
    assert "same name" in evidence["firm"]["detail"]
    second = next(f for f in findings if f["asset_tag"] == "T-2")
    firm = next(e for e in second["match"]["evidence"] if e["criterion"] == "firm")
    assert firm["device_value"] == "Teleflex" and "firm-aliases.json" in firm["detail"]  # Arrow is Teleflex
    where = first["where"]
    assert (where["ip"], where["segment"], where["department"]) == ("10.120.0.11", "10.120.0.0/24", "ICU")
    assert where["switch_port"] is None and where["switch_port_reason"]  # unknown, with the reason
    assert first["recall"]["status"] == "terminated"
    assert _json(sqlite_url, "recalls", "--open")["findings"] == []
    everything = _json(sqlite_url, "recalls", "--all")["findings"]
    other = next(f for f in everything if f["match"]["device_id"] == ids["lot-other"])
    assert other["match"]["level"] == "not_affected"
    one = _json(sqlite_url, "recalls", "--device", "02:00:00:00:00:02")["findings"]
    assert [f["match"]["device_id"] for f in one] == [ids["lot-listed-2"]]
    _run(sqlite_url, "recalls", "--device", "nothing-like-this", code=1)
    table = _run(sqlite_url, "recalls").stdout
    assert "Z-0053-2020" in table and "affected" in table
    assert (
        "Z-0053-2020,Arrow International Inc,terminated,affected"
        in _run(sqlite_url, "recalls", "--format", "csv").stdout
    )


def test_cmms_reconciles_and_missing_and_moved_raise_alerts(sqlite_url: str, tmp_path: Path) -> None:
    ids = _inventory(sqlite_url, tmp_path)
    recon = _json(sqlite_url, "assets", "reconcile")
    assert recon["counts"] == {"matched": 3, "network_only": 2, "cmms_only": 1}
    row = next(r for r in recon["rows"] if r["asset_tag"] == "T-1")
    assert row["matched_by"] == "mac" and row["merged"]["lot"] == {
        "value": "13F18C0374",
        "provenance": "cmms",
        "network": None,
        "cmms": "13F18C0374",
        "conflict": False,
    }
    report = _json(sqlite_url, "lifecycle", "--now", "2026-01-25T00:00:00Z")
    by_id = {d["device_id"]: d for d in report["devices"]}
    assert (
        by_id[ids["lot-listed-1"]]["missing"] and not by_id[ids["lot-unknown"]]["missing"]
    )  # 24 d vs 5 d, pumps 14
    assert by_id[ids["moved"]]["moved"]["to_segment"] == "10.130.0.0/24"
    assert report["cmms_only"] == [
        {"asset_tag": "T-9", "source": "cmms.csv row 5", "department": "Stores", "location": None}
    ]
    alerts = _json(sqlite_url, "alerts", "--state", "open")["alerts"]
    kinds = sorted((a["kind"], str(a["device_id"] or a["asset_tag"])) for a in alerts)
    expected: list[tuple[str, object]] = [
        ("missing", ids[k]) for k in ("lot-listed-1", "lot-listed-2", "lot-other")
    ]
    expected += [("missing", "T-9"), ("moved", ids["moved"])]
    assert kinds == sorted((k, str(v)) for k, v in expected)
    moved = next(a for a in alerts if a["kind"] == "moved")
    assert moved["evidence"]["from_ip"] == "10.120.0.15" and moved["evidence"]["to_ip"] == "10.130.0.15"
    # Running the check again raises nothing new; ack and close work.
    _run(sqlite_url, "lifecycle", "--now", "2026-01-26T00:00:00Z")
    assert len(_json(sqlite_url, "alerts")["alerts"]) == len(alerts)
    _run(sqlite_url, "alerts", "ack", str(moved["id"]))
    missing = next(a for a in alerts if a["kind"] == "missing")
    _run(sqlite_url, "alerts", "close", str(missing["id"]))
    states = {a["id"]: a["state"] for a in _json(sqlite_url, "alerts")["alerts"]}
    assert states[moved["id"]] == "acknowledged" and states[missing["id"]] == "closed"
    assert {a["id"] for a in _json(sqlite_url, "alerts", "--state", "open")["alerts"]} == {
        a["id"] for a in alerts
    } - {moved["id"], missing["id"]}
    assert "no alert 999" in _run(sqlite_url, "alerts", "ack", "999", code=1).output
    # The real recall is terminated: it is listed by `recalls`, but raises no alert.
    _run(sqlite_url, "recalls", "import", str(REAL_RECALL))
    _run(sqlite_url, "lifecycle", "--now", "2026-01-26T00:00:00Z")
    assert _json(sqlite_url, "alerts", "--kind", "recall")["alerts"] == []


def test_bad_files_keep_what_was_stored(sqlite_url: str, tmp_path: Path) -> None:
    _inventory(sqlite_url, tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"results": [{"product_res_number": "Z-1-2026", "recalling_firm": "X"}, 7]}')
    result = _run(sqlite_url, "recalls", "import", str(bad), str(REAL_RECALL), code=1)
    assert f"{bad}: record 1: a record should be an object, not int" in result.output
    assert "Traceback" not in result.output
    assert [f["recall"]["uid"] for f in _json(sqlite_url, "recalls")["findings"]][:1] == ["Z-0053-2020"]
    broken = tmp_path / "broken.csv"
    broken.write_text("Tag,Serial\nA,1\nA,2\n")
    result = _run(sqlite_url, "assets", "import", str(broken), "--map", "tag=Tag", code=1)
    assert "row 3: asset tag 'A' already on row 2" in result.output and "unchanged" in result.output
    assert _json(sqlite_url, "assets", "reconcile")["counts"]["matched"] == 3  # the earlier list is intact
    assert "--format must be" in _run(sqlite_url, "recalls", "--format", "xml", code=2).output
    assert (
        "unknown field"
        in _run(sqlite_url, "assets", "import", str(broken), "--map", "colour=X", code=2).output
    )


def test_demo(sqlite_url: str, tmp_path: Path) -> None:
    _run(sqlite_url, "discover", str(DEMO / "hospital-demo.pcap.gz"))
    _run(sqlite_url, "assets", "import", str(DEMO / "cmms.csv"))
    recall_files = sorted(str(p) for p in (DEMO / "recalls").glob("*.json"))
    _run(sqlite_url, "recalls", "import", *recall_files)
    findings = _json(sqlite_url, "recalls")["findings"]
    affected: dict[str, set[str]] = {}
    for f in findings:
        if f["match"]["level"] == "affected":
            affected.setdefault(f["recall"]["uid"], set()).add(f["asset_tag"])
    assert affected == {
        "Z-9001-2026": {"BME-1001", "BME-1003", "BME-1005"},  # serial list, a range, and the UDI
        "Z-9002-2026": {"BME-4001", "BME-4004", "BME-4006"},
        "Z-9003-2026": {"BME-2001", "BME-2002", "BME-2003"},  # every unit of model 3570009
        "Z-9004-2026": {"BME-5001", "BME-5002"},
        "Z-9005-2026": {"BME-3001"},  # lot 4411235 of catalog 30010
    }
    recon = _json(sqlite_url, "assets", "reconcile")
    assert recon["counts"]["matched"] == 20 and recon["counts"]["cmms_only"] == 2
    conflicts = {r["asset_tag"]: r["conflicts"] for r in recon["rows"] if r["conflicts"]}
    assert conflicts == {"BME-4006": ["serial"]}  # the CMMS has another serial for that monitor: shown
    # Open recalls raised alerts for affected and possible units when imported; terminated ones none.
    recall_alerts = _json(sqlite_url, "alerts", "--kind", "recall")["alerts"]
    alerted = {(a["dedup_key"].split(":")[1], a["asset_tag"]) for a in recall_alerts}
    assert ("Z-9001-2026", "BME-1005") in alerted and ("Z-9003-2026", "BME-2001") in alerted
    assert not any(uid == "Z-9005-2026" for uid, _ in alerted)
    # Re-importing is idempotent, and raises nothing new.
    again = _json(sqlite_url, "recalls", "import", *recall_files)
    assert all(f["new"] == 0 and f["updated"] == 0 for f in again["files"])
    assert again["alerts"] == {"unchanged": len(recall_alerts)}


def test_xlsx_asset_list_through_the_cli(sqlite_url: str, tmp_path: Path) -> None:
    import openpyxl  # type: ignore[import-untyped]

    _save(sqlite_url, 1, ips=(), last=T0, vendor="Teleflex", model="AK-25502")
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Asset", "MAC Address", "Lot"])
    sheet.append(["X-1", "02:00:00:00:00:01", "13F18L0936"])
    path = tmp_path / "cmms.xlsx"
    book.save(path)
    _run(sqlite_url, "assets", "import", str(path))
    _run(sqlite_url, "recalls", "import", str(REAL_RECALL))
    (finding,) = _json(sqlite_url, "recalls")["findings"]
    assert (finding["asset_tag"], finding["match"]["level"]) == ("X-1", "affected")
