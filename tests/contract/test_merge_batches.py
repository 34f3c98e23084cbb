"""Merges of every size keep the merge rules: first writes, re-merges, repeats and ties.

SQLite writes the merged rows as many as a statement's parameters allow at a time (one
``INSERT … VALUES`` with that many rows, the rest one by one), and rows are sorted and combined
by key without a dict per row. These cases put the number of distinct keys just below, at and
above those batch sizes, repeat keys within a call (with ties on the compared values), and merge
again with rows that widen, narrow or equal the stored ones; the stored rows must be those of the
plain reference rules (``test_merge_reference.Reference``) on every adapter.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from wardwatch.model.flow import Conversation, Flow, Transport
from wardwatch.model.observation import Observation
from wardwatch.store import schema
from wardwatch.store.ports import Sighting
from wardwatch.store.sql import _SQLITE_MAX_PARAMETERS, _multi_row_sql

from .test_merge_reference import T0, Reference, _expected, _stored


def _per(table: Any) -> int:
    """Rows per multi-row statement on SQLite for ``table``."""
    return int(_SQLITE_MAX_PARAMETERS // len(table.columns))


def _sizes(table: Any) -> list[int]:
    per = _per(table)
    return [1, per - 1, per, per + 1, 2 * per, 2 * per + 3]


def _conversation(i: int, rng: random.Random) -> Conversation:
    first = T0 + rng.randrange(4)
    return Conversation(
        f"10.0.{i >> 8 & 255}.{i & 255}" if i % 7 else None,
        "00:11:22:33:44:55" if i % 3 else None,
        "10.9.0.1",
        None if i % 5 == 0 else "00:aa:bb:cc:dd:ee",
        Transport.UDP if i % 2 else Transport.TCP,
        i % 4,
        first,
        first + rng.randrange(3),
        rng.randrange(1, 3),
        rng.randrange(1, 3),
        rng.randrange(60, 62),
    )


def _sighting(i: int, rng: random.Random) -> Sighting:
    first = T0 + rng.randrange(4)
    return Sighting(
        None if i % 9 == 0 else f"00:00:00:00:{i >> 8 & 255:02x}:{i & 255:02x}",
        None if i % 4 == 0 else f"10.1.{i >> 8 & 255}.{i & 255}",
        first,
        first + rng.randrange(3),
        rng.randrange(1, 3),
        rng.randrange(60, 62),
        rng.randrange(63, 65),
    )


def _flow(i: int, rng: random.Random) -> Flow:
    first = T0 + rng.randrange(4)
    return Flow(
        uid=f"{i:016x}",
        transport=Transport.TCP if i % 2 else Transport.L2,
        a_mac=None if i % 6 == 0 else "00:11:22:33:44:55",
        a_ip=None if i % 5 == 0 else f"10.2.0.{i & 255}",
        a_port=i,
        b_mac="00:aa:bb:cc:dd:ee",
        b_ip=None if i % 3 == 0 else "10.9.0.1",
        b_port=443,
        vlan=None if i % 2 else 12,
        first_ns=first,
        last_ns=first + rng.randrange(2),  # ties on last_ns: the first record keeps its end reason
        packets_ab=rng.randrange(1, 3),
        packets_ba=rng.randrange(3),
        bytes_ab=rng.randrange(60, 62),
        bytes_ba=rng.randrange(3),
        server=rng.choice([None, "a", "b"]),
        ended_by=rng.choice(["idle", "tcp-close"]),
        ethertype=0x0800,
    )


def _observation(i: int, rng: random.Random) -> Observation:
    return Observation(
        T0 + rng.randrange(3),  # ties on the timestamp: the flow uid decides
        rng.choice(["fa", "fb", "fc"]),
        "dhcp",
        None if i % 4 == 0 else f"00:00:00:00:{i >> 8 & 255:02x}:{i & 255:02x}",
        None,
        {"dhcp.hostname": f"H{i}", "dhcp.param_list": (1, i % 3)},
    )


def _batch(make: Any, distinct: int, rng: random.Random) -> list[Any]:
    """``distinct`` keys, a third of them given two or three times, shuffled."""
    records = [make(i, rng) for i in range(distinct)]
    records += [make(i, rng) for i in range(0, distinct, 3)]
    records += [make(i, rng) for i in range(0, distinct, 6)]
    rng.shuffle(records)
    return records


CASES = (
    [("conversation", schema.conversation, size) for size in _sizes(schema.conversation)]
    + [("sighting", schema.sighting, size) for size in _sizes(schema.sighting)]
    + [("flow", schema.flow, size) for size in _sizes(schema.flow)]
    + [("observation", schema.observation, size) for size in _sizes(schema.observation)]
)


@pytest.mark.parametrize(("kind", "table", "distinct"), CASES, ids=[f"{k}-{n}" for k, _, n in CASES])
def test_merges_of_every_batch_size_follow_the_rules(
    store: Any, kind: str, table: Any, distinct: int
) -> None:
    rng = random.Random(f"{kind}-{distinct}")
    make = {"conversation": _conversation, "sighting": _sighting, "flow": _flow, "observation": _observation}[
        kind
    ]
    ref = Reference()
    flow_uids = [f"{i:016x}" for i in range(distinct)] if kind == "flow" else []
    # A first write into the empty table, a re-merge of the same rows, then two merges of new
    # values for the same keys (some wider, some narrower, some equal) with a few new keys.
    batches = [_batch(make, distinct, rng)]
    batches.append(list(reversed(batches[0])))
    batches.append(_batch(make, distinct + 2, rng))
    batches.append(_batch(make, distinct, rng))
    for batch in batches:
        with store.transaction() as tx:
            if kind == "observation":
                assert tx.merge_observations(batch) == ref.merge_observations(batch)
            else:
                getattr(tx, f"merge_{kind}s")(batch)
        if kind != "observation":
            getattr(ref, f"merge_{kind}s")(batch)
        assert _stored(store, flow_uids) == _expected(ref, flow_uids)


def test_multi_row_statements_repeat_the_values_list_only() -> None:
    one = "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO UPDATE SET b = max(t.b, excluded.b)"
    assert _multi_row_sql(one, 2, 3) == (
        "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?) ON CONFLICT (a) DO UPDATE SET b = max(t.b, excluded.b)"
    )
    with pytest.raises(AssertionError):
        _multi_row_sql("INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO UPDATE SET b = ?", 2, 3)
    with pytest.raises(AssertionError):
        _multi_row_sql(one, 3, 3)
