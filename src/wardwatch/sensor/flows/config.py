"""The sensor engine's configuration, counters and output: plain data classes.

Apart from ``engine.py`` because that module is compiled by mypyc (ADR 013), which makes its
classes native ones: those cannot be pickled to ``--workers`` processes or weakly referenced.
``wardwatch.sensor.flows.engine`` re-exports all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from wardwatch.model.flow import Conversation, Flow
from wardwatch.model.observation import Observation
from wardwatch.store.ports import Sighting


@dataclass(slots=True)
class SensorConfig:
    """Limits and timeouts of the packet path. Every table is bounded."""

    idle_timeout_s: float = 120.0
    active_timeout_s: float = 1800.0
    max_flows: int = 500_000
    stream_prefix_bytes: int = 16384
    max_streams: int = 50_000
    max_conversations: int = 1_000_000
    max_sightings: int = 1_000_000
    tcp_idle_timeout_s: float | None = None
    """Idle timeout of TCP flows (None: ``idle_timeout_s``)."""
    udp_idle_timeout_s: float | None = None
    """Idle timeout of UDP flows (None: ``idle_timeout_s``)."""
    tcp_close_grace_s: float = 5.0
    """A TCP flow ends this long after FIN both ways or RST (late ACKs still count)."""
    report_interval_s: float = 60.0
    """Capture time between periodic sighting/conversation reports from ``feed``."""
    dissect_cache_entries: int = 16384
    """Results of datagram/L2 dissector calls remembered (0: off); see ``SensorEngine._call``."""
    flow_records: Literal["all", "evidence"] = "all"
    """Which ended flows become :class:`Flow` records in the output: ``"all"``, or ``"evidence"``:
    only flows that are, when they end, the first or last occurrence (by timestamp, then flow
    uid) of some distinct observation, the only flows a store keeps a reference to (its
    ``first_flow_uid``/``last_flow_uid``). Every flow still counts in ``flows_ended`` and in the
    conversations. See ``SensorEngine._settle``."""
    max_evidence: int = 250_000
    """Distinct observations whose first and last occurrence are tracked for ``"evidence"``; past
    it the oldest is forgotten and the flows it pointed to are kept (a superset, never a loss)."""
    occurrences: Literal["each", "combined"] = "each"
    """What ``SensorOutput.observations`` holds: ``"each"``, every occurrence; ``"combined"``, per
    distinct observation (uid) of the output its first and last occurrence (by timestamp, then
    flow uid: the store's rule; one object when they are the same), with the number of
    occurrences in ``SensorOutput.counts``. That is all a store keeps of a fact, and repeats (a
    scan's million SYNs from one host, a device's periodic announcements) then cost no object
    each. See ``SensorEngine._combine``."""


@dataclass(slots=True)
class SensorStats:
    """Counters of everything the packet path did or skipped."""

    packets: int = 0
    bytes: int = 0
    decode_errors: dict[str, int] = field(default_factory=dict)
    non_ip: int = 0
    flows_created: int = 0
    flows_expired_idle: int = 0
    flows_expired_active: int = 0
    flows_closed: int = 0
    flows_evicted: int = 0
    flows_end_of_capture: int = 0
    streams_evicted: int = 0
    dissector_calls: int = 0
    dissector_errors: int = 0
    dissect_cache_hits: int = 0
    dissect_cache_evicted: int = 0
    observations: int = 0
    conversations_evicted: int = 0
    sightings_evicted: int = 0
    first_ns: int | None = None
    last_ns: int | None = None


@dataclass(slots=True)
class SensorOutput:
    """What became final during one ``feed`` (or at ``finish``)."""

    observations: list[Observation] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    sightings: list[Sighting] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    flows_ended: int = 0
    """Flows that ended (all of them, also those not in ``flows`` under ``flow_records="evidence"``)."""
    counts: dict[str, int] | None = None
    """Under ``occurrences="combined"``: occurrences in this output per observation uid (the
    observations list then holds each uid's first and last occurrence only); else None."""

    @property
    def occurrences(self) -> int:
        """How many observation occurrences this output stands for (in either mode)."""
        return len(self.observations) if self.counts is None else sum(self.counts.values())


__all__ = ["SensorConfig", "SensorOutput", "SensorStats"]
