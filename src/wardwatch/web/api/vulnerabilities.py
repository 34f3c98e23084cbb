"""Vulnerabilities as a whole (issue 5): the list of CVEs/advisories found on devices, and one
vulnerability with what the feeds say (description, CVSS, KEV, EPSS, SSVC) and every affected
device with its finding status and triage decision. Built on
:func:`wardwatch.services.vulns.list_findings`; mounted only when that module imports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from wardwatch.services import vulns
from wardwatch.store.sql import SqlTransaction
from wardwatch.web.api.common import read, store_of
from wardwatch.web.queries import vulnerability_facts, vulnerability_summary

router = APIRouter(tags=["vulnerabilities"])
Tx = Annotated[SqlTransaction, Depends(read)]
#: Triage states the list filters on: the CycloneDX states plus "not_triaged".
STATE_FILTERS: tuple[str, ...] = (
    "not_triaged",
    "in_triage",
    "exploitable",
    "not_affected",
    "false_positive",
    "resolved",
)


def summary(
    request: Request, *, kev_only: bool, min_cvss: float | None, state: str | None, include_inactive: bool
) -> list[dict[str, Any]]:
    """The vulnerability list (shared with the page)."""
    if state is not None and state not in STATE_FILTERS:
        raise HTTPException(status_code=400, detail=f"state must be one of {', '.join(STATE_FILTERS)}")
    rows = vulns.list_findings(
        store_of(request), kev_only=kev_only, min_cvss=min_cvss, include_inactive=include_inactive
    )
    return vulnerability_summary(rows, state=state)


@router.get("/vulnerabilities", summary="Vulnerabilities found on devices")
def list_vulnerabilities(
    request: Request,
    kev_only: bool = False,
    min_cvss: Annotated[float | None, Query(ge=0, le=10)] = None,
    state: Annotated[str | None, Query(max_length=40, description="triage state, or not_triaged")] = None,
    include_inactive: bool = False,
) -> dict[str, Any]:
    """One row per vulnerability: devices affected, highest CVSS, KEV, EPSS, triage states."""
    items = summary(
        request, kev_only=kev_only, min_cvss=min_cvss, state=state, include_inactive=include_inactive
    )
    return {"items": items}


def detail(request: Request, tx: SqlTransaction, vuln_id: str) -> dict[str, Any]:
    """One vulnerability with its facts and affected devices (shared with the page)."""
    if "\x00" in vuln_id or not vuln_id.isascii() or len(vuln_id) > 100:
        raise HTTPException(status_code=404, detail=f"no vulnerability {vuln_id!r}")
    facts = vulnerability_facts(tx, vuln_id)
    rows = vulns.list_findings(store_of(request), include_inactive=True, vulnerability=vuln_id)
    if facts is None and not rows:
        raise HTTPException(status_code=404, detail=f"no vulnerability {vuln_id!r}")
    findings = [vulns.finding_json(r) for r in rows]
    return {
        **(facts or {"id": vuln_id, "advisories": [], "kev": None, "epss": None, "ssvc": None}),
        "devices": len({f["device_id"] for f in findings}),
        "findings": findings,
    }


@router.get("/vulnerabilities/{vuln_id}", summary="One vulnerability and the devices it affects")
def get_vulnerability(request: Request, tx: Tx, vuln_id: str) -> dict[str, Any]:
    """A CVE or advisory id: description, CVSS (with vector), KEV, EPSS, SSVC, and each affected
    device's finding with its evidence, status and current triage decision."""
    return detail(request, tx, vuln_id)
