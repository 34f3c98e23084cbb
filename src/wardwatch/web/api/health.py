"""The health check: the only API route reachable without authentication; it says nothing but
whether the database answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from wardwatch.web.api.common import store_of

router = APIRouter(tags=["health"])


@router.get("/health", summary="Health check", response_model=None)
def health(request: Request) -> dict[str, Any] | JSONResponse:
    """``{"status": "ok"}`` when the database answers, else 503."""
    try:
        with store_of(request).transaction() as tx:
            tx.conn.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return {"status": "ok"}
