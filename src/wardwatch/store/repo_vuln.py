"""Repository of the vulnerability tables (:mod:`wardwatch.store.schema_vuln`) on one connection.

Used inside ``with store.transaction() as tx: VulnRepo(tx.conn)`` so a feed file's records, its
import record and its index rows commit or roll back together. Same statements on SQLite and
PostgreSQL (dialect ``INSERT ... ON CONFLICT`` for upserts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, func, or_, select, update
from sqlalchemy.dialects import sqlite

from wardwatch.model.advisory import (
    Advisory,
    AdvisorySource,
    AdvisoryVulnerability,
    AffectedProduct,
    Analysis,
    ConfigNode,
    Configuration,
    CpeMatch,
    CvssScore,
    primary_score,
)
from wardwatch.store import schema_vuln as v

CHUNK = 500


def _score(s: CvssScore) -> dict[str, Any]:
    return {
        "version": s.version,
        "vector": s.vector,
        "base_score": s.base_score,
        "severity": s.severity,
        "source": s.source,
        "type": s.type,
    }


def _match(m: CpeMatch) -> dict[str, Any]:
    return {
        "criteria": m.criteria,
        "vulnerable": m.vulnerable,
        "version_start_including": m.version_start_including,
        "version_start_excluding": m.version_start_excluding,
        "version_end_including": m.version_end_including,
        "version_end_excluding": m.version_end_excluding,
    }


def advisory_to_data(adv: Advisory) -> dict[str, Any]:
    """The JSON column of an advisory: everything but the columns stored beside it.

    Written out by hand rather than with ``dataclasses.asdict``, which deep-copies and was half the
    import time of a full NVD feed.
    """
    return {
        "cwes": list(adv.cwes),
        "references": list(adv.references),
        "scores": [_score(s) for s in adv.scores],
        "aliases": [list(a) for a in adv.aliases],
        "configurations": [
            {
                "operator": c.operator,
                "negate": c.negate,
                "nodes": [
                    {"operator": n.operator, "negate": n.negate, "matches": [_match(m) for m in n.matches]}
                    for n in c.nodes
                ],
            }
            for c in adv.configurations
        ],
        "products": [dataclasses.asdict(p) for p in adv.products],
        "vulnerabilities": [
            {
                "cve": x.cve,
                "title": x.title,
                "cwe": x.cwe,
                "status": {k: list(ids) for k, ids in x.status.items()},
                "scores": [_score(s) for s in x.scores],
                "remediations": list(x.remediations),
            }
            for x in adv.vulnerabilities
        ],
    }


_MATCHES: dict[tuple[Any, ...], CpeMatch] = {}


def _cpe_match(m: dict[str, Any]) -> CpeMatch:
    # The same cpeMatch (criteria + range) recurs across thousands of CVEs: share one frozen object
    # (bounded: cleared when it grows past 200,000 entries).
    key = (
        m["criteria"],
        m["vulnerable"],
        m["version_start_including"],
        m["version_start_excluding"],
        m["version_end_including"],
        m["version_end_excluding"],
    )
    hit = _MATCHES.get(key)
    if hit is None:
        if len(_MATCHES) > 200_000:
            _MATCHES.clear()
        hit = _MATCHES[key] = CpeMatch(*key)
    return hit


def advisory_from_row(r: Any) -> Advisory:
    """Rebuild an :class:`Advisory` from its row."""
    d = r.data
    return Advisory(
        id=r.id,
        source=AdvisorySource(r.source),
        title=r.title,
        description=r.description,
        published=r.published,
        revision=r.revision,
        status=r.status,
        cwes=tuple(d.get("cwes") or ()),
        references=tuple(d.get("references") or ()),
        scores=tuple(CvssScore(**s) for s in d.get("scores") or ()),
        aliases=tuple((a[0], a[1]) for a in d.get("aliases") or ()),
        configurations=tuple(
            Configuration(
                operator=c["operator"],
                negate=c["negate"],
                nodes=tuple(
                    ConfigNode(n["operator"], n["negate"], tuple(_cpe_match(m) for m in n["matches"]))
                    for n in c["nodes"]
                ),
            )
            for c in d.get("configurations") or ()
        ),
        products=tuple(
            AffectedProduct(
                **{
                    **p,
                    "model_numbers": tuple(p.get("model_numbers") or ()),
                    "serial_numbers": tuple(p.get("serial_numbers") or ()),
                }
            )
            for p in d.get("products") or ()
        ),
        vulnerabilities=tuple(
            AdvisoryVulnerability(
                cve=x["cve"],
                title=x["title"],
                cwe=x["cwe"],
                status={k: tuple(ids) for k, ids in x["status"].items()},
                scores=tuple(CvssScore(**s) for s in x.get("scores") or ()),
                remediations=tuple(x.get("remediations") or ()),
            )
            for x in d.get("vulnerabilities") or ()
        ),
    )


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class VulnRepo:
    """Reads and writes the vulnerability tables inside the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"

    def _insert(self, table: Table) -> Any:
        if self.pg:
            # imported here: the package loads every PostgreSQL driver's dialect, for nothing on SQLite
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table)
        return sqlite.insert(table)

    # --- imports ---

    def add_import(self, row: dict[str, Any]) -> int:
        """Record one file import attempt; returns its id."""
        return int(
            self.conn.execute(v.feed_import.insert().values(**row).returning(v.feed_import.c.id)).scalar_one()
        )

    def finish_import(self, import_id: int, **values: Any) -> None:
        """Fill in the outcome of an import started with :meth:`add_import`."""
        self.conn.execute(update(v.feed_import).where(v.feed_import.c.id == import_id).values(**values))

    def imported_before(self, sha256: str) -> bool:
        """Whether a file with these bytes was already imported successfully."""
        t = v.feed_import
        q = select(t.c.id).where(t.c.sha256 == sha256, t.c.status == "ok").limit(1)
        return self.conn.execute(q).first() is not None

    def imports(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest import records, newest first."""
        t = v.feed_import
        rows = self.conn.execute(select(t).order_by(t.c.id.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]

    def counts(self) -> dict[str, int]:
        """Rows per table (for ``feeds status``)."""
        out: dict[str, int] = {}
        for t in (v.advisory, v.kev, v.epss, v.ssvc, v.sbom, v.vex_statement, v.finding, v.analysis):
            out[t.name] = int(self.conn.execute(select(func.count()).select_from(t)).scalar_one())
        out["advisory_nvd"] = int(
            self.conn.execute(
                select(func.count()).select_from(v.advisory).where(v.advisory.c.source == "nvd")
            ).scalar_one()
        )
        out["advisory_csaf"] = out["advisory"] - out["advisory_nvd"]
        out["finding_active"] = int(
            self.conn.execute(
                select(func.count()).select_from(v.finding).where(v.finding.c.active)
            ).scalar_one()
        )
        return out

    # --- advisories ---

    def upsert_advisories(
        self, items: Sequence[tuple[Advisory, set[tuple[str, str]]]], import_id: int
    ) -> tuple[int, int, int]:
        """Insert new advisories, replace those whose ``revision`` is newer, skip the rest.

        Each item carries its index keys (``(kind, key)``). Returns (inserted, updated, skipped).
        """
        inserted = updated = skipped = 0
        a = v.advisory
        for chunk in _chunks(items):
            latest: dict[str, tuple[Advisory, set[tuple[str, str]]]] = {}
            for adv, keys in chunk:  # the same id twice in one chunk: keep the newer revision
                old = latest.get(adv.id)
                if old is None or adv.revision > old[0].revision:
                    latest[adv.id] = (adv, keys)
            skipped += len(chunk) - len(latest)
            ids = list(latest)
            q = select(a.c.id, a.c.revision).where(a.c.id.in_(ids))
            stored = {str(r.id): str(r.revision) for r in self.conn.execute(q)}
            new_rows: list[dict[str, Any]] = []
            changed: list[str] = []
            keep: list[tuple[Advisory, set[tuple[str, str]]]] = []
            for adv_id, (adv, keys) in latest.items():
                rev = stored.get(adv_id)
                if rev is not None and rev >= adv.revision:
                    skipped += 1
                    continue
                score = primary_score(adv.scores)
                row = {
                    "id": adv.id,
                    "source": adv.source.value,
                    "title": adv.title,
                    "description": adv.description,
                    "published": adv.published,
                    "revision": adv.revision,
                    "status": adv.status,
                    "cvss_score": score.base_score if score else None,
                    "cvss_version": score.version if score else None,
                    "cvss_vector": score.vector if score else None,
                    "data": advisory_to_data(adv),
                    "import_id": import_id,
                }
                if rev is None:
                    inserted += 1
                else:
                    updated += 1
                    changed.append(adv_id)
                new_rows.append(row)
                keep.append((adv, keys))
            if changed:
                self.conn.execute(delete(v.advisory_alias).where(v.advisory_alias.c.advisory_id.in_(changed)))
                self.conn.execute(delete(v.advisory_key).where(v.advisory_key.c.advisory_id.in_(changed)))
                self.conn.execute(delete(a).where(a.c.id.in_(changed)))
            if new_rows:
                self.conn.execute(a.insert(), new_rows)
                aliases = [
                    {"advisory_id": adv.id, "source": s, "alias": al}
                    for adv, _ in keep
                    for s, al in dict.fromkeys(adv.aliases)
                ]
                if aliases:
                    self.conn.execute(v.advisory_alias.insert(), aliases)
                key_rows = [
                    {"kind": k, "key": key, "advisory_id": adv.id} for adv, keys in keep for k, key in keys
                ]
                if key_rows:
                    self.conn.execute(v.advisory_key.insert(), key_rows)
        return inserted, updated, skipped

    def advisory_ids_by_keys(self, kind: str, keys: Iterable[str]) -> dict[str, set[str]]:
        """key -> advisory ids indexed under it."""
        out: dict[str, set[str]] = {}
        k = v.advisory_key
        for chunk in _chunks(sorted(set(keys))):
            q = select(k.c.key, k.c.advisory_id).where(k.c.kind == kind, k.c.key.in_(chunk))
            for key, adv_id in self.conn.execute(q):
                out.setdefault(key, set()).add(adv_id)
        return out

    def advisories(self, ids: Iterable[str]) -> dict[str, Advisory]:
        """Advisories by id."""
        out: dict[str, Advisory] = {}
        for chunk in _chunks(sorted(set(ids))):
            for r in self.conn.execute(select(v.advisory).where(v.advisory.c.id.in_(chunk))):
                out[r.id] = advisory_from_row(r)
        return out

    # --- devices (read-only, for matching) ---

    def device_facts(self, attributes: Sequence[str]) -> dict[int, dict[str, tuple[str, float]]]:
        """Every device's resolved values (and confidences) of these attributes, by device id.

        Matching reads only these few attributes; loading whole devices (IPs, every attribute)
        was a third of the time of matching 100,000 devices.
        """
        from wardwatch.store import schema

        out: dict[int, dict[str, tuple[str, float]]] = {
            int(i): {} for i in self.conn.execute(select(schema.device.c.id)).scalars()
        }
        a = schema.device_attribute
        q = select(a.c.device_id, a.c.attribute, a.c.value, a.c.confidence).where(
            a.c.attribute.in_(list(attributes))
        )
        for device_id, attribute, value, confidence in self.conn.execute(q):
            out.setdefault(int(device_id), {})[attribute] = (value, float(confidence))
        return out

    # --- per-CVE facts ---

    def _upsert(self, table: Table, rows: list[dict[str, Any]], key: str, newer: str | None = None) -> int:
        """Insert or update rows; with ``newer``, only update when the incoming column is >= the stored one."""
        if not rows:
            return 0
        stmt = self._insert(table)
        cols = {c.name: stmt.excluded[c.name] for c in table.columns if c.name != key}
        where = table.c[newer] <= stmt.excluded[newer] if newer else None
        stmt = stmt.on_conflict_do_update(index_elements=[key], set_=cols, where=where)
        for chunk in _chunks(rows, 2000):
            self.conn.execute(stmt, list(chunk))
        return len(rows)

    def upsert_kev(self, rows: list[dict[str, Any]]) -> int:
        """KEV entries (a full catalog replaces older catalog versions' values)."""
        return self._upsert(v.kev, rows, "cve", newer="catalog_version")

    def max_kev_catalog(self) -> str:
        """The newest KEV catalog version stored ("" when none)."""
        return str(self.conn.execute(select(func.max(v.kev.c.catalog_version))).scalar() or "")

    def upsert_epss(self, rows: list[dict[str, Any]]) -> int:
        """EPSS scores; an older score date never overwrites a newer one."""
        return self._upsert(v.epss, rows, "cve", newer="score_date")

    def upsert_ssvc(self, rows: list[dict[str, Any]]) -> int:
        """SSVC decision points; an older timestamp never overwrites a newer one."""
        return self._upsert(v.ssvc, rows, "cve", newer="timestamp")

    # --- SBOM and VEX ---

    def replace_sbom(self, row: dict[str, Any], components: list[dict[str, Any]]) -> int:
        """Store an SBOM (replacing an earlier import of the same document); returns its id."""
        s = v.sbom
        self.conn.execute(delete(s).where(s.c.document == row["document"]))
        sbom_id = int(self.conn.execute(s.insert().values(**row).returning(s.c.id)).scalar_one())
        if components:
            self.conn.execute(
                v.sbom_component.insert(),
                [{**c, "sbom_id": sbom_id, "seq": i} for i, c in enumerate(components)],
            )
        return sbom_id

    def sbom_components(self) -> list[dict[str, Any]]:
        """Every SBOM component with its SBOM's vendor/model scope."""
        s, c = v.sbom, v.sbom_component
        q = select(s.c.vendor, s.c.model, s.c.document, c).join(c, c.c.sbom_id == s.c.id)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def replace_vex(self, document: str, rows: list[dict[str, Any]]) -> int:
        """Store a VEX document's statements (replacing an earlier import of the same document)."""
        self.conn.execute(delete(v.vex_statement).where(v.vex_statement.c.document == document))
        if rows:
            self.conn.execute(v.vex_statement.insert(), rows)
        return len(rows)

    def vex_statements(self) -> list[dict[str, Any]]:
        """All stored VEX statements."""
        return [
            dict(r._mapping)
            for r in self.conn.execute(select(v.vex_statement).order_by(v.vex_statement.c.id))
        ]

    # --- findings ---

    def findings_of(
        self, matchers: Sequence[str], device_ids: Sequence[int] | None = None
    ) -> list[dict[str, Any]]:
        """Stored findings (active or not) of these matchers, optionally for some devices only."""
        f = v.finding
        q = select(f).where(f.c.matcher.in_(list(matchers)))
        if device_ids is None:
            return [dict(r._mapping) for r in self.conn.execute(q)]
        out: list[dict[str, Any]] = []
        for chunk in _chunks(list(device_ids)):
            out.extend(dict(r._mapping) for r in self.conn.execute(q.where(f.c.device_id.in_(chunk))))
        return out

    def insert_findings(self, rows: list[dict[str, Any]]) -> dict[tuple[int, str, str], int]:
        """Insert new findings; returns their ids by (device_id, vulnerability, matcher)."""
        out: dict[tuple[int, str, str], int] = {}
        f = v.finding
        for chunk in _chunks(rows, 2000):
            self.conn.execute(f.insert(), list(chunk))
            keys = {(r["device_id"], r["vulnerability"], r["matcher"]) for r in chunk}
            devs = sorted({k[0] for k in keys})
            for part in _chunks(devs):
                q = select(f.c.id, f.c.device_id, f.c.vulnerability, f.c.matcher).where(
                    f.c.device_id.in_(part)
                )
                for r in self.conn.execute(q):
                    k = (r.device_id, r.vulnerability, r.matcher)
                    if k in keys:
                        out[k] = int(r.id)
        return out

    def update_finding(self, finding_id: int, values: dict[str, Any]) -> None:
        """Change one finding's columns."""
        self.conn.execute(update(v.finding).where(v.finding.c.id == finding_id).values(**values))

    def update_findings(self, rows: list[dict[str, Any]]) -> None:
        """Change many findings (each row has ``b_id`` and the new values, all the same columns)."""
        if not rows:
            return
        f = v.finding
        from sqlalchemy import bindparam

        cols = [k for k in rows[0] if k != "b_id"]
        stmt = update(f).where(f.c.id == bindparam("b_id")).values({c: bindparam(c) for c in cols})
        for chunk in _chunks(rows, 2000):
            self.conn.execute(stmt, list(chunk))

    def add_events(self, rows: list[dict[str, Any]]) -> None:
        """Append finding history events (``seq`` is assigned after the finding's last event)."""
        if not rows:
            return
        e = v.finding_event
        ids = sorted({r["finding_id"] for r in rows})
        last: dict[int, int] = {}
        for chunk in _chunks(ids):
            q = (
                select(e.c.finding_id, func.max(e.c.seq))
                .where(e.c.finding_id.in_(chunk))
                .group_by(e.c.finding_id)
            )
            last.update({int(a): int(b) for a, b in self.conn.execute(q)})
        for r in rows:
            n = last.get(r["finding_id"], -1) + 1
            last[r["finding_id"]] = n
            r["seq"] = n
        for chunk in _chunks(rows, 2000):
            self.conn.execute(e.insert(), list(chunk))

    def finding_events(self, finding_id: int) -> list[dict[str, Any]]:
        """A finding's history, oldest first."""
        e = v.finding_event
        q = select(e).where(e.c.finding_id == finding_id).order_by(e.c.seq)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def finding_rows(
        self,
        *,
        device_id: int | None = None,
        include_inactive: bool = False,
        kev_only: bool = False,
        min_cvss: float | None = None,
        vulnerability: str | None = None,
    ) -> list[dict[str, Any]]:
        """Findings joined with their advisory's primary CVSS, KEV, EPSS and SSVC facts
        (``vulnerability``: only findings of that CVE or advisory id)."""
        f, a = v.finding, v.advisory
        cve_adv = a.alias("cve_adv")
        q = (
            select(
                f,
                cve_adv.c.cvss_score.label("nvd_cvss"),
                cve_adv.c.cvss_version.label("nvd_cvss_version"),
                a.c.cvss_score.label("adv_cvss"),
                a.c.cvss_version.label("adv_cvss_version"),
                a.c.title.label("advisory_title"),
                v.kev.c.date_added.label("kev_date_added"),
                v.kev.c.due_date.label("kev_due_date"),
                v.kev.c.ransomware.label("kev_ransomware"),
                v.epss.c.epss.label("epss"),
                v.epss.c.percentile.label("epss_percentile"),
                v.epss.c.score_date.label("epss_date"),
                v.ssvc.c.exploitation.label("ssvc_exploitation"),
                v.ssvc.c.automatable.label("ssvc_automatable"),
                v.ssvc.c.technical_impact.label("ssvc_technical_impact"),
            )
            .select_from(f)
            .outerjoin(a, a.c.id == f.c.advisory_id)
            .outerjoin(cve_adv, cve_adv.c.id == f.c.vulnerability)
            .outerjoin(v.kev, v.kev.c.cve == f.c.vulnerability)
            .outerjoin(v.epss, v.epss.c.cve == f.c.vulnerability)
            .outerjoin(v.ssvc, v.ssvc.c.cve == f.c.vulnerability)
            .order_by(f.c.device_id, f.c.vulnerability, f.c.matcher)
        )
        if device_id is not None:
            q = q.where(f.c.device_id == device_id)
        if vulnerability is not None:
            q = q.where(or_(f.c.vulnerability == vulnerability, f.c.advisory_id == vulnerability))
        if not include_inactive:
            q = q.where(f.c.active)
        if kev_only:
            q = q.where(v.kev.c.cve.is_not(None))
        rows = [dict(r._mapping) for r in self.conn.execute(q)]
        for r in rows:
            # The NVD record's primary score when we have it, else the advisory's own (CSAF).
            nvd = r.pop("nvd_cvss")
            nvd_version = r.pop("nvd_cvss_version")
            adv, adv_version = r.pop("adv_cvss"), r.pop("adv_cvss_version")
            r["cvss"] = nvd if nvd is not None else adv
            r["cvss_version"] = nvd_version if nvd is not None else adv_version
            r["cvss_from"] = "nvd" if nvd is not None else "advisory"
        if min_cvss is not None:
            rows = [r for r in rows if r["cvss"] is not None and r["cvss"] >= min_cvss]
        return rows

    # --- analysis ---

    def add_analysis(self, a: Analysis) -> int:
        """Append a triage decision; returns its id."""
        t = v.analysis
        row = {
            "vulnerability": a.vulnerability,
            "scope": a.scope.value,
            "target": a.target,
            "state": a.state.value,
            "justification": a.justification.value if a.justification else None,
            "responses": [r.value for r in a.responses],
            "detail": a.detail,
            "author": a.author,
            "source": a.source,
            "created_ns": a.created_ns,
        }
        return int(self.conn.execute(t.insert().values(**row).returning(t.c.id)).scalar_one())

    def analyses(self, vulnerability: str | None = None) -> list[dict[str, Any]]:
        """Every decision (history), oldest first, optionally for one vulnerability."""
        t = v.analysis
        q = select(t).order_by(t.c.created_ns, t.c.id)
        if vulnerability is not None:
            q = q.where(t.c.vulnerability == vulnerability)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def has_analysis(self, *, vulnerability: str, scope: str, target: str, source: str) -> bool:
        """Whether this source already recorded a decision for this target (VEX is applied once)."""
        t = v.analysis
        q = select(t.c.id).where(
            and_(
                t.c.vulnerability == vulnerability,
                t.c.scope == scope,
                t.c.target == target,
                t.c.source == source,
            )
        )
        return self.conn.execute(q.limit(1)).first() is not None
