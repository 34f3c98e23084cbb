"""Read models the pages and the API share: the inventory listing, dashboard counts, a device's
network peers and the network map.

They build on the store's own device query (:meth:`SqlTransaction.device_list_query`, so search
and sort mean the same as on the command line) and add the filters the web needs. They only read.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select

from wardwatch.model.device import Device
from wardwatch.services.present import COLUMNS, iso
from wardwatch.store import schema as s
from wardwatch.store.sql import SqlTransaction

DAY_NS = 86_400 * 1_000_000_000

#: Inventory columns a user may show, in order; the first ones are shown by default.
INVENTORY_COLUMNS: tuple[str, ...] = (
    "ip",
    "mac",
    "hostname",
    "vendor",
    "model",
    "serial",
    "device_type",
    "clinical_category",
    "os",
    "os_version",
    "firmware",
    "first_seen",
    "last_seen",
)
DEFAULT_COLUMNS: tuple[str, ...] = (
    "ip",
    "mac",
    "hostname",
    "vendor",
    "model",
    "serial",
    "device_type",
    "clinical_category",
    "last_seen",
)
#: Exact-match filters the inventory accepts (each is an indexed device column).
FILTERS: tuple[str, ...] = ("vendor", "device_type", "clinical_category")


#: Indexed device columns the fast (prefix) search looks in; IPs are searched in ``device_ip``.
PREFIX_COLUMNS: tuple[str, ...] = ("serial", "mac", "hostname", "model", "vendor")


class Match(StrEnum):
    """How a search term matches.

    ``prefix``: the term starts a serial, MAC, host name, model, vendor or IP (as typed, upper,
    lower or capitalised), answered from indexes; ``substring``: the store's own search (anywhere
    in those fields, ASCII case-insensitive), a full scan; ``auto``: prefix, and substring only
    when the prefix search finds nothing.
    """

    AUTO = "auto"
    PREFIX = "prefix"
    SUBSTRING = "substring"


@dataclass(frozen=True, slots=True)
class InventoryQuery:
    """One page of the inventory: search, filters, sort and paging."""

    search: str | None = None
    sort: str = "id"
    limit: int = 50
    offset: int = 0
    filters: dict[str, str] = field(default_factory=dict)
    match: Match = Match.AUTO


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A device as one inventory row (resolved attributes as denormalised on the device)."""

    id: int
    key: str
    mac: str | None
    ip: str | None
    first_ns: int
    last_ns: int
    mac_randomized: bool
    values: dict[str, str | None]

    def json(self) -> dict[str, Any]:
        """The row as JSON (the same shape as a CSV line)."""
        data: dict[str, Any] = {
            "id": self.id,
            "key": self.key,
            "mac": self.mac,
            "ip": self.ip,
            "first_seen": iso(self.first_ns),
            "last_seen": iso(self.last_ns),
            "mac_randomized": self.mac_randomized,
        }
        for column in COLUMNS:
            data[str(column)] = self.values.get(str(column))
        return data

    def cell(self, column: str) -> str:
        """The text shown for ``column`` in the table ('' when unknown)."""
        if column == "ip":
            return self.ip or ""
        if column == "mac":
            return self.mac or ""
        if column == "first_seen":
            return iso(self.first_ns) or ""
        if column == "last_seen":
            return iso(self.last_ns) or ""
        return self.values.get(column) or ""


def _variants(term: str) -> list[str]:
    return list(dict.fromkeys((term, term.upper(), term.lower(), term.capitalize())))


#: Above this many prefix matches the ids are not collected in Python: the query filters in SQL.
PREFIX_ID_CAP = 5000


def _starts(column: Any, variant: str) -> ColumnElement[bool]:
    # [variant, variant + U+10FFFF] is "starts with" in binary ("C") collation: an index range scan.
    return and_(column >= variant, column <= variant + "\U0010ffff")


def _ip_column(is_postgres: bool) -> Any:
    # device_ip.ip has the database's default collation; on PostgreSQL that may be a locale that
    # ignores punctuation, so the range is taken in "C" (a scan of the IP table, still correct).
    return s.device_ip.c.ip.collate("C") if is_postgres else s.device_ip.c.ip


