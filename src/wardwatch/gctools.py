"""Garbage-collector settings for bulk work: the packet path, store merges, rebuilds, risk.

The packet path allocates many small objects (flow states, observations, contexts) that are
almost never part of reference cycles, and keeps hundreds of thousands of them alive (the flow
table). With CPython's default thresholds the cyclic collector then runs every 700 allocations
and its older generations rescan the whole live table again and again: 10-15 % of the engine's
CPU time on the bench captures (bench/README.md). Reference counting still frees everything at
once; only the search for cycles runs less often, so memory stays bounded by the same caps.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

#: Allocations between young-generation collections while packets are processed (default 700).
#: A scan keeps a million flows and conversations alive: at 100,000 the collections that move
#: them through the generations still cost 7-10 % of its engine CPU (measured with the collector
#: off); at 1,000,000 the scan's engine ran 5-10 % faster. Garbage without cycles is freed at
#: once either way; a cycle waits at most this many allocations.
PACKET_PATH_THRESHOLD = 1_000_000


@contextmanager
def packet_path_gc(threshold: int = PACKET_PATH_THRESHOLD) -> Iterator[None]:
    """Collect cycles less often inside the block; the caller's settings come back after it.

    Objects alive on entry (modules, knowledge tables, the store's metadata) are frozen, so the
    collector never walks them again during the block.
    """
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(old[0], threshold), old[1], max(old[2], 100))
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector inside the block (restored on exit, also on error).

    For bounded bulk steps that allocate millions of small acyclic objects (store merges, an
    inventory rebuild, a fleet risk recompute): the collections they would trigger walk the whole
    heap again and again and cost more than the work. Reference counting still frees everything;
    only cycles wait until the collector is back.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
