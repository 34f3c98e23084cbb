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