def prefix_ids(tx: SqlTransaction, term: str, *, cap: int = PREFIX_ID_CAP) -> set[int] | None:
    """Ids of devices with a field starting with ``term`` (as typed, upper, lower or capitalised),
    each looked up with one index range scan, or None when more than ``cap`` match."""
    d, di = s.device, s.device_ip
    found: set[int] = set()
    mac = s.normalize_mac(term)
    ip = _ip_column(tx.is_postgres)
    lookups = []
    for variant in _variants(term.strip()):
        for name in PREFIX_COLUMNS:
            lookups.append(select(d.c.id).where(_starts(d.c[name], variant)))
        lookups.append(select(di.c.device_id).where(_starts(ip, variant)))
    if mac is not None:
        lookups.append(select(d.c.id).where(d.c.mac == mac))
    for lookup in lookups:
        ids = [int(i) for i in tx.conn.execute(lookup.limit(cap + 1)).scalars()]
        found.update(ids)
        # A lookup that hit its limit was cut short (IP rows repeat devices): never answer from it.
        if len(ids) > cap or len(found) > cap:
            return None
    return found


def prefix_where(term: str, *, is_postgres: bool) -> ColumnElement[bool]:
    """The same condition as :func:`prefix_ids`, in SQL (for matches too many to collect)."""
    d, di = s.device, s.device_ip
    clauses: list[ColumnElement[bool]] = []
    ip = _ip_column(is_postgres)
    for variant in _variants(term.strip()):
        clauses.extend(_starts(d.c[name], variant) for name in PREFIX_COLUMNS)
        clauses.append(d.c.id.in_(select(di.c.device_id).where(_starts(ip, variant))))
    mac = s.normalize_mac(term)
    if mac is not None:
        clauses.append(d.c.mac == mac)
    return or_(*clauses)


def _filtered(
    tx: SqlTransaction, q: InventoryQuery, *, paged: bool, match: Match, ids: set[int] | None
) -> Any:
    substring = q.search if match is Match.SUBSTRING else None
    select_ = tx.device_list_query(
        limit=q.limit if paged else None, offset=q.offset if paged else 0, sort=q.sort, search=substring
    )
    if match is Match.PREFIX and q.search and q.search.strip():
        select_ = select_.where(
            s.device.c.id.in_(sorted(ids))
            if ids is not None
            else prefix_where(q.search, is_postgres=tx.is_postgres)
        )
    for name, value in q.filters.items():
        if name in FILTERS and value:
            select_ = select_.where(s.device.c[name] == value)
    return select_


def _count(tx: SqlTransaction, q: InventoryQuery, match: Match, ids: set[int] | None) -> int:
    if match is Match.PREFIX and ids is not None and not q.filters:
        return len(ids)
    # Keep the FROM explicit: a bare count(*) column would drop it when no filter names the table.
    select_ = _filtered(tx, q, paged=False, match=match, ids=ids)
    counted = select_.order_by(None).with_only_columns(func.count()).select_from(s.device)
    return int(tx.conn.execute(counted).scalar_one())


@dataclass(frozen=True, slots=True)
class _Plan:
    match: Match
    ids: set[int] | None
    total: int


def _plan(tx: SqlTransaction, q: InventoryQuery) -> _Plan:
    if not q.search or not q.search.strip() or q.match is Match.SUBSTRING:
        return _Plan(Match.SUBSTRING, None, _count(tx, q, Match.SUBSTRING, None))
    ids = prefix_ids(tx, q.search)
    total = _count(tx, q, Match.PREFIX, ids)
    if total or q.match is Match.PREFIX:
        return _Plan(Match.PREFIX, ids, total)
    return _Plan(Match.SUBSTRING, None, _count(tx, q, Match.SUBSTRING, None))


def inventory(tx: SqlTransaction, q: InventoryQuery) -> tuple[list[DeviceRow], int, Match]:
    """One page of devices, how many match in all, and how the search matched.
    Raises ValueError for an unknown sort."""
    s.parse_sort(q.sort)
    plan = _plan(tx, q)
    rows = []
    if plan.total:
        rows = list(tx.conn.execute(_filtered(tx, q, paged=True, match=plan.match, ids=plan.ids)))
    return _rows(tx, rows), plan.total, plan.match


