"""Risk tables and the risk use cases on SQLite and PostgreSQL (the fake store has no SQL tables)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from wardwatch.model.device import Attribute, Device, DeviceIP, Evidence, ResolvedAttribute
from wardwatch.model.flow import Conversation, Transport
from wardwatch.risk.score import SCORING_VERSION
from wardwatch.services import risk as svc
from wardwatch.store import schema_risk, schema_vuln

from .conftest import Backend

T0 = 1_700_000_000_000_000_000
VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


@pytest.fixture
def sql_store(backend: Backend) -> Any:
    if backend.name == "fake":
        pytest.skip("the risk tables live in SQL only (the fake store has no tx.conn)")
    return backend.make()


def _device(key: str, mac: str, ip: str, **attrs: str) -> tuple[Device, list[Evidence]]:
    ev = [Evidence(Attribute(k), v, 0.9, "test", None, T0, T0 + 5) for k, v in attrs.items()]
    resolved = {e.attribute.value: ResolvedAttribute(e.attribute, e.value, 0.9, "only", (e,)) for e in ev}
    return Device(
        None, key, mac, T0, T0 + 10, attributes=resolved, ips=(DeviceIP(ip, T0, T0 + 10, "dhcp"),)
    ), ev


def _conv(client: str, server: str, port: int) -> Conversation:
    return Conversation(client, None, server, None, Transport.TCP, port, T0, T0 + 1, 1, 10, 1000)


def _seed(store: Any) -> dict[str, int]:
    ids: dict[str, int] = {}
    with store.transaction() as tx:
        for name, mac, ip, attrs in (
            (
                "pump",
                "00:00:00:00:00:01",
                "10.0.1.10",
                {"clinical_category": "therapeutic", "vendor": "Acme"},
            ),
            ("ws", "00:00:00:00:00:02", "10.0.2.20", {"clinical_category": "non-clinical"}),
            ("printer", "00:00:00:00:00:03", "10.0.3.30", {}),
        ):
            d, ev = _device(f"mac:{mac}", mac, ip, **attrs)
            ids[name] = tx.save_device(d, ev)
        tx.merge_conversations(
            [
                _conv("10.0.2.20", "10.0.1.10", 445),  # workstation uses the pump's SMB
                _conv("10.0.2.20", "8.8.8.8", 443),  # workstation talks to the internet
                _conv("10.0.3.30", "10.0.1.10", 445),
            ]
        )
        conn = tx.conn
        conn.execute(
            schema_vuln.advisory.insert(),
            [
                {
                    "id": "CVE-2017-0144",
                    "source": "nvd",
                    "title": "SMBv1 remote code execution",
                    "description": "The SMBv1 server allows remote attackers to execute code.",
                    "published": None,
                    "revision": "1",
                    "status": "Analyzed",
                    "cvss_score": 9.8,
                    "cvss_version": "3.1",
                    "cvss_vector": VECTOR,
                    "data": {},
                    "import_id": 1,
                }
            ],
        )
        conn.execute(
            schema_vuln.kev.insert(),
            [
                {
                    "cve": "CVE-2017-0144",
                    "vendor_project": "Microsoft",
                    "product": "SMBv1",
                    "name": "x",
                    "date_added": "2022-01-01",
                    "due_date": "2022-02-01",
                    "required_action": "patch",
                    "ransomware": "Known",
                    "catalog_version": "1",
                    "import_id": 1,
                }
            ],
        )
        conn.execute(
            schema_vuln.finding.insert(),
            [
                {
                    "device_id": ids[name],
                    "vulnerability": "CVE-2017-0144",
                    "matcher": "nvd_cpe",
                    "advisory_id": "CVE-2017-0144",
                    "status": "affected",
                    "confidence": 0.9,
                    "evidence": {"matched": [{"versionEndExcluding": "6.1"}]},
                    "reason": "",
                    "active": True,
                    "inactive_reason": "",
                    "first_ns": T0,
                    "updated_ns": T0,
                }
                for name in ("pump", "ws")
            ],
        )
    return ids


def test_recompute_stores_scores_with_version_and_explanation(sql_store: Any) -> None:
    ids = _seed(sql_store)
    summary = svc.recompute(sql_store, now_ns=T0)
    assert (summary.devices, summary.findings, summary.version) == (3, 2, SCORING_VERSION)
    rows = svc.stored_scores(sql_store)
    assert [r["device_id"] for r in rows][:2] == [ids["pump"], ids["ws"]]
    pump = rows[0]
    assert pump["version"] == SCORING_VERSION and pump["decision"] == "Act"
    assert pump["top_vulnerability"] == "CVE-2017-0144"
    assert any("in CISA KEV" in line for line in pump["explanation"])
    # The pump is reached from the internet-talking workstation: the path is stored with the score.
    assert pump["context"]["attack_path"] == ["10.0.2.20", "10.0.1.10"]
    assert [s["port"] for s in pump["context"]["services"]] == [445]
    assert rows[2]["risk"] == 0.0 and rows[2]["decision"] is None
    with sql_store.transaction() as tx:
        stored = list(tx.conn.execute(select(schema_risk.risk_finding)))
    assert {(r.device_id, r.decision, r.version) for r in stored} == {
        (ids["pump"], "Act", SCORING_VERSION),
        (ids["ws"], "Attend", SCORING_VERSION),
    }
    # Recomputing replaces, never duplicates.
    svc.recompute(sql_store, now_ns=T0 + 1)
    assert len(svc.stored_scores(sql_store)) == 3


def test_device_risk_mitigations_and_what_if(sql_store: Any) -> None:
    ids = _seed(sql_store)
    result = svc.device_risk(sql_store, device=str(ids["pump"]))
    assert result.score.decision is not None and str(result.score.decision) == "Act"
    assert result.allowlist[-1] == "deny everything else"
    assert "allow 10.0.2.20 -> this:tcp/445" in result.allowlist
    _, options = svc.mitigation_options(sql_store, device="10.0.1.10")
    titles = [o.title for o in options]
    assert "upgrade to 6.1 (fixes CVE-2017-0144)" in titles
    assert "block or disable TCP/445 (smb)" in titles
    assert options[0].after.risk <= options[-1].after.risk
    w = svc.what_if(sql_store, block=["smbv1"], subnet="10.0.1.0/24")
    assert w.devices == 1 and w.transitions == {"Act->Track": (1, 1)}
    with pytest.raises(svc.RiskError):
        svc.device_risk(sql_store, device="nope")
    with pytest.raises(svc.RiskError):
        svc.what_if(sql_store)


def test_rubric_answers_are_stored_and_used(sql_store: Any) -> None:
    ids = _seed(sql_store)
    before = svc.device_risk(sql_store, device=str(ids["pump"])).score.findings[0]
    svc.set_rubric(sql_store, vendor="Acme", model="", answers={"XCP": "H", "XCPM": "many"}, author="t")
    after = svc.device_risk(sql_store, device=str(ids["pump"])).score.findings[0]
    assert before.cvss_environmental_vector is not None and "CR:M" in before.cvss_environmental_vector
    assert after.cvss_environmental_vector is not None and "CR:H" in after.cvss_environmental_vector
    with pytest.raises(svc.RiskError):
        svc.set_rubric(sql_store, vendor="Acme", model="", answers={"XAVN": "perhaps"}, author="t")
