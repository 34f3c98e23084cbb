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
