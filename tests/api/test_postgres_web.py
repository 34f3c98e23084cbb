"""The API's read models on PostgreSQL: the same demo data, the same answers as on SQLite."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from tests.api.conftest import DEMO, FAST_HASHER, PASSWORD, client_for, login
from wardwatch.services.discovery import discover
from wardwatch.store import schema
from wardwatch.store.sql import open_store
from wardwatch.web.app import create_app

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


async def test_api_and_pages_on_postgres(pg_url: str) -> None:
    store = open_store(pg_url)
    with store.transaction() as tx:
        for table in reversed(schema.metadata.sorted_tables):
            tx.conn.execute(delete(table))
    discover(store, [str(DEMO)])
    app = create_app(store=store, hasher=FAST_HASHER)
    app.state.auth.add_user(name="admin", password=PASSWORD, role="admin", actor="test")
    try:
        async with client_for(app) as c:
            assert (await login(c, "admin")).status_code == 303
            listing = (await c.get("/api/v1/devices", params={"search": "de98296572"})).json()
            assert listing["total"] == 1 and listing["match"] == "prefix"
            assert (await c.get("/api/v1/devices", params={"search": "8296572"})).json()[
                "match"
            ] == "substring"
            stats = (await c.get("/api/v1/stats")).json()
            assert stats["total"] == 72 and stats["trend"][-1]["devices"] == 72
            graph = (await c.get("/api/v1/network")).json()
            assert len(graph["nodes"]) == 72 and graph["edges"]
            device_id = listing["items"][0]["id"]
            for path in (
                "/",
                "/inventory?sort=-vendor",
                f"/devices/{device_id}",
                "/admin/audit",
                "/captures",
            ):
                response = await c.get(path)
                assert response.status_code == 200, path
            rows = (await c.get("/api/v1/devices/export", params={"format": "json"})).json()["items"]
            assert len(rows) == 72
            assert isinstance((await c.get("/api/v1/export/cmdb")).text, str)
            assert (await c.get("/api/v1/audit", params={"action": "login."})).json()["total"] == 1
    finally:
        store.close()


async def test_alerts_recalls_vulnerabilities_and_risk_on_postgres(pg_url: str) -> None:
    from tests.api.fulldemo import load_full_demo

    store = open_store(pg_url)
    with store.transaction() as tx:
        for table in reversed(schema.metadata.sorted_tables):
            tx.conn.execute(delete(table))
    load_full_demo(store)
    app = create_app(store=store, hasher=FAST_HASHER)
    app.state.auth.add_user(name="admin", password=PASSWORD, role="admin", actor="test")
    try:
        async with client_for(app) as c:
            assert (await login(c, "admin")).status_code == 303
            page = await c.get("/")
            token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
            alerts = (await c.get("/api/v1/alerts", params={"state": "open", "limit": 3})).json()
            assert alerts["total"] >= 5 and len(alerts["items"]) == 3
            first = alerts["items"][0]["id"]
            acked = await c.post(f"/api/v1/alerts/{first}/ack", headers={"X-CSRF-Token": token})
            assert acked.json()["state"] == "acknowledged"
            assert (await c.get("/api/v1/alerts", params={"state": "open"})).json()["total"] == alerts[
                "total"
            ] - 1
            stats = (await c.get("/api/v1/stats")).json()
            assert stats["risk"]["scored"] > 0 and stats["risk"]["kev_devices"] > 0
            assert stats["alerts"]["acknowledged"] == {"recall": 1}
            kev = (await c.get("/api/v1/vulnerabilities", params={"kev_only": True})).json()["items"]
            assert "CVE-2019-0708" in {v["vulnerability"] for v in kev}
            one = (await c.get("/api/v1/vulnerabilities/CVE-2019-0708")).json()
            assert one["kev"] and one["advisories"] and one["findings"]
            assert (await c.get("/api/v1/recalls")).json()["items"]
            top = (await c.get("/api/v1/risk", params={"limit": 1})).json()["items"][0]["device_id"]
            for path in (
                "/",
                "/alerts",
                "/recalls",
                "/vulnerabilities",
                "/vulnerabilities/CVE-2019-0708",
                "/feeds",
                f"/devices/{top}",
                "/network",
            ):
                assert (await c.get(path)).status_code == 200, path
            graph = (await c.get("/api/v1/network")).json()
            assert any(n["risk_band"] != "none" for n in graph["nodes"])
    finally:
        store.close()
