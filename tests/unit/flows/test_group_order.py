"""``meter._group_order``: the meter's grouping sort equals a stable argsort of the flow hash."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.sensor.flows.meter import _IDX_BITS, _group_order


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=300), st.integers(1, 40))
def test_equals_a_stable_argsort_of_the_hash(values: list[int], repeat: int) -> None:
    # few distinct hashes, each repeated (a flow's packets), shuffled together
    rng = np.random.default_rng(len(values) + repeat)
    h = np.array(values, dtype=np.uint64)[rng.integers(0, len(values), len(values) * repeat)]
    got = _group_order(h)
    top = h >> np.uint64(_IDX_BITS)
    # ties in the top 40 bits (collisions) keep batch order: a stable sort by those bits
    assert (got == np.argsort(top, kind="stable")).all()
    if len(np.unique(top)) == len(np.unique(h)):  # no collision: exactly a stable sort by all 64
        assert (got == np.argsort(h, kind="stable")).all()
