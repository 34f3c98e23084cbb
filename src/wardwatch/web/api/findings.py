"""Vulnerability findings, triage decisions and feed status, from issue 5's
:mod:`wardwatch.services.vulns` (mounted only when that module imports; see
:func:`wardwatch.web.api.routers`). Recording a triage decision needs the analyst role and is audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from wardwatch.services import vulns
from wardwatch.web.api.common import clean_text, safe_ref, store_of
from wardwatch.web.security import Principal, auth_service, client_address, require_analyst

router = APIRouter(tags=["findings"])
#: CycloneDX VEX analysis states a person may record.
TRIAGE_STATES: tuple[str, ...] = ("in_triage", "exploitable", "not_affected", "false_positive", "resolved")


@router.get("/findings", summary="Vulnerability findings")
def list_findings(
    request: Request,
    device: Annotated[
        str | None, Query(max_length=200, description="only this device (id, MAC, IP, key)")
    ] = None,
    kev_only: bool = False,
    min_cvss: Annotated[float | None, Query(ge=0, le=10)] = None,
    include_inactive: bool = False,
) -> dict[str, Any]:
    """Findings with CVSS, KEV, EPSS, SSVC facts, the device and its current triage decision."""
    if device is not None and not safe_ref(device):
        raise HTTPException(status_code=404, detail=f"no device {device!r}")
    try:
        rows = vulns.list_findings(
            store_of(request),
            device=clean_text(device, "device"),
            kev_only=kev_only,
            min_cvss=min_cvss,
            include_inactive=include_inactive,
        )
    except vulns.VulnError as e:
        raise HTTPException(status_code=404, detail=str(e)) from None
    return {"items": rows}


@router.get("/feeds", summary="Feed status")
def feeds(request: Request) -> dict[str, Any]:
    """What the offline vulnerability feeds hold and when each was imported."""
    return vulns.feed_status(store_of(request))


class TriageDecision(BaseModel):
    """A decision about one vulnerability on one device (CycloneDX VEX analysis states)."""

    vulnerability: str = Field(min_length=1, max_length=100)
    device: str = Field(min_length=1, max_length=200)
    state: str = Field(min_length=1, max_length=40, description="e.g. exploitable, not_affected, in_triage")
    justification: str | None = Field(default=None, max_length=60)
    responses: list[str] = Field(default_factory=list, max_length=10)
    detail: str = Field(default="", max_length=4000)


@router.post("/triage", status_code=201, summary="Record a triage decision")
def triage(
    request: Request, body: TriageDecision, who: Annotated[Principal, Depends(require_analyst)]
) -> dict[str, Any]:
    """Record what a person decided about a finding (audited; findings are never overwritten)."""
    return record_triage(request, who, body)


def record_triage(request: Request, who: Principal, body: TriageDecision) -> dict[str, Any]:
    """Record a triage decision as ``who`` and audit it (shared with the device page's form)."""
    if not safe_ref(body.device):
        raise HTTPException(status_code=404, detail=f"no device {body.device!r}")
    try:
        analysis_id = vulns.set_analysis(
            store_of(request),
            vulnerability=body.vulnerability,
            state=body.state,
            author=who.user.name,
            device=body.device,
            justification=body.justification,
            responses=body.responses,
            detail=body.detail,
        )
    except vulns.VulnError as e:
        raise HTTPException(status_code=400, detail=str(e)) from None
    auth_service(request).audit(
        actor=who.user.name,
        action="triage.set",
        target=f"{body.vulnerability}@{body.device}",
        detail={"state": body.state, "justification": body.justification or ""},
        client=client_address(request),
    )
    return {
        "id": analysis_id,
        "vulnerability": body.vulnerability,
        "device": body.device,
        "state": body.state,
    }
