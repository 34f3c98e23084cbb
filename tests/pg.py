"""Scratch PostgreSQL databases for tests: one place that connects as admin, creates and drops.

``$WARDWATCH_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) is used only
to CREATE/DROP DATABASE. When the server cannot be reached the calling test skips, saying why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get("WARDWATCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_admin() -> Any:
    """An autocommit psycopg connection to the admin database, or a skip with the reason."""
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed")
    url = make_url(PG_ADMIN_URL)
    try:
        return psycopg.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
            dbname=url.database or "postgres",
            autocommit=True,
            connect_timeout=5,
        )
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        pytest.skip(f"PostgreSQL not reachable at {url.host}:{url.port or 5432}: {first}")


@contextmanager
def scratch_database(prefix: str = "wardwatch_test", *, driver: str | None = None) -> Iterator[str]:
    """A fresh, uniquely named database (its URL), dropped on exit even if connections remain."""
    admin = pg_admin()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(PG_ADMIN_URL).set(database=name)
        if driver is not None:
            url = url.set(drivername=driver)
        yield url.render_as_string(hide_password=False)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
