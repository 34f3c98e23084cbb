"""Backends for the storage contract tests: the same tests run on SQLite, PostgreSQL and the fake.

PostgreSQL: a fresh, uniquely named database per test module on ``$WARDWATCH_TEST_PG_URL``
(default ``postgresql://postgres@127.0.0.1:5432/postgres``, used only to CREATE/DROP DATABASE);
the tests skip with the reason when it is not reachable.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url

from tests.pg import PG_ADMIN_URL, pg_admin
from wardwatch.store import schema
from wardwatch.store.fake import FakeStore
from wardwatch.store.sql import SqlStore, open_store


@dataclass
class Backend:
    """How to get a clean store (and, for SQL backends, an empty database) for one engine."""

    name: str
    make: Callable[[], Any]
    empty_url: Callable[[], str] | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)


def _clear(store: SqlStore) -> None:
    with store.transaction() as tx:
        for table in reversed(schema.metadata.sorted_tables):
            tx._conn.execute(delete(table))


def _sqlite_backend(tmp: Path) -> Backend:
    shared: list[SqlStore] = []
    counter = iter(range(1_000_000))

    def make() -> SqlStore:
        if not shared:
            shared.append(open_store(f"sqlite:///{tmp / 'contract.sqlite'}"))
        _clear(shared[0])
        return shared[0]

    def empty_url() -> str:
        return f"sqlite:///{tmp / f'empty-{next(counter)}.sqlite'}"

    def cleanup() -> None:
        for s in shared:
            s.close()

    backend = Backend("sqlite", make, empty_url)
    backend.cleanup.append(cleanup)
    return backend


def _postgres_backend() -> Backend:
    admin = pg_admin()
    created: list[str] = []
    stores: list[SqlStore] = []
    base = make_url(PG_ADMIN_URL)

    def new_database() -> str:
        name = f"wardwatch_test_{uuid.uuid4().hex[:12]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return base.set(database=name).render_as_string(hide_password=False)

    module_url = new_database()

    def make() -> SqlStore:
        if not stores:
            stores.append(open_store(module_url))
        _clear(stores[0])
        return stores[0]

    def cleanup() -> None:
        for s in stores:
            s.close()
        for name in created:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    backend = Backend("postgres", make, new_database)
    backend.cleanup.append(cleanup)
    return backend


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "fake"],
)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """One backend per module and parameter."""
    if request.param == "sqlite":
        b = _sqlite_backend(tmp_path_factory.mktemp("contract"))
    elif request.param == "postgres":
        b = _postgres_backend()
    else:
        b = Backend("fake", FakeStore)
    try:
        yield b
    finally:
        for fn in b.cleanup:
            fn()


@pytest.fixture
def store(backend: Backend) -> Any:
    """A store with no data in it."""
    return backend.make()
