"""Risk scores with their explanations and mitigation options, from :mod:`wardwatch.services.risk`
(mounted only when that module imports; see :func:`wardwatch.web.api.routers`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from wardwatch.services import risk
from wardwatch.web.api.common import safe_ref, store_of

router = APIRouter(tags=["risk"])


def _ref(ref: str) -> str:
    if not safe_ref(ref):
        raise HTTPException(status_code=404, detail=f"no device {ref!r}")
    return ref


@router.get("/risk", summary="Stored risk scores")
def scores(request: Request, limit: Annotated[int, Query(ge=1, le=100_000)] = 100) -> dict[str, Any]:
    """Device risk scores, highest first (``wardwatch risk recompute`` refreshes them)."""
    return {"items": risk.stored_scores(store_of(request), limit=limit)}


@router.get("/devices/{ref}/risk", summary="A device's risk with its explanation")
def device_risk(request: Request, ref: str) -> dict[str, Any]:
    """The device's risk scored from what is stored now: factors, weights, version, exposure."""
    try:
        return risk.device_risk_json(risk.device_risk(store_of(request), device=_ref(ref)))
    except risk.RiskError as e:
        raise HTTPException(status_code=404, detail=str(e)) from None


@router.get("/devices/{ref}/mitigations", summary="Mitigation options with residual risk")
def mitigations(request: Request, ref: str) -> dict[str, Any]:
    """Ranked mitigation options for the device, each with the risk it would leave."""
    try:
        result, options = risk.mitigation_options(store_of(request), device=_ref(ref))
    except risk.RiskError as e:
        raise HTTPException(status_code=404, detail=str(e)) from None
    return {**risk.device_risk_json(result), "options": [risk.option_json(o) for o in options]}
