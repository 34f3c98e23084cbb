"""The pages everyone with an account can read: dashboard, inventory, device, network map, captures."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from wardwatch.auth.model import Role
from wardwatch.services import identity, present
from wardwatch.store.sql import SqlTransaction
from wardwatch.web.api.common import read
from wardwatch.web.api.devices import device_or_404, inventory_query
from wardwatch.web.api.overrides import NewOverride, set_override
from wardwatch.web.pages.render import render
from wardwatch.web.queries import (
    DEFAULT_COLUMNS,
    FILTERS,
    INVENTORY_COLUMNS,
    InventoryQuery,
    alert_counts,
    alert_page,
    dashboard,
    device_recall_alerts,
    facet,
    inventory,
    peers,
    risk_band,
    risk_panels,
)
from wardwatch.web.security import Principal, require_analyst

router = APIRouter(include_in_schema=False)
Tx = Annotated[SqlTransaction, Depends(read)]

#: Observations shown on a device page (the API has them all).
SHOWN_OBSERVATIONS = 200


@router.get("/")
def dashboard_page(request: Request, tx: Tx) -> Response:
    """Devices by type and category, newly seen and missing devices, and the trend."""
    board = dashboard(tx)
    risk = risk_panels(tx)
    open_alerts, open_total = alert_page(tx, state="open", kind=None, limit=10, offset=0)
    chart = {
        "by_type": board.by_type,
        "by_category": board.by_category,
        "trend": board.trend,
        "risk_bands": list(risk["bands"].items()),
    }
    return render(
        request,
        "dashboard.html",
        {
            "board": board,
            "risk": risk,
            "open_alerts": open_alerts,
            "open_alert_total": open_total,
            "alert_counts": alert_counts(tx).get("open", {}),
            "chart_json": json.dumps(chart),
        },
    )


def _query_string(q: InventoryQuery, columns: list[str], **changes: Any) -> str:
    params: dict[str, Any] = {"search": q.search or "", "sort": q.sort, "limit": q.limit, "offset": q.offset}
    params.update(q.filters)
    params.update(changes)
    pairs = [(k, v) for k, v in params.items() if v not in ("", None)]
    pairs += [("cols", c) for c in columns]
    return urlencode(pairs)


#: Filter choices (value counts) are recomputed at most this often: each is a GROUP BY over every
#: device, too slow to repeat on every inventory page at 100,000 devices; a minute of lag in the
#: counts shown beside the filter choices is harmless.
FACET_TTL_S = 60.0


def facets(request: Request, tx: SqlTransaction) -> dict[str, list[tuple[str, int]]]:
    """The filter choices with their device counts, cached per app for :data:`FACET_TTL_S`."""
    import time

    cached: tuple[float, dict[str, list[tuple[str, int]]]] | None = getattr(request.app.state, "facets", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > FACET_TTL_S:
        cached = (now, {name: facet(tx, name) for name in FILTERS})
        request.app.state.facets = cached
    return cached[1]


@router.get("/inventory")
def inventory_page(
    request: Request,
    tx: Tx,
    q: Annotated[InventoryQuery, Depends(inventory_query)],
    cols: Annotated[list[str] | None, Query(max_length=40)] = None,
) -> Response:
    """The inventory table: search, filters, sort, paging, column choice and export links."""
    columns = [c for c in (cols or []) if c in INVENTORY_COLUMNS] or list(DEFAULT_COLUMNS)
    try:
        rows, total, match = inventory(tx, q)
    except ValueError as e:
        raise HTTPException(status_code=400, detail=str(e)) from None
    sortable = {"mac", "first_seen", "last_seen", *(c for c in INVENTORY_COLUMNS if c in present.COLUMNS)}
    sort_key = {"first_seen": "first_ns", "last_seen": "last_ns"}
    sort_links = {}
    for c in columns:
        if c in sortable and c != "ip":
            key = sort_key.get(c, c)
            new = f"-{key}" if q.sort == key else key
            sort_links[c] = "?" + _query_string(q, columns, sort=new, offset=0)
    export = {
        k: v
        for k, v in (("search", q.search), ("sort", q.sort), ("match", q.match.value), *q.filters.items())
        if v
    }
    context = {
        "rows": rows,
        "total": total,
        "q": q,
        "columns": columns,
        "all_columns": INVENTORY_COLUMNS,
        "sort_links": sort_links,
        "prev_link": "?" + _query_string(q, columns, offset=max(0, q.offset - q.limit)) if q.offset else None,
        "next_link": "?" + _query_string(q, columns, offset=q.offset + q.limit)
        if q.offset + q.limit < total
        else None,
        "export_csv": "/api/v1/devices/export?" + urlencode({**export, "format": "csv"}),
        "export_json": "/api/v1/devices/export?" + urlencode({**export, "format": "json"}),
        "facets": facets(request, tx),
        "match": match.value,
    }
    template = "_inventory_table.html" if request.headers.get("hx-request") else "inventory.html"
    return render(request, template, context)


@router.get("/devices/{ref}")
def device_page(request: Request, tx: Tx, ref: str) -> Response:
    """A device: identity with evidence and confidence, addresses, peers, observations, history."""
    device = device_or_404(tx, ref)
    assert device.id is not None
    data = present.device_json(device, evidence=tx.device_evidence(device.id))
    observations = tx.observations(macs=[device.mac] if device.mac else [], ips=[i.ip for i in device.ips])
    who: Principal = request.state.principal
    return render(
        request,
        "device.html",
        {
            "device": device,
            "data": data,
            "peers": peers(tx, device)[:200],
            "observations": observations[-SHOWN_OBSERVATIONS:][::-1],
            "observation_count": len(observations),
            "sections": _sections(request, tx, device.id),
            "overrides": identity.list_overrides(request.app.state.store, str(device.id), history=True),
            "can_override": who.user.role.allows(Role.ANALYST),
            "override_attributes": [a for a in data_attributes()],
            "categories": identity.CATEGORIES,
        },
    )


def _sections(request: Request, tx: SqlTransaction, device_id: int) -> list[dict[str, Any]]:
    """Extra device-page sections from subsystems that are installed: risk with its explanation
    and mitigations, findings with triage, recall matches. Each is a template and its context;
    a subsystem whose service does not import adds nothing.

    The device page must stay fast at 100,000 devices, so nothing here reads the whole inventory:
    risk is scored live only for a device with active findings (scoring reads every conversation
    for the attack path), and recall matches come from the stored recall alerts of this device
    (matching reconciles the whole inventory; the recalls page does that, linked from here)."""
    sections: list[dict[str, Any]] = []
    store = request.app.state.store
    findings: list[dict[str, Any]] | None = None
    try:
        from wardwatch.services import vulns
        from wardwatch.web.api.findings import TRIAGE_STATES
    except ImportError:
        pass
    else:
        try:
            findings = vulns.list_findings(store, device=str(device_id), include_inactive=True)
        except vulns.VulnError:
            findings = []
    try:
        from wardwatch.services import risk
    except ImportError:
        pass
    else:
        if findings is not None and any(f["active"] for f in findings):
            try:
                result, options = risk.mitigation_options(store, device=str(device_id))
            except risk.RiskError:
                pass
            else:
                data = risk.device_risk_json(result)
                sections.append(
                    {
                        "template": "_risk.html",
                        "risk": data,
                        "band": risk_band(data["score"]["risk"] if data["score"]["findings"] else None),
                        "options": [risk.option_json(o) for o in options],
                    }
                )
        else:
            sections.append({"template": "_risk.html", "risk": None, "band": "none", "options": []})
    if findings is not None:
        sections.append({"template": "_findings.html", "findings": findings, "states": TRIAGE_STATES})
    try:
        from wardwatch.services import recalls  # noqa: F401  (present: issue 8 is installed)
    except ImportError:
        pass
    else:
        sections.append({"template": "_device_recalls.html", "alerts": device_recall_alerts(tx, device_id)})
    return sections


def data_attributes() -> list[str]:
    """The attributes a person may override, in display order."""
    return [str(c) for c in present.COLUMNS] + ["location", "description"]


@router.post("/devices/{ref}/overrides")
def override_form(
    request: Request,
    ref: str,
    who: Annotated[Principal, Depends(require_analyst)],
    attribute: Annotated[str, Form(max_length=40)],
    value: Annotated[str, Form(max_length=256)],
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """The device page's override form: set, audit, and show the device again."""
    set_override(request, who, ref, NewOverride(attribute=attribute, value=value, reason=reason))
    return RedirectResponse(f"/devices/{ref}#overrides", status_code=303)


@router.get("/network")
def network_page(request: Request) -> Response:
    """The network map (drawn in the browser from ``/api/v1/network``)."""
    from wardwatch.web.app import CSP

    response = render(request, "network.html", {})
    # Cytoscape injects one <style> element for its container: allow inline styles (never
    # scripts) on this page only.
    response.headers["Content-Security-Policy"] = CSP.replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'"
    )
    return response


@router.get("/captures")
def captures_page(request: Request, tx: Tx) -> Response:
    """Every discovery run."""
    items = sorted(tx.captures(), key=lambda c: c.id or 0, reverse=True)
    return render(request, "captures.html", {"captures": items})


@router.post("/devices/{ref}/triage")
def triage_form(
    request: Request,
    ref: str,
    who: Annotated[Principal, Depends(require_analyst)],
    vulnerability: Annotated[str, Form(max_length=100)],
    state: Annotated[str, Form(max_length=40)],
    detail: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """The device page's triage form: record, audit, and show the device again."""
    from wardwatch.web.api.findings import TriageDecision, record_triage

    record_triage(
        request, who, TriageDecision(vulnerability=vulnerability, device=ref, state=state, detail=detail)
    )
    return RedirectResponse(f"/devices/{ref}#findings", status_code=303)
