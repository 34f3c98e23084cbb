"""An observation's ``count`` is its occurrences in the capture, however many batches wrote it."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import DEMO

from wardwatch.services import discovery
from wardwatch.store.sql import open_store


def _counts(tmp: Path, name: str) -> dict[str, int]:
    store = open_store(f"sqlite:///{tmp / name}")
    discovery.discover(store, [str(DEMO / "hospital-demo.pcap.gz")])
    with store.transaction() as tx:
        counts = {o.uid: o.count for o in tx.iter_observations()}
    store.close()
    return counts


def test_counts_do_not_depend_on_flush_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _counts(tmp_path, "whole.sqlite")
    monkeypatch.setattr(discovery, "FLUSH_OBSERVATIONS", 50)
    batched = _counts(tmp_path, "batched.sqlite")
    assert batched == whole
    assert max(whole.values()) > 10  # repeated facts (DHCP renewals, LLDP every 30 s) are counted
