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


# --- the fleet fast path stores exactly what the plain path stores -----------------------------

_VECTORS = [
    ("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
    ("3.1", "CVSS:3.1/AV:N/AC:H/PR:L/UI:N/S:U/C:L/I:L/A:N", 4.2),
    ("3.0", "CVSS:3.0/AV:A/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 6.5),
    ("3.1", "CVSS:3.1/AV:L/AC:L/PR:L/UI:R/S:C/C:H/I:H/A:H", 8.2),
    ("2.0", "AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5),
    ("4.0", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3),
    ("3.1", "not a vector", 5.0),
    (None, None, None),
]
_TITLES = ["SMBv1 remote code execution", "DICOM parser overflow", "HL7 listener", "web server", "x"]


def _fleet(store: Any, n: int = 48) -> dict[int, int]:
    """A small fleet with repeated identities and every input kind the scorer reads."""
    cats = ["life-sustaining", "therapeutic", "diagnostic", "clinical support", "non-clinical", None]
    models = [("Acme", "P1"), ("Beta", "M2"), (None, None)]
    ids: dict[int, int] = {}

    def ip(i: int) -> str:
        return f"10.0.{i // 16}.{i % 16 + 10}"

    with store.transaction() as tx:
        for i in range(n):
            attrs: dict[str, str] = {}
            if cats[i % 6]:
                attrs["clinical_category"] = str(cats[i % 6])
            vendor, model = models[i % 3]
            if vendor and model:
                attrs |= {"vendor": vendor, "model": model}
            if i % 4 == 0:
                attrs["hostname"] = f"host{i}"
            mac = f"00:00:00:00:01:{i:02x}"
            d, ev = _device(f"mac:{mac}", mac, ip(i), **attrs)
            ids[i] = tx.save_device(d, ev)
        convs = []
        for i in range(n):
            server = (i // 8) * 8
            if server != i:
                convs.append(_conv(ip(i), ip(server), [445, 104, 2575, 443][i % 4]))
            if i % 15 == 1:
                convs.append(_conv(ip(i), "8.8.8.8", 443))
        convs.append(_conv("203.0.113.5", ip(8), 445))  # an internet host reaches one server
        tx.merge_conversations(convs)
        conn = tx.conn
        advisories, kev, epss, ssvc = [], [], [], []
        for a in range(16):
            version, vector, base = _VECTORS[a % len(_VECTORS)]
            cve = f"CVE-2099-{a:04d}"
            advisories.append(
                {
                    "id": cve,
                    "source": "nvd",
                    "title": _TITLES[a % len(_TITLES)],
                    "description": "synthetic",
                    "published": None,
                    "revision": "1",
                    "status": "Analyzed",
                    "cvss_score": base,
                    "cvss_version": version,
                    "cvss_vector": vector,
                    "data": {},
                    "import_id": 1,
                }
            )
            if a % 5 == 0:
                kev.append(
                    {
                        "cve": cve,
                        "vendor_project": "x",
                        "product": "x",
                        "name": "x",
                        "date_added": "2099-01-01",
                        "due_date": "2099-02-01",
                        "required_action": "x",
                        "ransomware": ["Known", "Unknown"][a % 2],
                        "catalog_version": "1",
                        "import_id": 1,
                    }
                )
            if a % 3:
                epss.append(
                    {
                        "cve": cve,
                        "epss": a / 40,
                        "percentile": a / 16,
                        "model_version": "v",
                        "score_date": "2099-01-01",
                        "import_id": 1,
                    }
                )
            if a % 4 == 1:
                ssvc.append(
                    {
                        "cve": cve,
                        "exploitation": ["none", "poc", "active"][a % 3],
                        "automatable": ["yes", "no"][a % 2],
                        "technical_impact": ["total", "partial"][a % 2],
                        "timestamp": "2099",
                        "role": "CISA Coordinator",
                        "import_id": 1,
                    }
                )
        conn.execute(schema_vuln.advisory.insert(), advisories)
        conn.execute(schema_vuln.kev.insert(), kev)
        conn.execute(schema_vuln.epss.insert(), epss)
        conn.execute(schema_vuln.ssvc.insert(), ssvc)
        findings = []
        for i in range(n):
            # Devices of one model share most findings (as real fleets do); a few differ.
            for a in sorted({(i % 3) * 3, (i % 3) * 3 + 1, (i % 3) * 3 + 2, (i * 7) % 16}):
                for matcher, confidence in (
                    (("nvd_cpe", 0.9), ("csaf", 0.5)) if a == 1 else (("nvd_cpe", 0.9),)
                ):
                    evidence = {"cpe": [{"versionEndExcluding": "2.0"}]} if a % 4 == 0 else {"cpe": "x"}
                    findings.append(
                        {
                            "device_id": ids[i],
                            "vulnerability": f"CVE-2099-{a:04d}",
                            "matcher": matcher,
                            "advisory_id": f"CVE-2099-{a:04d}",
                            "status": "affected",
                            "confidence": confidence,
                            "evidence": evidence,
                            "reason": "",
                            "active": not (i == 5 and a == 15),
                            "inactive_reason": "",
                            "first_ns": T0,
                            "updated_ns": T0,
                        }
                    )
        conn.execute(schema_vuln.finding.insert(), findings)
        analysis = {"responses": [], "detail": "", "author": "t", "justification": None, "created_ns": T0}
        conn.execute(
            schema_vuln.analysis.insert(),
            [
                {
                    "vulnerability": "CVE-2099-0000",
                    "scope": "device",
                    "target": str(ids[3]),
                    "state": "not_affected",
                }
                | analysis
                | {"source": "manual"},
                {
                    "vulnerability": "CVE-2099-0001",
                    "scope": "model",
                    "target": "acme|p1",
                    "state": "false_positive",
                }
                | analysis
                | {"source": "vex:doc"},
            ],
        )
    svc.set_rubric(store, vendor="Beta", model="M2", answers={"XCP": "H", "XCPM": "many"}, author="t")
    return ids


def _stored(store: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every stored score row as the driver returns it (raw JSON text on SQLite)."""
    with store.transaction() as tx:
        heads = [tuple(x) for x in tx.conn.exec_driver_sql("SELECT * FROM risk_score ORDER BY device_id")]
        rows = [
            tuple(x)
            for x in tx.conn.exec_driver_sql("SELECT * FROM risk_finding ORDER BY device_id, vulnerability")
        ]
    return heads, rows


@pytest.mark.parametrize(("batch", "memo_limit"), [(5000, 200_000), (7, 5)])
def test_fast_recompute_stores_exactly_what_the_plain_path_stores(
    sql_store: Any, monkeypatch: pytest.MonkeyPatch, batch: int, memo_limit: int
) -> None:
    from wardwatch.risk import fleet

    monkeypatch.setattr(fleet, "BATCH", batch)
    monkeypatch.setattr(fleet, "MEMO_LIMIT", memo_limit)
    _fleet(sql_store)
    plain = svc.recompute(sql_store, now_ns=T0, plain=True)
    expected = _stored(sql_store)
    fast = svc.recompute(sql_store, now_ns=T0)
    assert _stored(sql_store) == expected
    assert (fast.devices, fast.findings, fast.decisions) == (plain.devices, plain.findings, plain.decisions)
    heads, rows = expected
    # The fixture is not degenerate: every device scored, several decisions, the cleared ones left out.
    assert len(heads) == 48 and len(rows) == plain.findings > 100
    assert len({r[6] for r in rows}) >= 3
    assert len({r[2] for r in heads}) >= 5


def test_fast_recompute_shares_finding_scores_across_devices(sql_store: Any) -> None:
    from wardwatch.risk import adapter, fleet
    from wardwatch.risk.repo import RiskRepo

    _fleet(sql_store)
    with sql_store.transaction() as tx:
        devices = adapter.load_devices(tx.conn)
        ctxs = adapter.fleet_contexts(devices, tx.conversations(), (), RiskRepo(tx.conn).rubrics())
        done = fleet.recompute_scores(tx.conn, devices, ctxs, T0)
    assert done.devices == 48
    assert done.distinct_signatures < 48
    assert 0 < done.memo_hits < done.findings
