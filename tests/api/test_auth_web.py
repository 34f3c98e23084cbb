"""Sessions, CSRF, API tokens, roles, login rate limiting and the audit log, through HTTP."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.api.conftest import PASSWORD, client_for, csrf_of, login
from wardwatch.store.schema_web import api_token, web_session, web_user

pytestmark = pytest.mark.anyio


async def test_login_sets_httponly_samesite_cookie_and_logout_ends_the_session(app: FastAPI) -> None:
    async with client_for(app) as c:
        response = await login(c, "viewer")
        assert response.status_code == 303 and response.headers["location"] == "/"
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("ww_session="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        page = await c.get("/")
        assert page.status_code == 200 and "viewer" in page.text
        assert (await c.post("/logout", data={"csrf_token": csrf_of(page.text)})).status_code == 303
        assert (await c.get("/")).status_code == 303


async def test_cookies_are_secure_over_tls(app: FastAPI) -> None:
    async with client_for(app, base_url="https://testserver") as c:
        response = await login(c, "viewer")
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("ww_session="))
        assert "Secure" in cookie


async def test_session_secret_is_stored_hashed(app: FastAPI) -> None:
    async with client_for(app) as c:
        await login(c, "viewer")
        secret = c.cookies["ww_session"]
    with app.state.store.transaction() as tx:
        hashes = list(tx.conn.execute(select(web_session.c.token_hash)).scalars())
        passwords = list(tx.conn.execute(select(web_user.c.password_hash)).scalars())
    assert secret not in hashes and len(hashes) == 1
    assert all(p.startswith("$argon2id$") for p in passwords)


async def test_wrong_password_is_refused_and_audited(app: FastAPI, admin: httpx.AsyncClient) -> None:
    async with client_for(app) as c:
        response = await login(c, "viewer", "not the password")
        assert response.status_code == 401 and "Wrong user name or password" in response.text
        assert "ww_session" not in c.cookies
    entries = (await admin.get("/api/v1/audit", params={"action": "login.failure"})).json()["items"]
    assert [(e["actor"], e["outcome"]) for e in entries] == [("viewer", "refused")]


async def test_login_form_needs_its_csrf_token(anon: httpx.AsyncClient) -> None:
    await anon.get("/login")
    response = await anon.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "x"})
    assert response.status_code == 403
    assert "ww_session" not in anon.cookies


async def test_login_is_rate_limited_even_with_the_right_password(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    async with client_for(app) as c:
        for _ in range(5):
            assert (await login(c, "analyst", "wrong password!")).status_code == 401
        response = await login(c, "analyst")
        assert response.status_code == 429 and "too many failed logins" in response.text.lower()
        assert "ww_session" not in c.cookies
        # Another user from the same client is not locked out by these five failures.
        assert (await login(c, "viewer")).status_code == 303
    actions = [
        e["action"] for e in (await admin.get("/api/v1/audit", params={"actor": "analyst"})).json()["items"]
    ]
    assert actions.count("login.failure") == 5 and "login.rate_limited" in actions


async def test_state_changing_cookie_requests_need_the_csrf_token(admin: httpx.AsyncClient) -> None:
    token = admin.headers.pop("X-CSRF-Token")
    body = {"name": "nurse1", "password": "long enough pw", "role": "viewer"}
    assert (await admin.post("/api/v1/users", json=body)).status_code == 403
    assert (
        await admin.post("/api/v1/users", json=body, headers={"X-CSRF-Token": "wrong"})
    ).status_code == 403
    form = {"name": "nurse1", "password": "long enough pw", "role": "viewer"}
    assert (await admin.post("/admin/users", data=form)).status_code == 403
    assert (await admin.post("/admin/users", data={**form, "csrf_token": "wrong"})).status_code == 403
    assert "nurse1" not in (await admin.get("/api/v1/users")).text
    ok = await admin.post("/admin/users", data={**form, "csrf_token": token})
    assert ok.status_code == 303
    assert "nurse1" in (await admin.get("/api/v1/users")).text


async def test_api_tokens_work_without_csrf_are_hashed_and_revocable(
    app: FastAPI, admin: httpx.AsyncClient
) -> None:
    created = await admin.post("/api/v1/tokens", json={"name": "siem", "user": "viewer"})
    assert created.status_code == 201
    secret, token_id = created.json()["token"], created.json()["id"]
    assert secret.startswith("ww_")
    with app.state.store.transaction() as tx:
        stored = list(tx.conn.execute(select(api_token.c.token_hash)).scalars())
    assert secret not in stored and all(len(h) == 64 for h in stored)
    assert secret not in (await admin.get("/api/v1/tokens")).text

    async with client_for(app) as bot:
        bot.headers["Authorization"] = f"Bearer {secret}"
        me = (await bot.get("/api/v1/me")).json()
        assert me == {"user": me["user"] | {"name": "viewer", "role": "viewer"}, "via": "token"}
        assert (await bot.get("/api/v1/devices")).status_code == 200
        # The token carries its user's role: a viewer's token cannot create users.
        assert (
            await bot.post("/api/v1/users", json={"name": "x1", "password": "long enough pw"})
        ).status_code == 403
        assert (await admin.delete(f"/api/v1/tokens/{token_id}")).status_code == 200
        assert (await bot.get("/api/v1/devices")).status_code == 401
    listed = {t["id"]: t for t in (await admin.get("/api/v1/tokens")).json()["items"]}
    assert listed[token_id]["active"] is False and listed[token_id]["last_used"] is not None


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("viewer", {"devices": 200, "audit": 403, "users": 403, "add": 403, "audit_page": 403}),
        ("analyst", {"devices": 200, "audit": 403, "users": 403, "add": 403, "audit_page": 403}),
        ("admin", {"devices": 200, "audit": 200, "users": 200, "add": 201, "audit_page": 200}),
    ],
)
async def test_roles(app: FastAPI, role: str, expected: dict[str, int]) -> None:
    async with client_for(app) as c:
        await login(c, role)
        c.headers["X-CSRF-Token"] = csrf_of((await c.get("/")).text)
        got = {
            "devices": (await c.get("/api/v1/devices")).status_code,
            "audit": (await c.get("/api/v1/audit")).status_code,
            "users": (await c.get("/api/v1/users")).status_code,
            "add": (
                await c.post("/api/v1/users", json={"name": f"new-{role}", "password": "long enough pw"})
            ).status_code,
            "audit_page": (await c.get("/admin/audit")).status_code,
        }
        assert got == expected
        nav = (await c.get("/")).text
        assert ("/admin/audit" in nav) is (role == "admin")


async def test_every_change_is_in_the_audit_log_with_who(admin: httpx.AsyncClient) -> None:
    await admin.post(
        "/api/v1/users", json={"name": "biomed1", "password": "long enough pw", "role": "analyst"}
    )
    token = (await admin.post("/api/v1/tokens", json={"name": "cmdb"})).json()
    await admin.delete(f"/api/v1/tokens/{token['id']}")
    await admin.post("/api/v1/users/biomed1/disable")
    items = (await admin.get("/api/v1/audit", params={"actor": "admin"})).json()["items"]
    actions = [(e["action"], e["target"]) for e in items]
    for expected in [
        ("user.add", "biomed1"),
        ("token.create", f"token:{token['id']}"),
        ("token.revoke", f"token:{token['id']}"),
        ("user.disable", "biomed1"),
        ("login.success", "admin"),
    ]:
        assert expected in actions
    assert all(e["at"].endswith("Z") for e in items)
    page = await admin.get("/admin/audit", params={"action": "user."})
    assert "biomed1" in page.text and "user.disable" in page.text and "token.create" not in page.text


async def test_bad_user_input_is_a_400_not_a_crash(admin: httpx.AsyncClient) -> None:
    short = await admin.post("/api/v1/users", json={"name": "x", "password": "short", "role": "viewer"})
    assert short.status_code == 400 and "too short" in short.json()["detail"]
    bad_role = await admin.post(
        "/api/v1/users", json={"name": "x", "password": "long enough pw", "role": "root"}
    )
    assert bad_role.status_code == 422
    dup = await admin.post("/api/v1/users", json={"name": "viewer", "password": "long enough pw"})
    assert dup.status_code == 400 and "already exists" in dup.json()["detail"]
    assert (await admin.delete("/api/v1/tokens/999")).status_code == 404


async def test_security_headers(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/inventory")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert "<script>" not in response.text  # no inline script (the CSP would block it)
