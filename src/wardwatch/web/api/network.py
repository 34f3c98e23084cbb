"""The dashboard figures and the network map as JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from wardwatch.store.sql import SqlTransaction
from wardwatch.web.api.common import read
from wardwatch.web.queries import alert_counts, dashboard, network, risk_panels

router = APIRouter(tags=["overview"])


@router.get("/stats", summary="Dashboard figures")
def stats(tx: Annotated[SqlTransaction, Depends(read)]) -> dict[str, Any]:
    """Devices by type, clinical category and vendor; new and missing devices; the trend; risk
    bands, SSVC decisions and KEV-affected devices (stored scores); alerts by state and kind."""
    return {**dashboard(tx).json(), "risk": risk_panels(tx), "alerts": alert_counts(tx)}


@router.get("/network", summary="Network map")
def network_map(
    tx: Annotated[SqlTransaction, Depends(read)],
    max_nodes: Annotated[int, Query(ge=1, le=20000)] = 5000,
) -> dict[str, Any]:
    """Devices grouped by subnet with positions, and the conversations between them."""
    return network(tx, max_nodes=max_nodes)
