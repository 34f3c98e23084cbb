"""Identification overrides of a device (issue 3's :mod:`wardwatch.services.identity`): list, set
and clear. Setting or clearing needs the analyst role and is audited; the inventory is re-identified
at once, so the device shows the new value on its next read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from wardwatch.services import identity
from wardwatch.web.api.common import safe_ref, store_of
from wardwatch.web.security import Principal, auth_service, client_address, require_analyst

router = APIRouter(tags=["overrides"])


class NewOverride(BaseModel):
    """A value a person sets for one attribute of one device."""

    attribute: str = Field(min_length=1, max_length=40, description="e.g. device_type, model, serial")
    value: str = Field(min_length=1, max_length=256)
    reason: str = Field(default="", max_length=1000)


def _ref(ref: str) -> str:
    if not safe_ref(ref):
        raise HTTPException(status_code=404, detail=f"no device {ref!r}")
    return ref


@router.get("/devices/{ref}/overrides", summary="Overrides of a device")
def list_overrides(request: Request, ref: str, history: bool = False) -> dict[str, Any]:
    """Active overrides of the device (with ``history``, ended ones too), oldest first."""
    try:
        found = identity.list_overrides(store_of(request), _ref(ref), history=history)
    except identity.IdentityError as e:
        raise HTTPException(status_code=404, detail=str(e)) from None
    return {"items": [identity.override_json(o) for o in found]}


def set_override(request: Request, who: Principal, ref: str, body: NewOverride) -> dict[str, Any]:
    """Set an override as ``who`` and audit it (shared with the device page's form)."""
    store = store_of(request)
    try:
        override, summary = identity.set_override(
            store, _ref(ref), body.attribute, body.value, author=who.user.name, reason=body.reason
        )
    except identity.IdentityError as e:
        raise HTTPException(status_code=400, detail=str(e)) from None
    auth_service(request).audit(
        actor=who.user.name,
        action="override.set",
        target=override.device_key,
        detail={"attribute": override.attribute.value, "value": override.value, "reason": override.reason},
        client=client_address(request),
    )
    return {**identity.override_json(override), "run": summary.run_id, "changed": summary.changed}


@router.post("/devices/{ref}/overrides", status_code=201, summary="Set an override")
def create_override(
    request: Request, ref: str, body: NewOverride, who: Annotated[Principal, Depends(require_analyst)]
) -> dict[str, Any]:
    """Set one attribute of one device (ends any earlier override of it) and re-identify."""
    return set_override(request, who, ref, body)


@router.delete("/devices/{ref}/overrides/{attribute}", summary="Clear an override")
def delete_override(
    request: Request, ref: str, attribute: str, who: Annotated[Principal, Depends(require_analyst)]
) -> dict[str, Any]:
    """End the active override of one attribute (the history keeps it) and re-identify."""
    try:
        summary = identity.clear_override(store_of(request), _ref(ref), attribute, author=who.user.name)
    except identity.IdentityError as e:
        raise HTTPException(status_code=404, detail=str(e)) from None
    auth_service(request).audit(
        actor=who.user.name,
        action="override.clear",
        target=ref,
        detail={"attribute": attribute},
        client=client_address(request),
    )
    return {"cleared": attribute, "run": summary.run_id}
