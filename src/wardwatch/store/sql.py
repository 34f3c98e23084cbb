"""The SQL storage adapter: :class:`wardwatch.store.ports.Store` on SQLite (default) or PostgreSQL.

``open_store()`` turns a URL into a migrated :class:`SqlStore`:

* ``sqlite:///path/to/file.sqlite`` (or a bare file path): an embedded database in WAL mode, so
  readers (the CLI, the API) never block the discovery writer; parent directories are created;
* ``sqlite://``: in memory, one shared connection (tests);
* ``postgresql://user@host/db``: through psycopg 3.

Bulk merges are ``INSERT … ON CONFLICT DO UPDATE`` statements, after combining duplicates within
the batch in Python (PostgreSQL refuses to update the same row twice in one statement, and it
saves round trips on both engines). SQLite gets the sensor-output merges as one ``executemany``
of the compiled statement with plain tuples, straight to the driver (an in-process C loop), with
as many rows per statement as the parameter limit allows (one statement per ~90 rows, not per
row: half the cost).
On PostgreSQL, ``executemany`` still costs one statement per row, so batches of
:data:`COPY_MIN_ROWS` or more are streamed with ``COPY`` into a temporary staging table and merged
by one ``INSERT … SELECT … ON CONFLICT`` (same update rule). Sensor-output merges do not rewrite
rows the update would leave unchanged, so re-merging known data writes next to nothing.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import chain, groupby, islice
from operator import attrgetter, eq, itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    Row,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    create_engine,
    delete,
    event,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from wardwatch.model._build import builder
from wardwatch.model.device import Attribute, Device, DeviceIP, Evidence, ResolvedAttribute
from wardwatch.model.flow import Conversation, Flow, Transport
from wardwatch.model.observation import FieldValue, Observation
from wardwatch.store import schema as s
from wardwatch.store.ports import CaptureRecord, Sighting, StoredObservation

if TYPE_CHECKING:
    # Imported where a PostgreSQL connection needs it: the package imports every PostgreSQL
    # driver's dialect (a tenth of a second), for nothing when the store is SQLite.
    from sqlalchemy.dialects import postgresql

#: Rows per executemany / IN list: large enough to amortise round trips, small enough to stay
#: far below SQLite's bound-parameter limit and to keep memory flat.
CHUNK = 1000
#: On PostgreSQL, batches at least this large are merged through COPY and a staging table.
COPY_MIN_ROWS = 2000

DEFAULT_URL = "sqlite:///wardwatch.sqlite"

#: SQLite waits this long for another writer's lock before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: Statements built once per dialect: constructing an upsert costs more than executing it.
_STATEMENTS: dict[tuple[str, str, str], Any] = {}

_MIGRATIONS = Path(__file__).with_name("migrations")
#: The newest migration's revision id (``migrations/versions``): a database whose
#: ``alembic_version`` holds exactly this is current, which ``migrate`` checks with plain SQL
#: instead of loading Alembic and the migration scripts on every open. A test fails when it
#: disagrees with Alembic's head, so a new migration must update it.
SCHEMA_HEAD = "0006"
_PG_MIGRATION_LOCK = 0x77617264  # "ward": serialises concurrent migrations of one PostgreSQL database


class StoreError(Exception):
    """The database cannot be opened or used; the message is one line, fit for the CLI to print."""


# --------------------------------------------------------------------------- opening


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (also when the URL does not parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return lines[0] if lines else type(orig).__name__


def _parse_url(url: str) -> URL:
    """Parse and normalise: bare paths become SQLite files, ``postgresql://`` gets psycopg 3."""
    if "://" not in url:
        url = "sqlite:///" + url
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as e:
        raise StoreError(f"invalid database URL {redact_url(url)!r}: {_first_line(e)}") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise StoreError(
            f"unsupported database URL {redact_url(url)!r}: use sqlite:///path.sqlite or postgresql://…"
        )
    return parsed


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or str(url.query.get("mode", "")) == "memory"


def _sqlite_engine(url: URL) -> Engine:
    memory = _is_memory(url)
    if memory:
        # One connection for the whole process: every new connection to ":memory:" would be a
        # new, empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        assert url.database is not None
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin: sqlite3's legacy
        # mode only begins before DML, so reads would run outside the transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable against application crashes in WAL mode; only an OS crash can
            # lose the last commits, which a re-run of discovery recreates.
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))

    return engine


def _postgres_engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = 10  # an unreachable host should fail fast, not hang
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def open_store(url: str | None = None, *, create: bool = True) -> SqlStore:
    """Open (and with ``create``, create or upgrade to the latest schema) the database at ``url``.

    ``url`` None means ``$WARDWATCH_DB``, else ``sqlite:///wardwatch.sqlite`` in the working
    directory. Raises :class:`StoreError` when the URL is invalid or the database unreachable.
    """
    raw = url or os.environ.get("WARDWATCH_DB") or DEFAULT_URL
    parsed = _parse_url(raw)
    shown = redact_url(raw)
    try:
        engine = _sqlite_engine(parsed) if parsed.get_backend_name() == "sqlite" else _postgres_engine(parsed)
    except (sa_exc.SQLAlchemyError, ImportError, OSError) as e:
        raise StoreError(f"cannot open database {shown}: {_first_line(e)}") from None
    store = SqlStore(parsed.render_as_string(hide_password=False), engine, shown)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        if create:
            store.migrate()
    except (sa_exc.SQLAlchemyError, OSError) as e:
        engine.dispose()
        raise StoreError(f"cannot open database {shown}: {_first_line(e)}") from None
    return store


