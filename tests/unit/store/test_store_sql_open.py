"""Opening SQL stores: URLs, SQLite settings, and one-line errors for the CLI."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from wardwatch.model.observation import Observation
from wardwatch.store import sql
from wardwatch.store.sql import StoreError, _parse_url, open_store, redact_url


def test_sqlite_file_is_created_with_parents_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "inventory.sqlite"
    store = open_store(f"sqlite:///{path}")
    try:
        assert path.exists()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == sql.SQLITE_BUSY_TIMEOUT_MS
    finally:
        store.close()


def test_bare_path_and_environment_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(str(tmp_path / "bare.sqlite"))
    assert store.url.startswith("sqlite:///") and (tmp_path / "bare.sqlite").exists()
    store.close()

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WARDWATCH_DB", raising=False)
    open_store().close()
    assert (tmp_path / "wardwatch.sqlite").exists()

    monkeypatch.setenv("WARDWATCH_DB", f"sqlite:///{tmp_path / 'env.sqlite'}")
    open_store().close()
    assert (tmp_path / "env.sqlite").exists()


def test_memory_store_keeps_data_between_transactions() -> None:
    store = open_store("sqlite://")
    with store.transaction() as tx:
        tx.merge_observations([Observation(1, "f", "dhcp", None, "10.0.0.1", {})])
    with store.transaction() as tx:
        assert len(list(tx.iter_observations())) == 1
    store.close()


def test_postgres_urls_use_psycopg3() -> None:
    assert _parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert _parse_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert _parse_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


def test_redact_url() -> None:
    assert redact_url("postgresql://ward:s3cret@db:5432/ww") == "postgresql://ward:***@db:5432/ww"
    assert "s3cret" not in redact_url("postgresql://ward:s3cret@db:5432/ww?x=[")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://u:pw@host/db", "unsupported database URL"),
        ("postgresql://ward:s3cret@127.0.0.1:1/ww?connect_timeout=2", "cannot open database"),
    ],
)
def test_bad_urls_raise_one_line_store_errors(url: str, expected: str) -> None:
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert "s3cret" not in message and "pw@" not in message
    assert info.value.__cause__ is None or isinstance(info.value.__cause__, Exception)


def test_unusable_sqlite_files_raise_store_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database, just bytes" * 100)
    with pytest.raises(StoreError, match="cannot open database"):
        open_store(f"sqlite:///{garbage}")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open database"):
        open_store(f"sqlite:///{blocker}/sub/db.sqlite")


def test_lock_timeout_surfaces_as_store_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql, "SQLITE_BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "locked.sqlite"
    store = open_store(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked"), store.transaction() as tx:
            tx.merge_observations([Observation(1, "f", "dhcp", None, "10.0.0.1", {})])
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.close()


def test_readers_are_not_blocked_by_a_writer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wal.sqlite'}"
    writer, reader = open_store(url), open_store(url)
    try:
        with writer.transaction() as wtx:
            wtx.merge_observations([Observation(1, "f", "dhcp", None, "10.0.0.1", {})])
            with reader.transaction() as rtx:  # a second process would see the same
                assert list(rtx.iter_observations()) == []
        with reader.transaction() as rtx:
            assert len(list(rtx.iter_observations())) == 1
    finally:
        writer.close()
        reader.close()


def test_a_driver_error_in_a_bulk_read_is_a_store_error(tmp_path: Path) -> None:
    """Bulk reads run on the driver's cursor; its errors (here: a damaged database whose
    observation table is gone) still surface as one-line StoreErrors, not driver tracebacks."""
    path = tmp_path / "damaged.sqlite"
    store = open_store(f"sqlite:///{path}")
    with store.transaction() as tx:
        tx.merge_observations([Observation(1, "f", "dhcp", None, "10.0.0.1", {})])
    raw = sqlite3.connect(path)
    raw.execute("DROP TABLE observation")
    raw.commit()
    raw.close()
    try:
        with pytest.raises(StoreError, match="no such table"), store.transaction() as tx:
            list(tx.iter_observations())
    finally:
        store.close()
