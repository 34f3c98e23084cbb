"""Use cases of identification: rebuild the inventory, re-identify, and people's overrides.

Identification is a pure function of the stored observations, the knowledge files and the active
overrides, so :func:`rebuild_inventory` can run at any time: after a discovery, after a knowledge
update (``wardwatch reidentify``, no capture needed) or after an override. Each run is recorded in
``identification_run`` with the knowledge version and every attribute that changed.

Overrides (:class:`~wardwatch.model.device.Override`) are stored apart from conclusions, keyed by
device key, never deleted: a newer override or a clear ends the old one, and the history stays.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from wardwatch.gctools import collector_paused
from wardwatch.identify.knowledge import Knowledge
from wardwatch.identify.oui import OuiRegistry
from wardwatch.inventory.build import build_devices
from wardwatch.model.device import Attribute, Device, Override
from wardwatch.store import schema as core
from wardwatch.store.ports import Store
from wardwatch.store.schema_ident import device_override, identification_run
from wardwatch.store.sql import SqlStore

#: At most this many attribute changes are stored per run (the count is always exact).
MAX_STORED_CHANGES = 5_000
MAX_VALUE = 256
#: SQLite page cache during a rebuild, in KiB (the default is 2 MiB; as risk.fleet uses).
SQLITE_CACHE_KIB = 65536
CATEGORIES = ("life-sustaining", "therapeutic", "diagnostic", "clinical support", "non-clinical")


class IdentityError(ValueError):
    """A request that cannot be carried out (unknown device, attribute or value): one clear line."""


@dataclass(frozen=True, slots=True)
class AttributeChange:
    """One attribute of one device whose resolved value changed in a rebuild."""

    device_key: str
    attribute: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class RebuildSummary:
    """What one inventory rebuild did."""

    run_id: int
    trigger: str
    knowledge_version: str
    devices: int
    devices_new: int
    changed: int
    changes: tuple[AttributeChange, ...]
    seconds: float


@dataclass(frozen=True, slots=True)
class IdentificationRun:
    """A stored rebuild (``wardwatch reidentify --history``)."""

    id: int
    trigger: str
    knowledge_version: str
    started_ns: int
    finished_ns: int
    devices: int
    devices_new: int
    changed: int
    changes: tuple[AttributeChange, ...]
    author: str | None


def _now_ns() -> int:
    return time.time_ns()


@contextmanager
def _sqlite_cache_raised(conn: Connection | None) -> Iterator[None]:
    """On SQLite, a page cache of :data:`SQLITE_CACHE_KIB` while the rebuild reads every observation
    (in uid order, so pages are revisited) and rewrites the inventory; restored afterwards."""
    if conn is None or conn.dialect.name != "sqlite":
        yield
        return
    old = int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
    conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={old}")


def _snapshot(devices: Sequence[Device]) -> dict[str, dict[str, str]]:
    return {d.key: {name: a.value for name, a in d.attributes.items()} for d in devices}


def _stored_snapshot(conn: Connection) -> dict[str, dict[str, str]]:
    """:func:`_snapshot` of the stored inventory, read with one query: only keys and attribute
    values are needed, and building every device (``list_devices``) cost a sizeable part of a
    rebuild. Every device is present, with ``{}`` when it has no attribute."""
    d, a = core.device, core.device_attribute
    query = select(d.c.key, a.c.attribute, a.c.value).select_from(d.outerjoin(a, a.c.device_id == d.c.id))
    snapshot: dict[str, dict[str, str]] = {}
    for key, attribute, value in conn.execute(query).all():
        values = snapshot.setdefault(key, {})
        if attribute is not None:
            values[attribute] = value
    return snapshot


def _diff(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[AttributeChange]:
    changes: list[AttributeChange] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, {}), after.get(key, {})
        for attribute in sorted(set(old) | set(new)):
            if old.get(attribute) != new.get(attribute):
                changes.append(AttributeChange(key, attribute, old.get(attribute), new.get(attribute)))
    return changes


def active_overrides(conn: Connection) -> dict[str, list[Override]]:
    """Every active override, by device key."""
    result: dict[str, list[Override]] = {}
    rows = conn.execute(
        select(device_override).where(device_override.c.active.is_(True)).order_by(device_override.c.id)
    )
    for row in rows:
        override = _override(row._mapping)
        result.setdefault(override.device_key, []).append(override)
    return result


def _override(m: Any) -> Override:
    return Override(
        id=int(m["id"]),
        device_key=m["device_key"],
        attribute=Attribute(m["attribute"]),
        value=m["value"],
        author=m["author"],
        created_ns=int(m["created_ns"]),
        reason=m["reason"],
        active=bool(m["active"]),
        ended_ns=None if m["ended_ns"] is None else int(m["ended_ns"]),
        ended_by=m["ended_by"],
    )


def rebuild_inventory(
    store: Store,
    *,
    knowledge: Knowledge | None = None,
    oui: OuiRegistry | None = None,
    trigger: str = "discover",
    author: str | None = None,
) -> RebuildSummary:
    """Re-identify every device from stored sightings, observations and active overrides.

    One transaction: readers see the old inventory or the new one, never half of each.
    """
    knowledge = knowledge or Knowledge.bundled()
    oui = oui or OuiRegistry.bundled()
    started = time.perf_counter()
    started_ns = _now_ns()
    with collector_paused(), store.transaction() as tx:
        # Overrides and run records live in SQL tables beside the core ones; the in-memory fake
        # store (tests of the core port) has neither, and rebuilds without them.
        conn: Connection | None = getattr(tx, "conn", None)
        before = _stored_snapshot(conn) if conn is not None else _snapshot(tx.list_devices())
        overrides = active_overrides(conn) if conn is not None else {}
        with _sqlite_cache_raised(conn):
            devices = build_devices(
                tx.sightings(),
                list(tx.iter_observations()),
                knowledge=knowledge,
                oui=oui,
                overrides=overrides,
            )
            tx.save_devices(devices)
        after = _snapshot([d for d, _ in devices])
        changes = [c for c in _diff(before, after) if c.device_key in after]
        new = sum(1 for d, _ in devices if d.key not in before)
        run_id = None
        if conn is not None:
            run_id = conn.execute(
                insert(identification_run).values(
                    trigger=trigger,
                    knowledge_version=knowledge.version,
                    started_ns=started_ns,
                    finished_ns=_now_ns(),
                    devices=len(devices),
                    devices_new=new,
                    changed=len(changes),
                    changes=[
                        {"device": c.device_key, "attribute": c.attribute, "old": c.old, "new": c.new}
                        for c in changes[:MAX_STORED_CHANGES]
                    ],
                    author=author,
                )
            ).inserted_primary_key
    return RebuildSummary(
        run_id=int(run_id[0]) if run_id else 0,
        trigger=trigger,
        knowledge_version=knowledge.version,
        devices=len(devices),
        devices_new=new,
        changed=len(changes),
        changes=tuple(changes),
        seconds=time.perf_counter() - started,
    )


def reidentify(store: Store, *, author: str | None = None) -> RebuildSummary:
    """Apply the current knowledge to every stored observation (no capture is read)."""
    return rebuild_inventory(store, trigger="reidentify", author=author)


def _check_value(attribute: Attribute, value: str, knowledge: Knowledge) -> str:
    value = " ".join(value.split())
    if not value:
        raise IdentityError(
            f"an override of {attribute.value} needs a non-empty value (use --clear to remove one)"
        )
    if len(value) > MAX_VALUE:
        raise IdentityError(f"an override value is at most {MAX_VALUE} characters, not {len(value)}")
    if attribute is Attribute.DEVICE_TYPE and value not in knowledge.types:
        raise IdentityError(
            f"unknown device type {value!r}; known types: {', '.join(sorted(knowledge.types))}"
        )
    if attribute is Attribute.CLINICAL_CATEGORY and value not in CATEGORIES:
        raise IdentityError(f"unknown clinical category {value!r}; use one of: {', '.join(CATEGORIES)}")
    return value


def parse_attribute(name: str) -> Attribute:
    """An attribute by its name (``device_type``, ``device-type`` and ``type`` all work)."""
    wanted = name.strip().lower().replace("-", "_")
    wanted = {"type": "device_type", "category": "clinical_category", "sw": "firmware"}.get(wanted, wanted)
    try:
        return Attribute(wanted)
    except ValueError:
        names = ", ".join(a.value for a in Attribute)
        raise IdentityError(f"unknown attribute {name!r}; use one of: {names}") from None


def _device_key(store: SqlStore, ref: str) -> str:
    with store.transaction() as tx:
        device = tx.get_device(ref)
    if device is None:
        raise IdentityError(f"no device {ref!r} (give an id, a MAC, an IP or a key like mac:…)")
    return device.key


def set_override(
    store: SqlStore,
    ref: str,
    attribute: str | Attribute,
    value: str,
    *,
    author: str,
    reason: str = "",
    knowledge: Knowledge | None = None,
) -> tuple[Override, RebuildSummary]:
    """Set one attribute of one device, end any earlier override of it, and re-identify."""
    knowledge = knowledge or Knowledge.bundled()
    attr = attribute if isinstance(attribute, Attribute) else parse_attribute(attribute)
    value = _check_value(attr, value, knowledge)
    if not author.strip():
        raise IdentityError("an override needs an author")
    key = _device_key(store, ref)
    now = _now_ns()
    with store.transaction() as tx:
        conn: Connection = tx.conn
        _end(conn, key, attr, author=author, now=now)
        new_id = conn.execute(
            insert(device_override).values(
                device_key=key,
                attribute=attr.value,
                value=value,
                reason=reason.strip(),
                author=author.strip(),
                created_ns=now,
                active=True,
                ended_ns=None,
                ended_by=None,
            )
        ).inserted_primary_key
    override = Override(
        id=int(new_id[0]) if new_id else None,
        device_key=key,
        attribute=attr,
        value=value,
        author=author.strip(),
        created_ns=now,
        reason=reason.strip(),
    )
    summary = rebuild_inventory(store, knowledge=knowledge, trigger="override", author=author)
    return override, summary


def clear_override(store: SqlStore, ref: str, attribute: str | Attribute, *, author: str) -> RebuildSummary:
    """End the active override of one attribute (the history keeps it) and re-identify."""
    attr = attribute if isinstance(attribute, Attribute) else parse_attribute(attribute)
    key = _device_key(store, ref)
    with store.transaction() as tx:
        ended = _end(tx.conn, key, attr, author=author, now=_now_ns())
    if not ended:
        raise IdentityError(f"{key} has no active override of {attr.value}")
    return rebuild_inventory(store, trigger="override", author=author)


def _end(conn: Connection, key: str, attr: Attribute, *, author: str, now: int) -> int:
    result = conn.execute(
        update(device_override)
        .where(
            and_(
                device_override.c.device_key == key,
                device_override.c.attribute == attr.value,
                device_override.c.active.is_(True),
            )
        )
        .values(active=False, ended_ns=now, ended_by=author)
    )
    return int(result.rowcount or 0)


def list_overrides(store: SqlStore, ref: str | None = None, *, history: bool = False) -> list[Override]:
    """Overrides of one device (or all), active only unless ``history``; oldest first."""
    key = _device_key(store, ref) if ref else None
    query = select(device_override).order_by(device_override.c.id)
    if key is not None:
        query = query.where(device_override.c.device_key == key)
    if not history:
        query = query.where(device_override.c.active.is_(True))
    with store.transaction() as tx:
        return [_override(r._mapping) for r in tx.conn.execute(query)]


def identification_runs(store: SqlStore, *, limit: int = 20) -> list[IdentificationRun]:
    """The most recent rebuilds, newest first."""
    query = select(identification_run).order_by(identification_run.c.id.desc()).limit(limit)
    with store.transaction() as tx:
        rows = list(tx.conn.execute(query))
    return [
        IdentificationRun(
            id=int(m["id"]),
            trigger=m["trigger"],
            knowledge_version=m["knowledge_version"],
            started_ns=int(m["started_ns"]),
            finished_ns=int(m["finished_ns"]),
            devices=int(m["devices"]),
            devices_new=int(m["devices_new"]),
            changed=int(m["changed"]),
            changes=tuple(
                AttributeChange(c["device"], c["attribute"], c.get("old"), c.get("new")) for c in m["changes"]
            ),
            author=m["author"],
        )
        for m in (r._mapping for r in rows)
    ]


def override_json(o: Override) -> dict[str, object]:
    """The JSON form of an override (schema ``wardwatch.override/1`` in README)."""
    return {
        "id": o.id,
        "device": o.device_key,
        "attribute": o.attribute.value,
        "value": o.value,
        "reason": o.reason,
        "author": o.author,
        "created": _iso(o.created_ns),
        "active": o.active,
        "ended": None if o.ended_ns is None else _iso(o.ended_ns),
        "ended_by": o.ended_by,
    }


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="seconds")
