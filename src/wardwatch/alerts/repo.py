"""Alert storage: raise (deduplicated), list, change state. On a SQLAlchemy connection.

Raising the same condition again (same ``dedup_key``) never adds a row. When the condition is
newer than what the alert already records (``at_ns`` > ``last_ns``) the alert's ``last_ns`` and
``count`` go up and its evidence is refreshed, and a *closed* alert reopens (the problem is back);
an *acknowledged* alert stays acknowledged. Raising it again for the same moment changes nothing,
so re-running a check is idempotent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from wardwatch.model.recall import Alert, AlertKind, AlertState
from wardwatch.store.schema_recall import alert as alert_table


class AlertNotFound(LookupError):
    """No alert has that id."""


def raise_alert(
    conn: Connection,
    *,
    kind: AlertKind,
    dedup_key: str,
    title: str,
    at_ns: int,
    now_ns: int,
    device_id: int | None = None,
    asset_tag: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> tuple[int, str]:
    """Store or refresh an alert. Returns (id, what happened: "new", "updated", "reopened", "unchanged")."""
    row = conn.execute(select(alert_table).where(alert_table.c.dedup_key == dedup_key)).first()
    if row is None:
        result = conn.execute(
            alert_table.insert().values(
                dedup_key=dedup_key,
                kind=kind.value,
                state=AlertState.OPEN.value,
                title=title,
                device_id=device_id,
                asset_tag=asset_tag,
                evidence=evidence or {},
                first_ns=at_ns,
                last_ns=at_ns,
                count=1,
                updated_ns=now_ns,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0]), "new"
    if at_ns <= row.last_ns:
        return int(row.id), "unchanged"
    reopened = row.state == AlertState.CLOSED.value
    conn.execute(
        alert_table.update()
        .where(alert_table.c.id == row.id)
        .values(
            title=title,
            evidence=evidence or {},
            last_ns=at_ns,
            count=int(row._mapping["count"]) + 1,
            updated_ns=now_ns,
            state=AlertState.OPEN.value if reopened else row.state,
        )
    )
    return int(row.id), "reopened" if reopened else "updated"


def _alert(r: Any) -> Alert:
    return Alert(
        id=int(r.id),
        kind=AlertKind(r.kind),
        dedup_key=r.dedup_key,
        title=r.title,
        state=AlertState(r.state),
        first_ns=r.first_ns,
        last_ns=r.last_ns,
        device_id=r.device_id,
        asset_tag=r.asset_tag,
        evidence=dict(r.evidence),
        count=int(r._mapping["count"]),
    )


def list_alerts(
    conn: Connection, *, state: AlertState | None = None, kind: AlertKind | None = None
) -> list[Alert]:
    """Alerts, most recent condition first (then by id)."""
    query = select(alert_table).order_by(alert_table.c.last_ns.desc(), alert_table.c.id)
    if state is not None:
        query = query.where(alert_table.c.state == state.value)
    if kind is not None:
        query = query.where(alert_table.c.kind == kind.value)
    return [_alert(r) for r in conn.execute(query)]


def get_alert(conn: Connection, alert_id: int) -> Alert | None:
    """One alert by id."""
    row = conn.execute(select(alert_table).where(alert_table.c.id == alert_id)).first()
    return _alert(row) if row else None


def set_state(conn: Connection, alert_id: int, state: AlertState, *, now_ns: int) -> Alert:
    """Acknowledge or close an alert (or reopen it). Raises :class:`AlertNotFound`."""
    if get_alert(conn, alert_id) is None:
        raise AlertNotFound(f"no alert {alert_id}")
    conn.execute(
        alert_table.update().where(alert_table.c.id == alert_id).values(state=state.value, updated_ns=now_ns)
    )
    alert = get_alert(conn, alert_id)
    assert alert is not None
    return alert
