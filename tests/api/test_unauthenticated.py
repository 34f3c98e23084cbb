"""Nothing but login, static assets and the health check answers without authentication.

The routes are enumerated from the app itself, so a route added later is covered without
touching this test. Each is called with every method it accepts: without credentials, with a
bogus session cookie, and with a bogus bearer token.
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from wardwatch.web.app import PUBLIC_PATHS

pytestmark = pytest.mark.anyio


def _protected(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    # iter_route_contexts flattens included routers into the paths they are served at.
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            assert route.path == "/static", f"unexpected mount {route.path}: add it to this test's review"
            continue
        assert route.path, route
        if route.path in PUBLIC_PATHS:
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, path))
    return found


def _refused(response: httpx.Response, path: str) -> bool:
    if path.startswith("/api/"):
        return response.status_code == 401
    return response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_every_route_but_public_ones_refuses_unauthenticated_requests(
    app: FastAPI, anon: httpx.AsyncClient
) -> None:
    routes = _protected(app)
    # The exports, the OpenAPI document, the admin pages and the subsystems' routes are among them.
    paths = {p for _, p in routes}
    assert {"/api/v1/devices/export", "/api/v1/openapi.json", "/admin/audit", "/", "/api/v1/devices"} <= paths
    assert {
        ("GET", "/api/v1/alerts"),
        ("POST", "/api/v1/alerts/1/1"),
        ("GET", "/api/v1/recalls"),
        ("GET", "/api/v1/vulnerabilities/1"),
        ("GET", "/alerts"),
        ("POST", "/alerts/1/1"),
        ("GET", "/recalls"),
        ("GET", "/vulnerabilities"),
        ("GET", "/vulnerabilities/1"),
        ("GET", "/feeds"),
    } <= set(routes)
    assert len(routes) >= 25
    for kind in ("nothing", "forged cookie", "forged token"):
        anon.cookies.clear()
        headers = {"Authorization": "Bearer ww_forged"} if kind == "forged token" else {}
        if kind == "forged cookie":
            anon.cookies.set("ww_session", "forged")
        for method, path in routes:
            response = await anon.request(method, path, headers=headers)
            assert _refused(response, path), f"{method} {path} with {kind}: {response.status_code}"
            assert "DE98296572" not in response.text  # no inventory data leaks in the refusal


async def test_public_routes_answer(anon: httpx.AsyncClient) -> None:
    assert (await anon.get("/api/v1/health")).json() == {"status": "ok"}
    assert (await anon.get("/login")).status_code == 200
    css = await anon.get("/static/app.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert (await anon.get("/static/vendor/htmx/htmx.min.js")).status_code == 200


async def test_no_docs_pages_that_would_load_scripts_from_the_internet(anon: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert (await anon.get(path)).status_code in (303, 401, 404)
