"""What the API modules share: the store per request, parameter checks, problem responses."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import HTTPException, Request

from wardwatch.store.sql import SqlStore, SqlTransaction

API_PREFIX = "/api/v1"
MAX_LIMIT = 1000
#: Offsets past this are refused: no inventory is that large, and SQL engines overflow beyond int64.
MAX_OFFSET = 10_000_000


def store_of(request: Request) -> SqlStore:
    """The app's store."""
    store: SqlStore = request.app.state.store
    return store


def read(request: Request) -> Iterator[SqlTransaction]:
    """A dependency yielding a transaction for the request (reads only; closed after the response)."""
    with store_of(request).transaction() as tx:
        yield tx


def clean_text(value: str | None, name: str) -> str | None:
    """Refuse text SQL engines cannot take (NUL characters) with a 400 naming the parameter."""
    if value is not None and "\x00" in value:
        raise HTTPException(status_code=400, detail=f"{name}: NUL characters are not allowed")
    return value


def safe_ref(ref: str) -> bool:
    """Whether a device reference can be looked up at all (ASCII, no NUL, digit strings in range)."""
    if not ref.isascii() or "\x00" in ref or len(ref) > 200:
        return False
    return not (ref.strip().isdigit() and len(ref.strip()) > 18)
