"""The fleet recompute's fast path: same scores as ``score()`` per device, memoised and bulk-written.

A recompute after a feed update scores every finding of every device (issue 6: 100,000 devices,
600,000 findings). Three things make it fast without touching the scoring function:

* **Shared facts.** :class:`FactsLoader` reads each batch's findings with one query on the finding
  table and what belongs to a CVE (KEV, EPSS, SSVC, advisory text) once per run, and returns one
  :class:`FindingFacts` object per distinct set of facts (without the finding id, which no score
  reads), so equal facts are recognised by identity, not by hashing 15 fields.
* **Memoised finding scores.** A finding's score reads the facts and only the parts of the device
  context in :func:`wardwatch.risk.score.context_signature`; fleets repeat identities (same model,
  same subnet layout), so a device often finds its findings already scored for an equal signature.
  The device score, decision and explanation are still built by
  :func:`wardwatch.risk.score.device_score`, the code ``score()`` uses.
* **Bulk writes.** Rows go out as tuples in one ``executemany`` per batch on SQLite and through
  ``COPY`` on PostgreSQL, with the JSON columns serialised once (a memoised finding's row values
  are serialised once for every device that shares them).

Memory stays bounded: devices are scored in batches (findings of one batch at a time) and the
memo is cleared when it reaches :data:`MEMO_LIMIT` entries.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Text, delete, select, type_coerce

from wardwatch.model.device import Attribute, Device
from wardwatch.risk import adapter
from wardwatch.risk.repo import finding_row, head_row
from wardwatch.risk.score import (
    DeviceContext,
    FindingFacts,
    FindingRisk,
    PublishedCvss,
    ServiceRef,
    context_signature,
    device_parts,
    device_score,
    score_finding,
)
from wardwatch.store import schema_risk as r
from wardwatch.store import schema_vuln as v
from wardwatch.triage.decisions import current_analysis, model_key

#: Devices per batch: the findings, facts and rows of one batch are in memory at a time.
BATCH = 5000
#: SQLite page cache during a recompute, in KiB (the default is 2 MiB).
SQLITE_CACHE_KIB = 65536
#: Memoised finding scores kept at most; the memo is emptied when full (bounds its memory).
MEMO_LIMIT = 200_000

SCORE_COLUMNS = tuple(c.name for c in r.risk_score.columns)
FINDING_COLUMNS = tuple(c.name for c in r.risk_finding.columns)
_SCORE_JSON = {c.name for c in r.risk_score.columns if c.name in ("explanation", "context")}
_FINDING_JSON = {"factors"}


@dataclass(frozen=True, slots=True)
class FleetResult:
    """What a fleet recompute wrote."""

    devices: int
    findings: int
    decisions: dict[str, int]
    distinct_signatures: int
    memo_hits: int


def json_dumps() -> Callable[[Any], str]:
    """``json.dumps`` with its default arguments, minus the per-call set-up (same text, ~2x faster).

    ``json.dumps`` builds a new C encoder for every call, which costs as much as encoding the small
    values stored here; this builds the same encoder, with the same arguments ``dumps`` passes it,
    once. Falls back to ``json.dumps`` where the C encoder is missing. The values are plain lists and
    dicts built by the scorer, so the circular-reference check is left out (it never changes the text).
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.dumps
    encoder = make(
        None,  # markers: no circular check
        json.JSONEncoder().default,
        json.encoder.encode_basestring_ascii,  # ensure_ascii=True
        None,  # indent
        ": ",
        ", ",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )

    def dumps(value: Any) -> str:
        if isinstance(value, str):
            return json.dumps(value)
        return "".join(encoder(value, 0))

    return dumps


