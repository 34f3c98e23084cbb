"""``--workers N``: one capture metered by N processes, sharded by flow, merged deterministically.

Every worker reads the whole file (reading is cheap next to metering), decodes each batch, and
keeps the packets whose *shard* is its own: a symmetric hash of the two ``(ip, port)`` endpoints
(both directions of a flow land together), the source MAC for non-IP frames, shard 0 for
packets that do not decode. The kept packets form a sub-batch over the same buffer (no copy)
that the worker's own :class:`SensorEngine` meters, so every flow, its TCP streams and its
dissector calls live in exactly one worker and give the same flows and observations as one
process would.

Workers may stream their observations and flow records to the parent in chunks while they run
(``run_sharded(on_chunk=...)``; ``discover`` writes them to the store as they come, since the
store's merge does not depend on order), or return everything at the end. Under
``occurrences="combined"`` (``discover``) a worker sends each observation's extremes per feed with
their counts, which the parent adds up, not an object per occurrence. Then the parent
merges: observations and flows sorted by a total order (time, then content), and
the per-worker partial aggregates summed (sightings per (MAC, IP): packets and bytes added,
first/last/TTL min/max; conversations likewise with flow counts added). Differences from one
process, by construction: which flows a full table evicts, and whether a flow still live at
the end of one shard is reported as ``end-of-capture`` rather than ``idle`` (each shard's clock
is its own last packet).
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from dataclasses import dataclass, fields
from itertools import starmap
from queue import Empty
from typing import Any

import numpy as np
import numpy.typing as npt

from wardwatch.gctools import collector_paused, packet_path_gc
from wardwatch.model._build import builder
from wardwatch.model.flow import Conversation, Flow
from wardwatch.model.observation import Observation
from wardwatch.sensor.capture.batch import PacketBatch
from wardwatch.sensor.capture.errors import CaptureError, ReadStats
from wardwatch.sensor.capture.reader import read_packets
from wardwatch.sensor.flows.decode import T_L2, Decoded, decode
from wardwatch.sensor.flows.engine import SensorConfig, SensorEngine, SensorOutput
from wardwatch.store.ports import Sighting

_P1 = np.uint64(0x9E3779B97F4A7C15)
_P2 = np.uint64(0xBF58476D1CE4E5B9)


def _mix(
    a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64], c: npt.NDArray[np.uint64]
) -> npt.NDArray[np.uint64]:
    h = (a * _P1) ^ (b * _P2) ^ (c * _P1 * _P2)
    h ^= h >> np.uint64(31)
    h *= _P2
    h ^= h >> np.uint64(29)
    result: npt.NDArray[np.uint64] = h
    return result


def shard_of(batch: PacketBatch, workers: int, dec: Decoded | None = None) -> npt.NDArray[np.int64]:
    """The shard (0..workers-1) of every packet of ``batch`` (see module docstring)."""
    if dec is None:
        dec = decode(batch)
    with np.errstate(over="ignore"):
        sp = dec.src_port.astype(np.uint64)
        dp = dec.dst_port.astype(np.uint64)
        # addition is symmetric: both directions of a flow get the same value
        h = _mix(dec.src_hi, dec.src_lo, sp) + _mix(dec.dst_hi, dec.dst_lo, dp)
        l2 = _mix(dec.src_mac, dec.ethertype.astype(np.uint64), np.zeros_like(dec.src_mac))
        h = np.where(dec.transport == T_L2, l2, h)
        h ^= h >> np.uint64(33)
    shard = (h % np.uint64(workers)).astype(np.int64)
    shard[dec.error != 0] = 0
    return shard


def sub_batch(batch: PacketBatch, idx: npt.NDArray[np.int64]) -> PacketBatch:
    """The packets ``idx`` of ``batch`` as a batch over the same buffer."""
    return PacketBatch(
        data=batch.data,
        offset=batch.offset[idx],
        caplen=batch.caplen[idx],
        wirelen=batch.wirelen[idx],
        ts_ns=batch.ts_ns[idx],
        linktype=batch.linktype[idx],
        first_index=batch.first_index,
        source=batch.source,
    )


@dataclass(slots=True)
class ShardResult:
    """What one worker produced for one source."""

    output: SensorOutput
    stats: dict[str, Any]
    read: ReadStats
    error: str | None


#: Observations a worker sends to the parent at a time when streaming (``run_sharded(on_chunk=)``).
CHUNK_OBSERVATIONS = 20_000

Sink = Callable[[SensorOutput], None]


def run_shard(
    source: str,
    index: int,
    workers: int,
    config: SensorConfig | None,
    sink: Sink | None = None,
    chunk: int = 0,
) -> ShardResult:
    """Meter shard ``index`` of ``source`` (runs in a worker process).

    With ``sink``, observations and flow records are handed to it every ``chunk`` observations
    (and at the end) instead of being returned; the aggregates and counters are always returned.
    """
    with packet_path_gc():
        return _run_shard(source, index, workers, config, sink, chunk)


def _run_shard(
    source: str, index: int, workers: int, config: SensorConfig | None, sink: Sink | None, chunk: int
) -> ShardResult:
    engine = SensorEngine(config)
    combined = engine.config.occurrences == "combined"
    read = ReadStats()
    total = SensorOutput(counts={} if combined else None)
    error = None

    def add(out: SensorOutput) -> None:
        total.observations.extend(out.observations)
        _add_counts(total, out.counts)
        total.flows.extend(out.flows)
        total.flows_ended += out.flows_ended
        total.sightings.extend(out.sightings)
        total.conversations.extend(out.conversations)
        if sink is not None and len(total.observations) >= chunk:
            send()

    def send() -> None:
        if sink is not None and (total.observations or total.flows):
            sink(SensorOutput(observations=total.observations, flows=total.flows, counts=total.counts))
            total.observations, total.flows = [], []
            total.counts = {} if combined else None

    try:
        for batch in read_packets(source, stats=read):
            if len(batch) == 0:
                continue
            dec = decode(batch)
            mine = np.flatnonzero(shard_of(batch, workers, dec) == index)
            if mine.shape[0]:
                add(engine.feed(sub_batch(batch, mine)))
    except CaptureError as exc:
        error = str(exc)
    add(engine.finish())
    engine.close()
    send()
    stats = {f.name: getattr(engine.stats, f.name) for f in fields(engine.stats)}
    return ShardResult(output=total, stats=stats, read=read, error=error)


def _add_counts(total: SensorOutput, counts: dict[str, int] | None) -> None:
    """Add an output's occurrence counts (``occurrences="combined"``) to ``total``'s."""
    if counts:
        into = total.counts if total.counts is not None else {}
        total.counts = into
        for uid, n in counts.items():
            into[uid] = into.get(uid, 0) + n


_new_observation = builder(Observation)
_new_flow = builder(Flow)
_new_sighting = builder(Sighting)
_new_conversation = builder(Conversation)
_FLOW_FIELDS = tuple(f.name for f in fields(Flow))
_SIGHTING_FIELDS = tuple(f.name for f in fields(Sighting))
_CONVERSATION_FIELDS = tuple(f.name for f in fields(Conversation))
Packed = tuple[
    list[tuple[Any, ...]],
    list[tuple[Any, ...]],
    list[tuple[Any, ...]],
    list[tuple[Any, ...]],
    int,
    dict[str, int] | None,
]


def pack(out: SensorOutput) -> Packed:
    """``out`` as tuples of plain values, for the queue to the parent: pickling frozen slotted
    dataclasses one by one cost the workers a third of their time; tuples pickle in C.
    Observations carry their uid (computed in the worker) so the parent need not hash them."""
    return (
        [(o.ts_ns, o.flow_uid, o.protocol, o.mac, o.ip, o.fields, o.uid) for o in out.observations],
        [tuple(getattr(f, n) for n in _FLOW_FIELDS) for f in out.flows],
        [tuple(getattr(x, n) for n in _SIGHTING_FIELDS) for x in out.sightings],
        [tuple(getattr(c, n) for n in _CONVERSATION_FIELDS) for c in out.conversations],
        out.flows_ended,
        out.counts,
    )


def unpack(packed: Packed) -> SensorOutput:
    """The inverse of :func:`pack`."""
    obs, flows, sightings, convs, ended, counts = packed
    # The tuples hold every field in declaration order (see pack), the builders' positional order.
    return SensorOutput(
        observations=list(starmap(_new_observation, obs)),
        flows=list(starmap(_new_flow, flows)),
        sightings=list(starmap(_new_sighting, sightings)),
        conversations=list(starmap(_new_conversation, convs)),
        flows_ended=ended,
        counts=counts,
    )


def _worker(
    source: str, index: int, workers: int, config: SensorConfig | None, chunk: int, queue: Any
) -> None:
    """A worker process: stream chunks, then the result, over ``queue`` (never raises)."""
    try:
        result = run_shard(
            source, index, workers, config, lambda out: queue.put(("chunk", index, pack(out))), chunk
        )
        packed = pack(result.output)
        result.output = SensorOutput()
        queue.put(("done", index, (result, packed)))
    except BaseException:  # reported to the parent, which raises it
        queue.put(("error", index, traceback.format_exc()))


def merge(results: list[ShardResult]) -> tuple[SensorOutput, dict[str, Any]]:
    """Merge shard outputs in a deterministic order and sum their counters.

    Observations and flows come in a total order (the same whatever the number of workers),
    sightings by key; conversations in the order the workers reported them, worker 0's first
    (deterministic for a given number of workers): a scan has a million of them, whose sort by
    key cost more than the rest of the merge, and the store, their consumer, sorts its rows
    itself.
    """
    out = SensorOutput()
    for r in results:
        out.observations.extend(r.output.observations)
        _add_counts(out, r.output.counts)
        out.flows.extend(r.output.flows)
        out.flows_ended += r.output.flows_ended
    out.observations.sort(key=lambda o: (o.ts_ns, o.flow_uid, o.protocol, o.uid))
    out.flows.sort(key=lambda f: (f.first_ns, f.uid, f.last_ns))
    sightings: dict[tuple[str | None, str | None], list[int]] = {}
    for r in results:
        for s in r.output.sightings:
            v = sightings.get((s.mac, s.ip))
            if v is None:
                sightings[(s.mac, s.ip)] = [s.first_ns, s.last_ns, s.packets, s.bytes, s.ttl]
            else:
                v[0], v[1], v[4] = min(v[0], s.first_ns), max(v[1], s.last_ns), max(v[4], s.ttl)
                v[2] += s.packets
                v[3] += s.bytes
    out.sightings = [
        _new_sighting(mac=k[0], ip=k[1], first_ns=v[0], last_ns=v[1], packets=v[2], bytes=v[3], ttl=v[4])
        for k, v in sorted(sightings.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))
    ]
    convs: dict[tuple[Any, ...], list[int]] = {}
    for r in results:
        for c in r.output.conversations:
            key = (c.client_ip, c.client_mac, c.server_ip, c.server_mac, c.transport, c.server_port)
            v = convs.get(key)
            if v is None:
                convs[key] = [c.first_ns, c.last_ns, c.flows, c.packets, c.bytes]
            else:
                v[0], v[1] = min(v[0], c.first_ns), max(v[1], c.last_ns)
                v[2] += c.flows
                v[3] += c.packets
                v[4] += c.bytes
    out.conversations = [
        _new_conversation(
            client_ip=k[0],
            client_mac=k[1],
            server_ip=k[2],
            server_mac=k[3],
            transport=k[4],
            server_port=k[5],
            first_ns=v[0],
            last_ns=v[1],
            flows=v[2],
            packets=v[3],
            bytes=v[4],
        )
        for k, v in convs.items()
    ]
    stats: dict[str, Any] = {}
    for r in results:
        for name, value in r.stats.items():
            if isinstance(value, bool) or value is None:
                stats.setdefault(name, value)
            elif isinstance(value, int):
                if name == "first_ns":
                    stats[name] = value if stats.get(name) is None else min(stats[name], value)
                elif name == "last_ns":
                    stats[name] = value if stats.get(name) is None else max(stats[name], value)
                else:
                    stats[name] = stats.get(name, 0) + value
            elif isinstance(value, dict):
                d = stats.setdefault(name, {})
                for k, x in value.items():
                    d[k] = d.get(k, 0) + x
    stats["workers"] = len(results)
    return out, stats


def _receive(
    source: str, procs: list[Any], queue: Any, on_chunk: Sink | None
) -> tuple[list[ShardResult], list[SensorOutput]]:
    """Every worker's result (and, without ``on_chunk``, their chunks), in worker order; the
    workers are joined (or terminated) before it returns or raises."""
    workers = len(procs)
    results: list[ShardResult | None] = [None] * workers
    kept: list[SensorOutput] = []
    try:
        while any(r is None for r in results):
            try:
                kind, index, payload = queue.get(timeout=1.0)
            except Empty:
                dead = [i for i, p in enumerate(procs) if results[i] is None and not p.is_alive()]
                if dead:
                    raise RuntimeError(f"worker {dead[0]} of {source} stopped without a result") from None
                continue
            if kind == "chunk":
                if on_chunk is not None:
                    on_chunk(unpack(payload))
                else:
                    kept.append(unpack(payload))
            elif kind == "done":
                result, packed = payload
                result.output = unpack(packed)
                results[index] = result
            else:
                raise RuntimeError(f"worker {index} of {source} failed:\n{payload}")
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
    return [r for r in results if r is not None], kept


def run_sharded(
    source: str,
    *,
    workers: int,
    config: SensorConfig | None = None,
    on_chunk: Sink | None = None,
    chunk: int = CHUNK_OBSERVATIONS,
) -> tuple[SensorOutput, dict[str, Any], ReadStats, str | None]:
    """Meter ``source`` with ``workers`` processes; returns (merged output, stats, read stats, error).

    With ``on_chunk``, the workers stream their observations and flow records to it while they
    run (in no particular order between workers; each call gets one worker's next chunk) and the
    merged output holds only the aggregates: the caller can write as the workers go, and memory
    stays bounded by the chunks in flight, not by the capture. Without it, everything is merged
    in a deterministic order.
    """
    ctx = multiprocessing.get_context("spawn")  # no fork of the parent's store connections
    queue = ctx.Queue(maxsize=2 * workers)  # bounded: a slow parent slows the workers down
    procs = [
        ctx.Process(target=_worker, args=(source, i, workers, config, chunk, queue), daemon=True)
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    # The parent unpacks what the workers send (a scan's million conversations) and merges it:
    # bulk, almost acyclic objects kept alive, which the default collector thresholds walk again
    # and again (on the bench's scan, 5.2 s of merge and 1.2 s of unpacking with them).
    with packet_path_gc():
        done, kept = _receive(source, procs, queue, on_chunk)
        if kept:
            done[0].output.observations.extend(o for c in kept for o in c.observations)
            for c in kept:
                _add_counts(done[0].output, c.counts)
            done[0].output.flows.extend(f for c in kept for f in c.flows)
        with collector_paused():
            out, stats = merge(done)
    read = done[0].read  # every worker read the whole source
    error = next((r.error for r in done if r.error), None)
    return out, stats, read, error
