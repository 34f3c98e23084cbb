"""``open_store`` knows the newest migration without Alembic, and upgrades when it is behind.

A current database is recognised by reading ``alembic_version`` with plain SQL and comparing it
with :data:`wardwatch.store.sql.SCHEMA_HEAD`; these tests keep that constant equal to Alembic's
head (a new migration must update it) and check that a database behind it is still upgraded.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from wardwatch.store import sql
from wardwatch.store.sql import SCHEMA_HEAD, SqlStore, open_store


def test_schema_head_is_alembics_only_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(sql.__file__).with_name("migrations")))
    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_HEAD]


def test_a_new_database_is_at_the_head(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'new.sqlite'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [
                SCHEMA_HEAD
            ]
    finally:
        store.close()


def test_a_database_behind_the_head_is_upgraded(tmp_path: Path) -> None:
    """Downgraded one revision (as a database from before the newest migration is), the
    plain-SQL check must not take it for current: Alembic runs and brings it to the head."""
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    config = Config()
    config.set_main_option("script_location", str(Path(sql.__file__).with_name("migrations")))
    head = ScriptDirectory.from_config(config).get_revision(SCHEMA_HEAD)
    assert head is not None
    store = open_store(url)
    try:
        current = _tables(store)
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "-1")
        assert store._schema_versions() == {head.down_revision}
        assert _tables(store) != current
    finally:
        store.close()
    store = open_store(url)
    try:
        assert store._schema_versions() == {SCHEMA_HEAD}
        assert _tables(store) == current
    finally:
        store.close()


def _tables(store: SqlStore) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars())


def _sqlite_schema(path: Path) -> dict[str, object]:
    """Everything SQLite knows of a database's schema, table by table (columns with types,
    defaults, nullability and key positions; indexes with their columns, uniqueness and origin;
    foreign keys), leaving out only the order the tables and indexes were created in."""
    import sqlite3

    con = sqlite3.connect(path)
    try:
        out: dict[str, object] = {}
        names = [
            r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        for t in names:
            indexes = []
            for _, iname, unique, origin, partial in con.execute(f"PRAGMA index_list('{t}')"):
                cols = [r[2] for r in con.execute(f"PRAGMA index_xinfo('{iname}')")]
                shown = iname if origin == "c" else origin  # auto-indexes are named by creation order
                indexes.append((shown, unique, origin, partial, cols))
            fks = sorted(r[2:] for r in con.execute(f"PRAGMA foreign_key_list('{t}')"))
            columns = list(con.execute(f"PRAGMA table_xinfo('{t}')"))
            out[t] = (columns, sorted(indexes, key=repr), fks)
        return out
    finally:
        con.close()


def test_a_new_database_gets_the_schema_the_migrations_build(tmp_path: Path) -> None:
    """``open_store`` creates a new SQLite database from ``schema.metadata`` and stamps the head
    (no Alembic at all); that must be the very schema running every migration builds, so later
    migrations apply to both alike (the downgrade/upgrade test above starts from such a file)."""
    fast = tmp_path / "fast.sqlite"
    open_store(f"sqlite:///{fast}").close()
    migrated = tmp_path / "migrated.sqlite"
    engine = create_engine(f"sqlite:///{migrated}")
    config = Config()
    config.set_main_option("script_location", str(Path(sql.__file__).with_name("migrations")))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    engine.dispose()
    assert _sqlite_schema(fast) == _sqlite_schema(migrated)
    assert "device" in _sqlite_schema(fast)
