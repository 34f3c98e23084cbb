"""An in-memory :class:`wardwatch.store.ports.Store` for fast use-case tests.

It follows the SQL adapter's semantics exactly (merge rules, ordering, search, reference lookup)
and runs the same contract tests (``tests/contract``), so a test written against the fake holds
against SQLite and PostgreSQL too. Transactions work on a copy of the state that replaces the
committed state only when the block ends without an exception; they are serialised by a lock.

Unlike the database, ids are never skipped (PostgreSQL sequences may skip after an upsert), so
tests must use the ids the store returns rather than assume them.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from wardwatch.model.device import Device, DeviceIP, Evidence
from wardwatch.model.flow import Conversation, Flow, Transport
from wardwatch.model.observation import Observation
from wardwatch.store import schema as s
from wardwatch.store.ports import CaptureRecord, Sighting, StoredObservation
from wardwatch.store.sql import (
    _canonical_ip,
    _combine_flow,
    _conversation_rows,
    _fields_from_json,
    _flow_rows,
    _observation_rows,
    _sighting_rows,
    _unkey,
    build_device,
)


@dataclass
class _State:
    captures: list[CaptureRecord] = field(default_factory=list)
    flows: dict[str, dict[str, Any]] = field(default_factory=dict)
    observations: dict[str, dict[str, Any]] = field(default_factory=dict)
    sightings: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    conversations: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    devices: dict[int, dict[str, Any]] = field(default_factory=dict)
    device_ips: dict[int, dict[str, DeviceIP]] = field(default_factory=dict)
    attributes: dict[int, list[tuple[str, str, float, str]]] = field(default_factory=dict)
    evidence: dict[int, list[Evidence]] = field(default_factory=dict)
    next_capture_id: int = 1
    next_device_id: int = 1


class FakeStore:
    """In-memory store (implements :class:`wardwatch.store.ports.Store`)."""

    def __init__(self, url: str = "memory://fake") -> None:
        self.url = url
        self._state = _State()
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[FakeTransaction]:
        """Work on a copy; publish it on success, drop it on exception."""
        with self._lock:
            work = copy.deepcopy(self._state)
            yield FakeTransaction(work)
            self._state = work

    def close(self) -> None:
        """Nothing to release."""

    def migrate(self) -> None:
        """Nothing to migrate (kept for API parity with :class:`wardwatch.store.sql.SqlStore`)."""


def _widen(old: dict[str, Any], new: dict[str, Any], maxima: Sequence[str]) -> None:
    old["first_ns"] = min(old["first_ns"], new["first_ns"])
    for c in maxima:
        old[c] = max(old[c], new[c])


class FakeTransaction:
    """One unit of work on the fake's state (implements :class:`wardwatch.store.ports.Transaction`)."""

    def __init__(self, state: _State) -> None:
        self._s = state

    # --- captures ---

    def add_capture(self, record: CaptureRecord) -> int:
        """Record a discovery run; returns its id."""
        capture_id = self._s.next_capture_id
        self._s.next_capture_id += 1
        stats = copy.deepcopy(record.stats)
        self._s.captures.append(
            CaptureRecord(
                source=record.source,
                sha256=record.sha256,
                packets=record.packets,
                bytes=record.bytes,
                first_ns=record.first_ns,
                last_ns=record.last_ns,
                started_at=record.started_at,
                finished_at=record.finished_at,
                stats=stats,
                error=record.error,
                id=capture_id,
            )
        )
        return capture_id

    def captures(self) -> list[CaptureRecord]:
        """Every recorded run, oldest first."""
        return [copy.deepcopy(c) for c in self._s.captures]

    # --- sensor output ---

    def merge_observations(
        self, observations: Iterable[Observation], *, counts: Mapping[str, int] | None = None
    ) -> int:
        """See :meth:`wardwatch.store.sql.SqlTransaction.merge_observations`."""
        new = 0
        for row in _observation_rows(observations, counts):
            old = self._s.observations.get(row["uid"])
            if old is None:
                self._s.observations[row["uid"]] = row
                new += 1
                continue
            if (row["first_ns"], row["first_flow_uid"]) < (old["first_ns"], old["first_flow_uid"]):
                old["first_ns"], old["first_flow_uid"] = row["first_ns"], row["first_flow_uid"]
            if (row["last_ns"], row["last_flow_uid"]) > (old["last_ns"], old["last_flow_uid"]):
                old["last_ns"], old["last_flow_uid"] = row["last_ns"], row["last_flow_uid"]
            old["count"] = max(old["count"], row["count"])
        return new

    def merge_flows(self, flows: Iterable[Flow]) -> None:
        """See :meth:`wardwatch.store.sql.SqlTransaction.merge_flows`."""
        for row in _flow_rows(flows):
            old = self._s.flows.get(row["uid"])
            if old is None:
                self._s.flows[row["uid"]] = row
            else:
                _combine_flow(old, row)

    def merge_sightings(self, sightings: Iterable[Sighting]) -> None:
        """Key (mac, ip): first=min, last=max, packets/bytes=max, ttl=max."""
        for row in _sighting_rows(sightings):
            k = (row["mac"], row["ip"])
            if k in self._s.sightings:
                _widen(self._s.sightings[k], row, ("last_ns", "packets", "bytes", "ttl"))
            else:
                self._s.sightings[k] = row

    def merge_conversations(self, conversations: Iterable[Conversation]) -> None:
        """Key (client_ip, client_mac, server_ip, server_mac, transport, server_port)."""
        for row in _conversation_rows(conversations):
            k = (
                row["client_ip"],
                row["client_mac"],
                row["server_ip"],
                row["server_mac"],
                row["transport"],
                row["server_port"],
            )
            if k in self._s.conversations:
                _widen(self._s.conversations[k], row, ("last_ns", "flows", "packets", "bytes"))
            else:
                self._s.conversations[k] = row

    def flow(self, uid: str) -> Flow | None:
        """The flow with this uid, or None."""
        r = self._s.flows.get(uid)
        if r is None:
            return None
        return Flow(**{**r, "transport": Transport(r["transport"])})

    @staticmethod
    def _stored(r: dict[str, Any]) -> StoredObservation:
        return StoredObservation(**{**r, "fields": _fields_from_json(copy.deepcopy(r["fields"]))})

    def observations(
        self, *, macs: Sequence[str] = (), ips: Sequence[str] = (), uids: Sequence[str] = ()
    ) -> list[StoredObservation]:
        """Observations whose MAC is in ``macs`` or IP in ``ips`` or uid in ``uids``, by (first_ns, uid)."""
        mac_set, ip_set, uid_set = set(macs), set(ips), set(uids)
        found = [
            self._stored(r)
            for r in self._s.observations.values()
            if r["uid"] in uid_set or r["mac"] in mac_set or r["ip"] in ip_set
        ]
        return sorted(found, key=lambda o: (o.first_ns, o.uid))

    def iter_observations(self) -> Iterator[StoredObservation]:
        """Every stored observation, by uid."""
        for uid in sorted(self._s.observations):
            yield self._stored(self._s.observations[uid])

    def sightings(self, *, macs: Sequence[str] | None = None) -> list[Sighting]:
        """All sightings, or those of the given MACs, ordered by (mac, ip) with None first."""
        wanted = None if macs is None else set(macs)
        return [
            Sighting(**{**r, "mac": _unkey(r["mac"]), "ip": _unkey(r["ip"])})
            for k, r in sorted(self._s.sightings.items())
            if wanted is None or k[0] in wanted
        ]

    def conversations(self, *, ips: Sequence[str] = ()) -> list[Conversation]:
        """Conversations where either side has one of ``ips`` (all when empty), ordered by key."""
        wanted = set(ips)
        return [
            Conversation(
                **{
                    **r,
                    "client_ip": _unkey(r["client_ip"]),
                    "client_mac": _unkey(r["client_mac"]),
                    "server_ip": _unkey(r["server_ip"]),
                    "server_mac": _unkey(r["server_mac"]),
                    "transport": Transport(r["transport"]),
                }
            )
            for k, r in sorted(self._s.conversations.items())
            if not wanted or k[0] in wanted or k[2] in wanted
        ]

    # --- inventory ---

    def save_device(self, device: Device, evidence: Sequence[Evidence]) -> int:
        """See :meth:`wardwatch.store.sql.SqlTransaction.save_device`."""
        existing = next((i for i, d in self._s.devices.items() if d["key"] == device.key), None)
        row: dict[str, Any] = {
            "key": device.key,
            "mac": device.mac,
            "mac_randomized": device.mac_randomized,
            "first_ns": device.first_ns,
            "last_ns": device.last_ns,
            **{name: device.value(name) for name in s.DENORMALISED},
        }
        if existing is None:
            device_id = self._s.next_device_id
            self._s.next_device_id += 1
            self._s.devices[device_id] = row | {"id": device_id}
            self._s.device_ips[device_id] = {}
        else:
            device_id = existing
            old = self._s.devices[device_id]
            row["first_ns"] = min(old["first_ns"], row["first_ns"])
            row["last_ns"] = max(old["last_ns"], row["last_ns"])
            self._s.devices[device_id] = row | {"id": device_id}
        self._s.attributes[device_id] = [
            (str(a.attribute), a.value, a.confidence, a.chosen_by) for a in device.attributes.values()
        ]
        self._s.evidence[device_id] = list(evidence)
        ips = self._s.device_ips[device_id]
        for ip in device.ips:
            old_ip = ips.get(ip.ip)
            if old_ip is None:
                ips[ip.ip] = ip
            else:
                ips[ip.ip] = DeviceIP(
                    ip=ip.ip,
                    first_ns=min(old_ip.first_ns, ip.first_ns),
                    last_ns=max(old_ip.last_ns, ip.last_ns),
                    source=ip.source if ip.last_ns > old_ip.last_ns else old_ip.source,
                )
        return device_id

    def save_devices(self, items: Sequence[tuple[Device, Sequence[Evidence]]]) -> list[int]:
        """See :meth:`wardwatch.store.sql.SqlTransaction.save_devices`."""
        return [self.save_device(device, evidence) for device, evidence in items]

    def _device(self, device_id: int, *, with_evidence: bool) -> Device:
        r = self._s.devices[device_id]
        return build_device(
            id=device_id,
            key=r["key"],
            mac=r["mac"],
            first_ns=r["first_ns"],
            last_ns=r["last_ns"],
            mac_randomized=r["mac_randomized"],
            attributes=self._s.attributes.get(device_id, []),
            ips=self._s.device_ips.get(device_id, {}).values(),
            evidence=self._s.evidence.get(device_id, []) if with_evidence else [],
        )

    def _latest(self, ids: Iterable[int]) -> int | None:
        found = [(self._s.devices[i]["last_ns"], i) for i in ids]
        return max(found)[1] if found else None

    def _by_key(self, key: str) -> int | None:
        return self._latest(i for i, d in self._s.devices.items() if d["key"] == key)

    def _resolve(self, ref: str) -> int | None:
        ref = ref.strip()
        if ref.isdigit() and int(ref) in self._s.devices:
            return int(ref)
        lowered = ref.lower()
        if lowered.startswith("mac:"):
            return self._by_key("mac:" + (s.normalize_mac(ref[4:]) or ref[4:].lower()))
        if lowered.startswith("ip:"):
            return self._by_key("ip:" + (_canonical_ip(ref[3:]) or ref[3:]))
        mac = s.normalize_mac(ref)
        if mac is not None:
            return self._by_key("mac:" + mac) or self._latest(
                i for i, d in self._s.devices.items() if d["mac"] == mac
            )
        ip = _canonical_ip(ref)
        if ip is not None:
            held = [(x[ip].last_ns, i) for i, x in self._s.device_ips.items() if ip in x]
            return max(held)[1] if held else self._by_key("ip:" + ip)
        return None

    def get_device(self, ref: str) -> Device | None:
        """See :meth:`wardwatch.store.sql.SqlTransaction.get_device`."""
        device_id = self._resolve(ref)
        return None if device_id is None else self._device(device_id, with_evidence=True)

    def device_evidence(self, device_id: int) -> list[Evidence]:
        """The device's evidence, in the order ``save_device`` was given it."""
        return list(self._s.evidence.get(device_id, []))

    def _matches(self, device_id: int, terms: tuple[str, str] | None) -> bool:
        if terms is None:
            return True
        term, mac_term = terms
        d = self._s.devices[device_id]
        if d["mac"] is not None and mac_term in s.ascii_lower(d["mac"]):
            return True
        for name in s.SEARCH_COLUMNS:
            if name != "mac" and d[name] is not None and term in s.ascii_lower(d[name]):
                return True
        if any(ip.startswith(term) for ip in self._s.device_ips.get(device_id, {})):
            return True
        return any(
            name in s.SEARCH_ATTRIBUTES and term in s.ascii_lower(value)
            for name, value, _c, _b in self._s.attributes.get(device_id, [])
        )

    def list_devices(
        self,
        *,
        limit: int | None = None,
        offset: int = 0,
        sort: str = "id",
        search: str | None = None,
    ) -> list[Device]:
        """See :meth:`wardwatch.store.sql.SqlTransaction.list_devices`."""
        name, descending = s.parse_sort(sort)
        terms = s.search_terms(search)
        ids = [i for i in self._s.devices if self._matches(i, terms)]

        def sort_key(i: int) -> tuple[bool, Any, int]:
            value = self._s.devices[i][name]
            # NULL sorts as the largest value, as in the SQL adapter.
            return (value is None, value if value is not None else "", i)

        ids.sort(key=sort_key, reverse=descending)
        page = ids[offset:] if limit is None else ids[offset : offset + limit]
        return [self._device(i, with_evidence=False) for i in page]

    def count_devices(self, *, search: str | None = None) -> int:
        """How many devices :meth:`list_devices` would return without a limit."""
        terms = s.search_terms(search)
        return sum(1 for i in self._s.devices if self._matches(i, terms))

    def device_keys(self) -> list[str]:
        """Every device key, by id."""
        return [self._s.devices[i]["key"] for i in sorted(self._s.devices)]
