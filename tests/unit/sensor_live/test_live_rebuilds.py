"""The live sensor rebuilds the inventory only when something new arrived, and not too often."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from tests.conftest import DEMO

from wardwatch.sensor.capture.reader import read_packets
from wardwatch.services import discovery
from wardwatch.store.sql import open_store


def test_flushes_rebuild_only_on_news(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'live.sqlite'}")
    rebuilds: list[int] = []
    real = discovery.rebuild_inventory

    def counting(store_: object, **kw: object) -> tuple[int, int]:
        result = real(store_, **kw)  # type: ignore[arg-type]
        rebuilds.append(result[0])
        return result

    monkeypatch.setattr(discovery, "rebuild_inventory", counting)
    batches = list(read_packets(str(DEMO / "hospital-demo.pcap.gz"), batch_size=512))
    ticks = itertools.count(0.0, 10.0)  # every batch is a flush (flush_seconds=5)
    seen: list[int] = []

    first = discovery.run_live(
        store,
        interface="test",
        batches=iter(batches),
        clock=lambda: next(ticks),
        flush_seconds=5.0,
        on_flush=lambda s: seen.append(s.devices),
    )
    assert first.devices > 50 and seen and seen[0] > 0  # devices appear at the first flush
    during_first = len(rebuilds) - 1  # the last one is the shutdown rebuild
    assert 1 <= during_first < first.flushes

    rebuilds.clear()
    again = discovery.run_live(  # the same packets again: nothing new to identify
        store, interface="test", batches=iter(batches), clock=lambda: next(ticks), flush_seconds=5.0
    )
    assert again.flushes > 5
    assert len(rebuilds) == 1  # only the shutdown rebuild
    store.close()
