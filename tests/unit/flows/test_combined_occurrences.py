"""``occurrences="combined"`` gives what ``"each"`` gives, folded the store's way.

For every fixture capture (and batch sizes that put repeats in one feed and across feeds), the
engine runs in both modes. Folding the ``"each"`` output per observation uid (occurrences counted,
first and last by timestamp then flow uid) must give exactly the ``"combined"`` output's counts
and extremes, each feed on its own; the flow records, conversations and sightings must be the
same; the combined observations must be exactly the extremes (one object when first is last) and
equal to objects the ``"each"`` output holds. A hand-made case pins the tie rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import DATA

from wardwatch.model.observation import Observation
from wardwatch.sensor.capture.reader import read_packets
from wardwatch.sensor.flows.engine import SensorConfig, SensorEngine, SensorOutput, _fold

CAPTURES = sorted(DATA.glob("captures/**/*.pcap"))


@pytest.fixture(autouse=True)
def decode_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """One path is enough here (the modes differ after the packet path)."""
    monkeypatch.delenv("WARDWATCH_PURE_PYTHON", raising=False)
    yield "native"


Fact = tuple[int, tuple[int, str], tuple[int, str]]


def fold(observations: list[Observation]) -> dict[str, Fact]:
    """Per uid: (occurrences, first (ts, flow), last (ts, flow))."""
    facts: dict[str, Fact] = {}
    for o in observations:
        at = (o.ts_ns, o.flow_uid)
        n, first, last = facts.get(o.uid, (0, at, at))
        facts[o.uid] = (n + 1, min(first, at), max(last, at))
    return facts


def outputs(path: Path, occurrences: str, batch_size: int) -> list[SensorOutput]:
    cfg = SensorConfig(report_interval_s=0.5, flow_records="evidence", occurrences=occurrences)  # type: ignore[arg-type]
    engine = SensorEngine(cfg)
    outs = [engine.feed(b) for b in read_packets(path, batch_size=batch_size)]
    outs.append(engine.finish())
    engine.close()
    return outs


@pytest.mark.parametrize("batch_size", [1, 64, 4096])
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_combined_is_each_folded(path: Path, batch_size: int) -> None:
    each = outputs(path, "each", batch_size)
    combined = outputs(path, "combined", batch_size)
    assert len(each) == len(combined)
    for e, c in zip(each, combined, strict=True):
        assert e.counts is None and c.counts is not None
        facts = fold(e.observations)
        assert c.counts == {u: f[0] for u, f in facts.items()}
        assert c.occurrences == e.occurrences == len(e.observations)
        # exactly the extremes, as objects the "each" output holds
        want = {(o.uid, o.ts_ns, o.flow_uid): o for o in e.observations}
        extremes = {(u, *f[1]) for u, f in facts.items()} | {(u, *f[2]) for u, f in facts.items()}
        got = [(o.uid, o.ts_ns, o.flow_uid) for o in c.observations]
        assert len(got) == len(set(got)) and set(got) == extremes
        assert all(want[k] == o for k, o in zip(got, c.observations, strict=True))
        assert (c.flows, c.conversations, c.sightings, c.flows_ended) == (
            e.flows, e.conversations, e.sightings, e.flows_ended
        )  # fmt: skip


def test_some_capture_repeats_within_a_feed() -> None:
    # the comparison above must meet real repeats: some feed folds several occurrences
    outs = [o for p in CAPTURES for o in outputs(p, "combined", 4096)]
    assert any(n > 2 for o in outs for n in (o.counts or {}).values())


def test_stats_count_every_occurrence() -> None:
    path = next(p for p in CAPTURES if "lldp" in p.name.lower() or "dhcp" in p.name.lower())
    stats = []
    for mode in ("each", "combined"):
        engine = SensorEngine(replace(SensorConfig(), occurrences=mode))  # type: ignore[arg-type]
        for b in read_packets(path, batch_size=4096):
            engine.feed(b)
        engine.finish()
        stats.append(engine.stats.observations)
    assert stats[0] == stats[1] > 0


def test_tie_on_time_is_broken_by_flow() -> None:
    o = Observation(ts_ns=5, flow_uid="m", protocol="p", mac=None, ip="10.0.0.1", fields={"p.x": 1})
    repeats: dict[str, list[Any]] = {}
    for ts, flow in ((5, "m"), (5, "b"), (5, "z")):
        _fold(repeats, o, ts, flow)
    assert repeats[o.uid][1:] == [3, 5, "b", 5, "z"]
    for ts, flow in ((3, "q"), (9, "a"), (9, "c")):
        _fold(repeats, o, ts, flow)
    assert repeats[o.uid][1:] == [6, 3, "q", 9, "c"]


def test_first_and_last_at_one_time_in_two_flows_are_both_kept() -> None:
    engine = SensorEngine(SensorConfig(occurrences="combined"), dissectors=[])
    o = Observation(ts_ns=5, flow_uid="b", protocol="p", mac=None, ip="10.0.0.1", fields={"p.x": 1})
    engine._out = SensorOutput(observations=[o, replace(o, flow_uid="a"), o])
    engine._combine()
    out = engine._out
    assert [(x.ts_ns, x.flow_uid) for x in out.observations] == [(5, "a"), (5, "b")]
    assert out.counts == {o.uid: 3} and out.occurrences == 3
