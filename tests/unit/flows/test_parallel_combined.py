"""``--workers`` under ``occurrences="combined"``: the occurrence counts add up across feeds,
chunks and shards to what one process counts, with the same first and last occurrences.

The shards run in this process (``run_shard`` is a plain function) with small batches, so a
fact repeats across feeds and chunks; the real multi-process path runs once with a chunk of one
observation and no chunk consumer (the parent keeps the chunks).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from tests.conftest import DATA

from wardwatch.model.observation import Observation
from wardwatch.sensor import parallel
from wardwatch.sensor.capture.reader import read_packets
from wardwatch.sensor.flows.engine import SensorConfig, SensorEngine, SensorOutput

CAPTURE = DATA / "captures" / "lldp-lldpd.pcap"
COMBINED = SensorConfig(report_interval_s=0.5, flow_records="evidence", occurrences="combined")


@pytest.fixture(autouse=True)
def decode_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.delenv("WARDWATCH_PURE_PYTHON", raising=False)
    yield "native"


Facts = dict[str, tuple[int, tuple[int, str], tuple[int, str]]]


def facts(observations: list[Observation], counts: dict[str, int] | None) -> Facts:
    """Per uid: occurrences (``counts``, else one per object), first and last (ts, flow)."""
    out: Facts = {}
    for o in observations:
        at = (o.ts_ns, o.flow_uid)
        n, first, last = out.get(o.uid, (0, at, at))
        out[o.uid] = (n + (counts is None), min(first, at), max(last, at))
    if counts is not None:
        out = {u: (counts[u], f[1], f[2]) for u, f in out.items()}
    return out


def one_process(path: Path) -> Facts:
    engine = SensorEngine(replace(COMBINED, occurrences="each"))
    seen: list[Observation] = []
    for b in read_packets(path, batch_size=5):
        seen += engine.feed(b).observations
    seen += engine.finish().observations
    return facts(seen, None)


def test_shards_and_chunks_add_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "read_packets", partial(read_packets, batch_size=5))
    want = one_process(CAPTURE)
    assert any(f[0] > 2 for f in want.values())  # facts repeat across feeds

    # returned at the end: the merge adds the shards' counts
    results = [parallel.run_shard(str(CAPTURE), i, 2, COMBINED) for i in range(2)]
    merged, _ = parallel.merge(results)
    assert facts(merged.observations, merged.counts) == want

    # streamed in chunks of one observation: every chunk carries the counts behind its objects
    chunks: list[SensorOutput] = []
    for i in range(2):
        r = parallel.run_shard(str(CAPTURE), i, 2, COMBINED, sink=chunks.append, chunk=1)
        assert r.output.observations == [] and not r.output.counts
    total: dict[str, int] = {}
    for c in chunks:
        assert c.counts is not None and set(c.counts) == {o.uid for o in c.observations}
        for u, n in c.counts.items():
            total[u] = total.get(u, 0) + n
    assert facts([o for c in chunks for o in c.observations], total) == want


def test_the_parent_adds_the_chunks_it_keeps() -> None:
    # Workers stream (chunk=1) and nobody consumes the chunks: the parent keeps and merges them.
    out, _, _, error = parallel.run_sharded(str(CAPTURE), workers=2, config=COMBINED, chunk=1)
    assert error is None
    engine = SensorEngine(replace(COMBINED, occurrences="each"))
    seen = [o for b in read_packets(CAPTURE) for o in engine.feed(b).observations]
    seen += engine.finish().observations
    assert facts(out.observations, out.counts) == facts(seen, None)
