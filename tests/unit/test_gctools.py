"""The collector settings of bulk work apply inside their block only."""

from __future__ import annotations

import gc

import pytest

from wardwatch.gctools import collector_paused, packet_path_gc


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


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_paused_restores_what_it_found(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        with pytest.raises(RuntimeError), collector_paused():
            assert not gc.isenabled()
            raise RuntimeError("store error")
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
