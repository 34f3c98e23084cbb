"""Recall storage on a SQLAlchemy connection (SQLite and PostgreSQL alike), and its JSON codec.

Works inside the caller's transaction (``with store.transaction() as tx: save_recalls(tx.conn, ...)``)
so an import of one file is all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from wardwatch.model.recall import Identifier, IdentifierKind, Recall, RecallSource, RecallStatus
from wardwatch.recalls.openfda import merge
from wardwatch.store.schema_recall import recall as recall_table


def recall_to_json(r: Recall) -> dict[str, Any]:
    """A recall as plain JSON (stored in ``recall.data`` and shown by ``recalls --format json``)."""
    return {
        "uid": r.uid,
        "number": r.number,
        "event_id": r.event_id,
        "sources": [s.value for s in r.sources],
        "recalling_firm": r.recalling_firm,
        "product_code": r.product_code,
        "k_numbers": list(r.k_numbers),
        "pma_numbers": list(r.pma_numbers),
        "classification": r.classification,
        "status": r.status.value,
        "status_text": r.status_text,
        "initiated": r.initiated,
        "posted": r.posted,
        "terminated": r.terminated,
        "reason": r.reason,
        "root_cause": r.root_cause,
        "product_description": r.product_description,
        "code_info": r.code_info,
        "device_name": r.device_name,
        "identifiers": [
            {
                "kind": i.kind.value,
                "value": i.value,
                "source_field": i.source_field,
                "context": i.context,
                "low": i.low,
                "high": i.high,
            }
            for i in r.identifiers
        ],
    }


def recall_from_json(d: dict[str, Any]) -> Recall:
    """The inverse of :func:`recall_to_json`."""
    return Recall(
        uid=d["uid"],
        number=d.get("number"),
        event_id=d.get("event_id"),
        sources=tuple(RecallSource(s) for s in d.get("sources", ())),
        recalling_firm=d["recalling_firm"],
        product_code=d.get("product_code"),
        k_numbers=tuple(d.get("k_numbers", ())),
        pma_numbers=tuple(d.get("pma_numbers", ())),
        classification=d.get("classification"),
        status=RecallStatus(d.get("status", "unknown")),
        status_text=d.get("status_text", ""),
        initiated=d.get("initiated"),
        posted=d.get("posted"),
        terminated=d.get("terminated"),
        reason=d.get("reason", ""),
        root_cause=d.get("root_cause"),
        product_description=d.get("product_description", ""),
        code_info=d.get("code_info", ""),
        device_name=d.get("device_name"),
        identifiers=tuple(
            Identifier(
                kind=IdentifierKind(i["kind"]),
                value=i["value"],
                source_field=i["source_field"],
                context=i["context"],
                low=i.get("low"),
                high=i.get("high"),
            )
            for i in d.get("identifiers", ())
        ),
    )


def _row(r: Recall, now_ns: int) -> dict[str, Any]:
    return {
        "uid": r.uid,
        "number": r.number,
        "event_id": r.event_id,
        "recalling_firm": r.recalling_firm,
        "product_code": r.product_code,
        "classification": r.classification,
        "status": r.status.value,
        "initiated": r.initiated,
        "terminated": r.terminated,
        "data": recall_to_json(r),
        "imported_ns": now_ns,
    }


def save_recalls(conn: Connection, recalls: Iterable[Recall], *, now_ns: int) -> tuple[int, int]:
    """Insert new recalls, merge known ones (:func:`wardwatch.recalls.openfda.merge`: the newer
    record's status wins). Returns (new, updated) where updated counts only real changes."""
    items = list(recalls)
    uids = [r.uid for r in items]
    existing: dict[str, Recall] = {}
    for start in range(0, len(uids), 500):
        chunk = uids[start : start + 500]
        for row in conn.execute(select(recall_table.c.data).where(recall_table.c.uid.in_(chunk))):
            old = recall_from_json(row.data)
            existing[old.uid] = old
    new = updated = 0
    inserts: dict[str, Recall] = {}
    for r in items:
        known = existing.get(r.uid)
        if known is None:
            existing[r.uid] = inserts[r.uid] = r
            new += 1
            continue
        if r.uid in inserts:  # twice in one batch: merge before inserting
            existing[r.uid] = inserts[r.uid] = merge(known, r)
            continue
        merged = merge(known, r)
        if merged != known:
            values = _row(merged, now_ns)
            del values["uid"]
            conn.execute(recall_table.update().where(recall_table.c.uid == r.uid).values(**values))
            existing[r.uid] = merged
            updated += 1
    rows = [_row(r, now_ns) for r in inserts.values()]
    for start in range(0, len(rows), 1000):
        conn.execute(recall_table.insert(), rows[start : start + 1000])
    return new, updated


def list_recalls(conn: Connection, *, open_only: bool = False) -> list[Recall]:
    """Stored recalls, newest initiation first (then by uid)."""
    query = select(recall_table.c.data).order_by(recall_table.c.initiated.desc(), recall_table.c.uid)
    recalls = [recall_from_json(row.data) for row in conn.execute(query)]
    if open_only:
        recalls = [r for r in recalls if r.status.is_open]
    # NULL initiation dates sort differently on the two engines: fix the order here.
    return sorted(recalls, key=lambda r: (-_date_key(r.initiated), r.uid))


def _date_key(iso: str | None) -> int:
    return int(iso.replace("-", "")) if iso else 0


def get_recall(conn: Connection, uid: str) -> Recall | None:
    """One recall by uid (the recall number)."""
    row = conn.execute(select(recall_table.c.data).where(recall_table.c.uid == uid)).first()
    return recall_from_json(row.data) if row else None
