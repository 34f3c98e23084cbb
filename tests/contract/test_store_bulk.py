"""Large merges take the bulk path (COPY + staging table on PostgreSQL) and keep the merge rules.

Batches of at least ``COPY_MIN_ROWS`` rows go through ``COPY`` on PostgreSQL; this checks that
the result is the same as the small-batch path: idempotent, first/last widened, counts kept, new
rows counted. Speed is measured in bench/, never here.
"""

from __future__ import annotations

from typing import Any

from wardwatch.model.observation import Observation
from wardwatch.store.ports import Sighting
from wardwatch.store.sql import COPY_MIN_ROWS

N = COPY_MIN_ROWS + 500


def _observations(offset: int) -> list[Observation]:
    return [
        Observation(
            1_000 + offset + i,
            f"f{(i + offset) % 500:04d}",
            "dhcp",
            f"00:00:00:00:{i >> 8 & 255:02x}:{i & 255:02x}",
            None,
            {"dhcp.hostname": f"H{i}", "dhcp.param_list": (1, 3, 6)},
        )
        for i in range(N)
    ]


def test_bulk_merges_are_idempotent_and_widen(store: Any) -> None:
    sightings = [Sighting(f"m{i}", f"10.0.{i >> 8 & 255}.{i & 255}", i, i, 1, 60, 64) for i in range(N)]
    with store.transaction() as tx:
        assert tx.merge_observations(_observations(0)) == N
        tx.merge_sightings(sightings)
    with store.transaction() as tx:
        assert tx.merge_observations(_observations(0)) == 0
        assert tx.merge_observations(_observations(10)) == 0  # same content, seen 10 ns later
        tx.merge_sightings(sightings)
        assert len(tx.sightings()) == N
    with store.transaction() as tx:
        stored = {o.uid: o for o in tx.iter_observations()}
    assert len(stored) == N
    first = _observations(0)[7]
    row = stored[first.uid]
    assert (row.first_ns, row.last_ns, row.count) == (1_007, 1_017, 1)
    assert (row.first_flow_uid, row.last_flow_uid) == ("f0007", "f0017")
    assert row.fields == {"dhcp.hostname": "H7", "dhcp.param_list": (1, 3, 6)}
