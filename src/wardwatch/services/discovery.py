"""Discover: read captures, meter flows, dissect, store what was seen, and update the inventory.

Nothing is lost on bad input: observations are written to the store in chunks as the capture is
read, and when a capture turns out to be truncated or corrupt, everything read before the fault
is flushed and committed, the capture is recorded with its error, and the next source is read.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import Protocol

from wardwatch.gctools import collector_paused
from wardwatch.identify.knowledge import Knowledge
from wardwatch.identify.oui import OuiRegistry
from wardwatch.model.flow import Flow
from wardwatch.model.observation import Observation
from wardwatch.sensor.capture.batch import PacketBatch
from wardwatch.sensor.capture.errors import CaptureError, ReadStats
from wardwatch.sensor.capture.reader import read_packets
from wardwatch.sensor.flows.engine import SensorConfig, SensorEngine, SensorOutput
from wardwatch.sensor.ring import PcapRing
from wardwatch.store.ports import CaptureRecord, Store, Transaction

#: Flush to the store once this many distinct observations, or this many flow records, are
#: pending (bounds memory on long captures: under 100 MB at this size). Each flush re-merges the
#: facts already stored, so fewer, larger flushes write far fewer rows.
FLUSH_OBSERVATIONS = 100_000
#: Offline captures report sightings/conversations once at the end: they are cumulative and the
#: store merges them with max, so the stored result is the same as with periodic reports, with
#: far fewer rows written (a live sensor reports every flush instead).
OFFLINE_REPORT_INTERVAL_S = 10.0 * 365 * 86400


class ProgressObserver(Protocol):
    """Told how discovery advances; the CLI draws a progress bar with it, tests ignore it."""

    def source_started(self, source: str) -> None: ...
    def packets_read(self, source: str, packets: int) -> None: ...
    def source_finished(self, source: str, summary: SourceSummary) -> None: ...


class NoProgress:
    """A ProgressObserver that ignores everything."""

    def source_started(self, source: str) -> None:
        """Ignored."""

    def packets_read(self, source: str, packets: int) -> None:
        """Ignored."""

    def source_finished(self, source: str, summary: SourceSummary) -> None:
        """Ignored."""


@dataclass
class SourceSummary:
    """What discovery did with one source."""

    source: str
    packets: int = 0
    bytes: int = 0
    observations: int = 0
    new_observations: int = 0
    flows: int = 0
    skipped_records: int = 0
    unsupported_linktype_packets: int = 0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    sensor: dict[str, object] = field(default_factory=dict)


@dataclass
class DiscoverySummary:
    """What a discovery run did, for the CLI summary and JSON output."""

    sources: list[SourceSummary]
    devices: int
    devices_new: int
    seconds: float

    @property
    def ok(self) -> bool:
        """True when every source was read to its end."""
        return all(s.error is None for s in self.sources)


class _Pending:
    """Sensor output waiting to be written, with the flows worth keeping.

    Observations are kept combined: per distinct fact (uid), its first and last occurrence (by
    timestamp, then flow uid: the store's rule) and, in ``counts``, how often it occurred in the
    whole source so far. The store row of a fact depends on nothing else, so writing these gives
    exactly the rows that writing every occurrence did; and memory, and the rows each write
    merges, grow with the distinct facts (75 k in the bench's hospital hour), not with the
    occurrences (300 k).
    """

    def __init__(self) -> None:
        self.extremes: dict[str, list[Observation]] = {}  # uid -> [first, last occurrence]
        self.flows: list[Flow] = []
        self.sightings: list[object] = []
        self.conversations: list[object] = []
        # Occurrences of each distinct observation in the whole source so far: the source is
        # written in several batches, and the store keeps the largest count it is given.
        self.counts: Counter[str] = Counter()

    def add(self, out: SensorOutput) -> None:
        """Queue one feed's output (what the engine finalised) for the next :meth:`write`."""
        observations = out.observations
        extremes = self.extremes
        for o in observations:
            uid = o.uid
            pair = extremes.get(uid)
            if pair is None:
                extremes[uid] = [o, o]
                continue
            ts, flow = o.ts_ns, o.flow_uid
            first, last = pair
            if ts < first.ts_ns or (ts == first.ts_ns and flow < first.flow_uid):
                pair[0] = o
            if ts > last.ts_ns or (ts == last.ts_ns and flow > last.flow_uid):
                pair[1] = o
        if out.counts is not None:  # occurrences="combined": the list holds extremes only
            self.counts.update(out.counts)
        else:  # Counter.update consumes the mapped attributes in C
            self.counts.update(map(attrgetter("uid"), observations))
        # The engine runs with flow_records="evidence": its flow records are those an observation
        # can point to (first or last occurrence); all flows still count towards conversations.
        self.flows.extend(out.flows)
        self.sightings.extend(out.sightings)
        self.conversations.extend(out.conversations)

    def full(self) -> bool:
        """Whether to write now: :data:`FLUSH_OBSERVATIONS` distinct facts or flow records queued."""
        return len(self.extremes) >= FLUSH_OBSERVATIONS or len(self.flows) >= FLUSH_OBSERVATIONS

    def write(self, tx: Transaction) -> int:
        """Merge everything queued into the store in ``tx``; returns how many observations were new."""
        occurrences = [
            o
            for first, last in self.extremes.values()
            for o in ((first,) if first is last else (first, last))
        ]
        # The merges build hundreds of thousands of short-lived, acyclic rows; the collections
        # they would trigger walk the whole heap (engine state, queued output) again and again.
        # Reference counting frees the rows; only cycles wait until the collector is back.
        with collector_paused():
            new = tx.merge_observations(occurrences, counts=self.counts)
            tx.merge_flows(self.flows)
            tx.merge_sightings(self.sightings)  # type: ignore[arg-type]
            tx.merge_conversations(self.conversations)  # type: ignore[arg-type]
        self.extremes, self.flows, self.sightings, self.conversations = {}, [], [], []
        return new


def _evidence(config: SensorConfig) -> SensorConfig:
    """``config`` emitting what a store keeps: the store keeps each distinct observation's first
    and last occurrence, their flows and its count, so only the flow records an observation can
    point to are emitted (the others would be written for nothing: on a scan, a million of
    them), and observations combined (``occurrences="combined"``: no object per repeat)."""
    if config.flow_records == "evidence" and config.occurrences == "combined":
        return config
    return replace(config, flow_records="evidence", occurrences="combined")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def discover_source(
    store: Store,
    source: str,
    *,
    config: SensorConfig | None = None,
    progress: ProgressObserver | None = None,
    workers: int = 1,
) -> SourceSummary:
    """Read one source (file, directory or '-') into the store. Never raises CaptureError.

    With ``workers > 1`` (not for standard input) the source is metered by that many processes,
    sharded by flow (see :mod:`wardwatch.sensor.parallel`); their observations are written as
    they stream in, the aggregates (sightings, conversations) once the workers are done.
    """
    progress = progress or NoProgress()
    summary = SourceSummary(source=source)
    stats = ReadStats()
    config = _evidence(config or SensorConfig(report_interval_s=OFFLINE_REPORT_INTERVAL_S))
    progress.source_started(source)
    if workers > 1 and source != "-":
        return _discover_sharded(store, source, config=config, progress=progress, workers=workers)
    engine = SensorEngine(config)
    pending = _Pending()
    started = _now()
    first_ns: int | None = None
    last_ns: int | None = None
    try:
        for batch in read_packets(source, stats=stats):
            if len(batch):
                first_ns = (
                    int(batch.ts_ns.min()) if first_ns is None else min(first_ns, int(batch.ts_ns.min()))
                )
                last_ns = int(batch.ts_ns.max()) if last_ns is None else max(last_ns, int(batch.ts_ns.max()))
            out = engine.feed(batch)
            summary.observations += out.occurrences
            summary.flows += out.flows_ended
            pending.add(out)
            progress.packets_read(source, len(batch))
            if pending.full():
                with store.transaction() as tx:
                    summary.new_observations += pending.write(tx)
    except CaptureError as err:
        summary.error = str(err)
    out = engine.finish()
    engine.close()
    summary.observations += out.occurrences
    summary.flows += out.flows_ended
    pending.add(out)
    summary.packets = stats.packets
    summary.bytes = stats.bytes
    summary.skipped_records = stats.skipped_records
    summary.unsupported_linktype_packets = stats.unsupported_linktype_packets
    summary.warnings = list(stats.errors)
    summary.sensor = _stats_dict(engine)
    with store.transaction() as tx:
        summary.new_observations += pending.write(tx)
        tx.add_capture(_capture_record(summary, started, first_ns, last_ns))
    progress.source_finished(source, summary)
    return summary


def _capture_record(
    summary: SourceSummary, started: str, first_ns: int | None, last_ns: int | None
) -> CaptureRecord:
    """The stored record of one source read (its counters, warnings and error)."""
    return CaptureRecord(
        source=summary.source,
        sha256=None,
        packets=summary.packets,
        bytes=summary.bytes,
        first_ns=first_ns,
        last_ns=last_ns,
        started_at=started,
        finished_at=_now(),
        stats={
            "observations": summary.observations,
            "new_observations": summary.new_observations,
            "flows": summary.flows,
            "skipped_records": summary.skipped_records,
            "unsupported_linktype_packets": summary.unsupported_linktype_packets,
            "warnings": summary.warnings,
            "sensor": summary.sensor,
        },
        error=summary.error,
    )


def _discover_sharded(
    store: Store, source: str, *, config: SensorConfig, progress: ProgressObserver, workers: int
) -> SourceSummary:
    from wardwatch.sensor.parallel import run_sharded

    started = _now()
    summary = SourceSummary(source=source)
    pending = _Pending()

    def on_chunk(chunk: SensorOutput) -> None:
        # Written while the workers go on: the store's merge does not depend on the order.
        summary.observations += chunk.occurrences
        pending.add(chunk)
        if pending.full():
            with store.transaction() as tx:
                summary.new_observations += pending.write(tx)

    out, sensor_stats, stats, error = run_sharded(source, workers=workers, config=config, on_chunk=on_chunk)
    summary.error = error
    pending.add(out)  # the aggregates (and nothing else: the rest came in chunks)
    summary.observations += out.occurrences
    summary.flows = out.flows_ended
    summary.packets = stats.packets
    summary.bytes = stats.bytes
    summary.skipped_records = stats.skipped_records
    summary.unsupported_linktype_packets = stats.unsupported_linktype_packets
    summary.warnings = list(stats.errors)
    summary.sensor = {k: v for k, v in sensor_stats.items() if isinstance(v, int | float | str | bool | dict)}
    progress.packets_read(source, stats.packets)
    with store.transaction() as tx:
        summary.new_observations += pending.write(tx)
        first, last = sensor_stats.get("first_ns"), sensor_stats.get("last_ns")
        tx.add_capture(
            _capture_record(
                summary,
                started,
                first if isinstance(first, int) else None,
                last if isinstance(last, int) else None,
            )
        )
    progress.source_finished(source, summary)
    return summary


def _stats_dict(engine: SensorEngine) -> dict[str, object]:
    stats = engine.stats
    names = getattr(stats, "__dataclass_fields__", {})
    result: dict[str, object] = {}
    for name in names:
        value = getattr(stats, name)
        if isinstance(value, int | float | str | bool) or value is None:
            result[name] = value
        elif isinstance(value, dict):
            result[name] = {str(k): v for k, v in value.items()}
    return result


def rebuild_inventory(
    store: Store, *, knowledge: Knowledge | None = None, oui: OuiRegistry | None = None
) -> tuple[int, int]:
    """Re-identify every device from what is stored (see :mod:`wardwatch.services.identity`).

    Returns (devices, new devices).
    """
    from wardwatch.services.identity import rebuild_inventory as rebuild

    summary = rebuild(store, knowledge=knowledge, oui=oui, trigger="discover")
    return summary.devices, summary.devices_new


def discover(
    store: Store,
    sources: Sequence[str] | Iterable[str],
    *,
    config: SensorConfig | None = None,
    progress: ProgressObserver | None = None,
    workers: int = 1,
) -> DiscoverySummary:
    """Discover every source in order, then update the inventory once."""
    started = time.perf_counter()
    summaries = [
        discover_source(store, s, config=config, progress=progress, workers=workers) for s in sources
    ]
    devices, new = rebuild_inventory(store)
    return DiscoverySummary(
        sources=summaries, devices=devices, devices_new=new, seconds=time.perf_counter() - started
    )


@dataclass
class LiveSummary:
    """What a live sensor run did (printed at shutdown, and stored as its capture record)."""

    interface: str
    packets: int = 0
    bytes: int = 0
    observations: int = 0
    new_observations: int = 0
    flows: int = 0
    flushes: int = 0
    devices: int = 0
    kernel_dropped: int = 0
    ring_files: int = 0
    sensor: dict[str, object] = field(default_factory=dict)


def run_live(
    store: Store,
    *,
    interface: str,
    batches: Iterator[PacketBatch],
    kernel_dropped: Callable[[], int] = lambda: 0,
    config: SensorConfig | None = None,
    flush_seconds: float = 5.0,
    ring: PcapRing | None = None,
    clock: Callable[[], float] = time.monotonic,
    on_flush: Callable[[LiveSummary], None] | None = None,
) -> LiveSummary:
    """Feed live batches to the engine and write to the store as it goes.

    Every ``flush_seconds`` (wall clock) what became final (observations, the flows they point
    to, and the sightings and conversations that changed) is written in one transaction, then
    the inventory is rebuilt, so a device seen at 10:00 is in the inventory a few seconds later.
    The engine reports aggregates every ``flush_seconds`` of capture time. When ``batches``
    ends (the caller's stop flag, set by SIGINT/SIGTERM), the engine is finished and everything
    is flushed with a capture record. A kill loses at most the last ``flush_seconds``; each
    write is one transaction, so the store is never left half-written.
    """
    config = _evidence(config or SensorConfig(report_interval_s=max(1.0, flush_seconds)))
    engine = SensorEngine(config)
    summary = LiveSummary(interface=interface)
    pending = _Pending()
    started = _now()
    first_ns: int | None = None
    last_ns: int | None = None
    next_flush = clock() + flush_seconds

    # The inventory is rebuilt after a flush only when it can have changed (new distinct facts or
    # a new MAC/IP pair), and never more often than 4x the last rebuild's own duration: on a
    # large site a full rebuild takes seconds, and the sensor must keep reading packets.
    with store.transaction() as tx:
        known_hosts: set[tuple[object, object]] = {(x.mac, x.ip) for x in tx.sightings()}
    rebuild_state = {"due": False, "at": float("-inf"), "cost": 0.0}

    def flush() -> None:
        hosts = {(getattr(x, "mac", None), getattr(x, "ip", None)) for x in pending.sightings}
        new_hosts = hosts - known_hosts
        known_hosts.update(new_hosts)
        with store.transaction() as tx:
            new = pending.write(tx)
        summary.new_observations += new
        if new or new_hosts:
            rebuild_state["due"] = True
        now = clock()
        if rebuild_state["due"] and now - rebuild_state["at"] >= 4 * rebuild_state["cost"]:
            summary.devices, _ = rebuild_inventory(store)
            rebuild_state.update(due=False, at=now, cost=clock() - now)
        summary.flushes += 1
        summary.kernel_dropped = kernel_dropped()
        if on_flush is not None:
            on_flush(summary)

    try:
        for batch in batches:
            if len(batch):
                if ring is not None:
                    ring.write(batch)
                first_ns = int(batch.ts_ns.min()) if first_ns is None else first_ns
                last_ns = int(batch.ts_ns.max())
                summary.packets += len(batch)
                summary.bytes += int(batch.wirelen.sum(dtype="int64"))
                out = engine.feed(batch)
                summary.observations += out.occurrences
                summary.flows += out.flows_ended
                pending.add(out)
            if clock() >= next_flush or pending.full():
                flush()
                next_flush = clock() + flush_seconds
    finally:
        out = engine.finish()
        engine.close()
        summary.observations += out.occurrences
        summary.flows += out.flows_ended
        pending.add(out)
        summary.kernel_dropped = kernel_dropped()
        summary.sensor = {**_stats_dict(engine), "kernel_dropped": summary.kernel_dropped}
        if ring is not None:
            ring.close()
            summary.ring_files = len(ring.files())
        with store.transaction() as tx:
            summary.new_observations += pending.write(tx)
            tx.add_capture(
                CaptureRecord(
                    source=f"live:{interface}",
                    sha256=None,
                    packets=summary.packets,
                    bytes=summary.bytes,
                    first_ns=first_ns,
                    last_ns=last_ns,
                    started_at=started,
                    finished_at=_now(),
                    stats={
                        "observations": summary.observations,
                        "new_observations": summary.new_observations,
                        "flows": summary.flows,
                        "flushes": summary.flushes,
                        "sensor": summary.sensor,
                    },
                    error=None,
                )
            )
        summary.devices, _ = rebuild_inventory(store)
        summary.flushes += 1
    return summary
