"""Pages of the subsystems that landed after the web app: alerts (with their workflow buttons),
recalls, vulnerabilities (list and one CVE/advisory) and feed status. Each calls the same code as
its API route; a page whose service does not import is simply not mounted."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from wardwatch.auth.model import Role
from wardwatch.store.sql import SqlTransaction
from wardwatch.web.api.common import MAX_OFFSET, read
from wardwatch.web.pages.render import render
from wardwatch.web.security import Principal, require_analyst

router = APIRouter(include_in_schema=False)
Tx = Annotated[SqlTransaction, Depends(read)]
PAGE = 50


@router.get("/alerts")
def alerts_page(
    request: Request,
    tx: Tx,
    state: Annotated[str | None, Query(max_length=20)] = "open",
    kind: Annotated[str | None, Query(max_length=20)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """Alerts with filters, paging and acknowledge / close / reopen buttons (analysts)."""
    from wardwatch.model.recall import AlertKind, AlertState
    from wardwatch.web.queries import alert_counts, alert_page

    states = [s.value for s in AlertState]
    kinds = [k.value for k in AlertKind]
    state = state or None
    kind = kind or None
    if (state and state not in states) or (kind and kind not in kinds):
        raise HTTPException(status_code=400, detail="unknown alert state or kind")
    items, total = alert_page(tx, state=state, kind=kind, limit=PAGE, offset=offset)

    def link(new_offset: int) -> str:
        return "?" + urlencode({"state": state or "", "kind": kind or "", "offset": new_offset})

    who: Principal = request.state.principal
    return render(
        request,
        "alerts.html",
        {
            "alerts": items,
            "total": total,
            "state": state or "",
            "kind": kind or "",
            "states": states,
            "kinds": kinds,
            "counts": alert_counts(tx),
            "offset": offset,
            "prev_link": link(max(0, offset - PAGE)) if offset else None,
            "next_link": link(offset + PAGE) if offset + PAGE < total else None,
            "can_act": who.user.role.allows(Role.ANALYST),
            "api_link": "/api/v1/alerts?"
            + urlencode({k: v for k, v in (("state", state), ("kind", kind)) if v}),
            "back": "?" + urlencode({"state": state or "", "kind": kind or "", "offset": offset}),
        },
    )


@router.post("/alerts/{alert_id}/{action}")
def alert_form(
    request: Request,
    alert_id: Annotated[int, Path(ge=1, le=2**62)],
    action: str,
    who: Annotated[Principal, Depends(require_analyst)],
    back: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """An alert button: change the state (audited) and show the alerts list again."""
    from wardwatch.web.api.alerts import change_state

    change_state(request, who, alert_id, action)
    # Only a query string of this page is followed back: never an arbitrary URL.
    target = "/alerts" + (back if back.startswith("?") else "")
    return RedirectResponse(f"{target}#alert-{alert_id}", status_code=303)


@router.get("/recalls")
def recalls_page(
    request: Request,
    open_only: Annotated[bool, Query(alias="open")] = False,
    device: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Units affected (or possibly affected) by FDA recalls, with evidence and where they are;
    for one ``device``, every match level (so "not affected" shows why)."""
    from wardwatch.model.recall import MatchLevel
    from wardwatch.services.recalls import ACTIONABLE
    from wardwatch.web.api.recalls import recall_items

    device = device or None
    levels = (*ACTIONABLE, MatchLevel.NOT_AFFECTED) if device else ACTIONABLE
    items = recall_items(request, open_only=open_only, device=device, levels=levels)
    return render(request, "recalls.html", {"items": items, "open_only": open_only, "device": device or ""})


@router.get("/vulnerabilities")
def vulnerabilities_page(
    request: Request,
    kev_only: bool = False,
    min_cvss: Annotated[float | None, Query(ge=0, le=10)] = None,
    state: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Vulnerabilities found on devices, filtered by KEV, minimum CVSS and triage state."""
    from wardwatch.web.api.vulnerabilities import STATE_FILTERS, summary

    items = summary(
        request, kev_only=kev_only, min_cvss=min_cvss, state=state or None, include_inactive=False
    )
    return render(
        request,
        "vulnerabilities.html",
        {
            "items": items,
            "kev_only": kev_only,
            "min_cvss": min_cvss,
            "state": state or "",
            "states": STATE_FILTERS,
        },
    )


@router.get("/vulnerabilities/{vuln_id}")
def vulnerability_page(request: Request, tx: Tx, vuln_id: str) -> Response:
    """One CVE or advisory: description, scores, KEV/EPSS/SSVC, affected devices with triage."""
    from wardwatch.web.api.vulnerabilities import detail

    return render(request, "vulnerability.html", {"v": detail(request, tx, vuln_id)})


@router.get("/feeds")
def feeds_page(request: Request) -> Response:
    """What the offline vulnerability feeds hold and each import's result."""
    from wardwatch.services import vulns

    status = vulns.feed_status(request.app.state.store)
    return render(request, "feeds.html", {"status": status})