class FactsLoader:
    """Facts of a fleet, batch by batch: what :func:`adapter.load_facts` gives, without finding ids.

    The plain loader joins KEV, EPSS and SSVC onto every finding row and reads the analysis history
    and the advisories again for every batch. Here each batch is one query on the finding table
    alone (ordered on its ``(device_id, vulnerability, matcher)`` key), and what belongs to a CVE
    (threat data, advisory text, the services it names) is read once per CVE for the whole run;
    memory grows with the distinct CVEs of the fleet, not with its findings.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.shared: dict[tuple[Any, ...], FindingFacts] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}
        a = v.analysis
        for row in conn.execute(select(a).order_by(a.c.created_ns, a.c.id)):
            self.history.setdefault(row.vulnerability, []).append(dict(row._mapping))
        self._threat: dict[str, tuple[Any, ...]] = {}  # cve -> (kev, ransomware, epss, pct, e, a, t)
        self._info: dict[str, Any] = {}
        self._per_advisory: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._services: dict[str, tuple[tuple[ServiceRef, ...], str]] = {}
        self._mkeys: dict[int, str] = {}

    def _learn(self, vulns: set[str], advisory_ids: set[str]) -> None:
        """Read the threat data and advisories of CVEs not seen yet (chunks of 500 ids)."""
        new = sorted(x for x in vulns if x not in self._threat)
        kev: dict[str, Any] = {}
        epss: dict[str, tuple[Any, Any]] = {}
        ssvc: dict[str, tuple[Any, Any, Any]] = {}
        for i in range(0, len(new), 500):
            part = new[i : i + 500]
            for c, ransomware in self.conn.execute(
                select(v.kev.c.cve, v.kev.c.ransomware).where(v.kev.c.cve.in_(part))
            ):
                kev[c] = ransomware
            t = v.epss
            for c, e, p in self.conn.execute(
                select(t.c.cve, t.c.epss, t.c.percentile).where(t.c.cve.in_(part))
            ):
                epss[c] = (e, p)
            t = v.ssvc
            q = select(t.c.cve, t.c.exploitation, t.c.automatable, t.c.technical_impact).where(
                t.c.cve.in_(part)
            )
            for c, ex, au, te in self.conn.execute(q):
                ssvc[c] = (ex, au, te)
        for c in new:
            self._threat[c] = (
                c in kev,
                kev.get(c),
                *epss.get(c, (None, None)),
                *ssvc.get(c, (None, None, None)),
            )
        wanted = (vulns | advisory_ids) - self._info.keys()
        if wanted:
            found = adapter._advisory_info(self.conn, wanted, False)
            for x in wanted:
                self._info[x] = found.get(x)

    def load(self, devices: Sequence[Device]) -> dict[int, list[FindingFacts]]:
        """Active findings of these devices (consecutive ids of the fleet), by device id."""
        by_id = {d.id: d for d in devices if d.id is not None}
        if not by_id:
            return {}
        f = v.finding
        q = (
            select(
                f.c.device_id,
                f.c.vulnerability,
                f.c.advisory_id,
                f.c.confidence,
                # As text: parsed only when it can hold a fixed version (as the plain loader does).
                type_coerce(f.c.evidence, Text).label("evidence"),
            )
            .where(f.c.active, f.c.device_id.between(min(by_id), max(by_id)))
            .order_by(f.c.device_id, f.c.vulnerability, f.c.matcher)
        )
        rows: dict[tuple[int, str], Any] = {}
        for row in self.conn.execute(q).fetchall():
            if row[0] not in by_id:
                continue
            key = (int(row[0]), row[1])
            old = rows.get(key)
            # The most confident matcher's finding; the first in key order among equals.
            if old is None or row[3] > old[3]:
                rows[key] = row
        self._learn({k[1] for k in rows}, {r[2] for r in rows.values()})
        history, mkeys, shared = self.history, self._mkeys, self.shared
        out: dict[int, list[FindingFacts]] = {}
        for (device_id, vuln), (_, _, advisory_id, _, evidence) in sorted(rows.items()):
            if vuln in history:
                if device_id not in mkeys:
                    dev = by_id[device_id]
                    mkeys[device_id] = model_key(dev.value(Attribute.VENDOR), dev.value(Attribute.MODEL))
                cur = current_analysis(history[vuln], device_id, mkeys[device_id])
                if cur is not None and cur["state"] in adapter._CLEARED_STATES:
                    continue
            pa = self._per_advisory.get((vuln, advisory_id))
            if pa is None:
                pa = self._per_advisory[(vuln, advisory_id)] = self._advisory_part(vuln, advisory_id)
            cvss_t, remediations_t, fixed_product, services, service_evidence = pa
            if isinstance(evidence, str):
                evidence = json.loads(evidence) if "versionEndExcluding" in evidence else None
            fixed = (adapter.fixed_version_in(evidence) if evidence else None) or fixed_product
            kev, ransomware, epss, pct, expl, auto, tech = self._threat[vuln]
            skey = (vuln, advisory_id, kev, ransomware, epss, pct, expl, auto, tech, fixed)
            found = shared.get(skey)
            if found is None:
                found = shared[skey] = FindingFacts(
                    vulnerability=vuln,
                    cvss=cvss_t,
                    kev=kev,
                    kev_ransomware=(ransomware or "").lower() == "known",
                    epss=epss,
                    epss_percentile=pct,
                    ssvc_exploitation=expl,
                    ssvc_automatable=auto,
                    ssvc_technical_impact=tech,
                    fixed_version=fixed,
                    remediations=remediations_t,
                    services=services,
                    service_evidence=service_evidence,
                    finding_id=None,
                    advisory_id=advisory_id,
                )
            out.setdefault(device_id, []).append(found)
        return out

    def _advisory_part(self, vuln: str, advisory_id: str) -> tuple[Any, ...]:
        """What the advisories of one (vulnerability, advisory) say (as the plain loader computes it)."""
        cvss: list[PublishedCvss] = []
        texts: list[str] = []
        remediations: tuple[str, ...] = ()
        fixed_products: tuple[str, ...] = ()
        for aid in dict.fromkeys((vuln, advisory_id)):
            ai = self._info.get(aid)
            if ai is None:
                continue
            if ai.vector and ai.version:
                cvss.append(PublishedCvss(ai.version, ai.vector, float(ai.score or 0.0)))
            texts.append(ai.text)
            remediations += ai.remediations
            fixed_products += ai.fixed
        text = "\n".join(texts)
        if text not in self._services:
            self._services[text] = adapter.services_in_text(text)
        services, words = self._services[text]
        return (
            tuple(cvss),
            tuple(dict.fromkeys(remediations)),
            fixed_products[0] if fixed_products else None,
            services,
            f"advisory text says {words}" if words else "",
        )


class ScoreWriter:
    """Bulk writer of ``risk_score`` and ``risk_finding`` rows on one connection (one transaction)."""

    def __init__(self, conn: Connection, *, dumps: Callable[[Any], str] | None = None) -> None:
        self.conn = conn
        self.is_postgres = conn.dialect.name == "postgresql"
        # The same serialiser SQLAlchemy's JSON type uses, so stored text equals the plain path's.
        self.dumps = getattr(conn.dialect, "_json_serializer", None) or dumps or json_dumps()

    def clear(self) -> None:
        """Delete every stored score (a full recompute replaces them all)."""
        self.conn.execute(delete(r.risk_finding))
        self.conn.execute(delete(r.risk_score))

    def write(self, heads: Sequence[tuple[Any, ...]], rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert score rows given as tuples in :data:`SCORE_COLUMNS` / :data:`FINDING_COLUMNS` order."""
        self._insert(r.risk_score.name, SCORE_COLUMNS, heads)
        self._insert(r.risk_finding.name, FINDING_COLUMNS, rows)

    def _insert(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        names = ", ".join(f'"{c}"' for c in columns)
        if self.is_postgres:
            raw = self.conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cur, cur.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" for _ in columns)
        self.conn.exec_driver_sql(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', list(rows))


def recompute_scores(
    conn: Connection,
    devices: Sequence[Device],
    contexts: Mapping[int, DeviceContext],
    now_ns: int,
) -> FleetResult:
    """Score every device and replace all stored scores (the caller holds the transaction).

    On SQLite the page cache is raised to :data:`SQLITE_CACHE_KIB` meanwhile, so index pages of the
    rewritten tables are not spilled mid-transaction, and restored afterwards.
    """
    old_cache = None
    if conn.dialect.name == "sqlite":
        old_cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    try:
        return _recompute(conn, devices, contexts, now_ns)
    finally:
        if old_cache is not None:
            conn.exec_driver_sql(f"PRAGMA cache_size={int(old_cache)}")


def _recompute(
    conn: Connection,
    devices: Sequence[Device],
    contexts: Mapping[int, DeviceContext],
    now_ns: int,
) -> FleetResult:
    writer = ScoreWriter(conn)
    dumps = writer.dumps
    writer.clear()
    loader = FactsLoader(conn)
    signatures: dict[tuple[object, ...], int] = {}
    # (id of shared facts, signature number) -> [finding score, its row values between device id
    # and computed_ns, or None until first written]. The shared facts live as long as the loader,
    # so their ids are not reused during the run.
    memo: dict[tuple[int, int], list[Any]] = {}
    # What every finding of a device shares depends on the signature only.
    parts: dict[int, Any] = {}
    hits = devices_done = findings_done = 0
    decisions: Counter[str] = Counter()
    score_cols = SCORE_COLUMNS
    json_heads = [c in _SCORE_JSON for c in score_cols]
    tail_cols = FINDING_COLUMNS[1:-1]
    if FINDING_COLUMNS[0] != "device_id" or FINDING_COLUMNS[-1] != "computed_ns":
        raise RuntimeError("risk_finding columns changed: update the fleet writer")
    for i in range(0, len(devices), BATCH):
        batch = devices[i : i + BATCH]
        facts = loader.load(batch)
        heads: list[tuple[Any, ...]] = []
        rows: list[tuple[Any, ...]] = []
        batch_decisions: list[str] = []
        for d in batch:
            assert d.id is not None
            ctx = contexts[d.id]
            sig = context_signature(ctx)
            sid = signatures.get(sig)
            if sid is None:
                sid = signatures[sig] = len(signatures)
                parts[sid] = device_parts(ctx)
            entries: list[list[Any]] = []
            for f in facts.get(d.id, ()):
                key = (id(f), sid)
                entry = memo.get(key)
                if entry is None:
                    if len(memo) >= MEMO_LIMIT:
                        memo.clear()
                    entry = memo[key] = [score_finding(f, ctx, parts[sid]), None]
                else:
                    hits += 1
                entries.append(entry)
            result = device_score([e[0] for e in entries], ctx)
            head = head_row(result, ctx, now_ns)
            heads.append(
                tuple(dumps(head[c]) if j else head[c] for c, j in zip(score_cols, json_heads, strict=True))
            )
            for entry in entries:
                tail = entry[1]
                if tail is None:
                    fr: FindingRisk = entry[0]
                    row = finding_row(result, fr, now_ns)
                    tail = entry[1] = (
                        tuple(dumps(row[c]) if c in _FINDING_JSON else row[c] for c in tail_cols),
                        row["decision"],
                    )
                rows.append((d.id, *tail[0], now_ns))
                batch_decisions.append(tail[1])
        decisions.update(batch_decisions)
        writer.write(heads, rows)
        devices_done += len(heads)
        findings_done += len(rows)
    return FleetResult(devices_done, findings_done, dict(decisions), len(signatures), hits)