def iter_inventory(tx: SqlTransaction, q: InventoryQuery, *, page: int = 1000) -> Any:
    """Every matching device, in pages (for exports), in the query's sort order."""
    plan = _plan(tx, q)
    offset = 0
    while True:
        chunk = replace(q, limit=page, offset=offset)
        rows = _rows(
            tx, list(tx.conn.execute(_filtered(tx, chunk, paged=True, match=plan.match, ids=plan.ids)))
        )
        yield from rows
        if len(rows) < page:
            return
        offset += page


def _rows(tx: SqlTransaction, rows: list[Any]) -> list[DeviceRow]:
    ids = [int(r.id) for r in rows]
    current: dict[int, tuple[int, str]] = {}
    if ids:
        di = s.device_ip
        for r in tx.conn.execute(
            select(di.c.device_id, di.c.ip, di.c.last_ns).where(di.c.device_id.in_(ids))
        ):
            best = current.get(r.device_id)
            if best is None or (r.last_ns, r.ip) > best:
                current[r.device_id] = (r.last_ns, r.ip)
    return [
        DeviceRow(
            id=int(r.id),
            key=r.key,
            mac=r.mac,
            ip=current[int(r.id)][1] if int(r.id) in current else None,
            first_ns=r.first_ns,
            last_ns=r.last_ns,
            mac_randomized=bool(r.mac_randomized),
            values={name: r._mapping[name] for name in s.DENORMALISED},
        )
        for r in rows
    ]


def facet(tx: SqlTransaction, column: str, *, limit: int = 50) -> list[tuple[str, int]]:
    """(value, devices) for one filter column, most common first; unknown shown as ''."""
    c = s.device.c[column]
    q = select(c, func.count()).group_by(c).order_by(func.count().desc(), c).limit(limit)
    return [(value or "", int(n)) for value, n in tx.conn.execute(q)]


@dataclass(frozen=True, slots=True)
class Dashboard:
    """What the dashboard shows; ``now_ns`` is the latest time anything was seen (captures may
    be old, so "new" and "missing" are relative to the data, not to the wall clock)."""

    total: int
    now_ns: int | None
    by_type: list[tuple[str, int]]
    by_category: list[tuple[str, int]]
    by_vendor: list[tuple[str, int]]
    new_devices: list[DeviceRow]
    missing_devices: list[DeviceRow]
    new_count: int
    missing_count: int
    trend: list[tuple[str, int]]  # (day, devices known by the end of it)

    def json(self) -> dict[str, Any]:
        """The dashboard as JSON."""
        return {
            "total": self.total,
            "as_of": iso(self.now_ns),
            "by_device_type": dict(self.by_type),
            "by_clinical_category": dict(self.by_category),
            "by_vendor": dict(self.by_vendor),
            "new": {"count": self.new_count, "devices": [d.json() for d in self.new_devices]},
            "missing": {"count": self.missing_count, "devices": [d.json() for d in self.missing_devices]},
            "trend": [{"day": day, "devices": n} for day, n in self.trend],
        }


