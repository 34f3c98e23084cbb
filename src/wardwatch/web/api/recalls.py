"""FDA recalls matched to units (issue 8's :func:`wardwatch.services.recalls.recall_findings`):
each affected or possibly affected unit with the match evidence and where the unit is (segment,
VLANs, candidate switch port, last seen, CMMS location)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from wardwatch.model.recall import MatchLevel
from wardwatch.services import recalls
from wardwatch.web.api.common import clean_text, safe_ref, store_of

router = APIRouter(tags=["recalls"])


def recall_items(
    request: Request, *, open_only: bool, device: str | None, levels: tuple[MatchLevel, ...]
) -> list[dict[str, Any]]:
    """Recall findings as JSON (shared with the recalls page and the device page)."""
    if device is not None and not safe_ref(device):
        raise HTTPException(status_code=404, detail=f"no device {device!r}")
    try:
        found = recalls.recall_findings(
            store_of(request), open_only=open_only, device_ref=clean_text(device, "device"), levels=levels
        )
    except LookupError as e:
        raise HTTPException(status_code=404, detail=str(e).strip("'\"")) from None
    return [recalls.finding_json(f) for f in found]


@router.get("/recalls", summary="Units affected by FDA recalls")
def list_recalls(
    request: Request,
    open_only: Annotated[bool, Query(alias="open", description="only recalls still open")] = False,
    device: Annotated[
        str | None, Query(max_length=200, description="one unit: device id, MAC, IP or CMMS asset tag")
    ] = None,
    level: Annotated[
        list[MatchLevel] | None,
        Query(description="match levels to list (default: affected and possible)"),
    ] = None,
) -> dict[str, Any]:
    """Every (recall, unit) match at the chosen levels with its evidence and the unit's location.
    "possible" means the model matches but the unit's serial/lot is unknown: not "affected"."""
    levels = tuple(level) if level else recalls.ACTIONABLE
    return {"items": recall_items(request, open_only=open_only, device=device, levels=levels)}
