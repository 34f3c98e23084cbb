"""The bulk merges store exactly what a straightforward model of their rules says, on every adapter.

A realistic mixed sequence of merges (duplicates within one call, timestamp ties broken by flow
uid, missing MACs/IPs/servers, a call large enough for PostgreSQL's COPY path and small ones for
its statement path, re-merges, and the cumulative ``counts`` discovery passes) is applied to the
store and, rule by rule, to plain dictionaries; the stored rows and the "new" counts must match.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from wardwatch.model.flow import Conversation, Flow, Transport
from wardwatch.model.observation import FieldValue, Observation
from wardwatch.store.ports import Sighting
from wardwatch.store.sql import COPY_MIN_ROWS

from .conftest import Backend

T0 = 1_700_000_000_000_000_000
MACS = [None, *(f"00:11:22:33:{i >> 8:02x}:{i & 255:02x}" for i in range(60))]
IPS = [None, *(f"10.0.{i >> 8}.{i & 255}" for i in range(60))]
FLOW_UIDS = [f"{i:016x}" for i in range(3 * COPY_MIN_ROWS // 2)]


def _observations(rng: random.Random, distinct: int, occurrences: int) -> list[Observation]:
    """``occurrences`` sightings of ``distinct`` facts, with repeats, ties and tuple fields."""
    facts: list[tuple[str, str | None, str | None, dict[str, FieldValue]]] = []
    for i in range(distinct):
        fields: dict[str, FieldValue] = {"x.name": f"H{i}", "x.list": (i % 3, 7), "x.flag": i % 2 == 0}
        if i % 5:
            fields["x.s"] = ("a", "b")
        facts.append((rng.choice(["dhcp", "mdns", "lldp"]), rng.choice(MACS), rng.choice(IPS), fields))
    return [
        Observation(T0 + rng.randrange(50), rng.choice(FLOW_UIDS[:30]), protocol, mac, ip, dict(fields))
        for protocol, mac, ip, fields in (rng.choice(facts) for _ in range(occurrences))
    ]


def _flows(rng: random.Random, n: int) -> list[Flow]:
    flows = []
    for _ in range(n):
        first = rng.randrange(20)
        packets = rng.randrange(1, 9)
        flows.append(
            Flow(
                uid=rng.choice(FLOW_UIDS),
                transport=rng.choice(list(Transport)),
                a_mac=rng.choice(MACS),
                a_ip=rng.choice(IPS),
                a_port=rng.randrange(65536),
                b_mac=rng.choice(MACS),
                b_ip=rng.choice(IPS),
                b_port=rng.randrange(65536),
                vlan=rng.choice([None, 12]),
                first_ns=T0 + first,
                last_ns=T0 + first + rng.randrange(4),
                packets_ab=packets,
                packets_ba=rng.randrange(9),
                bytes_ab=packets * 60,
                bytes_ba=rng.randrange(900),
                server=rng.choice([None, "a", "b"]),
                ended_by=rng.choice(["idle", "tcp-close", "report"]),
                ethertype=0x0800,
            )
        )
    return flows


def _sightings(rng: random.Random, n: int) -> list[Sighting]:
    out = []
    for _ in range(n):
        first = T0 + rng.randrange(30)
        out.append(
            Sighting(
                rng.choice(MACS),
                rng.choice(IPS),
                first,
                first + rng.randrange(5),
                rng.randrange(1, 50),
                rng.randrange(60, 5000),
                rng.randrange(1, 255),
            )
        )
    return out


def _conversations(rng: random.Random, n: int) -> list[Conversation]:
    out = []
    for _ in range(n):
        first = T0 + rng.randrange(30)
        out.append(
            Conversation(
                rng.choice(IPS),
                rng.choice(MACS[:4]),
                rng.choice(IPS[:6]),
                rng.choice(MACS[:3]),
                rng.choice([Transport.TCP, Transport.UDP]),
                rng.choice([53, 443, 2575]),
                first,
                first + rng.randrange(5),
                rng.randrange(1, 5),
                rng.randrange(1, 50),
                rng.randrange(60, 5000),
            )
        )
    return out


def _later_flow(old: Flow, new: Flow) -> Flow:
    """Two records of one flow as one: wider times, larger counters, end reason (and server,
    when known) of the record that ends later; identity columns from the first."""
    later = new.last_ns > old.last_ns
    return replace(
        old,
        first_ns=min(old.first_ns, new.first_ns),
        last_ns=max(old.last_ns, new.last_ns),
        packets_ab=max(old.packets_ab, new.packets_ab),
        packets_ba=max(old.packets_ba, new.packets_ba),
        bytes_ab=max(old.bytes_ab, new.bytes_ab),
        bytes_ba=max(old.bytes_ba, new.bytes_ba),
        ended_by=new.ended_by if later else old.ended_by,
        server=(new.server or old.server) if later else (old.server or new.server),
    )


class Reference:
    """The documented merge rules applied one record at a time to dictionaries."""

    def __init__(self) -> None:
        self.observations: dict[str, dict[str, Any]] = {}
        self.flows: dict[str, Flow] = {}
        self.sightings: dict[tuple[str | None, str | None], list[int]] = {}
        self.conversations: dict[tuple[Any, ...], list[int]] = {}

    def merge_observations(self, batch: list[Observation], counts: dict[str, int] | None = None) -> int:
        occurrences = Counter(o.uid for o in batch)
        new = 0
        for o in batch:
            old = self.observations.get(o.uid)
            if old is None:
                new += 1
                self.observations[o.uid] = old = {
                    "uid": o.uid,
                    "protocol": o.protocol,
                    "mac": o.mac,
                    "ip": o.ip,
                    "fields": o.fields,
                    "first": (o.ts_ns, o.flow_uid),
                    "last": (o.ts_ns, o.flow_uid),
                    "count": 0,
                }
            old["first"] = min(old["first"], (o.ts_ns, o.flow_uid))
            old["last"] = max(old["last"], (o.ts_ns, o.flow_uid))
            # The count is the occurrences in this call (or the caller's larger total), kept as
            # a maximum across calls.
            total = max(occurrences[o.uid], (counts or {}).get(o.uid, 0))
            old["count"] = max(old["count"], total)
        return new

    def merge_flows(self, batch: list[Flow]) -> None:
        # The records of one uid in a call are combined first, then with the stored one: the end
        # reason (and server) come from the later of those, which is not the same as folding
        # each record into the stored one in turn.
        combined: dict[str, Flow] = {}
        for f in batch:
            combined[f.uid] = _later_flow(combined[f.uid], f) if f.uid in combined else f
        for uid, f in combined.items():
            self.flows[uid] = _later_flow(self.flows[uid], f) if uid in self.flows else f

    def merge_sightings(self, batch: list[Sighting]) -> None:
        for x in batch:
            values = [x.first_ns, x.last_ns, x.packets, x.bytes, x.ttl]
            old = self.sightings.setdefault((x.mac, x.ip), values)
            self.sightings[(x.mac, x.ip)] = [min(old[0], values[0]), *map(max, old[1:], values[1:])]

    def merge_conversations(self, batch: list[Conversation]) -> None:
        for c in batch:
            key = (c.client_ip, c.client_mac, c.server_ip, c.server_mac, c.transport, c.server_port)
            values = [c.first_ns, c.last_ns, c.flows, c.packets, c.bytes]
            old = self.conversations.setdefault(key, values)
            self.conversations[key] = [min(old[0], values[0]), *map(max, old[1:], values[1:])]


def _stored(store: Any, flow_uids: list[str]) -> dict[str, Any]:
    with store.transaction() as tx:
        return {
            "observations": {
                o.uid: {
                    "uid": o.uid,
                    "protocol": o.protocol,
                    "mac": o.mac,
                    "ip": o.ip,
                    "fields": o.fields,
                    "first": (o.first_ns, o.first_flow_uid),
                    "last": (o.last_ns, o.last_flow_uid),
                    "count": o.count,
                }
                for o in tx.iter_observations()
            },
            "flows": {uid: tx.flow(uid) for uid in flow_uids},
            "sightings": {
                (x.mac, x.ip): [x.first_ns, x.last_ns, x.packets, x.bytes, x.ttl] for x in tx.sightings()
            },
            "conversations": {
                (c.client_ip, c.client_mac, c.server_ip, c.server_mac, c.transport, c.server_port): [
                    c.first_ns,
                    c.last_ns,
                    c.flows,
                    c.packets,
                    c.bytes,
                ]
                for c in tx.conversations()
            },
        }


def _expected(ref: Reference, flow_uids: list[str]) -> dict[str, Any]:
    return {
        "observations": ref.observations,
        "flows": {uid: ref.flows.get(uid) for uid in flow_uids},
        "sightings": ref.sightings,
        "conversations": ref.conversations,
    }


def test_bulk_merges_match_the_reference_rules(store: Any) -> None:
    rng = random.Random(20240611)
    big = _observations(rng, COPY_MIN_ROWS + 600, 3 * COPY_MIN_ROWS)
    small = _observations(rng, 60, 150)
    counts = Counter(o.uid for o in big + small)  # as discovery passes them: the whole source
    big_flows, small_flows = _flows(rng, 2 * COPY_MIN_ROWS), _flows(rng, 90)
    big_sightings, small_sightings = _sightings(rng, 2 * COPY_MIN_ROWS), _sightings(rng, 50)
    big_conversations = _conversations(rng, 2 * COPY_MIN_ROWS)
    small_conversations = _conversations(rng, 50)
    # Enough distinct keys in the big calls for the bulk path on PostgreSQL, and repeats too.
    for records, key in (
        (big, lambda o: o.uid),
        (big_flows, lambda f: f.uid),
        (big_sightings, lambda x: (x.mac, x.ip)),
        (big_conversations, lambda c: (c.client_ip, c.client_mac, c.server_ip, c.server_mac, c.server_port)),
    ):
        assert COPY_MIN_ROWS <= len({key(r) for r in records}) < len(records)
    flow_uids = sorted({f.uid for f in big_flows + small_flows})

    calls: list[tuple[list[Observation], dict[str, int] | None, Any, Any, Any]] = [
        (small, None, small_flows, small_sightings, small_conversations),
        (big, None, big_flows, big_sightings, big_conversations),
        (small, counts, small_flows[::-1], small_sightings[::-1], small_conversations[::-1]),  # re-merge
        (big[::-1], counts, big_flows[::-1], big_sightings, big_conversations[::-1]),  # bulk re-merge
        (_observations(rng, 20, 40), None, _flows(rng, 30), _sightings(rng, 30), _conversations(rng, 30)),
    ]
    ref = Reference()
    for observations, call_counts, flows, sightings, conversations in calls:
        with store.transaction() as tx:
            assert tx.merge_observations(observations, counts=call_counts) == ref.merge_observations(
                observations, call_counts
            )
            tx.merge_flows(flows)
            tx.merge_sightings(sightings)
            tx.merge_conversations(conversations)
        ref.merge_flows(flows)
        ref.merge_sightings(sightings)
        ref.merge_conversations(conversations)
        assert _stored(store, flow_uids) == _expected(ref, flow_uids)


def test_sqlite_stores_the_fields_as_the_json_type_would(backend: Backend, store: Any) -> None:
    """The SQLite fast path serialises ``fields`` itself: the text is SQLAlchemy's (json.dumps)."""
    if backend.name != "sqlite":
        pytest.skip("checks SQLite's stored text")
    o = Observation(
        T0, "f1", "dhcp", "00:11:22:33:44:55", None, {"b": ("x", "y"), "a": "é", "c": True, "d": (1, 2)}
    )
    with store.transaction() as tx:
        tx.merge_observations([o])
        text = tx.conn.exec_driver_sql("SELECT fields FROM observation").scalar_one()
    assert text == json.dumps({"b": ["x", "y"], "a": "é", "c": True, "d": [1, 2]})


def test_sqlite_counts_new_observations_when_rowids_are_exhausted(backend: Backend, store: Any) -> None:
    """At the largest rowid SQLite picks new rowids at random, so "new" is counted another way."""
    if backend.name != "sqlite":
        pytest.skip("SQLite rowids")
    rng = random.Random(7)
    batch = _observations(rng, 30, 60)
    with store.transaction() as tx:
        tx.conn.exec_driver_sql(
            "INSERT INTO observation (rowid, uid, protocol, mac, ip, fields, first_ns, last_ns,"
            " first_flow_uid, last_flow_uid, count) VALUES (9223372036854775807, 'last', 'x', NULL,"
            " NULL, '{}', 1, 1, 'f', 'f', 1)"
        )
        assert tx.merge_observations(batch[:40]) == len({o.uid for o in batch[:40]})
        assert tx.merge_observations(batch) == len({o.uid for o in batch}) - len({o.uid for o in batch[:40]})
