"""Alerts, recalls, vulnerabilities, feeds and risk in the API and the pages (issues 5, 6, 8 as
seen through issue 7's web app).

The data is the full demo: the capture discovered, the CMMS list reconciled, the openFDA recall
samples imported (raising recall alerts), the vulnerability feeds imported and matched, and every
device's risk scored — the same steps as ``make demo``, built once per session.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.fulldemo import build_full_demo
from wardwatch.store.sql import SqlStore, open_store
from wardwatch.web.queries import risk_band

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="session")
def full_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full demo store (built once)."""
    path = tmp_path_factory.mktemp("fulldemo") / "full.sqlite"
    build_full_demo(path)
    return path


@pytest.fixture
def store(full_db: Path, tmp_path: Path) -> Iterator[SqlStore]:
    """A private copy of the full demo store (overrides the capture-only one of conftest)."""
    copy = tmp_path / "full.sqlite"
    shutil.copy(full_db, copy)
    opened = open_store(f"sqlite:///{copy}")
    yield opened
    opened.close()


# --- alerts ---


async def test_alerts_list_filters_and_pages(viewer: httpx.AsyncClient, store: SqlStore) -> None:
    everything = (await viewer.get("/api/v1/alerts")).json()
    assert everything["total"] == len(everything["items"]) >= 5
    assert {a["kind"] for a in everything["items"]} == {"recall"}
    assert all(a["state"] == "open" and a["evidence"]["recall"]["uid"] for a in everything["items"])
    # Most recent condition first, as the CLI lists them.
    lasts = [a["last"] for a in everything["items"]]
    assert lasts == sorted(lasts, reverse=True)
    page = (await viewer.get("/api/v1/alerts", params={"limit": 2, "offset": 1})).json()
    assert page["total"] == everything["total"]
    assert [a["id"] for a in page["items"]] == [a["id"] for a in everything["items"][1:3]]
    assert (await viewer.get("/api/v1/alerts", params={"kind": "missing"})).json()["total"] == 0
    assert (await viewer.get("/api/v1/alerts", params={"state": "closed"})).json()["total"] == 0
    assert (await viewer.get("/api/v1/alerts", params={"state": "bogus"})).status_code == 422
    one = everything["items"][0]
    assert (await viewer.get(f"/api/v1/alerts/{one['id']}")).json() == one
    assert (await viewer.get("/api/v1/alerts/999999")).status_code == 404


