"""The web application and REST API: `serve`, `users` (issue 7)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands (or sub-apps) to the ``wardwatch`` app."""
