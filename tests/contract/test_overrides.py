"""Overrides and re-identification on SQLite and PostgreSQL (issue 3, item 4 and 5).

An override wins over observed evidence, survives re-identification, keeps who/when/why, and
ends (never disappears) when replaced or cleared; every rebuild is recorded with what changed.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.conftest import Backend
from wardwatch.model.device import Attribute
from wardwatch.model.observation import Observation
from wardwatch.services.identity import (
    IdentityError,
    clear_override,
    identification_runs,
    list_overrides,
    rebuild_inventory,
    reidentify,
    set_override,
)

T0 = 1_700_000_000_000_000_000
MAC = "00:09:fb:12:34:56"  # Philips Medizin Systeme OUI


@pytest.fixture
def sql_store(backend: Backend) -> Any:
    if backend.name == "fake":
        pytest.skip("overrides live in SQL tables; the fake store models only the core port")
    store = backend.make()
    with store.transaction() as tx:
        tx.merge_observations(
            [
                Observation(
                    ts_ns=T0,
                    flow_uid="f1",
                    protocol="dhcp",
                    mac=MAC,
                    ip="10.1.2.3",
                    fields={"dhcp.hostname": "ICU-MON-03"},
                )
            ]
        )
    rebuild_inventory(store)
    return store


def _device(store: Any) -> Any:
    with store.transaction() as tx:
        return tx.get_device(MAC)


def test_override_wins_survives_reidentify_and_keeps_history(sql_store: Any) -> None:
    before = _device(sql_store)
    assert before.value("hostname") == "ICU-MON-03"
    override, summary = set_override(
        sql_store, MAC, "hostname", "ICU-MON-3B", author="alice", reason="asset label"
    )
    assert override.device_key == f"mac:{MAC}" and override.active
    assert [(c.attribute, c.old, c.new) for c in summary.changes] == [
        ("hostname", "ICU-MON-03", "ICU-MON-3B")
    ]
    resolved = _device(sql_store).attributes["hostname"]
    assert (resolved.value, resolved.confidence, resolved.chosen_by) == ("ICU-MON-3B", 1.0, "override")
    assert resolved.evidence[0].detail.startswith("set by alice at ")
    assert [c.value for c in resolved.conflicts] == ["ICU-MON-03"]  # the observed value stays visible

    again = reidentify(sql_store, author="bob")
    assert again.changed == 0 and _device(sql_store).value("hostname") == "ICU-MON-3B"

    set_override(sql_store, MAC, "hostname", "ICU-MON-3C", author="carol")
    history = list_overrides(sql_store, MAC, history=True)
    assert [(o.value, o.active, o.ended_by) for o in history] == [
        ("ICU-MON-3B", False, "carol"),
        ("ICU-MON-3C", True, None),
    ]
    assert [o.value for o in list_overrides(sql_store)] == ["ICU-MON-3C"]

    cleared = clear_override(sql_store, MAC, "hostname", author="dave")
    assert [(c.old, c.new) for c in cleared.changes] == [("ICU-MON-3C", "ICU-MON-03")]
    assert _device(sql_store).value("hostname") == "ICU-MON-03"
    assert len(list_overrides(sql_store, MAC, history=True)) == 2
    assert list_overrides(sql_store, MAC) == []


def test_device_type_override_sets_clinical_category(sql_store: Any) -> None:
    set_override(sql_store, MAC, "type", "ventilator", author="alice")
    device = _device(sql_store)
    assert device.value(Attribute.DEVICE_TYPE) == "ventilator"
    assert device.value(Attribute.CLINICAL_CATEGORY) == "life-sustaining"


def test_bad_requests_are_refused_and_change_nothing(sql_store: Any) -> None:
    for args, message in [
        (("10.9.9.9", "hostname", "x"), "no device"),
        ((MAC, "colour", "red"), "unknown attribute"),
        ((MAC, "device_type", "toaster"), "unknown device type"),
        ((MAC, "clinical_category", "vital"), "unknown clinical category"),
        ((MAC, "model", "   "), "non-empty"),
    ]:
        with pytest.raises(IdentityError, match=message):
            set_override(sql_store, *args, author="alice")
    with pytest.raises(IdentityError, match="no active override"):
        clear_override(sql_store, MAC, "model", author="alice")
    assert list_overrides(sql_store, history=True) == []


def test_runs_are_recorded_with_their_changes(sql_store: Any) -> None:
    set_override(sql_store, MAC, "model", "IntelliVue MX800", author="alice")
    runs = identification_runs(sql_store)
    assert [r.trigger for r in runs] == ["override", "discover"]
    # The model a person set is read through the product families like any other model, so the
    # device type (and its clinical category) follow it.
    changed = {c.attribute: (c.old, c.new) for c in runs[0].changes}
    assert runs[0].author == "alice" and runs[0].changed == len(changed) == 3
    assert changed["model"] == (None, "IntelliVue MX800")
    assert changed["device_type"][1] == "patient_monitor"
    assert changed["clinical_category"][1] == "therapeutic"
    assert runs[1].devices_new == 1 and runs[0].knowledge_version == runs[1].knowledge_version