async def test_alert_workflow_needs_analyst_and_csrf_and_is_audited(
    analyst: httpx.AsyncClient, viewer: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    first = (await analyst.get("/api/v1/alerts")).json()["items"][0]
    url = f"/api/v1/alerts/{first['id']}"
    assert (await viewer.post(f"{url}/ack")).status_code == 403
    no_csrf = await analyst.post(f"{url}/ack", headers={"X-CSRF-Token": "wrong"})
    assert no_csrf.status_code == 403
    assert (await analyst.get(url)).json()["state"] == "open"

    acked = await analyst.post(f"{url}/ack")
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    assert (await analyst.post(f"{url}/close")).json()["state"] == "closed"
    assert (await analyst.post(f"{url}/reopen")).json()["state"] == "open"
    assert (await analyst.post(f"{url}/delete")).status_code == 404
    assert (await analyst.post("/api/v1/alerts/999999/ack")).status_code == 404
    open_now = (await analyst.get("/api/v1/alerts", params={"state": "open"})).json()
    assert first["id"] in {a["id"] for a in open_now["items"]}

    audit = (await admin.get("/api/v1/audit", params={"action": "alert."})).json()["items"]
    trail = sorted((e["action"], e["detail"]["from"], e["detail"]["to"]) for e in audit)
    assert trail == sorted(
        [
            ("alert.ack", "open", "acknowledged"),
            ("alert.close", "acknowledged", "closed"),
            ("alert.reopen", "closed", "open"),
        ]
    )
    assert {(e["actor"], e["target"]) for e in audit} == {("analyst", f"alert:{first['id']}")}


async def test_alerts_page_buttons_change_the_state(
    analyst: httpx.AsyncClient, viewer: httpx.AsyncClient
) -> None:
    page = await analyst.get("/alerts")
    assert page.status_code == 200
    ids = re.findall(r'<tr id="alert-(\d+)">', page.text)
    assert ids and f'action="/alerts/{ids[0]}/ack"' in page.text
    # A browser form: the token in the form field only.
    token = analyst.headers.pop("X-CSRF-Token")
    form = await analyst.post(
        f"/alerts/{ids[0]}/ack", data={"csrf_token": token, "back": "?state=open&kind=&offset=0"}
    )
    assert (
        form.status_code == 303
        and form.headers["location"] == f"/alerts?state=open&kind=&offset=0#alert-{ids[0]}"
    )
    assert (await analyst.get(f"/api/v1/alerts/{ids[0]}")).json()["state"] == "acknowledged"
    # The open list no longer shows it; the acknowledged one does.
    assert f'id="alert-{ids[0]}"' not in (await analyst.get("/alerts?state=open")).text
    assert f'id="alert-{ids[0]}"' in (await analyst.get("/alerts?state=acknowledged")).text
    # An open redirect is refused: only this page's query strings are followed back.
    other = await analyst.post(
        f"/alerts/{ids[0]}/close", data={"csrf_token": token, "back": "https://evil.example/"}
    )
    assert other.headers["location"] == f"/alerts#alert-{ids[0]}"
    # Viewers see the alerts but no buttons.
    seen = await viewer.get("/alerts")
    assert f'id="alert-{ids[1]}"' in seen.text and "/ack" not in seen.text
    assert (await viewer.get("/alerts?state=bogus")).status_code == 400


# --- recalls ---


async def test_recalls_api_lists_units_with_evidence_and_location(viewer: httpx.AsyncClient) -> None:
    items = (await viewer.get("/api/v1/recalls")).json()["items"]
    assert items and {i["match"]["level"] for i in items} <= {"affected", "possible"}
    for i in items:
        assert i["match"]["evidence"], i
        assert {"segment", "vlans", "switch_port", "switch_port_reason", "last_seen"} <= set(i["where"])
    # The demo's Class I infusion-pump recall is limited by serial: the CMMS unit in the range is
    # affected, and it says why (model and serial both match).
    unit = next(i for i in items if i["recall"]["uid"] == "Z-9001-2026" and i["asset_tag"] == "BME-1005")
    assert unit["match"]["level"] == "affected"
    outcomes = {e["criterion"]: e["outcome"] for e in unit["match"]["evidence"]}
    assert outcomes["model"] == "match" and outcomes["serial"] == "match"
    # "not affected" units appear only when asked for.
    wider = (await viewer.get("/api/v1/recalls", params={"level": ["not_affected"]})).json()["items"]
    assert wider and {i["match"]["level"] for i in wider} == {"not_affected"}
    assert (await viewer.get("/api/v1/recalls", params={"device": "no-such-thing"})).status_code == 404
    one = (await viewer.get("/api/v1/recalls", params={"device": "BME-1005"})).json()["items"]
    assert one and {i["asset_tag"] for i in one} == {"BME-1005"}


async def test_recalls_page_and_device_page_show_matches(viewer: httpx.AsyncClient) -> None:
    page = await viewer.get("/recalls")
    assert page.status_code == 200 and "Z-9001-2026" in page.text and "BME-1005" in page.text
    items = (await viewer.get("/api/v1/recalls")).json()["items"]
    on_network = next(i for i in items if i["device"] is not None)
    device_id = on_network["device"]["id"]
    device_page = await viewer.get(f"/devices/{device_id}")
    section = device_page.text.split('id="recalls"', 1)[1].split("</section>", 1)[0]
    # From the device's recall alert: the recall, the match level and the alert's state.
    assert on_network["recall"]["uid"] in section and on_network["match"]["level"] in section
    alerts = (await viewer.get("/api/v1/alerts", params={"kind": "recall"})).json()["items"]
    mine = [a for a in alerts if a["device_id"] == device_id]
    assert mine and all(f"#alert-{a['id']}" in section for a in mine)
    # The live match for one unit lists every level, "not affected" included.
    wider = (await viewer.get("/api/v1/recalls", params={"level": ["not_affected"]})).json()["items"]
    alerted = {a["device_id"] for a in alerts}
    spared = next(i for i in wider if i["device"] is not None and i["device"]["id"] not in alerted)
    live = await viewer.get("/recalls", params={"device": spared["device"]["id"]})
    assert live.status_code == 200 and "not_affected" in live.text and spared["recall"]["uid"] in live.text
    # ...while its device page, with no recall alert, says so.
    quiet = await viewer.get(f"/devices/{spared['device']['id']}")
    recall_section = quiet.text.split('id="recalls"', 1)[1].split("</section>", 1)[0]
    assert "No recall alert for this device." in recall_section


# --- vulnerabilities and feeds ---


async def test_vulnerability_list_filters(viewer: httpx.AsyncClient, analyst: httpx.AsyncClient) -> None:
    items = (await viewer.get("/api/v1/vulnerabilities")).json()["items"]
    findings = (await viewer.get("/api/v1/findings")).json()["items"]
    assert {i["vulnerability"] for i in items} == {f["vulnerability"] for f in findings}
    for i in items:
        assert i["devices"] == len(
            {f["device_id"] for f in findings if f["vulnerability"] == i["vulnerability"]}
        )
    kev = (await viewer.get("/api/v1/vulnerabilities", params={"kev_only": True})).json()["items"]
    assert kev and all(i["kev"] for i in kev) and len(kev) < len(items)
    high = (await viewer.get("/api/v1/vulnerabilities", params={"min_cvss": 9})).json()["items"]
    assert all(i["cvss"] >= 9 for i in high) and len(high) < len(items)
    assert all(i["triage"] == {"not_triaged": i["devices"]} for i in items)
    # After a triage decision the state filter finds it.
    target = next(f for f in findings if f["vulnerability"] == "CVE-2019-0708")
    decided = await analyst.post(
        "/api/v1/triage",
        json={"vulnerability": "CVE-2019-0708", "device": str(target["device_id"]), "state": "exploitable"},
    )
    assert decided.status_code == 201, decided.text
    exploitable = (await viewer.get("/api/v1/vulnerabilities", params={"state": "exploitable"})).json()[
        "items"
    ]
    assert [(i["vulnerability"], i["devices"]) for i in exploitable] == [("CVE-2019-0708", 1)]
    assert (await viewer.get("/api/v1/vulnerabilities", params={"state": "maybe"})).status_code == 400
    page = await viewer.get("/vulnerabilities", params={"kev_only": "true"})
    assert page.status_code == 200 and "CVE-2019-0708" in page.text and "CVE-2018-10597" not in page.text


async def test_one_vulnerability_with_facts_and_affected_devices(viewer: httpx.AsyncClient) -> None:
    v = (await viewer.get("/api/v1/vulnerabilities/CVE-2019-0708")).json()
    assert v["kev"] is not None and v["kev"]["cve"] == "CVE-2019-0708"
    assert v["advisories"] and v["advisories"][0]["description"] and v["advisories"][0]["cvss_score"] >= 9
    assert v["devices"] == len({f["device_id"] for f in v["findings"]}) >= 1
    assert all(f["vulnerability"] == "CVE-2019-0708" and f["evidence"] for f in v["findings"])
    page = await viewer.get("/vulnerabilities/CVE-2019-0708")
    assert page.status_code == 200 and "known exploited" in page.text
    for f in v["findings"]:
        assert f'href="/devices/{f["device_id"]}#findings"' in page.text
    # An advisory id works too, with its aliases linked.
    csaf = (await viewer.get("/api/v1/vulnerabilities/ICSMA-18-156-01")).json()
    assert csaf["advisories"][0]["source"] == "csaf" and csaf["findings"]
    assert (await viewer.get("/api/v1/vulnerabilities/CVE-1999-0000")).status_code == 404
    assert (await viewer.get("/vulnerabilities/CVE-1999-0000")).status_code == 404


async def test_feeds_page_shows_imports(viewer: httpx.AsyncClient) -> None:
    status = (await viewer.get("/api/v1/feeds")).json()
    page = await viewer.get("/feeds")
    assert page.status_code == 200
    for i in status["imports"]:
        assert i["path"] in page.text
    assert str(status["counts"]["kev"]) in page.text


# --- risk on the device page, the dashboard and the map ---


async def test_device_page_shows_risk_explanation_ssvc_and_mitigations(viewer: httpx.AsyncClient) -> None:
    top = (await viewer.get("/api/v1/risk", params={"limit": 1})).json()["items"][0]
    page = await viewer.get(f"/devices/{top['device_id']}")
    section = page.text.split('<section id="risk">', 1)[1].split("</section>", 1)[0]
    api = (await viewer.get(f"/api/v1/devices/{top['device_id']}/mitigations")).json()
    score = api["score"]
    assert f"<b>{score['risk']}</b> / 10" in section
    assert f"likelihood {score['likelihood']}" in section and f"impact {score['impact']}" in section
    for f in score["findings"]:
        assert f["vulnerability"] in section and f["ssvc"] in section
    assert api["options"], "the demo's top device has mitigation options"
    for o in api["options"]:
        assert o["title"] in section and f"<b>{o['risk_after']}</b>" in section
    # A device without findings says so instead of a score.
    with_findings = {f["device_id"] for f in (await viewer.get("/api/v1/findings")).json()["items"]}
    devices = (await viewer.get("/api/v1/devices", params={"limit": 200})).json()["items"]
    unscored = next(d["id"] for d in devices if d["id"] not in with_findings)
    quiet = await viewer.get(f"/devices/{unscored}")
    assert "No vulnerability finding: no risk score." in quiet.text


async def test_dashboard_risk_kev_and_alert_panels(viewer: httpx.AsyncClient) -> None:
    stats = (await viewer.get("/api/v1/stats")).json()
    stored = (await viewer.get("/api/v1/risk", params={"limit": 100000})).json()["items"]
    scores = [s for s in stored if s["findings"]]
    assert stats["risk"]["scored"] == len(scores) > 0
    assert sum(stats["risk"]["bands"].values()) == len(stored)
    assert stats["risk"]["bands"]["none"] == len(stored) - len(scores)
    assert stats["risk"]["bands"]["high"] == sum(1 for s in scores if 7 <= s["risk"] < 9)
    # The SQL banding of the dashboard agrees with the Python one of the map and the device page.
    for band in ("low", "medium", "high", "critical"):
        assert stats["risk"]["bands"][band] == sum(1 for s in scores if risk_band(s["risk"]) == band)
    kev_devices = {
        f["device_id"]
        for f in (await viewer.get("/api/v1/findings", params={"kev_only": True})).json()["items"]
    }
    assert stats["risk"]["kev_devices"] == len(kev_devices) > 0
    open_alerts = (await viewer.get("/api/v1/alerts", params={"state": "open"})).json()["total"]
    assert sum(stats["alerts"]["open"].values()) == open_alerts
    page = (await viewer.get("/")).text
    assert f'<span class="big">{len(kev_devices)}</span> devices with a known-exploited' in page
    assert f'<span class="big">{open_alerts}</span> open alerts' in page
    assert 'id="chart-risk"' in page and f'href="/devices/{scores[0]["device_id"]}#risk"' in page


async def test_network_nodes_carry_risk(viewer: httpx.AsyncClient) -> None:
    graph = (await viewer.get("/api/v1/network")).json()
    stored = (await viewer.get("/api/v1/risk", params={"limit": 100000})).json()["items"]
    scores = {s["device_id"]: s["risk"] for s in stored if s["findings"]}
    by_id = {n["id"]: n for n in graph["nodes"]}
    for device_id, value in scores.items():
        assert by_id[device_id]["risk"] == value
        assert by_id[device_id]["risk_band"] != "none"
    assert {n["risk_band"] for n in graph["nodes"] if n["id"] not in scores} == {"none"}
    assert 'id="network-colour"' in (await viewer.get("/network")).text


def test_risk_bands_have_inclusive_lower_bounds() -> None:
    assert [risk_band(x) for x in (None, 0.0, 3.99, 4.0, 6.99, 7.0, 8.99, 9.0, 10.0)] == [
        "none",
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]