class SqlStore:
    """A database reached through SQLAlchemy (implements :class:`wardwatch.store.ports.Store`)."""

    def __init__(self, url: str, engine: Engine, display_url: str | None = None) -> None:
        self.url = url
        self.display_url = display_url or redact_url(url)
        self._engine = engine

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and maintenance tools)."""
        return self._engine

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        """A unit of work: commits when the block ends normally, rolls back when it raises.

        Database failures (connection lost, SQLite lock timeout) surface as :class:`StoreError`;
        any other exception from the block propagates unchanged after the rollback.
        """
        dbapi = self._engine.dialect.dbapi
        # Bulk reads go to the driver's cursor (no SQLAlchemy in between), so the driver's own
        # OperationalError is a database failure too.
        failures: tuple[type[BaseException], ...] = (sa_exc.OperationalError,)
        if dbapi is not None:
            failures += (dbapi.OperationalError,)
        try:
            with self._engine.connect() as conn, conn.begin():
                yield SqlTransaction(conn)
        except failures as e:
            raise StoreError(f"database {self.display_url}: {_first_line(e)}") from e

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def migrate(self) -> None:
        """Upgrade the schema to the latest migration (``alembic upgrade head``); a no-op when current."""
        # Check without a write lock first: opening a current database must not wait for a
        # long-running writer (SQLite allows one at a time). Plain SQL: Alembic is only needed
        # (and imported) when there is something to upgrade.
        versions = self._schema_versions()
        if versions == {SCHEMA_HEAD}:
            return
        if versions is None and self._engine.dialect.name == "sqlite" and self._create_new():
            return
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        heads = set(ScriptDirectory.from_config(config).get_heads())
        with self._engine.connect() as conn:
            if set(MigrationContext.configure(conn).get_current_heads()) == heads:
                return
        with self._engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                # Take the write lock at BEGIN so two processes cannot both see "no schema".
                conn = conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
                config.attributes["connection"] = conn
                command.upgrade(config, "head")

    def _create_new(self) -> bool:
        """A new, empty SQLite database gets the head schema from ``schema.metadata`` and the head
        revision in ``alembic_version``: what ``alembic upgrade head`` leaves (the same tables,
        columns, indexes and keys: tests/unit/store/test_schema_head.py compares the two), without
        importing Alembic and running every migration (about 1 s CPU: half of a short first
        ``discover``). False, changing nothing, when the database is not empty (Alembic decides).
        """
        with self._engine.connect() as plain:
            # the write lock at BEGIN: two processes creating one file cannot both see it empty
            conn = plain.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                if conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar_one():
                    return False
                s.metadata.create_all(conn)
                # exactly the table Alembic creates for its bookkeeping
                conn.exec_driver_sql(
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
                )
                conn.exec_driver_sql("INSERT INTO alembic_version (version_num) VALUES (?)", (SCHEMA_HEAD,))
        return True

    def _schema_versions(self) -> set[str] | None:
        """The revisions in ``alembic_version`` (what Alembic calls the current heads), or None
        when the table cannot be read (a new database: Alembic then decides)."""
        with self._engine.connect() as conn:
            try:
                rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
            except sa_exc.DBAPIError:
                if conn.in_transaction():
                    conn.rollback()
                return None
        return {str(row[0]) for row in rows}


# --------------------------------------------------------------------------- helpers


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _key(value: str | None) -> str:
    return s.NONE if value is None else value


def _unkey(value: str) -> str | None:
    return None if value == s.NONE else value


def _fields_to_json(fields: dict[str, FieldValue]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}


def _fields_from_json(data: dict[str, Any]) -> dict[str, FieldValue]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


def _canonical_ip(text_: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text_.strip()))
    except ValueError:
        return None


def _combine_observation(row: dict[str, Any], obs: Observation) -> None:
    """Fold one more sighting of the same fact into ``row`` (same rules as the SQL upsert)."""
    ts, flow_uid = obs.ts_ns, obs.flow_uid
    if (ts, flow_uid) < (row["first_ns"], row["first_flow_uid"]):
        row["first_ns"], row["first_flow_uid"] = ts, flow_uid
    if (ts, flow_uid) > (row["last_ns"], row["last_flow_uid"]):
        row["last_ns"], row["last_flow_uid"] = ts, flow_uid
    row["count"] += 1


def _observation_rows(
    observations: Iterable[Observation], counts: Mapping[str, int] | None = None
) -> list[dict[str, Any]]:
    """One row per distinct uid; ``count`` is the occurrences in this batch, or ``counts[uid]``
    when the caller knows a larger total (e.g. all occurrences in one capture so far)."""
    rows: dict[str, dict[str, Any]] = {}
    for obs in observations:
        uid = obs.uid
        row = rows.get(uid)
        if row is None:
            rows[uid] = {
                "uid": uid,
                "protocol": obs.protocol,
                "mac": obs.mac,
                "ip": obs.ip,
                "fields": _fields_to_json(obs.fields),
                "first_ns": obs.ts_ns,
                "last_ns": obs.ts_ns,
                "first_flow_uid": obs.flow_uid,
                "last_flow_uid": obs.flow_uid,
                "count": 1,
            }
        else:
            _combine_observation(row, obs)
    if counts:
        for uid, row in rows.items():
            row["count"] = max(row["count"], counts.get(uid, 0))
    return list(rows.values())


def _flow_row(f: Flow) -> dict[str, Any]:
    return {
        "uid": f.uid,
        "transport": str(f.transport),
        "a_mac": f.a_mac,
        "a_ip": f.a_ip,
        "a_port": f.a_port,
        "b_mac": f.b_mac,
        "b_ip": f.b_ip,
        "b_port": f.b_port,
        "vlan": f.vlan,
        "ethertype": f.ethertype,
        "first_ns": f.first_ns,
        "last_ns": f.last_ns,
        "packets_ab": f.packets_ab,
        "packets_ba": f.packets_ba,
        "bytes_ab": f.bytes_ab,
        "bytes_ba": f.bytes_ba,
        "server": f.server,
        "ended_by": f.ended_by,
    }


_FLOW_COUNTERS = ("packets_ab", "packets_ba", "bytes_ab", "bytes_ba")


def _combine_flow(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Same rules as the SQL upsert: wider times, larger counters, the later record's end reason."""
    later = new["last_ns"] > old["last_ns"]
    if later:
        old["ended_by"] = new["ended_by"]
        old["server"] = new["server"] if new["server"] is not None else old["server"]
    elif old["server"] is None:
        old["server"] = new["server"]
    old["first_ns"] = min(old["first_ns"], new["first_ns"])
    old["last_ns"] = max(old["last_ns"], new["last_ns"])
    for c in _FLOW_COUNTERS:
        old[c] = max(old[c], new[c])


