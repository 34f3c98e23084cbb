"""What the engine's bounded aggregate tables share (sightings.py, conversations.py).

Each table has a Python reference and a C twin (``_sightings.c``, ``_conversations.c``, over the
index of ``_lru.h``) with one behaviour: at most ``cap`` entries, the least recently updated
evicted first and handed back to the caller, reports of every entry or of the dirty ones.
"""

from __future__ import annotations

import os
from typing import Generic, Protocol, TypeVar


class BoundedTable(Protocol):
    """The part of the interface every aggregate table has."""

    @property
    def cap(self) -> int:
        """The most entries held."""
        ...

    @property
    def evicted(self) -> int:
        """Entries evicted so far (each was handed back to the caller when it was)."""
        ...

    def clear(self) -> None:
        """Forget every entry (``evicted`` stays)."""
        ...

    def __len__(self) -> int: ...


def check_cap(cap: int, what: str) -> int:
    """``cap`` when it is at least 1, else ValueError naming the table (``what``)."""
    if cap < 1:
        raise ValueError(f"a {what} table needs a cap of at least 1, not {cap}")
    return cap


class CTable(Protocol):
    """What every C table type of the extension has (beside its own add/update and report)."""

    cap: int
    evicted: int

    def clear(self) -> None: ...

    def __len__(self) -> int: ...


T = TypeVar("T", bound=CTable)
T_co = TypeVar("T_co", bound=CTable, covariant=True)


class CTableType(Protocol[T_co]):
    """A C table type: ``Type(cap, seed)``."""

    def __call__(self, cap: int, seed: int = 0) -> T_co: ...


class NativeTable(Generic[T]):
    """The common part of a table whose entries live in C: made with a random hash seed (the
    layout, never the output, then differs per table, so spoofed addresses cannot be picked to
    collide), the counters and ``clear`` handed through. ``self._t`` is the C table."""

    def __init__(self, what: str, cap: int, kind: CTableType[T]) -> None:
        self._t: T = kind(check_cap(cap, what), int.from_bytes(os.urandom(8), "little"))

    @property
    def c_table(self) -> T:
        """The C table itself (the C flow table feeds the conversations table directly)."""
        return self._t

    @property
    def cap(self) -> int:
        """The most entries held."""
        return self._t.cap

    @property
    def evicted(self) -> int:
        """Entries evicted so far."""
        return self._t.evicted

    def __len__(self) -> int:
        return len(self._t)

    def clear(self) -> None:
        """Forget every entry and free its memory (``evicted`` stays)."""
        self._t.clear()
