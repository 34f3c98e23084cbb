"""The packet path's collector settings apply inside the block only."""

from __future__ import annotations

import gc

import pytest

from wardwatch.sensor.gctune import packet_path_gc


def test_thresholds_are_raised_inside_and_restored_after() -> None:
    before = gc.get_threshold()
    with packet_path_gc(threshold=123_456):
        assert gc.get_threshold()[0] == max(before[0], 123_456)
        assert gc.get_freeze_count() > 0  # what was alive on entry is not rescanned
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_restored_even_when_the_block_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), packet_path_gc():
        raise RuntimeError("capture error")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
