"""Property: merging observations is order- and chunking-independent, on every adapter.

Merging a list once, or shuffled and cut into random chunks (some merged again), gives the same
distinct observations with the same first/last sightings. ``count`` is the number of occurrences
within one merge call, kept as a maximum across calls (so re-reading a capture does not double it):
it equals the single-merge count whenever the whole list is merged in one call at some point, and
never exceeds it otherwise.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wardwatch.model.observation import Observation

from .conftest import Backend

observations = st.builds(
    Observation,
    ts_ns=st.integers(min_value=0, max_value=20),
    flow_uid=st.sampled_from(["fa", "fb", "fc"]),
    protocol=st.sampled_from(["dhcp", "mdns"]),
    mac=st.sampled_from([None, "00:11:22:33:44:55", "aa:bb:cc:dd:ee:ff"]),
    ip=st.sampled_from([None, "10.0.0.1"]),
    fields=st.dictionaries(
        st.sampled_from(["x.name", "x.list", "x.n"]),
        st.one_of(
            st.sampled_from(["a", "b"]),
            st.integers(0, 2),
            st.booleans(),
            st.tuples(st.sampled_from(["p", "q"])),
            st.tuples(st.integers(0, 3), st.integers(0, 3)),
        ),
        max_size=2,
    ),
)


def _state(store: Any) -> list[Any]:
    with store.transaction() as tx:
        return list(tx.iter_observations())


def _without_count(state: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (o.uid, o.protocol, o.mac, o.ip, o.fields, o.first_ns, o.last_ns, o.first_flow_uid, o.last_flow_uid)
        for o in state
    ]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(observations, max_size=25), data=st.data())
def test_merge_order_and_chunking_do_not_matter(
    backend: Backend, batch: list[Observation], data: st.DataObject
) -> None:
    once = backend.make()
    with once.transaction() as tx:
        new = tx.merge_observations(batch)
    expected = _state(once)
    assert new == len({o.uid for o in batch}) == len(expected)

    shuffled = data.draw(st.permutations(batch), label="order")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(batch)), max_size=4), label="cuts"))
    chunks = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(batch)], strict=True)]

    chunked = backend.make()
    total_new = 0
    for chunk in chunks:
        with chunked.transaction() as tx:
            total_new += tx.merge_observations(chunk)
    assert total_new == len(expected)
    got = _state(chunked)
    assert _without_count(got) == _without_count(expected)
    assert all(g.count <= e.count for g, e in zip(got, expected, strict=True))

    # Merging the whole list (in any order) at some point, plus any re-merges, gives exactly the
    # single-merge state, counts included.
    with chunked.transaction() as tx:
        assert tx.merge_observations(shuffled) == 0
    for chunk in chunks:
        with chunked.transaction() as tx:
            tx.merge_observations(chunk)
    assert _state(chunked) == expected
