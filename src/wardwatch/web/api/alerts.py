"""Alerts of issue 8 (recall, missing, moved, new device): list with filters and paging, one
alert, and its workflow (acknowledge, close, reopen). Changing a state needs the analyst role, a
CSRF token when the session cookie authenticates, and is audited.

The alert store is :mod:`wardwatch.alerts.repo` (what ``wardwatch alerts`` uses); the listing
adds paging through :func:`wardwatch.web.queries.alert_page`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from wardwatch.alerts import repo as alerts_repo
from wardwatch.model.recall import AlertKind, AlertState
from wardwatch.services.recalls import alert_json, now_ns
from wardwatch.store.sql import SqlTransaction
from wardwatch.web.api.common import MAX_LIMIT, MAX_OFFSET, read, store_of
from wardwatch.web.queries import alert_page
from wardwatch.web.security import Principal, auth_service, client_address, require_analyst

router = APIRouter(tags=["alerts"])
Tx = Annotated[SqlTransaction, Depends(read)]
#: The workflow actions and the state each one sets.
ACTIONS: dict[str, AlertState] = {
    "ack": AlertState.ACKNOWLEDGED,
    "close": AlertState.CLOSED,
    "reopen": AlertState.OPEN,
}


@router.get("/alerts", summary="Alerts")
def list_alerts(
    tx: Tx,
    state: AlertState | None = None,
    kind: AlertKind | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Stored alerts, most recent condition first, with their evidence; ``total`` counts every
    alert matching the filters."""
    items, total = alert_page(
        tx,
        state=state.value if state else None,
        kind=kind.value if kind else None,
        limit=limit,
        offset=offset,
    )
    return {"items": [alert_json(a) for a in items], "total": total, "limit": limit, "offset": offset}


@router.get("/alerts/{alert_id}", summary="One alert")
def get_alert(tx: Tx, alert_id: Annotated[int, Path(ge=1, le=2**62)]) -> dict[str, Any]:
    """One alert with its evidence."""
    alert = alerts_repo.get_alert(tx.conn, alert_id)
    if alert is None:
        raise HTTPException(status_code=404, detail=f"no alert {alert_id}")
    return alert_json(alert)


def change_state(request: Request, who: Principal, alert_id: int, action: str) -> dict[str, Any]:
    """Apply a workflow action as ``who`` and audit it (shared with the alerts page's buttons)."""
    state = ACTIONS.get(action)
    if state is None:
        raise HTTPException(status_code=404, detail=f"no action {action!r}: use ack, close or reopen")
    if not 1 <= alert_id <= 2**62:
        raise HTTPException(status_code=404, detail=f"no alert {alert_id}")
    try:
        with store_of(request).transaction() as tx:
            before = alerts_repo.get_alert(tx.conn, alert_id)
            alert = alerts_repo.set_state(tx.conn, alert_id, state, now_ns=now_ns())
    except alerts_repo.AlertNotFound:
        raise HTTPException(status_code=404, detail=f"no alert {alert_id}") from None
    auth_service(request).audit(
        actor=who.user.name,
        action=f"alert.{action}",
        target=f"alert:{alert_id}",
        detail={"from": before.state.value if before else "", "to": state.value, "title": alert.title},
        client=client_address(request),
    )
    return alert_json(alert)


@router.post("/alerts/{alert_id}/{action}", summary="Acknowledge, close or reopen an alert")
def alert_action(
    request: Request,
    alert_id: Annotated[int, Path(ge=1, le=2**62)],
    action: str,
    who: Annotated[Principal, Depends(require_analyst)],
) -> dict[str, Any]:
    """``action`` is ``ack``, ``close`` or ``reopen``. A closed alert reopens by itself when its
    condition is seen again later; an acknowledged one stays acknowledged."""
    return change_state(request, who, alert_id, action)
