"""Bulk merges are batched (a guard against accidental per-row round trips, not a benchmark)."""

from __future__ import annotations

import time
from pathlib import Path

from wardwatch.model.observation import Observation
from wardwatch.store.ports import Sighting
from wardwatch.store.sql import open_store

N = 10_000


def test_bulk_merge_of_observations_and_sightings(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'bulk.sqlite'}")
    observations = [
        Observation(i, f"f{i % 500}", "dhcp", f"00:00:00:00:{i >> 8 & 255:02x}:{i & 255:02x}", None, {"n": i})
        for i in range(N)
    ]
    sightings = [Sighting(f"m{i}", f"10.0.{i >> 8 & 255}.{i & 255}", i, i, 1, 60, 64) for i in range(N)]
    started = time.perf_counter()
    with store.transaction() as tx:
        assert tx.merge_observations(observations) == N
        tx.merge_sightings(sightings)
    with store.transaction() as tx:
        assert tx.merge_observations(observations) == 0
        tx.merge_sightings(sightings)
        assert len(tx.sightings()) == N
    elapsed = time.perf_counter() - started
    store.close()
    assert elapsed < 60, f"merging {N} rows twice took {elapsed:.1f}s"
