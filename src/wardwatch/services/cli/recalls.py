"""FDA recalls, CMMS assets, lifecycle and alerts: `recalls`, `assets`, `alerts` (issue 8)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands (or sub-apps) to the ``wardwatch`` app."""