def _flow_rows(flows: Iterable[Flow]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for f in flows:
        row = _flow_row(f)
        if f.uid in rows:
            _combine_flow(rows[f.uid], row)
        else:
            rows[f.uid] = row
    return list(rows.values())


def _sighting_rows(sightings: Iterable[Sighting]) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for x in sightings:
        k = (_key(x.mac), _key(x.ip))
        row = rows.get(k)
        if row is None:
            rows[k] = {
                "mac": k[0],
                "ip": k[1],
                "first_ns": x.first_ns,
                "last_ns": x.last_ns,
                "packets": x.packets,
                "bytes": x.bytes,
                "ttl": x.ttl,
            }
        else:
            row["first_ns"] = min(row["first_ns"], x.first_ns)
            row["last_ns"] = max(row["last_ns"], x.last_ns)
            row["packets"] = max(row["packets"], x.packets)
            row["bytes"] = max(row["bytes"], x.bytes)
            row["ttl"] = max(row["ttl"], x.ttl)
    return list(rows.values())


_CONVERSATION_KEY = ("client_ip", "client_mac", "server_ip", "server_mac", "transport", "server_port")


def _conversation_key(c: Conversation) -> tuple[Any, ...]:
    """A conversation's key values, in ``_CONVERSATION_KEY`` order."""
    return (
        _key(c.client_ip),
        _key(c.client_mac),
        _key(c.server_ip),
        _key(c.server_mac),
        str(c.transport),
        c.server_port,
    )


def _conversation_rows(conversations: Iterable[Conversation]) -> list[dict[str, Any]]:
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for c in conversations:
        k = _conversation_key(c)
        row = rows.get(k)
        if row is None:
            rows[k] = dict(zip(_CONVERSATION_KEY, k, strict=True)) | {
                "first_ns": c.first_ns,
                "last_ns": c.last_ns,
                "flows": c.flows,
                "packets": c.packets,
                "bytes": c.bytes,
            }
        else:
            row["first_ns"] = min(row["first_ns"], c.first_ns)
            row["last_ns"] = max(row["last_ns"], c.last_ns)
            for n in ("flows", "packets", "bytes"):
                row[n] = max(row[n], getattr(c, n))
    return list(rows.values())


# The bulk write path below builds each table's rows as tuples in table column order, sorted by
# key: no dict per row, no SQLAlchemy parameter processing per row (which cost more than SQLite's
# own work), and index pages touched in key order. The ``*_rows`` functions above stay the
# reference form of the same rules (the in-memory fake uses them).


def _combined_observations(
    observations: Iterable[Observation], counts: Mapping[str, int] | None
) -> dict[str, list[Any]]:
    """uid -> [an occurrence, first_ns, first_flow_uid, last_ns, last_flow_uid, count], combined
    with the rules of :func:`_observation_rows` (this is its hot loop, without a dict per row)."""
    rows: dict[str, list[Any]] = {}
    get = rows.get
    for obs in observations:
        uid = obs.uid
        ts, flow_uid = obs.ts_ns, obs.flow_uid
        row = get(uid)
        if row is None:
            rows[uid] = [obs, ts, flow_uid, ts, flow_uid, 1]
            continue
        if ts < row[1] or (ts == row[1] and flow_uid < row[2]):
            row[1], row[2] = ts, flow_uid
        if ts > row[3] or (ts == row[3] and flow_uid > row[4]):
            row[3], row[4] = ts, flow_uid
        row[5] += 1
    if counts:
        for uid, row in rows.items():
            total = counts.get(uid, 0)
            if total > row[5]:
                row[5] = total
    return rows


def _observation_tuples(
    combined: dict[str, list[Any]], encode: Callable[[dict[str, FieldValue]], Any]
) -> list[tuple[Any, ...]]:
    """Rows in ``observation`` column order, by uid; ``fields`` is passed through ``encode``."""
    rows = []
    for uid in sorted(combined):
        obs, first_ns, first_flow, last_ns, last_flow, n = combined[uid]
        rows.append(
            (
                uid,
                obs.protocol,
                obs.mac,
                obs.ip,
                encode(obs.fields),
                first_ns,
                last_ns,
                first_flow,
                last_flow,
                n,
            )
        )
    return rows


#: The most parameters one SQLite statement is given: the smallest limit any SQLite build has
#: (``SQLITE_MAX_VARIABLE_NUMBER`` was 999 before 3.32); measured, longer VALUES lists than the
#: ~90 rows this allows gain nothing more.
_SQLITE_MAX_PARAMETERS = 999


def _multi_row_sql(sql: str, width: int, rows: int) -> str:
    """The one-row ``INSERT … VALUES (?, …) …`` ``sql`` with ``rows`` rows of placeholders.

    SQLite inserts (and upserts) the rows of one statement one after the other, exactly as
    separate executions would. ``sql`` must hold the placeholder list exactly once and no other
    parameter (the upserts' conflict rules refer to ``excluded`` and stored columns only).
    """
    cache_key = ("sqlite", "multi-row", f"{width}:{rows}:{sql}")
    text_ = _STATEMENTS.get(cache_key)
    if text_ is None:
        one = "(" + ", ".join(["?"] * width) + ")"
        head, found, tail = sql.partition(f" VALUES {one}")
        if not found or "?" in head or "?" in tail:
            raise AssertionError(f"not a one-row INSERT with {width} parameters: {sql}")
        text_ = f"{head} VALUES {', '.join([one] * rows)}{tail}"
        _STATEMENTS[cache_key] = text_
    return str(text_)


#: SQLite's largest rowid (see :meth:`SqlTransaction._sqlite_merge`).
_SQLITE_MAX_ROWID = 2**63 - 1


def _changes(table: Table, set_: Mapping[str, Any]) -> ColumnElement[bool]:
    """True when an ``ON CONFLICT DO UPDATE SET set_`` would change the stored row.

    As the update's WHERE it skips rows the merge leaves as they are: the stored values are the
    same, but neither engine rewrites the row (a re-merge of known data then writes nothing).
    """
    return or_(*(expr.is_distinct_from(table.c[name]) for name, expr in set_.items()))


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _reused_json_dumps() -> Callable[[Any], str]:
    """``json.dumps`` with its default arguments, for acyclic values, making CPython's C encoder
    once instead of on every call (half the cost of serialising a small ``fields`` dict).

    Falls back to ``json.dumps`` itself where that encoder is missing or does not give the same
    text (it is an implementation detail of the json module).
    """
    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_encoder is None:
        return json.dumps
    try:
        encode = make_encoder(
            None,  # no circular-reference check: observation fields are flat
            json.JSONEncoder().default,  # the same TypeError for what JSON cannot hold
            json.encoder.encode_basestring_ascii,
            None,
            ": ",
            ", ",
            False,
            False,
            True,
        )

        def dumps(value: Any) -> str:
            return "".join(encode(value, 0))

        sample = {"a": "é\n", "b": (1, "x"), "c": True, "d": None, "e": 1.5, "f": []}
        if dumps(sample) == json.dumps(sample):
            return dumps
    except Exception:  # a changed signature: not worth failing over
        pass
    return json.dumps


_json_dumps = _reused_json_dumps()


def _sorted_combined(
    rows: list[tuple[Any, ...]],
    width: int,
    combine: Callable[[list[tuple[Any, ...]]], tuple[Any, ...]] | None,
    *,
    whole: bool = False,
) -> list[tuple[Any, ...]]:
    """``rows`` sorted by key (their first ``width`` values), the rows of a key that comes more
    than once folded into one by ``combine`` (which gets them in input order unless ``whole``);
    with ``combine`` None they are left side by side, for an upsert that combines them itself.

    With ``whole`` the rows are sorted as whole tuples: cheaper than a key function and the same
    order for distinct keys, but only for rows whose values all compare (no None). A key rarely
    comes twice in one write, so repeats are found by comparing neighbours after the sort (in C)
    rather than with a dict entry per row.
    """
    key = itemgetter(*range(width))
    if whole:
        rows.sort()
    else:
        rows.sort(key=key)  # stable: a key's rows stay in input order
    if combine is None:
        return rows
    keys = list(map(key, rows))
    if not any(map(eq, keys, islice(keys, 1, None))):
        return rows
    out: list[tuple[Any, ...]] = []
    for _, group in groupby(rows, key):
        same = list(group)
        out.append(same[0] if len(same) == 1 else combine(same))
    return out


def _keep_min_first_max_rest(width: int) -> Callable[[list[tuple[Any, ...]]], tuple[Any, ...]]:
    """The combination rule of sightings and conversations, for rows with a ``width``-value key:
    the smallest first value after the key (``first_ns``), the largest of each one after it."""

    def combine(rows: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        columns = list(zip(*rows, strict=True))
        return (*rows[0][:width], min(columns[width]), *map(max, columns[width + 1 :]))

    return combine


_combined_sighting = _keep_min_first_max_rest(2)
_combined_conversation = _keep_min_first_max_rest(len(_CONVERSATION_KEY))

#: Attribute getters (one C call per record) in table column order; the attribute names are
#: the column names.
_FLOW_AFTER_TRANSPORT = attrgetter(*s.flow.columns.keys()[2:])
_SIGHTING_VALUES = attrgetter(*s.sighting.columns.keys())
_CONVERSATION_VALUES = attrgetter(*s.conversation.columns.keys())


def _combined_flow(rows: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """Records of one flow uid (in input order) as one row, by the rules of :func:`_flow_rows`."""
    names = s.flow.columns.keys()
    row = dict(zip(names, rows[0], strict=True))
    for other in rows[1:]:
        _combine_flow(row, dict(zip(names, other, strict=True)))
    return tuple(row[n] for n in names)


def _flow_tuples(flows: Iterable[Flow]) -> list[tuple[Any, ...]]:
    """:func:`_flow_rows` as tuples in ``flow`` column order, by uid."""
    rows = [(f.uid, str(f.transport), *_FLOW_AFTER_TRANSPORT(f)) for f in flows]
    return _sorted_combined(rows, 1, _combined_flow)


def _sighting_tuples(sightings: Iterable[Sighting], *, combine: bool = True) -> list[tuple[Any, ...]]:
    """:func:`_sighting_rows` as tuples in ``sighting`` column order, by key (without ``combine``,
    a key given twice stays two rows, side by side)."""
    # ``x or NONE`` is _key(x) for str | None: None and "" both become "".
    rows = [
        (mac or s.NONE, ip or s.NONE, first, last, packets, bytes_, ttl)
        for mac, ip, first, last, packets, bytes_, ttl in map(_SIGHTING_VALUES, sightings)
    ]
    return _sorted_combined(rows, 2, _combined_sighting if combine else None, whole=True)


def _conversation_tuples(
    conversations: Iterable[Conversation], *, combine: bool = True
) -> list[tuple[Any, ...]]:
    """:func:`_conversation_rows` as tuples in ``conversation`` column order, by key (without
    ``combine``, a key given twice stays two rows, side by side)."""
    rows = [
        (
            ci or s.NONE,
            cm or s.NONE,
            si or s.NONE,
            sm or s.NONE,
            str(tr),
            port,
            first,
            last,
            flows,
            packets,
            bytes_,
        )
        for ci, cm, si, sm, tr, port, first, last, flows, packets, bytes_ in map(
            _CONVERSATION_VALUES, conversations
        )
    ]
    return _sorted_combined(
        rows, len(_CONVERSATION_KEY), _combined_conversation if combine else None, whole=True
    )


def _driver_query(query: Select[Any], dialect: Any) -> tuple[str, Callable[..., Any]]:
    """``query`` compiled for ``dialect``: its SQL text, and a function from the values of its
    unbound parameters (by name) to the parameters the driver's ``cursor.execute`` takes."""
    compiled = query.compile(dialect=dialect)

    def params(**values: Any) -> Any:
        bound = compiled.construct_params(values)
        if compiled.positional:
            return tuple(bound[n] for n in compiled.positiontup or ())
        return bound

    return compiled.string, params


def _stored_observation(r: Row[Any]) -> StoredObservation:
    return StoredObservation(
        uid=r.uid,
        protocol=r.protocol,
        mac=r.mac,
        ip=r.ip,
        fields=_fields_from_json(r.fields),
        first_ns=r.first_ns,
        last_ns=r.last_ns,
        first_flow_uid=r.first_flow_uid,
        last_flow_uid=r.last_flow_uid,
        count=r._mapping["count"],
    )


_JSON_DECODER = json.JSONDecoder()


_new_stored_observation = builder(StoredObservation)


def _observation_page(rows: Iterable[tuple[Any, ...]]) -> list[StoredObservation]:
    """Stored observations from (uid, protocol, mac, ip, fields as JSON text, first_ns, last_ns,
    first_flow_uid, last_flow_uid, count) rows: the same values as :func:`_stored_observation`."""
    decode = _JSON_DECODER.raw_decode
    page: list[StoredObservation] = []
    for uid, protocol, mac, ip, raw, first_ns, last_ns, first_flow_uid, last_flow_uid, count in rows:
        if isinstance(raw, str):
            # raw_decode skips json.loads' checks for surrounding whitespace; text it does not
            # consume entirely goes through json.loads, so the outcome (or error) is the same.
            try:
                fields, end = decode(raw)
            except ValueError:
                end = -1
            if end != len(raw):
                fields = json.loads(raw)
            # Without a "[" the document holds no array, so no value needs to become a tuple.
            if "[" in raw:
                fields = _fields_from_json(fields)
        else:  # a driver that decoded the JSON itself
            fields = _fields_from_json(raw)
        # Positional (field order of StoredObservation), through the slot builder: the same object
        # as its __init__ makes, cheaper per row.
        page.append(
            _new_stored_observation(
                uid, protocol, mac, ip, fields, first_ns, last_ns, first_flow_uid, last_flow_uid, count
            )
        )
    return page


def _evidence(r: Row[Any]) -> Evidence:
    return Evidence(
        attribute=Attribute(r.attribute),
        value=r.value,
        confidence=r.confidence,
        rule=r.rule,
        observation_uid=r.observation_uid,
        first_ns=r.first_ns,
        last_ns=r.last_ns,
        detail=r.detail,
    )


#: Column order of the rows :meth:`SqlTransaction._save_chunk` writes and compares.
_ATTRIBUTE_COLUMNS = ("device_id", "attribute", "value", "confidence", "chosen_by", "conflict_count")
_EVIDENCE_COLUMNS = (
    "device_id",
    "seq",
    "attribute",
    "value",
    "confidence",
    "rule",
    "observation_uid",
    "first_ns",
    "last_ns",
    "detail",
)


# --------------------------------------------------------------------------- transaction


class SqlTransaction:
    """One unit of work on one connection (implements :class:`wardwatch.store.ports.Transaction`).

    Only valid inside the ``with store.transaction()`` block that created it.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._pg = conn.dialect.name == "postgresql"

    @property
    def conn(self) -> Connection:
        """The open connection, for subsystem repositories (vulnerabilities, recalls, users ...)
        whose tables live beside the core ones; they run inside this same transaction."""
        return self._conn

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL, False on SQLite (for the few statements that differ)."""
        return self._pg

    # --- dialect shims ---

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        if self._pg:
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table)
        return sqlite.insert(table)

    def _least(self, a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
        # Two-argument min()/max() are scalar functions on SQLite; PostgreSQL spells them least/greatest.
        return func.least(a, b) if self._pg else func.min(a, b)

    def _greatest(self, a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.greatest(a, b) if self._pg else func.max(a, b)

    def _binary(self, expr: ColumnElement[str]) -> ColumnElement[str]:
        """Compare text byte-wise on both engines (and so like Python does, in the fake)."""
        return expr.collate("C") if self._pg else expr

    def _upsert(
        self,
        table: Table,
        rows: list[dict[str, Any]],
        key: Sequence[str],
        update: Callable[[Any], dict[str, Any]],
    ) -> None:
        if not rows:
            return
        if self._pg and len(rows) >= COPY_MIN_ROWS:
            self._copy_upsert(table, rows, key, update)
            return
        cache_key = (self._conn.dialect.name, "upsert", table.name)
        stmt_ = _STATEMENTS.get(cache_key)
        if stmt_ is None:
            stmt = self._insert(table)
            stmt_ = stmt.on_conflict_do_update(index_elements=list(key), set_=update(stmt.excluded))
            _STATEMENTS[cache_key] = stmt_
        for chunk in _chunks(rows):
            self._conn.execute(stmt_, list(chunk))

    def _copy_upsert(
        self,
        table: Table,
        rows: list[dict[str, Any]],
        key: Sequence[str],
        update: Callable[[Any], dict[str, Any]],
        *,
        count_new: bool = False,
    ) -> int:
        """PostgreSQL bulk merge of dict rows: see :meth:`_copy_merge`."""
        columns = [c for c in table.columns if c.name in rows[0]]
        names = [c.name for c in columns]
        json_columns = {c.name for c in columns if isinstance(c.type, JSON)}
        tuples = [
            tuple(_compact_json(row[n]) if n in json_columns else row[n] for n in names) for row in rows
        ]
        return self._copy_merge(table, names, tuples, key, update, count_new=count_new)

    def _copy_merge(
        self,
        table: Table,
        names: Sequence[str],
        rows: list[tuple[Any, ...]],
        key: Sequence[str],
        update: Callable[[Any], dict[str, Any]],
        *,
        count_new: bool = False,
        skip_unchanged: bool = False,
    ) -> int:
        """PostgreSQL bulk merge: COPY into ``pg_temp._stage_<table>``, then one INSERT … SELECT.

        ``rows`` are tuples of the ``names`` columns, JSON columns already serialised. With
        ``count_new``, returns how many staged keys were not yet in the table (else 0). With
        ``skip_unchanged``, rows the update would leave as they are are not rewritten (no new
        row version for PostgreSQL to write and vacuum; the stored values are the same).
        """
        stage_name = f"_stage_{table.name}"
        self._conn.exec_driver_sql(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{stage_name}" (LIKE "{table.name}") ON COMMIT DROP'
        )
        self._conn.exec_driver_sql(f'TRUNCATE "{stage_name}"')
        raw = self._conn.connection.driver_connection
        assert raw is not None
        column_list = ", ".join(f'"{n}"' for n in names)
        with raw.cursor() as cur, cur.copy(f'COPY "{stage_name}" ({column_list}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
        cache_key = (self._conn.dialect.name, "copy-merge" if skip_unchanged else "copy-upsert", table.name)
        stmt_ = _STATEMENTS.get(cache_key)
        if stmt_ is None:
            from sqlalchemy.dialects import postgresql

            stage = Table(stage_name, MetaData(), *(Column(n, table.c[n].type) for n in names))
            stmt = postgresql.insert(table).from_select(names, select(*(stage.c[n] for n in names)))
            set_ = update(stmt.excluded)
            stmt_ = stmt.on_conflict_do_update(
                index_elements=list(key), set_=set_, where=_changes(table, set_) if skip_unchanged else None
            )
            _STATEMENTS[cache_key] = stmt_
        new = 0
        if count_new:
            match = " AND ".join(f't."{k}" = s."{k}"' for k in key)
            new = int(
                self._conn.exec_driver_sql(
                    f'SELECT count(*) FROM "{stage_name}" s WHERE NOT EXISTS '
                    f'(SELECT 1 FROM "{table.name}" t WHERE {match})'
                ).scalar_one()
            )
        self._conn.execute(stmt_)
        return new

    def _device_upsert(self) -> Any:
        # No RETURNING: SQLite cannot match returned rows to parameters for an upsert, so
        # SQLAlchemy would run it once per row; _save_chunk reads the ids by key instead.
        cache_key = (self._conn.dialect.name, "upsert-many", "device")
        stmt_ = _STATEMENTS.get(cache_key)
        if stmt_ is None:
            t = s.device
            stmt = self._insert(t)
            ex = stmt.excluded
            stmt_ = stmt.on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "mac": ex.mac,
                    "mac_randomized": ex.mac_randomized,
                    "first_ns": self._least(t.c.first_ns, ex.first_ns),
                    "last_ns": self._greatest(t.c.last_ns, ex.last_ns),
                    "updated_at": ex.updated_at,
                    **{name: ex[name] for name in s.DENORMALISED},
                },
            )
            _STATEMENTS[cache_key] = stmt_
        return stmt_

    def _device_upsert_sql(self, names: tuple[str, ...]) -> str:
        """:meth:`_device_upsert` as SQLite SQL text taking the ``names`` columns, in that order."""
        cache_key = ("sqlite", "upsert-sql", "device:" + ",".join(names))
        text_ = _STATEMENTS.get(cache_key)
        if text_ is None:
            compiled = self._device_upsert().compile(dialect=self._conn.dialect, column_keys=list(names))
            if tuple(compiled.positiontup or ()) != names:  # the tuples would bind to the wrong columns
                raise AssertionError(f"unexpected parameter order for device: {compiled.positiontup}")
            text_ = _STATEMENTS[cache_key] = compiled.string
        return str(text_)

    def _insert_rows(self, table: Table, names: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Plain INSERT of many rows given as tuples in ``names`` order (no types need processing).

        SQLite gets one ``executemany`` of the driver statement, several rows per statement
        (building SQLAlchemy parameters per row cost more than the insert); PostgreSQL large batches stream through ``COPY``.
        """
        if not rows:
            return
        if not self._pg:
            quote = self._conn.dialect.identifier_preparer.quote
            sql = (
                f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
                f"VALUES ({', '.join('?' for _ in names)})"
            )
            self._sqlite_executemany(sql, len(names), rows)
        elif len(rows) >= COPY_MIN_ROWS:
            raw = self._conn.connection.driver_connection
            assert raw is not None
            column_list = ", ".join(f'"{n}"' for n in names)
            with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({column_list}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            for chunk in _chunks(rows):
                self._conn.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in chunk])

    # --- captures ---

    def add_capture(self, record: CaptureRecord) -> int:
        """Record a discovery run; returns its id."""
        stmt = (
            s.capture.insert()
            .values(
                source=record.source,
                sha256=record.sha256,
                packets=record.packets,
                bytes=record.bytes,
                first_ns=record.first_ns,
                last_ns=record.last_ns,
                started_at=record.started_at,
                finished_at=record.finished_at,
                stats=record.stats,
                error=record.error,
            )
            .returning(s.capture.c.id)
        )
        return int(self._conn.execute(stmt).scalar_one())

    def captures(self) -> list[CaptureRecord]:
        """Every recorded run, oldest first."""
        rows = self._conn.execute(select(s.capture).order_by(s.capture.c.id))
        return [
            CaptureRecord(
                source=r.source,
                sha256=r.sha256,
                packets=r.packets,
                bytes=r.bytes,
                first_ns=r.first_ns,
                last_ns=r.last_ns,
                started_at=r.started_at,
                finished_at=r.finished_at,
                stats=dict(r.stats),
                error=r.error,
                id=r.id,
            )
            for r in rows
        ]

    # --- sensor output ---

    def merge_observations(
        self, observations: Iterable[Observation], *, counts: Mapping[str, int] | None = None
    ) -> int:
        """Insert new distinct observations, widen first/last of known ones. Returns how many were new.

        Occurrences of one uid within the call are combined first (``count`` = occurrences);
        against the stored row, ``count`` keeps the larger of the two, so re-merging the same
        capture does not double it. Ties on a timestamp go to the smaller (first) or larger (last)
        flow uid, which makes the result independent of merge order.
        """
        combined = _combined_observations(observations, counts)
        if not combined:
            return 0
        t = s.observation
        if not self._pg:
            # The text SQLAlchemy's JSON type would store, so both paths write the same rows.
            serialize = getattr(self._conn.dialect, "_json_serializer", None) or _json_dumps
            rows = _observation_tuples(combined, serialize)
            return self._sqlite_merge(t, ["uid"], self._observation_update, rows, count_new=True)
        if len(combined) >= COPY_MIN_ROWS:
            rows = _observation_tuples(combined, _compact_json)
            return self._copy_merge(
                t,
                t.columns.keys(),
                rows,
                ["uid"],
                self._observation_update,
                count_new=True,
                skip_unchanged=True,
            )
        names = t.columns.keys()
        dicts = [dict(zip(names, row, strict=True)) for row in _observation_tuples(combined, _fields_to_json)]
        new = 0
        for chunk in _chunks(dicts):
            uids = [r["uid"] for r in chunk]
            known = self._conn.execute(select(func.count()).where(t.c.uid.in_(uids))).scalar_one()
            new += len(chunk) - int(known)
        self._upsert(t, dicts, ["uid"], self._observation_update)
        return new

    def _observation_update(self, ex: Any) -> dict[str, Any]:
        """The merge rule of observations (see :meth:`merge_observations`)."""
        t = s.observation
        earlier = or_(
            ex.first_ns < t.c.first_ns,
            and_(
                ex.first_ns == t.c.first_ns,
                self._binary(ex.first_flow_uid) < self._binary(t.c.first_flow_uid),
            ),
        )
        later = or_(
            ex.last_ns > t.c.last_ns,
            and_(
                ex.last_ns == t.c.last_ns,
                self._binary(ex.last_flow_uid) > self._binary(t.c.last_flow_uid),
            ),
        )
        return {
            "first_ns": self._least(t.c.first_ns, ex.first_ns),
            "first_flow_uid": case((earlier, ex.first_flow_uid), else_=t.c.first_flow_uid),
            "last_ns": self._greatest(t.c.last_ns, ex.last_ns),
            "last_flow_uid": case((later, ex.last_flow_uid), else_=t.c.last_flow_uid),
            "count": self._greatest(t.c.count, ex.count),
        }

    def merge_flows(self, flows: Iterable[Flow]) -> None:
        """Store flows by uid; the same uid again keeps the larger counters and wider times, and
        ``ended_by`` (and ``server``, when known) of the record that ends later."""
        self._merge(s.flow, ["uid"], self._flow_update, _flow_tuples(flows))

    def _flow_update(self, ex: Any) -> dict[str, Any]:
        """The merge rule of flows (see :meth:`merge_flows`)."""
        t = s.flow
        later = ex.last_ns > t.c.last_ns
        return {
            "first_ns": self._least(t.c.first_ns, ex.first_ns),
            "last_ns": self._greatest(t.c.last_ns, ex.last_ns),
            **{c: self._greatest(t.c[c], ex[c]) for c in _FLOW_COUNTERS},
            "ended_by": case((later, ex.ended_by), else_=t.c.ended_by),
            "server": case(
                (later, func.coalesce(ex.server, t.c.server)), else_=func.coalesce(t.c.server, ex.server)
            ),
        }

    def merge_sightings(self, sightings: Iterable[Sighting]) -> None:
        """Key (mac, ip): first=min, last=max, packets/bytes=max, ttl=max."""
        t = s.sighting

        def update(ex: Any) -> dict[str, Any]:
            return {
                "first_ns": self._least(t.c.first_ns, ex.first_ns),
                **{c: self._greatest(t.c[c], ex[c]) for c in ("last_ns", "packets", "bytes", "ttl")},
            }

        key = ["mac", "ip"]
        # SQLite upserts a repeated key row after row with the same min/max rule, which gives
        # what combining first does (the rule is order-free; the first row takes the rowid) and
        # saves finding repeats among a scan's million rows. PostgreSQL's merge needs one row per key.
        self._merge(t, key, update, _sighting_tuples(sightings, combine=self._pg))

    def merge_conversations(self, conversations: Iterable[Conversation]) -> None:
        """Key (client_ip, client_mac, server_ip, server_mac, transport, server_port):
        first=min, last=max, flows/packets/bytes=max."""
        t = s.conversation

        def update(ex: Any) -> dict[str, Any]:
            return {
                "first_ns": self._least(t.c.first_ns, ex.first_ns),
                **{c: self._greatest(t.c[c], ex[c]) for c in ("last_ns", "flows", "packets", "bytes")},
            }

        # As in merge_sightings: on SQLite the upsert combines a repeated key itself.
        self._merge(t, _CONVERSATION_KEY, update, _conversation_tuples(conversations, combine=self._pg))

    def _merge(
        self,
        table: Table,
        key: Sequence[str],
        update: Callable[[Any], dict[str, Any]],
        rows: list[tuple[Any, ...]],
    ) -> None:
        """Merge ``rows`` (tuples in table column order, one per key, except on SQLite when
        applying ``update`` row by row gives the same result) with ``update`` on conflict."""
        if not rows:
            return
        if not self._pg:
            self._sqlite_merge(table, key, update, rows)
        elif len(rows) >= COPY_MIN_ROWS:
            self._copy_merge(table, table.columns.keys(), rows, key, update, skip_unchanged=True)
        else:
            names = table.columns.keys()
            self._upsert(table, [dict(zip(names, row, strict=True)) for row in rows], key, update)

    def _sqlite_merge(
        self,
        table: Table,
        key: Sequence[str],
        update: Callable[[Any], dict[str, Any]],
        rows: list[tuple[Any, ...]],
        *,
        count_new: bool = False,
    ) -> int:
        """SQLite bulk merge: the upsert's SQL text run for every row, several rows per statement
        (:meth:`_sqlite_executemany`). With ``count_new``, returns how many rows were new (else
        0); no key may come twice in ``rows``.

        The statement is built from the same SQLAlchemy construct as on PostgreSQL (so the same
        rule), compiled once; handing tuples straight to the driver skips SQLAlchemy's per-row
        parameter processing, which cost more than SQLite's work (``rows`` must need none: JSON
        already serialised). Rows the update would not change are not rewritten.

        New rows are counted by rowid: SQLite gives an inserted row one more than the table's
        largest rowid, and an upsert that updates keeps the row's rowid, so the rows above the
        largest rowid from before are exactly the inserted ones. Only when that largest rowid is
        the maximum integer does SQLite pick them at random; the keys are then counted up front.
        """
        sql = self._sqlite_merge_sql(table, key, update)
        if not count_new:
            self._sqlite_executemany(sql, len(table.columns), rows)
            return 0
        name = self._conn.dialect.identifier_preparer.quote(table.name)
        before = int(self._conn.exec_driver_sql(f"SELECT coalesce(max(rowid), 0) FROM {name}").scalar_one())
        known = None
        if before > _SQLITE_MAX_ROWID - len(rows):
            known = self._count_known(table, key, rows)
        self._sqlite_executemany(sql, len(table.columns), rows)
        if known is not None:
            return len(rows) - known
        return int(
            self._conn.exec_driver_sql(f"SELECT count(*) FROM {name} WHERE rowid > ?", (before,)).scalar_one()
        )

    def _sqlite_executemany(self, sql: str, width: int, rows: Sequence[tuple[Any, ...]]) -> None:
        """Run the one-row statement ``sql`` (``width`` parameters) for every row, in order.

        Rows go as many at a time as :data:`_SQLITE_MAX_PARAMETERS` allows, through the same
        statement with that many ``VALUES`` rows (:func:`_multi_row_sql`), the rest one at a
        time: SQLite then runs one statement per batch rather than per row, which halves the
        cost of a bulk write. The rows are processed in the same order, one after the other, by the same
        statement text (an upsert's conflict rule included), so the outcome is the same.
        """
        per = _SQLITE_MAX_PARAMETERS // width
        whole = len(rows) - len(rows) % per if per > 1 else 0
        if whole:
            values = chain.from_iterable(islice(rows, whole))
            # zip over one iterator repeated: consecutive groups of per * width values (in C).
            batches = list(zip(*[values] * (per * width), strict=False))
            self._conn.exec_driver_sql(_multi_row_sql(sql, width, per), batches)
        if whole < len(rows):
            self._conn.exec_driver_sql(sql, list(rows[whole:]))

    def _count_known(self, table: Table, key: Sequence[str], rows: list[tuple[Any, ...]]) -> int:
        """How many of ``rows`` (tuples in table column order) have a key already stored."""
        names = table.columns.keys()
        positions = [names.index(k) for k in key]
        match = and_(*(table.c[k] == bindparam(k) for k in key))
        q = select(func.count()).select_from(table).where(match)
        return sum(
            int(self._conn.execute(q, {k: row[i] for k, i in zip(key, positions, strict=True)}).scalar_one())
            for row in rows
        )

    def _sqlite_merge_sql(
        self, table: Table, key: Sequence[str], update: Callable[[Any], dict[str, Any]]
    ) -> str:
        """The upsert of :meth:`_sqlite_merge` as SQL text, parameters in table column order."""
        cache_key = ("sqlite", "merge-sql", table.name)
        text_ = _STATEMENTS.get(cache_key)
        if text_ is None:
            names = table.columns.keys()
            stmt = sqlite.insert(table)
            set_ = update(stmt.excluded)
            stmt = stmt.on_conflict_do_update(
                index_elements=list(key), set_=set_, where=_changes(table, set_)
            )
            compiled = stmt.compile(dialect=self._conn.dialect, column_keys=names)
            if list(compiled.positiontup or ()) != names:  # the tuples would bind to the wrong columns
                raise AssertionError(f"unexpected parameter order for {table.name}: {compiled.positiontup}")
            text_ = compiled.string
            _STATEMENTS[cache_key] = text_
        return text_

    def flow(self, uid: str) -> Flow | None:
        """The flow with this uid, or None."""
        r = self._conn.execute(select(s.flow).where(s.flow.c.uid == uid)).one_or_none()
        if r is None:
            return None
        return Flow(
            uid=r.uid,
            transport=Transport(r.transport),
            a_mac=r.a_mac,
            a_ip=r.a_ip,
            a_port=r.a_port,
            b_mac=r.b_mac,
            b_ip=r.b_ip,
            b_port=r.b_port,
            vlan=r.vlan,
            first_ns=r.first_ns,
            last_ns=r.last_ns,
            packets_ab=r.packets_ab,
            packets_ba=r.packets_ba,
            bytes_ab=r.bytes_ab,
            bytes_ba=r.bytes_ba,
            server=r.server,
            ended_by=r.ended_by,
            ethertype=r.ethertype,
        )

    def observations(
        self, *, macs: Sequence[str] = (), ips: Sequence[str] = (), uids: Sequence[str] = ()
    ) -> list[StoredObservation]:
        """Observations whose subject MAC is in ``macs`` or IP is in ``ips`` or uid in ``uids``
        (none when all three are empty), ordered by (first_ns, uid)."""
        t = s.observation
        found: dict[str, StoredObservation] = {}
        for column, values in ((t.c.mac, macs), (t.c.ip, ips), (t.c.uid, uids)):
            for chunk in _chunks(list(dict.fromkeys(values))):
                for r in self._conn.execute(select(t).where(column.in_(chunk))):
                    found[r.uid] = _stored_observation(r)
        return sorted(found.values(), key=lambda o: (o.first_ns, o.uid))

    def iter_observations(self) -> Iterator[StoredObservation]:
        """Every stored observation, by uid, read in pages so memory stays flat on large stores."""
        t = s.observation
        # The fields as JSON text, decoded here (see _observation_page): a rebuild reads every
        # observation, and the JSON column's per-row result processing cost more than the query.
        columns = (
            t.c.uid,
            t.c.protocol,
            t.c.mac,
            t.c.ip,
            cast(t.c.fields, Text),
            t.c.first_ns,
            t.c.last_ns,
            t.c.first_flow_uid,
            t.c.last_flow_uid,
            t.c["count"],
        )
        # The two page queries are compiled once and run on the driver's cursor, so a page costs
        # no statement construction and its rows come back as the driver's plain tuples (no
        # SQLAlchemy row each: that was a third of the read). Same SQL, rows and order.
        q = select(*columns).order_by(self._binary(t.c.uid)).limit(CHUNK)
        first_sql, first_params = _driver_query(q, self._conn.dialect)
        next_sql, next_params = _driver_query(
            q.where(self._binary(t.c.uid) > bindparam("after", type_=Text)), self._conn.dialect
        )
        raw = self._conn.connection.driver_connection
        assert raw is not None
        after: str | None = None
        while True:
            cursor = raw.cursor()
            try:
                if after is None:
                    cursor.execute(first_sql, first_params())
                else:
                    cursor.execute(next_sql, next_params(after=after))
                rows = cursor.fetchall()
            finally:
                cursor.close()
            page = _observation_page(rows)
            yield from page
            if len(page) < CHUNK:
                return
            after = page[-1].uid

    def sightings(self, *, macs: Sequence[str] | None = None) -> list[Sighting]:
        """All sightings, or those of the given MACs, ordered by (mac, ip) with None first."""
        t = s.sighting
        if macs is None:
            rows = list(self._conn.execute(select(t)))
        else:
            rows = []
            for chunk in _chunks(list(dict.fromkeys(macs))):
                rows.extend(self._conn.execute(select(t).where(t.c.mac.in_(chunk))))
        rows.sort(key=lambda r: (r.mac, r.ip))
        return [
            Sighting(
                mac=_unkey(r.mac),
                ip=_unkey(r.ip),
                first_ns=r.first_ns,
                last_ns=r.last_ns,
                packets=r.packets,
                bytes=r.bytes,
                ttl=r.ttl,
            )
            for r in rows
        ]

    def conversations(self, *, ips: Sequence[str] = ()) -> list[Conversation]:
        """Conversations where either side has one of ``ips`` (all when empty), ordered by key."""
        t = s.conversation
        if not ips:
            rows = list(self._conn.execute(select(t)))
        else:
            seen: dict[tuple[Any, ...], Row[Any]] = {}
            for chunk in _chunks(list(dict.fromkeys(ips))):
                for r in self._conn.execute(
                    select(t).where(or_(t.c.client_ip.in_(chunk), t.c.server_ip.in_(chunk)))
                ):
                    seen[tuple(r[:6])] = r
            rows = list(seen.values())
        rows.sort(key=lambda r: tuple(r[:6]))
        return [
            Conversation(
                client_ip=_unkey(r.client_ip),
                client_mac=_unkey(r.client_mac),
                server_ip=_unkey(r.server_ip),
                server_mac=_unkey(r.server_mac),
                transport=Transport(r.transport),
                server_port=r.server_port,
                first_ns=r.first_ns,
                last_ns=r.last_ns,
                flows=r.flows,
                packets=r.packets,
                bytes=r.bytes,
            )
            for r in rows
        ]

    # --- inventory ---

    def save_device(self, device: Device, evidence: Sequence[Evidence]) -> int:
        """Upsert by ``device.key`` (first/last seen widen), merge its IPs (first=min, last=max,
        source of the latest), replace its resolved attributes and evidence. Returns the id."""
        return self.save_devices([(device, evidence)])[0]

    def save_devices(self, items: Sequence[tuple[Device, Sequence[Evidence]]]) -> list[int]:
        """:meth:`save_device` for many devices in a few bulk statements; ids in input order."""
        ids: list[int] = []
        now = time.time_ns()
        for chunk in _chunks(items, 500):
            ids.extend(self._save_chunk(chunk, now))
        return ids

    def _save_chunk(self, items: Sequence[tuple[Device, Sequence[Evidence]]], now: int) -> list[int]:
        rows = [
            {
                "key": device.key,
                "mac": device.mac,
                "mac_randomized": device.mac_randomized,
                "first_ns": device.first_ns,
                "last_ns": device.last_ns,
                "updated_at": now,
                **{name: device.value(name) for name in s.DENORMALISED},
            }
            for device, _ in items
        ]
        d = s.device
        keys = [device.key for device, _ in items]
        every = len(set(keys)) != len(keys)  # a key twice: write all, as the plain algorithm would
        # A device row that the upsert would leave as it is (same values, first/last seen within
        # the stored ones) only gets the new updated_at, in one UPDATE: the upsert rewrites every
        # index of the row, which made it the dearest statement of a re-identification.
        compared = ("mac", "mac_randomized", *s.DENORMALISED)
        stored_rows = {
            row[0]: row[1:]
            for row in self._conn.execute(
                select(d.c.key, d.c.id, d.c.first_ns, d.c.last_ns, *(d.c[n] for n in compared)).where(
                    d.c.key.in_(keys)
                )
            ).all()
        }
        upserts: list[dict[str, Any]] = []
        touched: list[int] = []
        for row in rows:
            stored = stored_rows.get(row["key"])
            if (
                not every
                and stored is not None
                and row["first_ns"] >= stored[1]
                and row["last_ns"] <= stored[2]
                and all(row[n] == value for n, value in zip(compared, stored[3:], strict=True))
            ):
                touched.append(int(stored[0]))
            else:
                upserts.append(row)
        if upserts and not self._pg:
            # Tuples straight to the driver, several rows per statement (see _sqlite_executemany):
            # SQLAlchemy's per-row parameter processing cost more than the upsert.
            names = tuple(c.name for c in d.columns if c.name in upserts[0])  # in the statement's order
            self._sqlite_executemany(
                self._device_upsert_sql(names), len(names), list(map(itemgetter(*names), upserts))
            )
        elif upserts:
            self._conn.execute(self._device_upsert(), upserts)
        if touched:
            self._conn.execute(d.update().where(d.c.id.in_(touched)).values(updated_at=now))
        fresh = [row["key"] for row in upserts if row["key"] not in stored_rows]
        by_key = {key: int(stored[0]) for key, stored in stored_rows.items()}
        if fresh:
            by_key.update(
                (key, int(i))
                for key, i in self._conn.execute(select(d.c.key, d.c.id).where(d.c.key.in_(fresh))).all()
            )
        ids = [by_key[key] for key in keys]
        # Attributes and evidence are replaced only for devices where they differ from what is
        # stored: a re-identification mostly concludes what the last one did, and reading the
        # rows back costs far less than deleting and inserting them again. Same final rows.
        stored_attributes, stored_evidence = self._stored_conclusions(ids)
        changed: list[int] = []
        attributes: list[tuple[Any, ...]] = []
        evidence_rows: list[tuple[Any, ...]] = []
        ip_rows: dict[tuple[int, str], dict[str, Any]] = {}
        for device_id, (device, evidence) in zip(ids, items, strict=True):
            new_attributes = [
                (device_id, str(a.attribute), a.value, a.confidence, a.chosen_by, len(a.conflicts))
                for a in device.attributes.values()
            ]
            new_evidence = [
                (
                    device_id,
                    i,
                    str(e.attribute),
                    e.value,
                    e.confidence,
                    e.rule,
                    e.observation_uid,
                    e.first_ns,
                    e.last_ns,
                    e.detail,
                )
                for i, e in enumerate(evidence)
            ]
            if (
                every
                or new_evidence != stored_evidence.get(device_id, [])
                or sorted(new_attributes) != sorted(stored_attributes.get(device_id, []))
            ):
                changed.append(device_id)
                attributes.extend(new_attributes)
                evidence_rows.extend(new_evidence)
            for ip in device.ips:
                old = ip_rows.get((device_id, ip.ip))
                if old is None:
                    ip_rows[(device_id, ip.ip)] = {
                        "device_id": device_id,
                        "ip": ip.ip,
                        "first_ns": ip.first_ns,
                        "last_ns": ip.last_ns,
                        "source": ip.source,
                    }
                    continue
                if ip.last_ns > old["last_ns"]:
                    old["source"] = ip.source
                old["first_ns"] = min(old["first_ns"], ip.first_ns)
                old["last_ns"] = max(old["last_ns"], ip.last_ns)
        if changed:
            self._conn.execute(delete(s.device_attribute).where(s.device_attribute.c.device_id.in_(changed)))
            self._conn.execute(delete(s.evidence).where(s.evidence.c.device_id.in_(changed)))
        self._insert_rows(s.device_attribute, _ATTRIBUTE_COLUMNS, attributes)
        self._insert_rows(s.evidence, _EVIDENCE_COLUMNS, evidence_rows)
        if ip_rows:
            di = s.device_ip

            def update(ex: Any) -> dict[str, Any]:
                return {
                    "first_ns": self._least(di.c.first_ns, ex.first_ns),
                    "last_ns": self._greatest(di.c.last_ns, ex.last_ns),
                    "source": case((ex.last_ns > di.c.last_ns, ex.source), else_=di.c.source),
                }

            self._upsert(di, list(ip_rows.values()), ["device_id", "ip"], update)
        return ids

    def _stored_conclusions(
        self, ids: Sequence[int]
    ) -> tuple[dict[int, list[tuple[Any, ...]]], dict[int, list[tuple[Any, ...]]]]:
        """The stored attribute rows and evidence rows (by seq) of devices, as :meth:`_save_chunk`
        would write them (``_ATTRIBUTE_COLUMNS`` / ``_EVIDENCE_COLUMNS`` order)."""
        a, e = s.device_attribute, s.evidence
        q = select(*(a.c[n] for n in _ATTRIBUTE_COLUMNS)).where(a.c.device_id.in_(ids))
        attributes: dict[int, list[tuple[Any, ...]]] = {}
        for row in self._driver_rows(q):
            attributes.setdefault(row[0], []).append(row)
        q = (
            select(*(e.c[n] for n in _EVIDENCE_COLUMNS))
            .where(e.c.device_id.in_(ids))
            .order_by(e.c.device_id, e.c.seq)
        )
        evidence = {device_id: list(rows) for device_id, rows in groupby(self._driver_rows(q), itemgetter(0))}
        return attributes, evidence

    def _driver_rows(self, query: Select[Any]) -> list[tuple[Any, ...]]:
        """A query's rows as the driver's plain tuples, for bulk reads of plain columns (no type
        needs result processing): SQLAlchemy's row objects cost more than reading the rows.
        Only for queries whose parameters are integers (rendered inline)."""
        sql = str(query.compile(dialect=self._conn.dialect, compile_kwargs={"literal_binds": True}))
        raw = self._conn.connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            cursor.execute(sql)
            rows: list[tuple[Any, ...]] = cursor.fetchall()  # sqlite3 and psycopg rows are tuples
            return rows
        finally:
            cursor.close()

    def get_device(self, ref: str) -> Device | None:
        """By numeric id, key (``mac:…``/``ip:…``), MAC (any case/separator) or IP.

        An IP resolves to the device that held it most recently (largest ``last_ns``, then the
        highest id), falling back to the ``ip:`` key. The returned device carries its evidence
        (each resolved attribute's evidence and conflicts).
        """
        device_id = self._resolve(ref)
        if device_id is None:
            return None
        rows = list(self._conn.execute(select(s.device).where(s.device.c.id == device_id)))
        if not rows:
            return None
        return self._devices(rows, with_evidence=True)[0]

    def _id_where(self, *where: ColumnElement[bool]) -> int | None:
        q = select(s.device.c.id).where(*where).order_by(s.device.c.last_ns.desc(), s.device.c.id.desc())
        found = self._conn.execute(q.limit(1)).scalar_one_or_none()
        return None if found is None else int(found)

    def _resolve(self, ref: str) -> int | None:
        ref = ref.strip()
        d = s.device
        if ref.isdigit():
            found = self._id_where(d.c.id == int(ref))
            if found is not None:
                return found
        lowered = ref.lower()
        if lowered.startswith("mac:"):
            return self._id_where(d.c.key == "mac:" + (s.normalize_mac(ref[4:]) or ref[4:].lower()))
        if lowered.startswith("ip:"):
            return self._id_where(d.c.key == "ip:" + (_canonical_ip(ref[3:]) or ref[3:]))
        mac = s.normalize_mac(ref)
        if mac is not None:
            return self._id_where(d.c.key == "mac:" + mac) or self._id_where(d.c.mac == mac)
        ip = _canonical_ip(ref)
        if ip is not None:
            di = s.device_ip
            q = (
                select(di.c.device_id)
                .where(di.c.ip == ip)
                .order_by(di.c.last_ns.desc(), di.c.device_id.desc())
                .limit(1)
            )
            found = self._conn.execute(q).scalar_one_or_none()
            return int(found) if found is not None else self._id_where(d.c.key == "ip:" + ip)
        return None

    def device_evidence(self, device_id: int) -> list[Evidence]:
        """The device's evidence, in the order ``save_device`` was given it."""
        t = s.evidence
        q = select(t).where(t.c.device_id == device_id).order_by(t.c.seq)
        return [_evidence(r) for r in self._conn.execute(q)]

    def _search(self, search: str | None) -> ColumnElement[bool] | None:
        terms = s.search_terms(search)
        if terms is None:
            return None
        term, mac_term = terms
        d, di = s.device, s.device_ip
        clauses: list[ColumnElement[bool]] = [
            func.lower(d.c.mac).contains(mac_term, autoescape=True),
            *(func.lower(d.c[n]).contains(term, autoescape=True) for n in s.SEARCH_COLUMNS if n != "mac"),
            exists().where(di.c.device_id == d.c.id, di.c.ip.startswith(term, autoescape=True)),
            exists().where(
                s.device_attribute.c.device_id == d.c.id,
                s.device_attribute.c.attribute.in_(s.SEARCH_ATTRIBUTES),
                func.lower(s.device_attribute.c.value).contains(term, autoescape=True),
            ),
        ]
        return or_(*clauses)

    def device_list_query(
        self, *, limit: int | None = None, offset: int = 0, sort: str = "id", search: str | None = None
    ) -> Select[Any]:
        """The SELECT behind :meth:`list_devices` (exposed so tests can check its query plan)."""
        name, descending = s.parse_sort(sort)
        d = s.device
        column = d.c[name]
        # NULL sorts as the largest value on both engines (PostgreSQL's native order, which its
        # btree indexes serve in both directions; SQLite scans its index twice for NULLS LAST).
        if name in ("id", "key"):  # unique: no tie to break (and PostgreSQL would sort again)
            order = [column.desc() if descending else column.asc()]
        elif descending:
            order = [column.desc().nulls_first(), d.c.id.desc()]
        else:
            order = [column.asc().nulls_last(), d.c.id.asc()]
        q = select(d).order_by(*order)
        where = self._search(search)
        if where is not None:
            q = q.where(where)
        if limit is not None:
            q = q.limit(limit)
        if offset:
            q = q.offset(offset)
        return q

    def list_devices(
        self,
        *,
        limit: int | None = None,
        offset: int = 0,
        sort: str = "id",
        search: str | None = None,
    ) -> list[Device]:
        """Devices with resolved attributes and IPs (evidence is not loaded: each attribute's
        ``evidence``/``conflicts`` are empty tuples; use :meth:`get_device` or
        :meth:`device_evidence`).

        ``sort`` is one of :data:`wardwatch.store.schema.SORT_COLUMNS`, ``-name`` for descending;
        ties break by id in the same direction, and unknown (NULL) values sort last ascending,
        first descending. ``search`` matches MAC, hostname, vendor, model and serial as
        case-insensitive (ASCII) substrings, and IPs by prefix. Raises ValueError for an unknown sort.
        """
        q = self.device_list_query(limit=limit, offset=offset, sort=sort, search=search)
        return self._devices(list(self._conn.execute(q)), with_evidence=False)

    def count_devices(self, *, search: str | None = None) -> int:
        """How many devices :meth:`list_devices` would return without a limit."""
        q = select(func.count()).select_from(s.device)
        where = self._search(search)
        if where is not None:
            q = q.where(where)
        return int(self._conn.execute(q).scalar_one())

    def device_keys(self) -> list[str]:
        """Every device key, by id."""
        return [str(k) for k in self._conn.execute(select(s.device.c.key).order_by(s.device.c.id)).scalars()]

    def _devices(self, rows: list[Row[Any]], *, with_evidence: bool) -> list[Device]:
        ids = [int(r.id) for r in rows]
        attributes: dict[int, list[Row[Any]]] = {i: [] for i in ids}
        ips: dict[int, list[Row[Any]]] = {i: [] for i in ids}
        evidence: dict[int, list[Evidence]] = {i: [] for i in ids}
        for chunk in _chunks(ids):
            a = s.device_attribute
            for r in self._conn.execute(select(a).where(a.c.device_id.in_(chunk))):
                attributes[r.device_id].append(r)
            di = s.device_ip
            for r in self._conn.execute(select(di).where(di.c.device_id.in_(chunk))):
                ips[r.device_id].append(r)
            if with_evidence:
                e = s.evidence
                q = select(e).where(e.c.device_id.in_(chunk)).order_by(e.c.device_id, e.c.seq)
                for r in self._conn.execute(q):
                    evidence[r.device_id].append(_evidence(r))
        return [
            build_device(
                id=int(r.id),
                key=r.key,
                mac=r.mac,
                first_ns=r.first_ns,
                last_ns=r.last_ns,
                mac_randomized=bool(r.mac_randomized),
                attributes=[(x.attribute, x.value, x.confidence, x.chosen_by) for x in attributes[int(r.id)]],
                ips=[
                    DeviceIP(ip=x.ip, first_ns=x.first_ns, last_ns=x.last_ns, source=x.source)
                    for x in ips[int(r.id)]
                ],
                evidence=evidence[int(r.id)],
            )
            for r in rows
        ]


def build_device(
    *,
    id: int,
    key: str,
    mac: str | None,
    first_ns: int,
    last_ns: int,
    mac_randomized: bool,
    attributes: Iterable[tuple[str, str, float, str]],
    ips: Iterable[DeviceIP],
    evidence: Sequence[Evidence],
) -> Device:
    """Assemble a :class:`Device` from stored parts, the same way in every adapter.

    Attributes are keyed by name in :class:`Attribute` order; IPs are most recent first (then by
    address). Each resolved attribute gets the evidence for its value as ``evidence`` and the
    evidence for other values of the same attribute as ``conflicts`` (empty when ``evidence`` is).
    """
    order = {a.value: i for i, a in enumerate(Attribute)}
    resolved: dict[str, ResolvedAttribute] = {}
    for name, value, confidence, chosen_by in sorted(attributes, key=lambda a: order.get(a[0], len(order))):
        resolved[name] = ResolvedAttribute(
            attribute=Attribute(name),
            value=value,
            confidence=confidence,
            chosen_by=chosen_by,
            evidence=tuple(e for e in evidence if e.attribute == name and e.value == value),
            conflicts=tuple(e for e in evidence if e.attribute == name and e.value != value),
        )
    return Device(
        id=id,
        key=key,
        mac=mac,
        first_ns=first_ns,
        last_ns=last_ns,
        mac_randomized=mac_randomized,
        attributes=resolved,
        ips=tuple(sorted(ips, key=lambda x: (-x.last_ns, x.ip))),
    )


__all__ = ["CHUNK", "DEFAULT_URL", "SqlStore", "SqlTransaction", "StoreError", "build_device", "open_store"]
