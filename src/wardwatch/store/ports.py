"""The storage port: what the services need from a database, independent of which one.

Adapters: :mod:`wardwatch.store.sql` (SQLite and PostgreSQL through SQLAlchemy). Every operation
runs inside a :class:`Transaction`; nothing is visible to others until it commits, and a failure
rolls the whole transaction back so what was stored before stays intact.

All ``merge_*`` operations are idempotent: merging the same facts twice leaves the store as it
was after the first time (first seen = min, last seen = max, counters keep the max seen for the
same key so re-reading a capture does not double them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from wardwatch.model.device import Device, Evidence
from wardwatch.model.flow import Conversation, Flow
from wardwatch.model.observation import FieldValue, Observation


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    """One discovery run over one source (file, directory member, stdin, interface)."""

    source: str
    sha256: str | None
    packets: int
    bytes: int
    first_ns: int | None
    last_ns: int | None
    started_at: str  # ISO 8601 UTC
    finished_at: str
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class StoredObservation:
    """A distinct observation (see :func:`wardwatch.model.observation.observation_uid`) with its sightings."""

    uid: str
    protocol: str
    mac: str | None
    ip: str | None
    fields: dict[str, FieldValue]
    first_ns: int
    last_ns: int
    first_flow_uid: str
    last_flow_uid: str
    count: int = 1


@dataclass(frozen=True, slots=True)
class Sighting:
    """A (MAC, IP) pair seen as the source of traffic, aggregated.

    ``mac`` is None for traffic without an Ethernet header (raw IP captures). ``ttl`` is the
    largest IP TTL seen from that source, used to tell local hosts from routed ones.
    """

    mac: str | None
    ip: str | None
    first_ns: int
    last_ns: int
    packets: int
    bytes: int
    ttl: int = 0


class DeviceQuery(Protocol):
    """Marker for list filters (kept simple: see :meth:`Transaction.list_devices`)."""


class Transaction(Protocol):
    """One unit of work. Commits on leaving the ``with`` block without error, else rolls back."""

    # --- captures ---
    def add_capture(self, record: CaptureRecord) -> int: ...
    def captures(self) -> list[CaptureRecord]: ...

    # --- sensor output ---
    def merge_observations(
        self, observations: Iterable[Observation], *, counts: Mapping[str, int] | None = None
    ) -> int:
        """Insert new distinct observations, widen first/last of known ones. Returns how many were new.

        ``count`` keeps the larger of the stored and the new value (re-reading a capture does not
        double it); ``counts`` (uid -> occurrences in the whole source so far) lets a reader that
        writes one capture in several batches store the capture's total, not one batch's.
        """
        ...

    def merge_flows(self, flows: Iterable[Flow]) -> None:
        """Store flows by uid (the same uid again: keep the larger counters and wider times)."""
        ...

    def merge_sightings(self, sightings: Iterable[Sighting]) -> None:
        """Key (mac, ip): first=min, last=max, packets/bytes=max, ttl=max."""
        ...

    def merge_conversations(self, conversations: Iterable[Conversation]) -> None:
        """Key (client_ip, client_mac, server_ip, server_mac, transport, server_port)."""
        ...

    def flow(self, uid: str) -> Flow | None: ...

    def observations(
        self, *, macs: Sequence[str] = (), ips: Sequence[str] = (), uids: Sequence[str] = ()
    ) -> list[StoredObservation]:
        """Observations whose subject MAC is in ``macs`` or IP is in ``ips`` or uid in ``uids``."""
        ...

    def iter_observations(self) -> Iterator[StoredObservation]:
        """Every stored observation (for re-identification), in a stable order."""
        ...

    def sightings(self, *, macs: Sequence[str] | None = None) -> list[Sighting]:
        """All sightings, or those of the given MACs."""
        ...

    def conversations(self, *, ips: Sequence[str] = ()) -> list[Conversation]:
        """Conversations where either side has one of ``ips`` (all when empty)."""
        ...

    # --- inventory ---
    def save_device(self, device: Device, evidence: Sequence[Evidence]) -> int:
        """Upsert by ``device.key``: device row, its IPs (merged), its resolved attributes and its
        evidence (replaced: evidence is always recomputed from observations). Returns the id."""
        ...

    def save_devices(self, items: Sequence[tuple[Device, Sequence[Evidence]]]) -> list[int]:
        """:meth:`save_device` for many devices at once (bulk statements); ids in input order."""
        ...

    def get_device(self, ref: str) -> Device | None:
        """By numeric id, key (``mac:…``/``ip:…``), MAC (any case/separator) or current IP."""
        ...

    def device_evidence(self, device_id: int) -> list[Evidence]: ...

    def list_devices(
        self,
        *,
        limit: int | None = None,
        offset: int = 0,
        sort: str = "id",
        search: str | None = None,
    ) -> list[Device]:
        """Devices with resolved attributes and IPs. ``sort`` is an attribute or column name,
        ``-name`` for descending. ``search`` matches MAC, IP, hostname, vendor, model, serial."""
        ...

    def count_devices(self, *, search: str | None = None) -> int: ...

    def device_keys(self) -> list[str]: ...


class Store(Protocol):
    """A database. ``transaction()`` is the only way in."""

    url: str

    def transaction(self) -> AbstractContextManager[Transaction]: ...

    def close(self) -> None: ...
