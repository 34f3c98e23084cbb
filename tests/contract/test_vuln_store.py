"""Vulnerability store on SQLite and PostgreSQL: idempotent, incremental imports; one transaction per
file; findings never deleted (inactive with a reason); triage history and VEX attribution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import Backend
from wardwatch.model.device import Attribute, Device
from wardwatch.services import vulns as svc
from wardwatch.store.sql import build_device

FEEDS = Path(__file__).parents[1] / "data" / "feeds"


@pytest.fixture
def sql_store(backend: Backend) -> Any:
    if backend.name == "fake":
        pytest.skip("vulnerability tables are SQL only")
    return backend.make()


def _device(tx: Any, key: str, **attrs: str) -> int:
    d: Device = build_device(
        id=None,
        key=key,
        mac=None,
        first_ns=1,
        last_ns=2,
        mac_randomized=False,
        attributes=[(k, v, 0.9, "only") for k, v in attrs.items()],
        ips=[],
        evidence=[],
    )
    return int(tx.save_device(d, []))


def test_import_is_idempotent_and_incremental(sql_store: Any, tmp_path: Path) -> None:
    paths = [str(FEEDS / "nvd"), str(FEEDS / "kev"), str(FEEDS / "epss"), str(FEEDS / "vulnrichment")]
    first = svc.import_feeds(sql_store, paths=paths)
    assert all(r.status == "ok" for r in first), [r.error for r in first]
    counts = svc.feed_status(sql_store)["counts"]
    assert (
        counts["advisory_nvd"] == 14 + 38 + 1
        and counts["kev"] == 5
        and counts["epss"] == 3
        and counts["ssvc"] == 3
    )
    again = svc.import_feeds(sql_store, paths=paths)
    assert {r.status for r in again} == {"unchanged"}
    # Same record, older lastModified, different bytes: skipped by the watermark.
    rec = json.loads((FEEDS / "nvd" / "CVE-2022-2121.json").read_text())
    rec["lastModified"] = "2000-01-01T00:00:00.000"
    p = tmp_path / "old.json"
    p.write_text(json.dumps(rec))
    [old] = svc.import_feeds(sql_store, paths=[str(p)])
    assert (old.status, old.skipped, old.updated) == ("ok", 1, 0)
    rec["lastModified"] = "2099-01-01T00:00:00.000"
    rec["descriptions"] = [{"lang": "en", "value": "changed"}]
    p.write_text(json.dumps(rec))
    [new] = svc.import_feeds(sql_store, paths=[str(p)])
    assert new.updated == 1


def test_bad_file_imports_nothing_and_keeps_earlier_data(sql_store: Any, tmp_path: Path) -> None:
    svc.import_feeds(sql_store, paths=[str(FEEDS / "nvd" / "CVE-2019-0708.json")])
    good = json.loads((FEEDS / "nvd" / "CVE-2022-2121.json").read_text())
    bad = {k: v for k, v in good.items() if k != "lastModified"}
    p = tmp_path / "page.json"
    p.write_text(json.dumps({"vulnerabilities": [{"cve": good}, {"cve": bad}]}))
    [r] = svc.import_feeds(sql_store, paths=[str(p)])
    assert r.status == "error" and "record 1 (CVE-2022-2121)" in r.error and str(p) in r.error
    status = svc.feed_status(sql_store)
    assert status["counts"]["advisory"] == 1  # CVE-2022-2121 (record 0) was not kept either
    assert status["imports"][0]["status"] == "error"


def test_findings_lifecycle_and_triage(sql_store: Any) -> None:
    svc.import_feeds(sql_store, paths=[str(FEEDS / "nvd"), str(FEEDS / "csaf"), str(FEEDS / "kev")])
    with sql_store.transaction() as tx:
        pump = _device(tx, "mac:00:00:00:00:00:01", vendor="Baxter", model="Sigma Spectrum", firmware="6.02")
        ws = _device(tx, "mac:00:00:00:00:00:02", os="Windows", os_version="NT 6.1")
    s = svc.match_all(sql_store, now_ns=10)
    assert s.opened >= 2
    rows = svc.list_findings(sql_store, device=str(ws))
    [bk] = [r for r in rows if r["vulnerability"] == "CVE-2019-0708"]
    assert bk["kev"] and bk["cvss"] == 9.8 and bk["status"] == "affected" and bk["matcher"] == "nvd_cpe"
    assert bk["evidence"]["matched"][0]["criteria"].startswith("cpe:2.3:o:microsoft:windows_7")
    # Re-matching unchanged data changes nothing.
    assert svc.match_all(sql_store, now_ns=11).opened == 0
    # The pump's firmware is updated out of range: its NVD finding goes inactive, not away.
    with sql_store.transaction() as tx:
        d = tx.get_device(str(pump))
        attrs = [(a, r.value, r.confidence, r.chosen_by) for a, r in d.attributes.items()]
        attrs = [(a, "7.0" if a == Attribute.FIRMWARE.value else v, c, ch) for a, v, c, ch in attrs]
        tx.save_device(
            build_device(
                id=None,
                key=d.key,
                mac=None,
                first_ns=1,
                last_ns=3,
                mac_randomized=False,
                attributes=attrs,
                ips=[],
                evidence=[],
            ),
            [],
        )
    s2 = svc.match_all(sql_store, now_ns=12)
    assert s2.inactive >= 1
    gone = [
        r
        for r in svc.list_findings(sql_store, device=str(pump), include_inactive=True)
        if r["vulnerability"] == "CVE-2020-12040"
    ]
    assert gone and not gone[0]["active"] and "no longer matched" in gone[0]["inactive_reason"]
    # Triage: per model, then per device (device wins); history kept.
    svc.set_analysis(
        sql_store, vulnerability="CVE-2019-0708", state="in_triage", author="ana", device=str(ws), now_ns=20
    )
    svc.set_analysis(
        sql_store,
        vulnerability="CVE-2019-0708",
        state="not_affected",
        author="bo",
        device=str(ws),
        justification="protected_at_perimeter",
        detail="RDP blocked",
        now_ns=21,
    )
    [bk] = [r for r in svc.list_findings(sql_store, device=str(ws)) if r["vulnerability"] == "CVE-2019-0708"]
    assert bk["analysis"]["state"] == "not_affected" and bk["analysis"]["author"] == "bo"
    assert [h["state"] for h in svc.analysis_history(sql_store, vulnerability="CVE-2019-0708")] == [
        "in_triage",
        "not_affected",
    ]
    with pytest.raises(svc.VulnError):
        svc.set_analysis(sql_store, vulnerability="X", state="bogus", author="a", device=str(ws))
    vex = svc.to_cyclonedx_vex(svc.list_findings(sql_store))
    assert vex["bomFormat"] == "CycloneDX" and any(v["id"] == "CVE-2019-0708" for v in vex["vulnerabilities"])


def test_manufacturer_vex_applies_to_model(sql_store: Any) -> None:
    [r] = svc.import_feeds(sql_store, paths=[str(FEEDS / "sbom" / "cisa-case1-vex-not_affected.cdx.json")])
    assert r.status == "ok"
    [a] = svc.analysis_history(sql_store, vulnerability="CVE-2021-44228")
    assert a["scope"] == "model" and a["state"] == "not_affected" and a["source"].startswith("vex:")


def test_sbom_components_match_by_cpe(sql_store: Any, tmp_path: Path) -> None:
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
        "version": 1,
        "metadata": {
            "component": {"type": "device", "name": "Pump 9", "manufacturer": {"name": "Acme Medical"}}
        },
        "components": [
            {
                "type": "library",
                "name": "dcmtk",
                "version": "3.6.6",
                "cpe": "cpe:2.3:a:offis:dcmtk:3.6.6:*:*:*:*:*:*:*",
            },
            {"type": "library", "name": "zlib", "version": "1.2.13", "purl": "pkg:generic/zlib@1.2.13"},
        ],
    }
    p = tmp_path / "pump9.cdx.json"
    p.write_text(json.dumps(bom))
    results = svc.import_feeds(sql_store, paths=[str(p), str(FEEDS / "nvd" / "CVE-2022-2121.json")])
    assert [r.status for r in results] == ["ok", "ok"]
    with sql_store.transaction() as tx:
        pump = _device(tx, "mac:00:00:00:00:00:09", vendor="Acme Medical", model="Pump 9")
        other = _device(tx, "mac:00:00:00:00:00:0a", vendor="Acme Medical", model="Pump 10")
    svc.match_all(sql_store, now_ns=5)
    [f] = svc.list_findings(sql_store, device=str(pump))
    assert (f["vulnerability"], f["matcher"], f["status"]) == ("CVE-2022-2121", "sbom_component", "affected")
    assert f["evidence"]["component"] == "dcmtk" and f["evidence"]["sbom"] == bom["serialNumber"]
    assert svc.list_findings(sql_store, device=str(other)) == []


def test_csaf_vex_known_not_affected_is_applied(sql_store: Any, tmp_path: Path) -> None:
    doc = {
        "document": {
            "category": "csaf_vex",
            "csaf_version": "2.0",
            "title": "Example VEX",
            "publisher": {"name": "Acme Medical", "category": "vendor", "namespace": "https://acme.example"},
            "tracking": {
                "id": "ACME-VEX-1",
                "current_release_date": "2024-01-01T00:00:00Z",
                "status": "final",
            },
        },
        "product_tree": {
            "branches": [
                {
                    "category": "vendor",
                    "name": "Acme Medical",
                    "branches": [
                        {
                            "category": "product_name",
                            "name": "Pump 9",
                            "branches": [
                                {
                                    "category": "product_version",
                                    "name": "4.1",
                                    "product": {"name": "Acme Medical Pump 9 4.1", "product_id": "P9"},
                                }
                            ],
                        }
                    ],
                }
            ]
        },
        "vulnerabilities": [
            {
                "cve": "CVE-2022-2121",
                "product_status": {"known_not_affected": ["P9"]},
                "flags": [{"label": "vulnerable_code_not_in_execute_path", "product_ids": ["P9"]}],
                "threats": [
                    {"category": "impact", "details": "DICOM parser not used", "product_ids": ["P9"]}
                ],
            }
        ],
    }
    p = tmp_path / "acme-vex.json"
    p.write_text(json.dumps(doc))
    [r] = svc.import_feeds(sql_store, paths=[str(p)])
    assert r.status == "ok", r.error
    [a] = svc.analysis_history(sql_store, vulnerability="CVE-2022-2121")
    assert (a["state"], a["justification"], a["source"], a["author"]) == (
        "not_affected",
        "code_not_reachable",
        "vex:ACME-VEX-1",
        "Acme Medical",
    )
    assert a["target"] == "acme|pump 9" and a["detail"] == "DICOM parser not used"


def test_older_kev_catalog_does_not_overwrite(sql_store: Any, tmp_path: Path) -> None:
    svc.import_feeds(sql_store, paths=[str(FEEDS / "kev" / "kev-trimmed.json")])
    doc = json.loads((FEEDS / "kev" / "kev-trimmed.json").read_text())
    doc["catalogVersion"] = "2020.01.01"
    for v in doc["vulnerabilities"]:
        v["dueDate"] = "1999-01-01"
    p = tmp_path / "old-kev.json"
    p.write_text(json.dumps(doc))
    [r] = svc.import_feeds(sql_store, paths=[str(p)])
    assert r.status == "ok" and r.skipped == 5 and r.inserted == 0
    with sql_store.transaction() as tx:
        from wardwatch.store import schema_vuln as v

        dues = {row.due_date for row in tx.conn.execute(v.kev.select())}
    assert "1999-01-01" not in dues
