"""``SensorEngine.close``: once a capture is done, the engine is freed without the cyclic collector.

The meter calls back into the engine, so the two form a reference cycle. Everything the engine
holds (remembered results, aggregates, evidence tracking) then waited for a cyclic collection,
which at the end of ``discover`` on the bench's hospital capture took over a second. ``close``
drops the hooks: with the collector off, the engine and its tables must be gone as soon as the
last reference is.
"""

from __future__ import annotations

import gc
import weakref

import pytest
from tests.conftest import DEMO

from wardwatch.sensor.capture.reader import read_packets
from wardwatch.sensor.flows.engine import SensorConfig, SensorEngine


def test_a_closed_engine_is_freed_by_reference_counting() -> None:
    engine = SensorEngine(SensorConfig(flow_records="evidence"))
    observations = 0
    for batch in read_packets(DEMO / "hospital-demo.pcap.gz"):
        observations += len(engine.feed(batch).observations)
    observations += len(engine.finish().observations)
    assert observations > 100  # the engine did remember things worth freeing
    # The engine holds its meter, so a freed meter means a freed engine. (The engine itself
    # takes no weak reference where it is compiled by mypyc, ADR 013.)
    meter = weakref.ref(engine.meter)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        engine.close()
        assert engine.stats.observations == observations  # stats stay readable
        del engine
        assert meter() is None, "the engine is still referenced (a cycle left after close)"
    finally:
        if was_enabled:
            gc.enable()


def test_an_unclosed_engine_is_in_a_cycle() -> None:
    """The reason ``close`` exists: without it, only the collector frees the engine."""
    engine = SensorEngine(SensorConfig())
    engine.finish()
    alive = weakref.ref(engine.meter)  # held by the engine: alive while the engine is
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        del engine
        assert alive() is not None
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()
    assert alive() is None


def test_a_closed_engine_refuses_more_packets() -> None:
    engine = SensorEngine(SensorConfig())
    batch = next(iter(read_packets(DEMO / "hospital-demo.pcap.gz")))
    engine.feed(batch)
    engine.finish()
    engine.close()
    with pytest.raises(RuntimeError, match="closed"):
        engine.feed(batch)
