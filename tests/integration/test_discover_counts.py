"""An observation's stored row (``count``: its occurrences in the capture; its first and last
occurrence and their flows) does not depend on how many writes it took."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import DEMO

from wardwatch.services import discovery
from wardwatch.store.sql import open_store


def _rows(tmp: Path, name: str) -> dict[str, tuple[int, int, int, str, str]]:
    store = open_store(f"sqlite:///{tmp / name}")
    discovery.discover(store, [str(DEMO / "hospital-demo.pcap.gz")])
    with store.transaction() as tx:
        rows = {
            o.uid: (o.count, o.first_ns, o.last_ns, o.first_flow_uid, o.last_flow_uid)
            for o in tx.iter_observations()
        }
    store.close()
    return rows


def test_rows_do_not_depend_on_flush_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _rows(tmp_path, "whole.sqlite")
    assert len(whole) > 5 * 50  # so the small flushes below are many
    monkeypatch.setattr(discovery, "FLUSH_OBSERVATIONS", 50)
    batched = _rows(tmp_path, "batched.sqlite")
    assert batched == whole
    assert max(c for c, *_ in whole.values()) > 10  # repeats (DHCP renewals, LLDP every 30 s) are counted
    assert any(first != last for _, first, last, *_ in whole.values())


@pytest.mark.parametrize("workers", [1, 2])
def test_every_stored_observation_can_be_traced_to_its_flows(tmp_path: Path, workers: int) -> None:
    """discover stores the first and last flow of each observation (and few others), also when
    written in many small flushes and when sharded over workers."""
    store = open_store(f"sqlite:///{tmp_path / 'trace.sqlite'}")
    old = discovery.FLUSH_OBSERVATIONS
    discovery.FLUSH_OBSERVATIONS = 50
    try:
        summary = discovery.discover(store, [str(DEMO / "hospital-demo.pcap.gz")], workers=workers)
    finally:
        discovery.FLUSH_OBSERVATIONS = old
    with store.transaction() as tx:
        stored = list(tx.iter_observations())
        needed = {o.first_flow_uid for o in stored} | {o.last_flow_uid for o in stored}
        assert all(tx.flow(uid) is not None for uid in needed)
    store.close()
    import sqlite3

    with sqlite3.connect(tmp_path / "trace.sqlite") as db:
        kept = db.execute("SELECT count(*) FROM flow").fetchone()[0]
    flows = summary.sources[0].flows
    assert flows > kept > 0  # every flow is counted, only the traceable ones are stored
    assert kept <= 2 * len(stored)
