"""Fixtures for the API tests: the demo capture discovered once per session into a SQLite file,
a fresh copy of it per test, an app on it with three users (admin, analyst, viewer), and httpx
clients talking to the app in process over ASGI.

The auth service tests also run on PostgreSQL (``pg_url``), skipping with the reason when it is
not reachable at ``$WARDWATCH_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from tests.pg import scratch_database
from wardwatch.services.discovery import discover
from wardwatch.store.sql import SqlStore, open_store
from wardwatch.web.app import create_app

DEMO = Path(__file__).parents[2] / "src" / "wardwatch" / "demo" / "hospital-demo.pcap.gz"
PASSWORD = "correct horse battery staple"
#: Cheap argon2 parameters: the tests log in hundreds of times (production uses the library default).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
ROLES = ("admin", "analyst", "viewer")


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the bundled demo capture discovered into it (built once)."""
    path = tmp_path_factory.mktemp("webdemo") / "demo.sqlite"
    store = open_store(f"sqlite:///{path}")
    try:
        discover(store, [str(DEMO)])
    finally:
        store.close()
    return path


@pytest.fixture
def store(demo_db: Path, tmp_path: Path) -> Iterator[SqlStore]:
    """A private copy of the demo database."""
    copy = tmp_path / "web.sqlite"
    shutil.copy(demo_db, copy)
    opened = open_store(f"sqlite:///{copy}")
    yield opened
    opened.close()


@pytest.fixture
def app(store: SqlStore) -> FastAPI:
    """The app on the demo data, with users admin, analyst and viewer (password :data:`PASSWORD`)."""
    application = create_app(store=store, hasher=FAST_HASHER)
    for role in ROLES:
        application.state.auth.add_user(name=role, password=PASSWORD, role=role, actor="test")
    return application


@pytest.fixture
def anyio_backend() -> str:
    """Run the async tests on asyncio."""
    return "asyncio"


def client_for(app: FastAPI, base_url: str = "http://testserver") -> httpx.AsyncClient:
    """An httpx client calling the app in process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


async def login(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    """Log in through the form (fetching its CSRF token first); returns the POST's response."""
    page = await client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "login form has no CSRF token"
    return await client.post(
        "/login", data={"username": name, "password": password, "csrf_token": match.group(1), "next": "/"}
    )


def csrf_of(html: str) -> str:
    """The session's CSRF token from any authenticated page."""
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that is not logged in."""
    async with client_for(app) as c:
        yield c


async def _logged_in(app: FastAPI, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        response = await login(c, name)
        assert response.status_code == 303, response.text
        c.headers["X-CSRF-Token"] = csrf_of((await c.get("/")).text)
        yield c


@pytest.fixture
async def admin(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in as the admin (its X-CSRF-Token header set)."""
    async for c in _logged_in(app, "admin"):
        yield c


@pytest.fixture
async def analyst(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in as the analyst."""
    async for c in _logged_in(app, "analyst"):
        yield c


@pytest.fixture
async def viewer(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in as the viewer."""
    async for c in _logged_in(app, "viewer"):
        yield c


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the module (dropped afterwards), or a skip with the reason."""
    with scratch_database("wardwatch_web") as url:
        yield url
