"""The device, evidence, observation, conversation, capture, dashboard and map resources on the
bundled demo capture (72 devices), and the inventory/device pages built on them."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.anyio

SERIAL = "DE98296572"


async def test_list_pages_and_counts(viewer: httpx.AsyncClient) -> None:
    first = (await viewer.get("/api/v1/devices", params={"limit": 10})).json()
    assert first["schema"] == "wardwatch.devices/1" and first["total"] == 72 and len(first["items"]) == 10
    second = (await viewer.get("/api/v1/devices", params={"limit": 10, "offset": 10})).json()
    assert {d["id"] for d in first["items"]}.isdisjoint(d["id"] for d in second["items"])
    last = (await viewer.get("/api/v1/devices", params={"limit": 10, "offset": 70})).json()
    assert len(last["items"]) == 2


async def test_search_by_serial_and_filters_and_sort(viewer: httpx.AsyncClient) -> None:
    found = (await viewer.get("/api/v1/devices", params={"search": SERIAL.lower()})).json()
    assert found["total"] == 1 and found["items"][0]["serial"] == SERIAL
    device_type = found["items"][0]["device_type"]
    assert device_type
    typed = (await viewer.get("/api/v1/devices", params={"device_type": device_type, "limit": 1000})).json()
    assert typed["total"] >= 1 and all(d["device_type"] == device_type for d in typed["items"])
    assert typed["total"] < 72
    by_vendor = (await viewer.get("/api/v1/devices", params={"sort": "-vendor", "limit": 1000})).json()[
        "items"
    ]
    vendors = [d["vendor"] for d in by_vendor if d["vendor"] is not None]
    assert vendors == sorted(vendors, reverse=True)
    bad = await viewer.get("/api/v1/devices", params={"sort": "password"})
    assert bad.status_code == 400 and "cannot sort devices" in bad.json()["detail"]
    assert (await viewer.get("/api/v1/devices", params={"limit": 0})).status_code == 422
    assert (await viewer.get("/api/v1/devices", params={"search": "a\x00b"})).status_code == 400


async def test_export_csv_and_json_hold_every_matching_device(viewer: httpx.AsyncClient) -> None:
    response = await viewer.get("/api/v1/devices/export", params={"format": "csv", "limit": 5})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 72 and {"id", "mac", "ip", "serial", "vendor", "model"} <= set(rows[0])
    data = json.loads((await viewer.get("/api/v1/devices/export", params={"format": "json"})).text)
    assert data["schema"] == "wardwatch.devices/1" and len(data["items"]) == 72
    one = (await viewer.get("/api/v1/devices/export", params={"format": "json", "search": SERIAL})).json()
    assert [d["serial"] for d in one["items"]] == [SERIAL]


async def test_one_device_with_evidence_by_id_mac_and_ip(viewer: httpx.AsyncClient) -> None:
    row = (await viewer.get("/api/v1/devices", params={"search": SERIAL})).json()["items"][0]
    device = (await viewer.get(f"/api/v1/devices/{row['id']}")).json()
    assert device["schema"] == "wardwatch.device/1" and device["serial"] == SERIAL
    serial = device["attributes"]["serial"]
    assert serial["evidence"] and all(e["rule"] for e in serial["evidence"]) and 0 < serial["confidence"] <= 1
    for ref in (row["mac"], row["ip"], row["key"]):
        assert (await viewer.get(f"/api/v1/devices/{ref}")).json()["id"] == row["id"]
    evidence = (await viewer.get(f"/api/v1/devices/{row['id']}/evidence")).json()["items"]
    assert any(e["attribute"] == "serial" and e["value"] == SERIAL for e in evidence)
    observations = (await viewer.get(f"/api/v1/devices/{row['id']}/observations")).json()["items"]
    assert observations and all(o["mac"] == row["mac"] or o["ip"] for o in observations)
    flow = observations[0]["last_flow"]
    assert (await viewer.get(f"/api/v1/flows/{flow}")).json()["uid"] == flow
    for missing in ("999999", "nothing-like-this", "²", "9" * 40):
        assert (await viewer.get(f"/api/v1/devices/{missing}")).status_code == 404


async def test_peers_and_conversations(viewer: httpx.AsyncClient) -> None:
    conversations = (await viewer.get("/api/v1/conversations", params={"limit": 1000})).json()
    assert conversations["total"] > 0
    device: dict[str, object] = {}
    for item in conversations["items"]:  # the first client with a device of its own
        client_ip = item["client_ip"]
        response = await viewer.get(f"/api/v1/devices/{client_ip}") if client_ip else None
        if response is not None and response.status_code == 200:
            device = response.json()
            break
    peers = (await viewer.get(f"/api/v1/devices/{device['id']}/peers")).json()["items"]
    assert peers and {p["peer_role"] for p in peers} <= {"client", "server"}
    assert any(p["device_id"] for p in peers)
    only = (await viewer.get("/api/v1/conversations", params={"ip": client_ip})).json()["items"]
    assert only and all(client_ip in (c["client_ip"], c["server_ip"]) for c in only)


async def test_captures_stats_and_network(viewer: httpx.AsyncClient) -> None:
    captures = (await viewer.get("/api/v1/captures")).json()["items"]
    assert (
        len(captures) == 1
        and captures[0]["source"].endswith("hospital-demo.pcap.gz")
        and captures[0]["packets"] > 0
    )
    stats = (await viewer.get("/api/v1/stats")).json()
    assert stats["total"] == 72 and sum(stats["by_device_type"].values()) == 72
    assert stats["trend"][-1]["devices"] == 72
    graph = (await viewer.get("/api/v1/network")).json()
    assert len(graph["nodes"]) == 72 and graph["edges"] and not graph["truncated"]
    ids = {n["id"] for n in graph["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in graph["edges"])
    assert sum(s["devices"] for s in graph["subnets"]) == 72


async def test_pages_render_the_same_data(viewer: httpx.AsyncClient) -> None:
    page = await viewer.get("/inventory", params={"search": SERIAL, "cols": ["serial", "model"]})
    assert page.status_code == 200 and SERIAL in page.text and "1 devices" in page.text
    partial = await viewer.get("/inventory", params={"search": SERIAL}, headers={"HX-Request": "true"})
    assert SERIAL in partial.text and "<html" not in partial.text
    row = (await viewer.get("/api/v1/devices", params={"search": SERIAL})).json()["items"][0]
    device_page = await viewer.get(f"/devices/{row['id']}")
    assert (
        device_page.status_code == 200 and SERIAL in device_page.text and "Network peers" in device_page.text
    )
    assert (await viewer.get("/devices/999999")).status_code == 404
    for path in ("/", "/network", "/captures"):
        assert (await viewer.get(path)).status_code == 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ref=st.text(min_size=1, max_size=30), search=st.text(max_size=30), sort=st.text(max_size=12))
async def test_no_input_makes_a_server_error(
    viewer: httpx.AsyncClient, ref: str, search: str, sort: str
) -> None:
    from urllib.parse import quote

    response = await viewer.get("/api/v1/devices/" + quote(ref, safe=""))
    assert response.status_code in (200, 404, 307, 405) or response.status_code < 500
    listing = await viewer.get("/api/v1/devices", params={"search": search, "sort": sort})
    assert listing.status_code in (200, 400, 422)


async def test_override_needs_analyst_is_applied_and_audited(
    analyst: httpx.AsyncClient, viewer: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    row = (await viewer.get("/api/v1/devices", params={"search": SERIAL})).json()["items"][0]
    body = {"attribute": "model", "value": "Infusomat Space (checked)", "reason": "asset tag 4711"}
    assert (await viewer.post(f"/api/v1/devices/{row['id']}/overrides", json=body)).status_code == 403
    created = await analyst.post(f"/api/v1/devices/{row['id']}/overrides", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["author"] == "analyst" and created.json()["active"] is True
    device = (await viewer.get(f"/api/v1/devices/{row['id']}")).json()
    assert device["model"] == "Infusomat Space (checked)"
    bad = await analyst.post(
        f"/api/v1/devices/{row['id']}/overrides", json={"attribute": "colour", "value": "x"}
    )
    assert bad.status_code == 400 and "unknown attribute" in bad.json()["detail"]
    audit = (await admin.get("/api/v1/audit", params={"action": "override."})).json()["items"]
    assert [(e["actor"], e["action"], e["detail"]["value"]) for e in audit] == [
        ("analyst", "override.set", "Infusomat Space (checked)")
    ]
    cleared = await analyst.delete(f"/api/v1/devices/{row['id']}/overrides/model")
    assert cleared.status_code == 200
    history = (await viewer.get(f"/api/v1/devices/{row['id']}/overrides", params={"history": True})).json()
    assert [o["active"] for o in history["items"]] == [False]


async def test_findings_feeds_and_triage_when_the_vulns_service_is_there(
    analyst: httpx.AsyncClient, viewer: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    pytest.importorskip("wardwatch.services.vulns", reason="issue 5's service not present")
    assert (await viewer.get("/api/v1/findings")).json() == {"items": []}  # no feed imported
    assert (await viewer.get("/api/v1/feeds")).status_code == 200
    assert (await viewer.get("/api/v1/findings", params={"device": "nope"})).status_code == 404
    decision = {"vulnerability": "CVE-2024-0001", "device": "1", "state": "not_affected"}
    assert (await viewer.post("/api/v1/triage", json=decision)).status_code == 403
    bad = await analyst.post("/api/v1/triage", json={**decision, "state": "fine"})
    assert bad.status_code == 400
    ok = await analyst.post(
        "/api/v1/triage", json={**decision, "justification": "code_not_reachable", "detail": "checked"}
    )
    assert ok.status_code == 201, ok.text
    audit = (await admin.get("/api/v1/audit", params={"action": "triage."})).json()["items"]
    assert [(e["actor"], e["target"]) for e in audit] == [("analyst", "CVE-2024-0001@1")]


async def test_device_page_triage_form_records_and_audits(
    analyst: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    pytest.importorskip("wardwatch.services.vulns", reason="issue 5's service not present")
    page = await analyst.get("/devices/1")
    assert "Vulnerability findings" in page.text
    form = {"vulnerability": "CVE-2024-0002", "state": "in_triage", "detail": "asked the vendor"}
    assert (
        await analyst.post("/devices/1/triage", data=form, headers={"X-CSRF-Token": ""})
    ).status_code == 403
    done = await analyst.post("/devices/1/triage", data=form)
    assert done.status_code == 303 and done.headers["location"] == "/devices/1#findings"
    audit = (await admin.get("/api/v1/audit", params={"action": "triage."})).json()["items"]
    assert audit[0]["target"] == "CVE-2024-0002@1" and audit[0]["detail"]["state"] == "in_triage"


async def test_broad_prefix_search_gives_the_same_answer_past_the_id_cap(
    viewer: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wardwatch.web import queries

    small = (await viewer.get("/api/v1/devices", params={"search": "10.1", "limit": 1000})).json()
    assert small["match"] == "prefix" and small["total"] > 5
    monkeypatch.setattr(queries, "PREFIX_ID_CAP", 5)
    monkeypatch.setattr(queries.prefix_ids, "__kwdefaults__", {"cap": 5})
    big = (await viewer.get("/api/v1/devices", params={"search": "10.1", "limit": 1000})).json()
    assert big["total"] == small["total"] and [d["id"] for d in big["items"]] == [
        d["id"] for d in small["items"]
    ]


async def test_risk_and_mitigations_when_the_risk_service_is_there(viewer: httpx.AsyncClient) -> None:
    pytest.importorskip("wardwatch.services.risk", reason="the risk service is not present")
    row = (await viewer.get("/api/v1/devices", params={"search": SERIAL})).json()["items"][0]
    scored = await viewer.get(f"/api/v1/devices/{row['id']}/risk")
    assert scored.status_code == 200, scored.text
    assert scored.json()["device"]["id"] == row["id"] and "score" in scored.json()
    assert (await viewer.get(f"/api/v1/devices/{row['id']}/mitigations")).status_code == 200
    assert (await viewer.get("/api/v1/devices/999999/risk")).status_code == 404
    assert (await viewer.get("/api/v1/risk")).status_code == 200
