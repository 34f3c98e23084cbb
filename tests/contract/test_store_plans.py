"""Device listings are served by indexes: ``ORDER BY <column>, id LIMIT n`` never sorts the table."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from wardwatch.store.schema import SORT_COLUMNS
from wardwatch.store.sql import SqlStore, SqlTransaction

from .conftest import Backend


def _plan(store: SqlStore, sort: str) -> str:
    with store.transaction() as tx:
        assert isinstance(tx, SqlTransaction)
        conn = tx._conn
        query = tx.device_list_query(limit=50, offset=100, sort=sort)
        dialect: Any = postgresql.dialect() if conn.dialect.name == "postgresql" else sqlite.dialect()
        compiled = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            # Make a sort prohibitively expensive: if the plan still sorts, no index fits.
            conn.exec_driver_sql("SET LOCAL enable_sort = off")
            rows = conn.exec_driver_sql("EXPLAIN " + compiled).all()
        else:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled).all()
        return "\n".join(str(r[-1]) for r in rows)


@pytest.mark.parametrize("sort", [*SORT_COLUMNS, *(f"-{c}" for c in SORT_COLUMNS)])
def test_every_sort_uses_an_index(backend: Backend, sort: str) -> None:
    if backend.name == "fake":
        pytest.skip("no query planner in the fake")
    plan = _plan(backend.make(), sort)
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