def dashboard(tx: SqlTransaction, *, window_ns: int = DAY_NS, shown: int = 10) -> Dashboard:
    """Counts by type and category, devices first seen / not seen within ``window_ns`` of the
    latest sighting, and the cumulative device count per day."""
    d = s.device
    total = int(tx.conn.execute(select(func.count()).select_from(d)).scalar_one())
    now = tx.conn.execute(select(func.max(d.c.last_ns))).scalar_one_or_none()
    new_rows: list[Any] = []
    missing_rows: list[Any] = []
    new_count = missing_count = 0
    trend: list[tuple[str, int]] = []
    if now is not None:
        cutoff = int(now) - window_ns
        new_where = d.c.first_ns >= cutoff
        missing_where = d.c.last_ns < cutoff
        new_count = int(tx.conn.execute(select(func.count()).where(new_where)).scalar_one())
        missing_count = int(tx.conn.execute(select(func.count()).where(missing_where)).scalar_one())
        new_rows = list(
            tx.conn.execute(select(d).where(new_where).order_by(d.c.first_ns.desc()).limit(shown))
        )
        missing_rows = list(
            tx.conn.execute(select(d).where(missing_where).order_by(d.c.last_ns.desc()).limit(shown))
        )
        day = (d.c.first_ns // DAY_NS).label("day")
        running = 0
        for day_number, n in tx.conn.execute(select(day, func.count()).group_by(day).order_by(day)):
            running += int(n)
            trend.append(((iso(int(day_number) * DAY_NS) or "")[:10], running))
    return Dashboard(
        total=total,
        now_ns=None if now is None else int(now),
        by_type=facet(tx, "device_type"),
        by_category=facet(tx, "clinical_category"),
        by_vendor=facet(tx, "vendor", limit=10),
        new_devices=_rows(tx, new_rows),
        missing_devices=_rows(tx, missing_rows),
        new_count=new_count,
        missing_count=missing_count,
        trend=trend[-90:],
    )


@dataclass(frozen=True, slots=True)
class Peer:
    """Another host a device talked to, aggregated from conversations."""

    ip: str | None
    mac: str | None
    device_id: int | None
    label: str
    role: str  # "server" when the peer served the device, "client" when it was the client
    transport: str
    port: int
    flows: int
    packets: int
    bytes: int
    first_ns: int
    last_ns: int

    def json(self) -> dict[str, Any]:
        """The peer as JSON."""
        return {
            "ip": self.ip,
            "mac": self.mac,
            "device_id": self.device_id,
            "label": self.label,
            "peer_role": self.role,
            "transport": self.transport,
            "port": self.port,
            "flows": self.flows,
            "packets": self.packets,
            "bytes": self.bytes,
            "first_seen": iso(self.first_ns),
            "last_seen": iso(self.last_ns),
        }


def _devices_by_ip(tx: SqlTransaction, ips: set[str]) -> dict[str, tuple[int, str]]:
    """(device id, label) of the device that held each IP most recently."""
    found: dict[str, tuple[int, int, str]] = {}
    di, d = s.device_ip, s.device
    ordered = sorted(ips)
    for i in range(0, len(ordered), 900):
        chunk = ordered[i : i + 900]
        q = select(di.c.ip, di.c.last_ns, d.c.id, d.c.hostname, d.c.vendor, d.c.model).join(
            d, d.c.id == di.c.device_id
        )
        for r in tx.conn.execute(q.where(di.c.ip.in_(chunk))):
            label = r.hostname or " ".join(x for x in (r.vendor, r.model) if x) or r.ip
            if r.ip not in found or r.last_ns > found[r.ip][0]:
                found[r.ip] = (r.last_ns, int(r.id), label)
    return {ip: (v[1], v[2]) for ip, v in found.items()}


def peers(tx: SqlTransaction, device: Device) -> list[Peer]:
    """Who the device talked to (both directions), busiest first."""
    own = {i.ip for i in device.ips}
    if not own:
        return []
    result: list[tuple[Any, ...]] = []
    for c in tx.conversations(ips=sorted(own)):
        if c.client_ip in own:
            result.append((c.server_ip, c.server_mac, "server", c))
        if c.server_ip in own:
            result.append((c.client_ip, c.client_mac, "client", c))
    known = _devices_by_ip(tx, {ip for ip, *_ in result if ip})
    out = []
    for ip, mac, role, c in result:
        found = known.get(ip) if ip else None
        out.append(
            Peer(
                ip=ip,
                mac=mac,
                device_id=found[0] if found else None,
                label=found[1] if found else (ip or mac or "?"),
                role=role,
                transport=str(c.transport),
                port=c.server_port,
                flows=c.flows,
                packets=c.packets,
                bytes=c.bytes,
                first_ns=c.first_ns,
                last_ns=c.last_ns,
            )
        )
    out.sort(key=lambda p: (-p.bytes, p.ip or "", p.port))
    return out


def subnet_of(ip: str | None) -> str:
    """The /24 (IPv4) or /64 (IPv6) an address is in, or "no IP"."""
    if not ip:
        return "no IP"
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "no IP"
    prefix = 24 if addr.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def network(tx: SqlTransaction, *, max_nodes: int = 5000, max_edges: int = 20000) -> dict[str, Any]:
    """Devices as nodes grouped by subnet, conversations between them as edges, with positions
    computed here (clusters on a grid, devices on a sunflower spiral inside each) so the browser
    draws 2,000+ nodes without running a force layout."""
    import math

    d, di = s.device, s.device_ip
    rows = list(
        tx.conn.execute(
            select(d.c.id, d.c.hostname, d.c.vendor, d.c.model, d.c.device_type, d.c.clinical_category)
            .order_by(d.c.id)
            .limit(max_nodes)
        )
    )
    ids = [int(r.id) for r in rows]
    risks = risk_by_device(tx, ids)
    ip_of: dict[int, tuple[int, str]] = {}
    device_of_ip: dict[str, int] = {}
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        for r in tx.conn.execute(
            select(di.c.device_id, di.c.ip, di.c.last_ns).where(di.c.device_id.in_(chunk))
        ):
            device_of_ip.setdefault(r.ip, int(r.device_id))
            if r.device_id not in ip_of or (r.last_ns, r.ip) > ip_of[r.device_id]:
                ip_of[int(r.device_id)] = (r.last_ns, r.ip)
    groups: dict[str, list[Any]] = defaultdict(list)
    for node in rows:
        groups[subnet_of(ip_of[int(node.id)][1] if int(node.id) in ip_of else None)].append(node)
    nodes: list[dict[str, Any]] = []
    subnets: list[dict[str, Any]] = []
    columns = max(1, math.ceil(math.sqrt(len(groups))))
    spacing = 0.0
    for members in groups.values():
        spacing = max(spacing, 30.0 * math.sqrt(len(members)) + 120.0)
    golden = math.pi * (3 - math.sqrt(5))
    for index, (subnet, members) in enumerate(sorted(groups.items())):
        cx = (index % columns) * spacing * 2.2
        cy = (index // columns) * spacing * 2.2
        subnets.append({"subnet": subnet, "devices": len(members), "x": cx, "y": cy})
        for k, r in enumerate(members):
            radius = 30.0 * math.sqrt(k + 0.5)
            ip = ip_of[int(r.id)][1] if int(r.id) in ip_of else None
            nodes.append(
                {
                    "id": int(r.id),
                    "label": r.hostname or " ".join(x for x in (r.vendor, r.model) if x) or ip or f"#{r.id}",
                    "ip": ip,
                    "subnet": subnet,
                    "device_type": r.device_type or "unknown",
                    "clinical_category": r.clinical_category or "",
                    "risk": risks.get(int(r.id)),
                    "risk_band": risk_band(risks.get(int(r.id))),
                    "x": round(cx + radius * math.cos(k * golden), 1),
                    "y": round(cy + radius * math.sin(k * golden), 1),
                }
            )
    c = s.conversation
    weights: dict[tuple[int, int], list[int]] = {}
    q = select(c.c.client_ip, c.c.server_ip, c.c.bytes, c.c.flows).where(
        or_(c.c.client_ip != s.NONE, c.c.server_ip != s.NONE)
    )
    for conv in tx.conn.execute(q):
        src, dst = device_of_ip.get(conv.client_ip), device_of_ip.get(conv.server_ip)
        if src is None or dst is None or src == dst:
            continue
        w = weights.setdefault((src, dst), [0, 0])
        w[0] += int(conv.bytes)
        w[1] += int(conv.flows)
        if len(weights) >= max_edges:
            break
    edges = [{"source": a, "target": b, "bytes": w[0], "flows": w[1]} for (a, b), w in weights.items()]
    total = int(tx.conn.execute(select(func.count()).select_from(d)).scalar_one())
    return {
        "nodes": nodes,
        "edges": edges,
        "subnets": subnets,
        "truncated": total > len(nodes),
        "total": total,
    }


# --- alerts, vulnerabilities and risk (issues 5, 6, 8) ---------------------------------------------
# The services list alerts without paging and have no per-vulnerability or fleet-risk read model;
# these queries fill that gap for the web only, reading the subsystems' own tables.


def alert_page(
    tx: SqlTransaction, *, state: str | None, kind: str | None, limit: int, offset: int
) -> tuple[list[Any], int]:
    """One page of alerts (most recent condition first, as ``wardwatch alerts``) and the total.
    ``state`` and ``kind`` are already-validated enum values or None."""
    from wardwatch.alerts.repo import get_alert
    from wardwatch.store.schema_recall import alert as a

    where = []
    if state:
        where.append(a.c.state == state)
    if kind:
        where.append(a.c.kind == kind)
    total = int(tx.conn.execute(select(func.count()).select_from(a).where(*where)).scalar_one())
    q = select(a.c.id).where(*where).order_by(a.c.last_ns.desc(), a.c.id).limit(limit).offset(offset)
    # A page is at most a thousand alerts: read each through the alert store's own mapping.
    found = [get_alert(tx.conn, int(i)) for i in tx.conn.execute(q).scalars()]
    return [x for x in found if x is not None], total


def device_recall_alerts(tx: SqlTransaction, device_id: int) -> list[Any]:
    """The recall alerts raised for one device, any state (each alert's evidence is the recall
    match as ``/api/v1/recalls`` gives it), most recent recall first."""
    from wardwatch.alerts.repo import get_alert
    from wardwatch.store.schema_recall import alert as a

    q = (
        select(a.c.id)
        .where(a.c.device_id == device_id, a.c.kind == "recall")
        .order_by(a.c.last_ns.desc(), a.c.id)
    )
    found = [get_alert(tx.conn, int(i)) for i in tx.conn.execute(q).scalars()]
    return [x for x in found if x is not None]


def alert_counts(tx: SqlTransaction) -> dict[str, dict[str, int]]:
    """Alerts by state, then by kind."""
    from wardwatch.store.schema_recall import alert as a

    out: dict[str, dict[str, int]] = {}
    for state, kind, n in tx.conn.execute(
        select(a.c.state, a.c.kind, func.count()).group_by(a.c.state, a.c.kind)
    ):
        out.setdefault(state, {})[kind] = int(n)
    return out


def vulnerability_summary(rows: list[dict[str, Any]], *, state: str | None = None) -> list[dict[str, Any]]:
    """Findings (from :func:`wardwatch.services.vulns.list_findings`) grouped per vulnerability:
    devices affected, CVSS, KEV, EPSS and triage states. ``state`` keeps only findings whose
    current triage decision is that state ("not_triaged" for none)."""
    grouped: dict[str, dict[str, Any]] = {}
    for r in rows:
        analysis = r.get("analysis")
        decided = analysis["state"] if analysis else "not_triaged"
        if state and decided != state:
            continue
        g = grouped.setdefault(
            r["vulnerability"],
            {
                "vulnerability": r["vulnerability"],
                "title": r.get("advisory_title") or "",
                "cvss": r["cvss"],
                "kev": bool(r["kev"]),
                "epss": r["epss"],
                "devices": set(),
                "active": 0,
                "triage": {},
            },
        )
        g["devices"].add(int(r["device_id"]))
        g["active"] += 1 if r["active"] else 0
        if r["cvss"] is not None and (g["cvss"] is None or r["cvss"] > g["cvss"]):
            g["cvss"] = r["cvss"]
        g["triage"].setdefault(decided, set()).add(int(r["device_id"]))
    out = []
    for g in grouped.values():
        # Devices per triage state (a device matched by two matchers counts once).
        triage = {k: len(v) for k, v in sorted(g["triage"].items())}
        out.append({**g, "devices": len(g["devices"]), "triage": triage})
    out.sort(key=lambda g: (not g["kev"], -(g["cvss"] or 0.0), g["vulnerability"]))
    return out


def vulnerability_facts(tx: SqlTransaction, vuln_id: str) -> dict[str, Any] | None:
    """What the feeds say about one CVE or advisory id: the advisories that are it or list it as
    an alias (title, description, CVSS with vector, source), KEV, EPSS and SSVC. None when no feed
    knows it."""
    from wardwatch.store import schema_vuln as v

    adv, alias = v.advisory, v.advisory_alias
    ids = {vuln_id}
    ids.update(tx.conn.execute(select(alias.c.advisory_id).where(alias.c.alias == vuln_id)).scalars())
    advisories = []
    for r in tx.conn.execute(select(adv).where(adv.c.id.in_(sorted(ids))).order_by(adv.c.id)):
        aliases = sorted(tx.conn.execute(select(alias.c.alias).where(alias.c.advisory_id == r.id)).scalars())
        advisories.append(
            {
                "id": r.id,
                "source": r.source,
                "title": r.title,
                "description": r.description,
                "published": r.published,
                "revision": r.revision,
                "status": r.status,
                "cvss_score": r.cvss_score,
                "cvss_version": r.cvss_version,
                "cvss_vector": r.cvss_vector,
                "aliases": aliases,
            }
        )
    kev = tx.conn.execute(select(v.kev).where(v.kev.c.cve == vuln_id)).first()
    epss = tx.conn.execute(select(v.epss).where(v.epss.c.cve == vuln_id)).first()
    ssvc = tx.conn.execute(select(v.ssvc).where(v.ssvc.c.cve == vuln_id)).first()
    if not advisories and kev is None and epss is None and ssvc is None:
        return None

    def plain(row: Any) -> dict[str, Any] | None:
        return None if row is None else {k: val for k, val in row._mapping.items() if k != "import_id"}

    return {
        "id": vuln_id,
        "advisories": advisories,
        "kev": plain(kev),
        "epss": plain(epss),
        "ssvc": plain(ssvc),
    }


#: Risk bands (0-10 scale of :mod:`wardwatch.risk`), lowest first: (name, lower bound).
RISK_BANDS: tuple[tuple[str, float], ...] = (("low", 0.0), ("medium", 4.0), ("high", 7.0), ("critical", 9.0))


def risk_band(risk: float | None) -> str:
    """The band a risk score falls in ("none" when the device has no score)."""
    if risk is None:
        return "none"
    name = RISK_BANDS[0][0]
    for band, lower in RISK_BANDS:
        if risk >= lower:
            name = band
    return name


def risk_panels(tx: SqlTransaction, *, shown: int = 10) -> dict[str, Any]:
    """Dashboard panels: devices per risk band and SSVC decision (stored scores; a device scored
    without any finding is in band "none"), the highest-risk devices, and devices with an active
    finding listed in CISA KEV."""
    from wardwatch.store import schema_risk as r
    from wardwatch.store import schema_vuln as v

    rs, d = r.risk_score, s.device
    bands = {"none": 0, **{name: 0 for name, _ in RISK_BANDS}}
    decisions: dict[str, int] = {}
    # Banded and counted in SQL: the score table has a row per device (100,000 at the target size).
    whens = [(rs.c.findings == 0, "none")]
    whens += [(rs.c.risk >= lower, name) for name, lower in reversed(RISK_BANDS[1:])]
    band = case(*whens, else_=RISK_BANDS[0][0]).label("band")
    for name, decision, n in tx.conn.execute(
        select(band, rs.c.decision, func.count()).group_by(band, rs.c.decision)
    ):
        bands[str(name)] += int(n)
        if name != "none":
            decisions[decision or "none"] = decisions.get(decision or "none", 0) + int(n)
    scored = sum(n for name, n in bands.items() if name != "none")
    top = [
        {
            "id": int(x.id),
            "label": x.hostname or " ".join(p for p in (x.vendor, x.model) if p) or x.key,
            "risk": float(x.risk),
            "band": risk_band(float(x.risk)),
            "decision": x.decision,
            "top_vulnerability": x.top_vulnerability,
        }
        for x in tx.conn.execute(
            select(
                d.c.id,
                d.c.key,
                d.c.hostname,
                d.c.vendor,
                d.c.model,
                rs.c.risk,
                rs.c.decision,
                rs.c.top_vulnerability,
            )
            .join(rs, rs.c.device_id == d.c.id)
            .where(rs.c.findings > 0)
            .order_by(rs.c.risk.desc(), d.c.id)
            .limit(shown)
        )
    ]
    f = v.finding
    kev_q = (
        select(d.c.id, d.c.key, d.c.hostname, d.c.vendor, d.c.model, func.count().label("kev_findings"))
        .join(f, f.c.device_id == d.c.id)
        .join(v.kev, v.kev.c.cve == f.c.vulnerability)
        .where(f.c.active)
        .group_by(d.c.id, d.c.key, d.c.hostname, d.c.vendor, d.c.model)
        .order_by(d.c.id)
    )
    kev_rows = list(tx.conn.execute(kev_q))
    kev = [
        {
            "id": int(x.id),
            "label": x.hostname or " ".join(p for p in (x.vendor, x.model) if p) or x.key,
            "kev_findings": int(x.kev_findings),
        }
        for x in kev_rows[:shown]
    ]
    return {
        "scored": scored,
        "bands": bands,
        "decisions": decisions,
        "top": top,
        "kev_devices": len(kev_rows),
        "kev": kev,
    }


def risk_by_device(tx: SqlTransaction, ids: list[int]) -> dict[int, float]:
    """Stored risk score per device id (devices never scored, or scored without a finding, are
    absent: they have no risk to colour)."""
    from wardwatch.store.schema_risk import risk_score as rs

    out: dict[int, float] = {}
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        for device_id, risk in tx.conn.execute(
            select(rs.c.device_id, rs.c.risk).where(rs.c.device_id.in_(chunk), rs.c.findings > 0)
        ):
            out[int(device_id)] = float(risk)
    return out
