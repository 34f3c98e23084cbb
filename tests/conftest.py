"""Shared test helpers: run the sensor over a capture without a database."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

from wardwatch.model.observation import Observation
from wardwatch.sensor.capture.reader import read_packets
from wardwatch.sensor.flows.engine import SensorEngine, SensorOutput

# Hypothesis' default deadline (200 ms per example) is a timing assertion: with two test
# processes on two cores, a garbage collection of a worker's large heap can pass it and fail a
# correct test as "Flaky" (a property test of ``obs`` failed so once in sessions 6 and 9, and
# passed 30,000 examples alone). Speed is measured in bench/, never in the tests.
settings.register_profile("wardwatch", deadline=None)
settings.load_profile("wardwatch")

DATA = Path(__file__).parent / "data"
DEMO = Path(__file__).parents[1] / "src" / "wardwatch" / "demo"


def run_sensor(path: Path | str, *, batch_size: int = 4096) -> SensorOutput:
    """Everything the sensor produces for one capture, in order."""
    engine = SensorEngine()
    total = SensorOutput(observations=[], flows=[], sightings=[], conversations=[])
    for batch in read_packets(str(path), batch_size=batch_size):
        _extend(total, engine.feed(batch))
    _extend(total, engine.finish())
    return total


def _extend(total: SensorOutput, out: SensorOutput) -> None:
    total.observations.extend(out.observations)
    total.flows.extend(out.flows)
    total.sightings.extend(out.sightings)
    total.conversations.extend(out.conversations)


def observations_of(path: Path | str) -> list[Observation]:
    """Only the observations of a capture."""
    return run_sensor(path).observations


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file."""
    return f"sqlite:///{tmp_path / 'ww.sqlite'}"
