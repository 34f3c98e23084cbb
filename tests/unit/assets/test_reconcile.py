"""Reconciliation: pairs by MAC, serial, host name, IP; provenance; conflicts shown, not resolved."""

from __future__ import annotations

from wardwatch.assets.reconcile import reconcile, reconciliation_json
from wardwatch.model.device import Attribute, Device, DeviceIP, ResolvedAttribute
from wardwatch.model.recall import Asset, ReconState


def _device(id: int, mac: str | None, ip: str | None = None, **attrs: str) -> Device:
    return Device(
        id=id,
        key=f"mac:{mac}" if mac else f"ip:{ip}",
        mac=mac,
        first_ns=0,
        last_ns=1,
        attributes={k: ResolvedAttribute(Attribute(k), v, 0.9, "only", ()) for k, v in attrs.items()},
        ips=(DeviceIP(ip, 0, 1, "dhcp"),) if ip else (),
    )


def test_pairs_states_and_conflicts() -> None:
    devices = [
        _device(1, "00:00:00:00:00:01", "10.0.0.1", serial="S1", vendor="BD"),
        _device(2, "00:00:00:00:00:02", "10.0.0.2", serial="S2", vendor="Baxter"),
        _device(3, "00:00:00:00:00:03", "10.0.0.3", hostname="PUMP-3.ward.local"),
        _device(4, None, "10.0.0.4"),
        _device(5, "00:00:00:00:00:05", "10.0.0.5"),
    ]
    assets = [
        Asset(
            tag="A1", mac="00:00:00:00:00:01", serial="S1-OTHER", manufacturer="Becton Dickinson", lot="L7"
        ),
        Asset(tag="A2", serial="s2", manufacturer="Baxter Healthcare Corporation"),
        Asset(tag="A3", hostname="pump-3"),
        Asset(tag="A4", ip="10.0.0.4"),
        Asset(tag="A9", serial="NOT-SEEN"),
    ]
    rows = {(r.device_id, r.asset_tag): r for r in reconcile(devices, assets)}
    assert rows[(1, "A1")].matched_by == "mac"
    assert rows[(2, "A2")].matched_by == "serial"
    assert rows[(3, "A3")].matched_by == "hostname"
    assert rows[(4, "A4")].matched_by == "ip"
    assert rows[(5, None)].state is ReconState.NETWORK_ONLY
    assert rows[(None, "A9")].state is ReconState.CMMS_ONLY
    # A different serial for the same asset is a conflict, shown with both values.
    conflict = {m.attribute: m for m in rows[(1, "A1")].conflicts}
    assert set(conflict) == {"serial"}
    assert (conflict["serial"].network_value, conflict["serial"].cmms_value) == ("S1", "S1-OTHER")
    merged = {m.attribute: m for m in rows[(1, "A1")].merged}
    assert merged["vendor"].provenance == "both" and not merged["vendor"].conflict  # BD == Becton Dickinson
    assert merged["lot"].provenance == "cmms" and merged["lot"].value == "L7"
    data = reconciliation_json(rows[(1, "A1")])
    assert data["conflicts"] == ["serial"] and data["merged"]["serial"]["cmms"] == "S1-OTHER"


def test_ambiguous_identifier_pairs_nothing() -> None:
    devices = [_device(1, "00:00:00:00:00:01", serial="X"), _device(2, "00:00:00:00:00:02", serial="X")]
    rows = reconcile(devices, [Asset(tag="A", serial="X")])
    assert [r.state for r in rows] == [ReconState.NETWORK_ONLY, ReconState.NETWORK_ONLY, ReconState.CMMS_ONLY]


def test_serial_of_another_maker_does_not_pair() -> None:
    rows = reconcile(
        [_device(1, "00:00:00:00:00:01", serial="1234", vendor="Philips")],
        [Asset(tag="A", serial="1234", manufacturer="Baxter")],
    )
    assert {r.state for r in rows} == {ReconState.NETWORK_ONLY, ReconState.CMMS_ONLY}
