"""Reconcile the CMMS asset list with the discovered inventory.

Pairs are made by the strongest shared identifier, in order: MAC address, serial number (same
maker when both sides name one), host name, current IP. Each device and each asset is used at
most once. The result has three kinds of rows: ``matched`` (with merged attributes, each with its
provenance), ``network_only`` (on the network, unknown to clinical engineering: unmanaged) and
``cmms_only`` (in the CMMS, not seen: missing, offline or not networked). When both sides know
an attribute and disagree (a different serial for the same asset), the row shows the conflict;
nothing is silently resolved — the merged value is the network's (observed now) and the CMMS
value stays beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from wardwatch.model.device import Device
from wardwatch.model.recall import Asset, MergedValue, Reconciliation, ReconState
from wardwatch.recalls.extract import normalize
from wardwatch.recalls.match import same_maker

# (attribute, device attribute, asset field)
_MERGED: tuple[tuple[str, str, str], ...] = (
    ("serial", "serial", "serial"),
    ("vendor", "vendor", "manufacturer"),
    ("model", "model", "model"),
    ("hostname", "hostname", "hostname"),
    ("device_type", "device_type", "device_type"),
)


def _current_ip(device: Device) -> str | None:
    return device.ips[0].ip if device.ips else None


def _host(value: str | None) -> str | None:
    return value.split(".")[0].lower() if value else None


def _same(attribute: str, a: str, b: str) -> bool:
    if attribute == "vendor":
        return same_maker(a, b) is not None
    if attribute == "model":
        na, nb = normalize(a), normalize(b)
        return na == nb or (min(len(na), len(nb)) >= 4 and (na in nb or nb in na))
    if attribute == "hostname":
        return _host(a) == _host(b)
    return normalize(a) == normalize(b)


def merge(device: Device, asset: Asset) -> tuple[MergedValue, ...]:
    """Both sides' values of each attribute, with provenance and conflicts."""
    merged: list[MergedValue] = []
    pairs = [(name, device.value(d), getattr(asset, a)) for name, d, a in _MERGED]
    pairs.append(("mac", device.mac, asset.mac))
    pairs.append(("ip", _current_ip(device), asset.ip))
    for name, net, cmms in pairs:
        if net is None and cmms is None:
            continue
        conflict = net is not None and cmms is not None and not _same(name, net, cmms)
        provenance = (
            "both" if net is not None and cmms is not None else ("network" if net is not None else "cmms")
        )
        merged.append(MergedValue(name, net if net is not None else cmms, provenance, net, cmms, conflict))
    # What only the CMMS knows about, kept with its provenance.
    for name in ("department", "location", "lot", "udi", "product_code", "purchase_date", "end_of_support"):
        value = getattr(asset, name)
        if value:
            merged.append(MergedValue(name, value, "cmms", None, value, False))
    return tuple(merged)


def reconcile(devices: Sequence[Device], assets: Sequence[Asset]) -> list[Reconciliation]:
    """Matched pairs, then network-only devices, then CMMS-only assets (each in input order)."""
    free_devices: dict[int, Device] = {i: d for i, d in enumerate(devices)}
    pairs: list[tuple[Device, Asset, str]] = []
    free_assets = list(assets)

    def pass_(
        name: str,
        dkey: Callable[[Device], Any],
        akey: Callable[[Asset], Any],
        check: Callable[[Device, Asset], bool] | None = None,
    ) -> None:
        index: dict[Any, list[int]] = {}
        for i, d in free_devices.items():
            k = dkey(d)
            if k:
                index.setdefault(k, []).append(i)
        remaining: list[Asset] = []
        for asset in free_assets:
            k = akey(asset)
            candidates = [i for i in index.get(k, []) if i in free_devices] if k else []
            if check is not None:
                candidates = [i for i in candidates if check(free_devices[i], asset)]
            # An identifier shared by several devices identifies none of them.
            if len(candidates) == 1:
                pairs.append((free_devices.pop(candidates[0]), asset, name))
            else:
                remaining.append(asset)
        free_assets[:] = remaining

    def maker_ok(d: Device, a: Asset) -> bool:
        vendor = d.value("vendor")
        return not (vendor and a.manufacturer) or same_maker(vendor, a.manufacturer) is not None

    pass_("mac", lambda d: d.mac, lambda a: a.mac)
    pass_(
        "serial", lambda d: normalize(d.value("serial") or ""), lambda a: normalize(a.serial or ""), maker_ok
    )
    pass_("hostname", lambda d: _host(d.value("hostname")), lambda a: _host(a.hostname))
    pass_("ip", _current_ip, lambda a: a.ip)
    rows = [Reconciliation(ReconState.MATCHED, d.id, a.tag, how, merge(d, a)) for d, a, how in pairs]
    rows += [Reconciliation(ReconState.NETWORK_ONLY, d.id, None, None) for d in free_devices.values()]
    rows += [Reconciliation(ReconState.CMMS_ONLY, None, a.tag, None) for a in free_assets]
    return rows


def reconciliation_json(r: Reconciliation) -> dict[str, Any]:
    """One reconciliation row as JSON."""
    return {
        "state": r.state.value,
        "device_id": r.device_id,
        "asset_tag": r.asset_tag,
        "matched_by": r.matched_by,
        "conflicts": [m.attribute for m in r.conflicts],
        "merged": {
            m.attribute: {
                "value": m.value,
                "provenance": m.provenance,
                "network": m.network_value,
                "cmms": m.cmms_value,
                "conflict": m.conflict,
            }
            for m in r.merged
        },
    }
