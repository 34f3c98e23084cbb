"""Risk in context: `risk`, `mitigate`, `what-if`, `procure` (issue 6)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands (or sub-apps) to the ``wardwatch`` app."""
