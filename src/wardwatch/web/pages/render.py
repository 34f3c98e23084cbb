"""Template rendering: the Jinja2 environment, its filters, and the context every page gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from wardwatch.services.present import iso

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

templates = Jinja2Templates(directory=str(TEMPLATES))


def _iso(ns: int | None) -> str:
    text = iso(ns)
    return text[:19].replace("T", " ") if text else "—"


def _size(n: int | None) -> str:
    value = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.0f}%"


templates.env.filters["ts"] = _iso
templates.env.filters["size"] = _size
templates.env.filters["pct"] = _pct


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render a template with the current user and CSRF token added to ``context``."""
    who = getattr(request.state, "principal", None)
    full = {"who": who, "csrf_token": who.csrf_token if who else "", **context}
    response: HTMLResponse = templates.TemplateResponse(request, name, full, status_code=status_code)
    return response
