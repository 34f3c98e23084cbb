"""Recall, asset and alert storage: the same contract on SQLite and PostgreSQL (no fake: these
repositories work on ``tx.conn``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import Backend, _postgres_backend, _sqlite_backend
from wardwatch.alerts.repo import AlertNotFound, get_alert, list_alerts, raise_alert, set_state
from wardwatch.assets.repo import list_assets, replace_assets
from wardwatch.model.recall import AlertKind, AlertState, Asset, RecallStatus
from wardwatch.recalls.openfda import read_file
from wardwatch.recalls.repo import get_recall, list_recalls, save_recalls

DATA = Path(__file__).parents[1] / "data" / "fda"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """SQLite and PostgreSQL only."""
    b = (
        _sqlite_backend(tmp_path_factory.mktemp("recall"))
        if request.param == "sqlite"
        else _postgres_backend()
    )
    try:
        yield b
    finally:
        for fn in b.cleanup:
            fn()


def test_recalls_round_trip_idempotent_and_status_updates(store: Any) -> None:
    written = read_file(DATA / "written" / "device-recall-written.json").recalls
    real = read_file(DATA / "real" / "device-recall-response-example.json").recalls
    with store.transaction() as tx:
        assert save_recalls(tx.conn, written + real, now_ns=1) == (5, 0)
    with store.transaction() as tx:
        assert save_recalls(tx.conn, written + real, now_ns=2) == (0, 0)  # idempotent
        stored = get_recall(tx.conn, "Z-0053-2020")
    assert stored == real[0]  # every field and identifier survives the round trip
    update = read_file(DATA / "written" / "device-recall-update.json").recalls
    enforcement = read_file(DATA / "written" / "device-enforcement-written.json").recalls
    with store.transaction() as tx:
        assert save_recalls(tx.conn, update + enforcement, now_ns=3) == (1, 2)
        z2 = get_recall(tx.conn, "Z-9002-2026")
        z1 = get_recall(tx.conn, "Z-9001-2026")
        open_uids = [r.uid for r in list_recalls(tx.conn, open_only=True)]
        all_uids = [r.uid for r in list_recalls(tx.conn)]
    assert z2 is not None and z2.status is RecallStatus.TERMINATED
    assert z1 is not None and z1.classification == "Class I" and z1.product_code == "FRN"
    assert open_uids == ["Z-9001-2026", "Z-9004-2026", "Z-9003-2026"]  # newest initiation first
    assert len(all_uids) == 6 and all_uids[-1] == "Z-0053-2020"


def test_failed_import_leaves_stored_recalls(store: Any) -> None:
    written = read_file(DATA / "written" / "device-recall-written.json").recalls
    with store.transaction() as tx:
        save_recalls(tx.conn, written, now_ns=1)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        save_recalls(
            tx.conn, read_file(DATA / "real" / "device-recall-response-example.json").recalls, now_ns=2
        )
        raise RuntimeError("the next record was bad")
    with store.transaction() as tx:
        assert get_recall(tx.conn, "Z-0053-2020") is None and len(list_recalls(tx.conn)) == 4


def test_assets_replace(store: Any) -> None:
    first = [
        Asset(tag="B", serial="2", extra={"Note": "x"}, source="a.csv row 3"),
        Asset(tag="A", mac="00:00:00:00:00:01"),
    ]
    with store.transaction() as tx:
        assert replace_assets(tx.conn, first, now_ns=1) == 2
        assert list_assets(tx.conn) == sorted(first, key=lambda a: a.tag)
        replace_assets(tx.conn, [Asset(tag="C")], now_ns=2)
        assert [a.tag for a in list_assets(tx.conn)] == ["C"]


def test_alerts_deduplicate_reopen_and_change_state(store: Any) -> None:
    with store.transaction() as tx:
        first_id, what = raise_alert(
            tx.conn,
            kind=AlertKind.MISSING,
            dedup_key="missing:k1",
            title="t",
            at_ns=10,
            now_ns=100,
            device_id=7,
            evidence={"a": 1},
        )
        assert what == "new"
        assert raise_alert(
            tx.conn, kind=AlertKind.MISSING, dedup_key="missing:k1", title="t", at_ns=10, now_ns=101
        ) == (first_id, "unchanged")
        assert raise_alert(
            tx.conn,
            kind=AlertKind.MISSING,
            dedup_key="missing:k1",
            title="t2",
            at_ns=20,
            now_ns=102,
            evidence={"a": 2},
        ) == (first_id, "updated")
        raise_alert(tx.conn, kind=AlertKind.MOVED, dedup_key="moved:k2", title="m", at_ns=5, now_ns=100)
    with store.transaction() as tx:
        (alert,) = list_alerts(tx.conn, kind=AlertKind.MISSING)
        assert (alert.count, alert.first_ns, alert.last_ns, alert.title, alert.evidence) == (
            2,
            10,
            20,
            "t2",
            {"a": 2},
        )
        assert [a.kind for a in list_alerts(tx.conn)] == [AlertKind.MISSING, AlertKind.MOVED]
        assert (
            set_state(tx.conn, first_id, AlertState.ACKNOWLEDGED, now_ns=103).state is AlertState.ACKNOWLEDGED
        )
        # Acknowledged stays acknowledged when raised again; closed reopens.
        raise_alert(tx.conn, kind=AlertKind.MISSING, dedup_key="missing:k1", title="t", at_ns=30, now_ns=104)
        assert (get_alert(tx.conn, first_id) or alert).state is AlertState.ACKNOWLEDGED
        set_state(tx.conn, first_id, AlertState.CLOSED, now_ns=105)
        assert list_alerts(tx.conn, state=AlertState.CLOSED)[0].id == first_id
        assert (
            raise_alert(
                tx.conn, kind=AlertKind.MISSING, dedup_key="missing:k1", title="t", at_ns=40, now_ns=106
            )[1]
            == "reopened"
        )
        assert (get_alert(tx.conn, first_id) or alert).state is AlertState.OPEN
        with pytest.raises(AlertNotFound):
            set_state(tx.conn, 99999, AlertState.CLOSED, now_ns=107)
