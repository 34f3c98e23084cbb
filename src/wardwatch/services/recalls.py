"""Use cases of issue 8: import recalls and CMMS lists, match recalls, reconcile, lifecycle, alerts.

The CLI (and later the API) call these; they wire the store to the pure modules in
:mod:`wardwatch.recalls`, :mod:`wardwatch.assets`, :mod:`wardwatch.lifecycle` and
:mod:`wardwatch.alerts`. Every function takes keyword-only arguments; each import runs in one
transaction per file, so a bad file leaves what was stored before intact.

Where a device is (for recall listings): its current address and segment, the VLANs its traffic
was tagged with, its last sighting, the CMMS department/location when reconciled, and a switch
port when one can be attached honestly (see :func:`switch_ports` and docs/adr/006).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, or_, select

from wardwatch.alerts import repo as alerts_repo
from wardwatch.assets import cmms
from wardwatch.assets import repo as assets_repo
from wardwatch.assets.reconcile import reconcile
from wardwatch.lifecycle.assess import Lifecycle, Thresholds, assess, segment, utilization
from wardwatch.model.device import Device
from wardwatch.model.recall import (
    Alert,
    AlertKind,
    Asset,
    MatchLevel,
    Recall,
    RecallMatch,
    Reconciliation,
    ReconState,
)
from wardwatch.recalls import openfda
from wardwatch.recalls import repo as recalls_repo
from wardwatch.recalls.match import Unit, match_all, unit_of
from wardwatch.store.schema import flow as flow_table
from wardwatch.store.schema import observation as observation_table
from wardwatch.store.sql import SqlStore

#: Match levels listed by default: the units someone has to act on or check.
ACTIONABLE = (MatchLevel.AFFECTED, MatchLevel.POSSIBLE)


def alert_json(a: Alert) -> dict[str, Any]:
    """An alert as JSON: the one shape ``wardwatch alerts --format json`` and ``/api/v1/alerts`` share."""
    from wardwatch.services.present import iso

    return {
        "id": a.id,
        "kind": a.kind.value,
        "state": a.state.value,
        "title": a.title,
        "device_id": a.device_id,
        "asset_tag": a.asset_tag,
        "first": iso(a.first_ns),
        "last": iso(a.last_ns),
        "count": a.count,
        "dedup_key": a.dedup_key,
        "evidence": a.evidence,
    }


def now_ns() -> int:
    """The wall clock in nanoseconds (the store's time unit)."""
    return time.time_ns()


# --- recalls import ---


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What importing one recall file did."""

    path: str
    recalls: int
    new: int
    updated: int
    error: str | None = None


def import_recalls(
    store: SqlStore, *, paths: Sequence[str | Path], at_ns: int | None = None
) -> list[ImportResult]:
    """Import openFDA files, one transaction each; a bad file is reported and stores nothing."""
    results: list[ImportResult] = []
    stamp = at_ns if at_ns is not None else now_ns()
    for path in paths:
        try:
            feed = openfda.read_file(path)
        except openfda.FeedError as exc:
            results.append(ImportResult(str(path), 0, 0, 0, str(exc)))
            continue
        with store.transaction() as tx:
            new, updated = recalls_repo.save_recalls(tx.conn, feed.recalls, now_ns=stamp)
        results.append(ImportResult(str(path), len(feed.recalls), new, updated))
    return results


# --- assets ---


def import_assets(
    store: SqlStore,
    *,
    paths: Sequence[str | Path],
    mapping: Mapping[str, str] | None = None,
    at_ns: int | None = None,
) -> int:
    """Replace the stored asset list with these files' assets (all files, one transaction).
    Raises :class:`wardwatch.assets.cmms.AssetFileError`."""
    assets = cmms.read_many(paths, mapping)
    seen: dict[str, str] = {}
    for a in assets:
        if a.tag in seen:
            raise cmms.AssetFileError(f"{a.source}: asset tag {a.tag!r} already in {seen[a.tag]}")
        seen[a.tag] = a.source
    with store.transaction() as tx:
        return assets_repo.replace_assets(tx.conn, assets, now_ns=at_ns if at_ns is not None else now_ns())


@dataclass(frozen=True, slots=True)
class Inventory:
    """Devices, assets and how they pair, read in one transaction."""

    devices: dict[int, Device]
    assets: dict[str, Asset]
    rows: list[Reconciliation]
    paired: dict[int, str] = field(default_factory=dict)  # device id -> asset tag

    def asset_of(self, device_id: int) -> Asset | None:
        """The CMMS asset paired with a device."""
        tag = self.paired.get(device_id)
        return self.assets[tag] if tag is not None else None

    def units(self) -> list[Unit]:
        """A unit per device (with its asset when paired) and per CMMS-only asset."""
        units: list[Unit] = []
        for r in self.rows:
            device = self.devices.get(r.device_id) if r.device_id is not None else None
            asset = self.assets.get(r.asset_tag) if r.asset_tag is not None else None
            units.append(unit_of(device, asset))
        return units


def _inventory(device_list: list[Device], assets: list[Asset]) -> Inventory:
    devices = {d.id: d for d in device_list if d.id is not None}
    rows = reconcile(list(devices.values()), assets)
    paired = {r.device_id: r.asset_tag for r in rows if r.device_id is not None and r.asset_tag is not None}
    return Inventory(devices, {a.tag: a for a in assets}, rows, paired)


def load_inventory(store: SqlStore) -> Inventory:
    """The inventory reconciled with the stored asset list."""
    with store.transaction() as tx:
        return _inventory(tx.list_devices(), assets_repo.list_assets(tx.conn))


def reconcile_inventory(store: SqlStore) -> list[Reconciliation]:
    """Matched / network-only / CMMS-only rows (see :mod:`wardwatch.assets.reconcile`)."""
    return load_inventory(store).rows


# --- where a device is ---


@dataclass(frozen=True, slots=True)
class SwitchPort:
    """A switch port seen advertising itself (LLDP or CDP), with the VLANs it announced."""

    switch: str
    switch_mac: str | None
    port: str
    vlans: frozenset[int]
    protocol: str


@dataclass(frozen=True, slots=True)
class Location:
    """Where a device (or asset) is, as far as we know, with the reason for each unknown."""

    ip: str | None
    segment: str | None
    vlans: tuple[int, ...]
    switch_port: str | None
    switch_port_reason: str
    last_seen_ns: int | None
    department: str | None = None
    location: str | None = None


_SWITCH_CAPS = {"bridge", "switch", "router", "wlan-ap", "c-vlan", "s-vlan"}


def switch_ports(conn: Connection) -> list[SwitchPort]:
    """Ports of switches (not end stations) seen in LLDP/CDP adverts."""
    ports: dict[tuple[str, str], SwitchPort] = {}
    rows = conn.execute(
        select(observation_table.c.protocol, observation_table.c.mac, observation_table.c.fields).where(
            observation_table.c.protocol.in_(("lldp", "cdp"))
        )
    )
    for protocol, mac, fields in rows:
        p = "lldp" if protocol == "lldp" else "cdp"
        caps = fields.get(f"{p}.capabilities_enabled") or fields.get(f"{p}.capabilities") or []
        if not _SWITCH_CAPS & {str(c).lower() for c in caps}:
            continue
        port = fields.get(f"{p}.port_id")
        if not port:
            continue
        name = fields.get(f"{p}.system_name") or fields.get("cdp.device_id") or mac or "?"
        vlan_fields = (
            ("lldp.port_vlan", "lldp.med_voice_vlan")
            if p == "lldp"
            else ("cdp.native_vlan", "cdp.voice_vlan")
        )
        vlans = frozenset(int(fields[f]) for f in vlan_fields if isinstance(fields.get(f), int))
        key = (str(name), str(port))
        old = ports.get(key)
        ports[key] = SwitchPort(str(name), mac, str(port), vlans | (old.vlans if old else frozenset()), p)
    return list(ports.values())


def device_vlans(conn: Connection, macs: Sequence[str]) -> dict[str, set[int]]:
    """The 802.1Q VLANs each MAC's flows were tagged with."""
    found: dict[str, set[int]] = {m: set() for m in macs}
    if not macs:
        return found
    for start in range(0, len(macs), 500):
        chunk = list(macs[start : start + 500])
        query = (
            select(flow_table.c.a_mac, flow_table.c.b_mac, flow_table.c.vlan)
            .where(flow_table.c.vlan.is_not(None))
            .where(or_(flow_table.c.a_mac.in_(chunk), flow_table.c.b_mac.in_(chunk)))
            .distinct()
        )
        for a_mac, b_mac, vlan in conn.execute(query):
            for m in (a_mac, b_mac):
                if m in found:
                    found[m].add(int(vlan))
    return found


def locate(
    device: Device | None, asset: Asset | None, *, vlans: set[int], ports: Sequence[SwitchPort]
) -> Location:
    """Where a device is (see the module docstring for the switch-port rule)."""
    ip = device.ips[0].ip if device and device.ips else (asset.ip if asset else None)
    port: str | None = None
    if device is None:
        reason = "not seen on the network"
    elif not ports:
        reason = "no switch LLDP/CDP adverts captured"
    elif not vlans:
        reason = (
            "the device's traffic carried no VLAN tag, and an advert does not name the device behind the port"
        )
    else:
        candidates = [p for p in ports if p.vlans & vlans]
        if len(candidates) == 1:
            c = candidates[0]
            port = f"{c.switch} {c.port}"
            reason = (
                f"the only switch port advertising VLAN {sorted(c.vlans & vlans)[0]} ({c.protocol}); "
                "a candidate, not a certainty: ports that send no adverts are invisible"
            )
        else:
            reason = (
                f"{len(candidates)} switch ports advertise the device's VLANs {sorted(vlans)}: "
                "an advert does not name the device behind the port"
            )
    return Location(
        ip=ip,
        segment=segment(ip) if ip else None,
        vlans=tuple(sorted(vlans)),
        switch_port=port,
        switch_port_reason=reason,
        last_seen_ns=device.last_ns if device else None,
        department=asset.department if asset else None,
        location=asset.location if asset else None,
    )


# --- recall findings ---


@dataclass(frozen=True, slots=True)
class Finding:
    """A recall matched to a unit, with where the unit is."""

    recall: Recall
    match: RecallMatch
    device: Device | None
    asset: Asset | None
    where: Location


def recall_findings(
    store: SqlStore,
    *,
    open_only: bool = False,
    device_ref: str | None = None,
    levels: Sequence[MatchLevel] = ACTIONABLE,
) -> list[Finding]:
    """Every (recall, unit) match at one of ``levels``, with evidence and location.

    ``device_ref`` (id, MAC, IP, or a CMMS asset tag) limits the result to one unit. Raises
    LookupError when ``device_ref`` names nothing."""
    with store.transaction() as tx:
        inventory = _inventory(tx.list_devices(), assets_repo.list_assets(tx.conn))
        recalls = {r.uid: r for r in recalls_repo.list_recalls(tx.conn, open_only=open_only)}
        units = inventory.units()
        if device_ref is not None:
            device = tx.get_device(device_ref)
            if device is not None:
                units = [u for u in units if u.device_id == device.id]
            elif device_ref in inventory.assets:
                units = [u for u in units if u.asset_tag == device_ref]
            else:
                raise LookupError(f"no device or asset matches {device_ref!r}")
        product_line = MatchLevel.PRODUCT_LINE in levels
        matches = [
            m for m in match_all(recalls.values(), units, product_line=product_line) if m.level in levels
        ]
        macs = sorted(
            {
                d.mac
                for m in matches
                if m.device_id is not None
                for d in [inventory.devices[m.device_id]]
                if d.mac
            }
        )
        vlans = device_vlans(tx.conn, macs)
        ports = switch_ports(tx.conn)
    findings: list[Finding] = []
    for m in matches:
        device = inventory.devices.get(m.device_id) if m.device_id is not None else None
        asset = inventory.assets.get(m.asset_tag) if m.asset_tag else None
        where = locate(
            device, asset, vlans=vlans.get(device.mac, set()) if device and device.mac else set(), ports=ports
        )
        findings.append(Finding(recalls[m.recall_uid], m, device, asset, where))
    order = {level: i for i, level in enumerate(MatchLevel)}
    findings.sort(
        key=lambda f: (order[f.match.level], f.recall.uid, f.match.device_id or 0, f.match.asset_tag or "")
    )
    return findings


def refresh_recall_alerts(store: SqlStore, *, at_ns: int | None = None) -> dict[str, int]:
    """Raise (or refresh) a recall alert for every affected or possibly affected unit of an open
    recall. Terminated and completed recalls raise none: a bulk import holds decades of them.
    Returns how many alerts were new, updated, reopened or unchanged."""
    findings = recall_findings(store, open_only=True)
    with store.transaction() as tx:
        return _recall_alerts(tx.conn, findings, now=at_ns if at_ns is not None else now_ns())


def _recall_alerts(conn: Connection, findings: Sequence[Finding], *, now: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in findings:
        if not f.recall.status.is_open:
            continue
        unit = f"device:{f.device.key}" if f.device else f"asset:{f.asset.tag if f.asset else '?'}"
        title = (
            f"{f.match.level.value}: recall {f.recall.number or f.recall.uid} ({f.recall.recalling_firm}) "
            f"{'device ' + str(f.device.id) if f.device else 'asset ' + str(f.match.asset_tag)}"
        )
        _, what = alerts_repo.raise_alert(
            conn,
            kind=AlertKind.RECALL,
            dedup_key=f"recall:{f.recall.uid}:{unit}:{f.match.level.value}",
            title=title,
            at_ns=_date_ns(f.recall.initiated) or 1,
            now_ns=now,
            device_id=f.match.device_id,
            asset_tag=f.match.asset_tag,
            evidence=finding_json(f),
        )
        counts[what] = counts.get(what, 0) + 1
    return counts


def _date_ns(iso: str | None) -> int | None:
    if not iso:
        return None
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()) * 1_000_000_000


# --- lifecycle ---


@dataclass(frozen=True, slots=True)
class LifecycleReport:
    """Every device's lifecycle status, CMMS-only assets, utilization, and the alerts raised."""

    entries: list[Lifecycle]
    devices: dict[int, Device]
    cmms_only: list[Asset]
    utilization: dict[int, dict[str, float]]
    alerts: dict[str, int] = field(default_factory=dict)


def _flow_intervals(conn: Connection, devices: Sequence[Device]) -> dict[int, list[tuple[int, int]]]:
    by_mac = {d.mac: d.id for d in devices if d.mac and d.id is not None}
    by_ip = {ip.ip: d.id for d in devices if not d.mac and d.id is not None for ip in d.ips}
    out: dict[int, list[tuple[int, int]]] = {}
    query = select(
        flow_table.c.a_mac,
        flow_table.c.b_mac,
        flow_table.c.a_ip,
        flow_table.c.b_ip,
        flow_table.c.first_ns,
        flow_table.c.last_ns,
    )
    for a_mac, b_mac, a_ip, b_ip, first, last in conn.execute(query):
        ids = {by_mac.get(a_mac), by_mac.get(b_mac), by_ip.get(a_ip), by_ip.get(b_ip)} - {None}
        for i in ids:
            assert i is not None
            out.setdefault(i, []).append((first, last))
    return out


_Raised = tuple[AlertKind, str, str, int, dict[str, Any]]


def _lifecycle_alerts(e: Lifecycle, d: Device, *, in_cmms: bool) -> list[_Raised]:
    """(kind, dedup key, title, condition time, evidence) of the alerts one device's status raises."""
    raised: list[_Raised] = []
    if e.missing:
        raised.append(
            (
                AlertKind.MISSING,
                f"missing:{d.key}",
                f"missing: device {d.id} ({_label(d)}) unseen for {e.unseen_days:.1f} days "
                f"(threshold {e.threshold_days:g} for {d.value('device_type') or 'unknown type'})",
                d.last_ns,
                {
                    "last_seen_ns": d.last_ns,
                    "unseen_days": e.unseen_days,
                    "threshold_days": e.threshold_days,
                },
            )
        )
    if e.moved:
        mv = e.moved
        raised.append(
            (
                AlertKind.MOVED,
                f"moved:{d.key}:{mv.from_segment}->{mv.to_segment}",
                f"moved: device {d.id} ({_label(d)}) from {mv.from_segment} to {mv.to_segment}",
                mv.to_first_ns,
                {
                    "from_ip": mv.from_ip,
                    "from_segment": mv.from_segment,
                    "from_last_seen_ns": mv.from_last_ns,
                    "to_ip": mv.to_ip,
                    "to_segment": mv.to_segment,
                    "to_first_seen_ns": mv.to_first_ns,
                },
            )
        )
    if e.new:
        raised.append(
            (
                AlertKind.NEW,
                f"new:{d.key}",
                f"new: device {d.id} ({_label(d)}) first seen",
                d.first_ns,
                {
                    "first_seen_ns": d.first_ns,
                    "in_cmms": in_cmms,
                },
            )
        )
    return raised


def check_lifecycle(
    store: SqlStore,
    *,
    at_ns: int,
    thresholds: Thresholds,
    new_days: float = 1.0,
    raise_alerts: bool = True,
    with_utilization: bool = True,
) -> LifecycleReport:
    """Assess every device as of ``at_ns`` and raise missing / moved / new / recall alerts."""
    inventory = load_inventory(store)
    devices = inventory.devices
    paired_assets = {i: inventory.assets[tag] for i, tag in inventory.paired.items()}
    entries = assess(
        devices.values(), now_ns=at_ns, thresholds=thresholds, new_days=new_days, assets=paired_assets
    )
    cmms_only = [
        inventory.assets[r.asset_tag]
        for r in inventory.rows
        if r.state is ReconState.CMMS_ONLY and r.asset_tag
    ]
    used: dict[int, dict[str, float]] = {}
    if with_utilization:
        with store.transaction() as tx:
            for device_id, intervals in _flow_intervals(tx.conn, list(devices.values())).items():
                used[device_id] = utilization(intervals)
    counts: dict[str, int] = {}
    if raise_alerts:
        findings = recall_findings(store, open_only=True)
        with store.transaction() as tx:
            for kind, n in _recall_alerts(tx.conn, findings, now=at_ns).items():
                counts[f"recall.{kind}"] = n
            for e in entries:
                d = devices[e.device_id]
                raised = _lifecycle_alerts(e, d, in_cmms=inventory.asset_of(e.device_id) is not None)
                for kind, key, title, when, evidence in raised:
                    _, what = alerts_repo.raise_alert(
                        tx.conn,
                        kind=kind,
                        dedup_key=key,
                        title=title,
                        at_ns=when,
                        now_ns=at_ns,
                        device_id=d.id,
                        evidence=evidence,
                    )
                    counts[f"{kind.value}.{what}"] = counts.get(f"{kind.value}.{what}", 0) + 1
            for a in cmms_only:
                _, what = alerts_repo.raise_alert(
                    tx.conn,
                    kind=AlertKind.MISSING,
                    dedup_key=f"missing:asset:{a.tag}",
                    title=f"missing: CMMS asset {a.tag} ({a.manufacturer or '?'} {a.model or ''}) never seen on the network".strip(),
                    at_ns=1,
                    now_ns=at_ns,
                    asset_tag=a.tag,
                    evidence={
                        "asset": a.tag,
                        "source": a.source,
                        "department": a.department,
                        "location": a.location,
                    },
                )
                counts[f"missing.{what}"] = counts.get(f"missing.{what}", 0) + 1
    return LifecycleReport(entries, devices, cmms_only, used, counts)


def _label(d: Device) -> str:
    parts = [
        d.value("vendor"),
        d.value("model") or d.value("device_type"),
        d.value("serial") and f"s/n {d.value('serial')}",
    ]
    return " ".join(p for p in parts if p) or (d.mac or d.key)


# --- JSON shapes (the CLI's --format json, and the API later) ---


def location_json(w: Location) -> dict[str, Any]:
    """A location as JSON."""
    from wardwatch.services.present import iso

    return {
        "ip": w.ip,
        "segment": w.segment,
        "vlans": list(w.vlans),
        "switch_port": w.switch_port,
        "switch_port_reason": w.switch_port_reason,
        "last_seen": iso(w.last_seen_ns),
        "department": w.department,
        "location": w.location,
    }


def finding_json(f: Finding) -> dict[str, Any]:
    """A recall finding as JSON: the recall's key facts, the match with evidence, where the unit is."""
    from wardwatch.recalls.match import match_json

    return {
        "recall": {
            "uid": f.recall.uid,
            "number": f.recall.number,
            "recalling_firm": f.recall.recalling_firm,
            "product_code": f.recall.product_code,
            "classification": f.recall.classification,
            "status": f.recall.status.value,
            "initiated": f.recall.initiated,
            "reason": f.recall.reason,
        },
        "match": match_json(f.match),
        "device": None
        if f.device is None
        else {
            "id": f.device.id,
            "mac": f.device.mac,
            "vendor": f.device.value("vendor"),
            "model": f.device.value("model"),
            "serial": f.device.value("serial"),
            "hostname": f.device.value("hostname"),
        },
        "asset_tag": f.asset.tag if f.asset else None,
        "where": location_json(f.where),
    }
