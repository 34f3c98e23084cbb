"""What every command module shares: the consoles, the --db state, one-line errors, the store.

Command modules (``main``, ``ident``, ``vulns``, ``recalls``, ``sensor``, ``web``) import from here
and register their commands on the one Typer app in :mod:`wardwatch.services.cli.main`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    # Imported when a command needs them (opening the store, drawing a table), not at start-up:
    # ``--help`` and commands that do neither stay cheap (tests/unit/test_cli_startup.py).
    from rich.table import Table

    from wardwatch.store.sql import SqlStore

DEFAULT_DB = "sqlite:///wardwatch.sqlite"

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _State:
    db: str = DEFAULT_DB


state = _State()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    return typer.Exit(code)


@contextmanager
def opened_store() -> Iterator[SqlStore]:
    """Open the store named by --db, turning any failure into a one-line error.

    Subsystem repositories (vulnerabilities, recalls, users ...) work on ``store.engine`` or on
    ``tx.conn`` inside ``store.transaction()``.
    """
    from wardwatch.store.sql import StoreError, open_store

    try:
        store = open_store(state.db)
    except StoreError as exc:
        raise fail(str(exc)) from None
    try:
        yield store
    except StoreError as exc:
        raise fail(str(exc)) from None
    finally:
        store.close()


class LazyModule:
    """Stands for a module that is imported at the first attribute read (when a command that
    uses it runs), so registering commands does not import every subsystem's service."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(import_module(self._name), attribute)


def new_table(*args: Any, **kwargs: Any) -> Table:
    """A :class:`rich.table.Table` (imported on first use: only commands that draw tables need it)."""
    from rich.table import Table

    return Table(*args, **kwargs)
