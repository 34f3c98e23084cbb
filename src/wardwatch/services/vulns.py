"""Use cases of vulnerability intelligence: import feed files, show feed status, match devices to
advisories, list findings, record triage decisions, export.

Every feed file is imported in its own transaction: a malformed file raises nothing partial into
the store, is recorded as a failed import in a second transaction, and the other files go on.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wardwatch.feeds.base import FeedError, sha256_of, sniff
from wardwatch.feeds.csaf import read_csaf
from wardwatch.feeds.csaf import vex_statements as csaf_vex_statements
from wardwatch.feeds.epss import read_epss
from wardwatch.feeds.kev import catalog_version, read_kev
from wardwatch.feeds.nvd import read_nvd
from wardwatch.feeds.sbom import Document
from wardwatch.feeds.vulnrichment import read_vulnrichment
from wardwatch.match import csaf_product, nvd_cpe, sbom_component
from wardwatch.match.cpe import CpeError, parse_cpe
from wardwatch.match.names import Candidate, candidates, canonical_vendor
from wardwatch.model.advisory import (
    Advisory,
    Analysis,
    AnalysisScope,
    AnalysisState,
    FeedFormat,
    Finding,
    Justification,
    Response,
)
from wardwatch.model.device import Attribute, Device, ResolvedAttribute
from wardwatch.store.repo_vuln import VulnRepo
from wardwatch.store.sql import SqlStore
from wardwatch.triage.decisions import current_analysis, model_key

BATCH = 500
MATCHERS = (nvd_cpe.MATCHER, csaf_product.MATCHER, sbom_component.MATCHER)
_SUFFIXES = (".json", ".json.gz", ".csv", ".csv.gz")


class VulnError(Exception):
    """A use-case error to show as one line (bad arguments, unknown device)."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """The outcome of importing one file."""

    path: str
    format: str
    status: str  # ok | unchanged | error
    records: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    watermark: str = ""
    error: str = ""


def _now() -> int:
    return time.time_ns()


def expand_paths(paths: Iterable[str]) -> list[Path]:
    """Files named, and feed files under directories named (recursively, sorted)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(_SUFFIXES)))
        else:
            out.append(p)
    return out


def index_keys(adv: Advisory) -> set[tuple[str, str]]:
    """What the matchers look this advisory up by: CPE vendor:product, CSAF canonical vendor, purl."""
    keys: set[tuple[str, str]] = set()
    for conf in adv.configurations:
        for node in conf.nodes:
            for m in node.matches:
                try:
                    keys.add(("cpe", parse_cpe(m.criteria).key()))
                except CpeError:
                    continue
    for p in adv.products:
        canon = canonical_vendor(p.vendor)
        if canon:
            keys.add(("csaf_vendor", canon))
        if p.cpe:
            with contextlib.suppress(CpeError):
                keys.add(("cpe", parse_cpe(p.cpe).key()))
        if p.purl and (base := sbom_component.purl_base(p.purl)):
            keys.add(("purl", base))
    return keys


def _batched(items: Iterable[Any], n: int = BATCH) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for x in items:
        batch.append(x)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def _import_file(repo: VulnRepo, path: Path, fmt: FeedFormat, import_id: int) -> ImportResult:
    p = str(path)
    records = inserted = updated = skipped = 0
    watermark = ""
    if fmt is FeedFormat.NVD:
        for batch in _batched(read_nvd(path)):
            records += len(batch)
            i, u, s = repo.upsert_advisories([(a, index_keys(a)) for a in batch], import_id)
            inserted, updated, skipped = inserted + i, updated + u, skipped + s
            watermark = max([watermark, *(a.revision for a in batch)])
    elif fmt is FeedFormat.CSAF:
        adv = read_csaf(path)
        records = 1
        inserted, updated, skipped = repo.upsert_advisories([(adv, index_keys(adv))], import_id)
        watermark = adv.revision
        doc_id, publisher, statements = csaf_vex_statements(path)
        if statements:
            doc = Document(
                doc_id, "csaf", "2.0", publisher, "", publisher, adv.revision, (), tuple(statements)
            )
            records += _store_vex(repo, doc, import_id)
    elif fmt is FeedFormat.KEV:
        version = catalog_version(path)
        stored = repo.max_kev_catalog()
        if stored and version and version < stored:
            n = sum(1 for _ in read_kev(path))  # still validate the whole file
            return ImportResult(p, fmt.value, "ok", n, 0, 0, n, version)
        for batch in _batched(read_kev(path), 2000):
            records += len(batch)
            repo.upsert_kev(
                [
                    {
                        "cve": e.cve,
                        "vendor_project": e.vendor_project,
                        "product": e.product,
                        "name": e.name,
                        "date_added": e.date_added,
                        "due_date": e.due_date,
                        "required_action": e.required_action,
                        "ransomware": e.ransomware,
                        "catalog_version": e.catalog_version,
                        "import_id": import_id,
                    }
                    for e in batch
                ]
            )
        inserted, watermark = records, version
    elif fmt is FeedFormat.EPSS:
        for batch in _batched(read_epss(path), 5000):
            records += len(batch)
            repo.upsert_epss(
                [
                    {
                        "cve": e.cve,
                        "epss": e.epss,
                        "percentile": e.percentile,
                        "model_version": e.model_version,
                        "score_date": e.score_date,
                        "import_id": import_id,
                    }
                    for e in batch
                ]
            )
            watermark = batch[-1].score_date
        inserted = records
    elif fmt is FeedFormat.VULNRICHMENT:
        points = read_vulnrichment(path)
        if points is not None:
            records = inserted = repo.upsert_ssvc(
                [
                    {
                        "cve": points.cve,
                        "exploitation": points.exploitation,
                        "automatable": points.automatable,
                        "technical_impact": points.technical_impact,
                        "timestamp": points.timestamp,
                        "role": points.role,
                        "import_id": import_id,
                    }
                ]
            )
            watermark = points.timestamp
    else:
        records, inserted, watermark = _import_document(repo, path, fmt, import_id)
    return ImportResult(p, fmt.value, "ok", records, inserted, updated, skipped, watermark)


def _store_vex(repo: VulnRepo, doc: Document, import_id: int) -> int:
    """Store a document's VEX statements and apply each once as a model-scope decision attributed
    to the document (``source = vex:<document>``, author = the document's author or publisher)."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for st in doc.statements:
        if (st.vulnerability, st.product) in seen:
            continue
        seen.add((st.vulnerability, st.product))
        rows.append(
            {
                "document": doc.document,
                "format": doc.format,
                "author": doc.author,
                "vulnerability": st.vulnerability,
                "product": st.product,
                "vendor": st.vendor,
                "model": st.model,
                "state": st.state,
                "justification": st.justification,
                "responses": list(st.responses),
                "detail": st.detail,
                "timestamp": doc.timestamp,
                "import_id": import_id,
            }
        )
        source = f"vex:{doc.document}"
        target = model_key(st.vendor, st.model)
        if not repo.has_analysis(vulnerability=st.vulnerability, scope="model", target=target, source=source):
            repo.add_analysis(
                Analysis(
                    vulnerability=st.vulnerability,
                    scope=AnalysisScope.MODEL,
                    target=target,
                    state=AnalysisState(st.state),
                    author=doc.author or st.vendor or doc.document,
                    created_ns=_now(),
                    justification=Justification(st.justification)
                    if st.justification in _JUSTIFICATIONS
                    else None,
                    responses=tuple(Response(r) for r in st.responses if r in _RESPONSES),
                    detail=st.detail,
                    source=source,
                )
            )
    if doc.statements:
        repo.replace_vex(doc.document, rows)
    return len(rows)


def _import_document(repo: VulnRepo, path: Path, fmt: FeedFormat, import_id: int) -> tuple[int, int, str]:
    """An SBOM and/or VEX document: components stored per device model; VEX statements stored and
    applied at once as model-scope analyses attributed to the document (``source = vex:<id>``)."""
    from wardwatch.feeds.cyclonedx import read_cyclonedx
    from wardwatch.feeds.openvex import read_openvex
    from wardwatch.feeds.spdx import read_spdx

    reader = {
        FeedFormat.CYCLONEDX: read_cyclonedx,
        FeedFormat.SPDX: read_spdx,
        FeedFormat.OPENVEX: read_openvex,
    }
    doc = reader[fmt](path)
    if doc.components:
        repo.replace_sbom(
            {
                "document": doc.document,
                "format": doc.format,
                "spec_version": doc.spec_version,
                "vendor": doc.vendor,
                "model": doc.model,
                "revision": doc.timestamp,
                "import_id": import_id,
            },
            [
                {"name": c.name, "version": c.version, "purl": c.purl, "cpe": c.cpe, "supplier": c.supplier}
                for c in doc.components
            ],
        )
    n = _store_vex(repo, doc, import_id)
    return len(doc.components) + n, len(doc.components) + n, doc.timestamp


_JUSTIFICATIONS = {j.value for j in Justification}
_RESPONSES = {r.value for r in Response}


def import_feeds(
    store: SqlStore, *, paths: Iterable[str], progress: Callable[[ImportResult], None] | None = None
) -> list[ImportResult]:
    """Import every feed file under ``paths``, one transaction each; files already imported with
    the same bytes are skipped ("unchanged"). Errors are returned, not raised."""
    results: list[ImportResult] = []
    for path in expand_paths(paths):
        started = _now()
        try:
            if not path.is_file():
                raise FeedError(str(path), "", "no such file")
            fmt = sniff(path)
            digest = sha256_of(path)
        except FeedError as e:
            result = ImportResult(str(path), "", "error", error=str(e))
            results.append(result)
            if progress:
                progress(result)
            continue
        base = {
            "path": str(path),
            "sha256": digest,
            "format": fmt.value,
            "started_ns": started,
            "records": 0,
            "inserted": 0,
            "updated": 0,
            "skipped": 0,
            "watermark": "",
        }
        try:
            with store.transaction() as tx:
                repo = VulnRepo(tx.conn)
                if repo.imported_before(digest):
                    result = ImportResult(str(path), fmt.value, "unchanged")
                    repo.add_import({**base, "finished_ns": _now(), "status": "unchanged"})
                else:
                    import_id = repo.add_import({**base, "finished_ns": started, "status": "running"})
                    result = _import_file(repo, path, fmt, import_id)
                    repo.finish_import(
                        import_id,
                        finished_ns=_now(),
                        status="ok",
                        records=result.records,
                        inserted=result.inserted,
                        updated=result.updated,
                        skipped=result.skipped,
                        watermark=result.watermark,
                    )
        except FeedError as e:
            result = ImportResult(str(path), fmt.value, "error", error=str(e))
            with store.transaction() as tx:  # the failed attempt is recorded; its records are not
                VulnRepo(tx.conn).add_import(
                    {**base, "finished_ns": _now(), "status": "error", "error": str(e)}
                )
        results.append(result)
        if progress:
            progress(result)
    return results


def feed_status(store: SqlStore) -> dict[str, Any]:
    """Counts per table and the latest import records."""
    with store.transaction() as tx:
        repo = VulnRepo(tx.conn)
        return {"counts": repo.counts(), "imports": repo.imports()}


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """The attributes matching reads, and how sure identification was of vendor and model."""

    vendor: str | None
    model: str | None
    model_number: str | None
    firmware: str | None
    os: str | None
    os_version: str | None


def identity_of(device: Device) -> DeviceIdentity:
    """The matching identity of a device (its resolved attributes)."""
    return DeviceIdentity(
        vendor=device.value(Attribute.VENDOR),
        model=device.value(Attribute.MODEL),
        model_number=device.value(Attribute.MODEL_NUMBER),
        firmware=device.value(Attribute.FIRMWARE),
        os=device.value(Attribute.OS),
        os_version=device.value(Attribute.OS_VERSION),
    )


def _attr_confidence(device: Device, *names: Attribute) -> float:
    values = [device.attributes[n.value].confidence for n in names if n.value in device.attributes]
    return min(values) if values else 1.0


def match_identity(
    ident: DeviceIdentity,
    nvd: Callable[[list[str]], list[Advisory]],
    csaf: Callable[[str], list[Advisory]],
) -> list[tuple[str, str, str, Any]]:
    """(vulnerability, advisory id, matcher, verdict) for one identity, from advisory lookups."""
    out: list[tuple[str, str, str, Any]] = []
    cands: list[Candidate] = candidates(
        vendor=ident.vendor,
        model=ident.model,
        model_number=ident.model_number,
        firmware=ident.firmware,
        os=ident.os,
        os_version=ident.os_version,
    )
    if cands:
        for adv in nvd(sorted({c.key() for c in cands})):
            verdict = nvd_cpe.match_advisory(adv, cands)
            if verdict is not None:
                out.append((adv.id, adv.id, nvd_cpe.MATCHER, verdict))
    canon = canonical_vendor(ident.vendor)
    if canon and (ident.model or ident.model_number):
        cid = csaf_product.Identity(
            ident.vendor, ident.model, ident.model_number, ident.firmware, ident.os_version
        )
        for adv in csaf(canon):
            for cv in csaf_product.match_advisory(adv, cid):
                out.append((cv.vulnerability, adv.id, csaf_product.MATCHER, cv))
    return out


@dataclass
class MatchSummary:
    """What a matching run changed."""

    devices: int = 0
    identities: int = 0
    advisories: int = 0
    opened: int = 0
    changed: int = 0
    inactive: int = 0
    reactivated: int = 0
    active: int = 0
    by_matcher: dict[str, int] = field(default_factory=dict)


class AdvisoryCache:
    """Advisories looked up by index key, loaded once per matching run."""

    def __init__(self, repo: VulnRepo) -> None:
        self.repo = repo
        self.by_id: dict[str, Advisory] = {}
        self.keys: dict[tuple[str, str], list[str]] = {}

    def prefetch(self, kind: str, keys: Iterable[str]) -> None:
        """Load every advisory indexed under these keys (one query per chunk, not per device)."""
        want = [k for k in set(keys) if (kind, k) not in self.keys]
        found = self.repo.advisory_ids_by_keys(kind, want)
        for k in want:
            self.keys[(kind, k)] = sorted(found.get(k, ()))
        missing = {i for ids in found.values() for i in ids if i not in self.by_id}
        self.by_id.update(self.repo.advisories(missing))

    def lookup(self, kind: str, keys: Iterable[str]) -> list[Advisory]:
        """Advisories under any of the keys (prefetching what is missing)."""
        ks = list(keys)
        if any((kind, k) not in self.keys for k in ks):
            self.prefetch(kind, ks)
        ids = sorted({i for k in ks for i in self.keys[(kind, k)]})
        return [self.by_id[i] for i in ids if i in self.by_id]


def compute_findings(
    repo: VulnRepo, devices: list[Device]
) -> tuple[dict[tuple[int, str, str], Finding], int, int]:
    """Every finding the matchers make for these devices: (findings by key, identities, advisories)."""
    groups: dict[DeviceIdentity, list[Device]] = {}
    for d in devices:
        if d.id is not None:
            groups.setdefault(identity_of(d), []).append(d)
    cache = AdvisoryCache(repo)
    all_cands = {
        c.key()
        for ident in groups
        for c in candidates(
            vendor=ident.vendor,
            model=ident.model,
            model_number=ident.model_number,
            firmware=ident.firmware,
            os=ident.os,
            os_version=ident.os_version,
        )
    }
    cache.prefetch("cpe", all_cands)
    cache.prefetch("csaf_vendor", {c for i in groups if (c := canonical_vendor(i.vendor))})
    sboms: dict[str, list[dict[str, Any]]] = {}
    for comp in repo.sbom_components():
        sboms.setdefault(model_key(comp["vendor"], comp["model"]), []).append(comp)
    out: dict[tuple[int, str, str], Finding] = {}
    for ident, devs in groups.items():
        verdicts = match_identity(
            ident, lambda keys: cache.lookup("cpe", keys), lambda canon: cache.lookup("csaf_vendor", [canon])
        )
        if ident.model and (comps := sboms.get(model_key(ident.vendor, ident.model))):
            verdicts.extend(_sbom_verdicts(cache, comps))
        for vuln, adv_id, matcher, verdict in verdicts:
            for d in devs:
                assert d.id is not None
                attrs = _used_attributes(matcher, verdict.evidence)
                factor = _attr_confidence(d, *attrs)
                evidence = {
                    **verdict.evidence,
                    "device": _ident_dict(ident),
                    "rule_confidence": verdict.confidence,
                    "identification_confidence": round(factor, 3),
                }
                key = (d.id, vuln, matcher)
                f = Finding(
                    device_id=d.id,
                    vulnerability=vuln,
                    advisory_id=adv_id,
                    matcher=matcher,
                    status=verdict.status,
                    confidence=round(verdict.confidence * factor, 3),
                    evidence=evidence,
                    reason=verdict.reason,
                )
                old = out.get(key)
                if old is None or f.confidence > old.confidence:
                    out[key] = f
    return out, len(groups), len(cache.by_id)


def _sbom_verdicts(cache: AdvisoryCache, comps: list[dict[str, Any]]) -> list[tuple[str, str, str, Any]]:
    out: list[tuple[str, str, str, Any]] = []
    for comp in comps:
        cand = sbom_component.component_candidate(comp)
        if cand is not None:
            for adv in cache.lookup("cpe", [cand.key()]):
                v = sbom_component.match_cpe(adv, comp)
                if v is not None:
                    out.append((v.vulnerability, v.advisory_id, sbom_component.MATCHER, v))
        base = sbom_component.purl_base(comp.get("purl") or "")
        if base:
            for adv in cache.lookup("purl", [base]):
                for v in sbom_component.match_purl(adv, comp):
                    out.append((v.vulnerability, v.advisory_id, sbom_component.MATCHER, v))
    return out


def _used_attributes(matcher: str, evidence: dict[str, Any]) -> tuple[Attribute, ...]:
    # The finding is only as sure as the identification of the attributes it rests on.
    if matcher in (csaf_product.MATCHER, sbom_component.MATCHER):
        return (Attribute.VENDOR, Attribute.MODEL)
    matched = evidence.get("matched")
    rules = (
        {m.get("candidate_rule") for m in matched if isinstance(m, dict)}
        if isinstance(matched, list)
        else set()
    )
    return (Attribute.OS,) if rules == {"os"} else (Attribute.VENDOR, Attribute.MODEL)


def _ident_dict(ident: DeviceIdentity) -> dict[str, str]:
    return {
        k: val
        for k, val in (
            ("vendor", ident.vendor),
            ("model", ident.model),
            ("model_number", ident.model_number),
            ("firmware", ident.firmware),
            ("os", ident.os),
            ("os_version", ident.os_version),
        )
        if val is not None
    }


def _json_eq(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def apply_findings(
    repo: VulnRepo,
    new: dict[tuple[int, str, str], Finding],
    *,
    device_ids: list[int] | None,
    now_ns: int,
    summary: MatchSummary,
) -> None:
    """Store a matching run: open new findings, update changed ones, deactivate (never delete) the
    ones no longer matched, reactivate the ones matched again; every transition is a history event."""
    existing = {
        (r["device_id"], r["vulnerability"], r["matcher"]): r for r in repo.findings_of(MATCHERS, device_ids)
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for key, f in new.items():
        values = {
            "advisory_id": f.advisory_id,
            "status": f.status.value,
            "confidence": f.confidence,
            "evidence": f.evidence,
            "reason": f.reason,
        }
        row = existing.get(key)
        if row is None:
            inserts.append(
                {
                    "device_id": f.device_id,
                    "vulnerability": f.vulnerability,
                    "matcher": f.matcher,
                    **values,
                    "active": True,
                    "inactive_reason": "",
                    "first_ns": now_ns,
                    "updated_ns": now_ns,
                }
            )
            continue
        was_active = bool(row["active"])
        same = all(_json_eq(row[k], v) for k, v in values.items())
        if was_active and same:
            continue
        updates.append(
            {"b_id": row["id"], **values, "active": True, "inactive_reason": "", "updated_ns": now_ns}
        )
        if not was_active:
            summary.reactivated += 1
            events.append(
                {"finding_id": row["id"], "at_ns": now_ns, "event": "reactivated", "detail": f.status.value}
            )
        else:
            summary.changed += 1
            detail = (
                f"{row['status']} -> {f.status.value}"
                if row["status"] != f.status.value
                else "evidence changed"
            )
            events.append({"finding_id": row["id"], "at_ns": now_ns, "event": "changed", "detail": detail})
    for key, row in existing.items():
        if key in new or not row["active"]:
            continue
        reason = f"no longer matched by {row['matcher']} (advisory, feed or device identity changed)"
        updates.append(
            {
                "b_id": row["id"],
                "advisory_id": row["advisory_id"],
                "status": row["status"],
                "confidence": row["confidence"],
                "evidence": row["evidence"],
                "reason": row["reason"],
                "active": False,
                "inactive_reason": reason,
                "updated_ns": now_ns,
            }
        )
        events.append({"finding_id": row["id"], "at_ns": now_ns, "event": "inactive", "detail": reason})
        summary.inactive += 1
    repo.update_findings(updates)
    ids = repo.insert_findings(inserts)
    summary.opened += len(inserts)
    events.extend(
        {
            "finding_id": ids[(r["device_id"], r["vulnerability"], r["matcher"])],
            "at_ns": now_ns,
            "event": "opened",
            "detail": r["status"],
        }
        for r in inserts
    )
    repo.add_events(events)
    summary.active = len(new)
    for f in new.values():
        summary.by_matcher[f.matcher] = summary.by_matcher.get(f.matcher, 0) + 1


_MATCH_ATTRIBUTES = (
    Attribute.VENDOR,
    Attribute.MODEL,
    Attribute.MODEL_NUMBER,
    Attribute.FIRMWARE,
    Attribute.OS,
    Attribute.OS_VERSION,
)


def _all_devices(repo: VulnRepo) -> list[Device]:
    """Every device with only the attributes matching reads (see :meth:`VulnRepo.device_facts`)."""
    facts = repo.device_facts([a.value for a in _MATCH_ATTRIBUTES])
    return [
        Device(
            id=device_id,
            key="",
            mac=None,
            first_ns=0,
            last_ns=0,
            attributes={
                name: ResolvedAttribute(Attribute(name), value, confidence, "", ())
                for name, (value, confidence) in values.items()
            },
        )
        for device_id, values in facts.items()
    ]


def match_all(store: SqlStore, *, now_ns: int | None = None) -> MatchSummary:
    """Match every device against every stored advisory, in one transaction."""
    with store.transaction() as tx:
        repo = VulnRepo(tx.conn)
        devices = _all_devices(repo)
        new, identities, advisories = compute_findings(repo, devices)
        summary = MatchSummary(devices=len(devices), identities=identities, advisories=advisories)
        apply_findings(repo, new, device_ids=None, now_ns=now_ns or _now(), summary=summary)
        return summary


def match_device(store: SqlStore, *, device: str, now_ns: int | None = None) -> MatchSummary:
    """Match one device (id, key, MAC or IP)."""
    with store.transaction() as tx:
        d = tx.get_device(device)
        if d is None or d.id is None:
            raise VulnError(f"no device {device!r}")
        repo = VulnRepo(tx.conn)
        new, identities, advisories = compute_findings(repo, [d])
        summary = MatchSummary(devices=1, identities=identities, advisories=advisories)
        apply_findings(repo, new, device_ids=[d.id], now_ns=now_ns or _now(), summary=summary)
        return summary


# --------------------------------------------------------------------------- findings and triage


def list_findings(
    store: SqlStore,
    *,
    device: str | None = None,
    kev_only: bool = False,
    min_cvss: float | None = None,
    include_inactive: bool = False,
    vulnerability: str | None = None,
) -> list[dict[str, Any]]:
    """Findings with their facts (CVSS, KEV, EPSS, SSVC), device identity and current analysis
    (``vulnerability``: only those of one CVE or advisory id)."""
    with store.transaction() as tx:
        device_id: int | None = None
        if device is not None:
            d = tx.get_device(device)
            if d is None or d.id is None:
                raise VulnError(f"no device {device!r}")
            device_id = d.id
        repo = VulnRepo(tx.conn)
        rows = repo.finding_rows(
            device_id=device_id,
            include_inactive=include_inactive,
            kev_only=kev_only,
            min_cvss=min_cvss,
            vulnerability=vulnerability,
        )
        history: dict[str, list[dict[str, Any]]] = {}
        for a in repo.analyses():
            history.setdefault(a["vulnerability"], []).append(a)
        devices: dict[int, Device] = {}
        for r in rows:
            did = int(r["device_id"])
            if did not in devices:
                got = tx.get_device(str(did))
                if got is not None:
                    devices[did] = got
            dev = devices.get(did)
            vendor = dev.value(Attribute.VENDOR) if dev else None
            model = dev.value(Attribute.MODEL) if dev else None
            r["device_key"] = dev.key if dev else ""
            r["vendor"] = vendor
            r["model"] = model
            r["kev"] = r["kev_date_added"] is not None
            cur = current_analysis(history.get(r["vulnerability"], []), did, model_key(vendor, model))
            r["analysis"] = _analysis_json(cur) if cur else None
        return rows


def _analysis_json(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": a["state"],
        "justification": a["justification"],
        "responses": a["responses"],
        "detail": a["detail"],
        "author": a["author"],
        "source": a["source"],
        "scope": a["scope"],
        "target": a["target"],
        "created_ns": a["created_ns"],
    }


def set_analysis(
    store: SqlStore,
    *,
    vulnerability: str,
    state: str,
    author: str,
    device: str | None = None,
    model: tuple[str, str] | None = None,
    justification: str | None = None,
    responses: Iterable[str] = (),
    detail: str = "",
    now_ns: int | None = None,
) -> int:
    """Record a triage decision for one device, or for every device of one (vendor, model)."""

    def choice(enum: Any, value: str, what: str) -> Any:
        try:
            return enum(value)
        except ValueError:
            raise VulnError(
                f"{what} must be one of {', '.join(e.value for e in enum)}, not {value!r}"
            ) from None

    st = choice(AnalysisState, state, "state")
    just = choice(Justification, justification, "justification") if justification else None
    resp = tuple(choice(Response, r, "response") for r in responses)
    if (device is None) == (model is None):
        raise VulnError("give exactly one of a device or a model")
    if not author.strip():
        raise VulnError("an author is required")
    with store.transaction() as tx:
        if device is not None:
            d = tx.get_device(device)
            if d is None or d.id is None:
                raise VulnError(f"no device {device!r}")
            scope, target = AnalysisScope.DEVICE, str(d.id)
        else:
            assert model is not None
            scope, target = AnalysisScope.MODEL, model_key(model[0], model[1])
        return VulnRepo(tx.conn).add_analysis(
            Analysis(
                vulnerability=vulnerability,
                scope=scope,
                target=target,
                state=st,
                author=author,
                created_ns=now_ns or _now(),
                justification=just,
                responses=resp,
                detail=detail,
            )
        )


def analysis_history(store: SqlStore, *, vulnerability: str) -> list[dict[str, Any]]:
    """Every decision recorded for a vulnerability, oldest first."""
    with store.transaction() as tx:
        return VulnRepo(tx.conn).analyses(vulnerability)


# --------------------------------------------------------------------------- export

EXPORT_COLUMNS = (
    "device_id",
    "device_key",
    "vendor",
    "model",
    "vulnerability",
    "advisory_id",
    "matcher",
    "status",
    "confidence",
    "reason",
    "cvss",
    "cvss_version",
    "kev",
    "epss",
    "epss_percentile",
    "ssvc_exploitation",
    "ssvc_automatable",
    "ssvc_technical_impact",
    "active",
    "inactive_reason",
    "analysis_state",
    "analysis_justification",
    "analysis_author",
)


def finding_json(r: dict[str, Any]) -> dict[str, Any]:
    """The public JSON shape of one finding (documented in docs/vulnerabilities.md)."""
    return {
        "id": r["id"],
        "device_id": r["device_id"],
        "device_key": r["device_key"],
        "vendor": r["vendor"],
        "model": r["model"],
        "vulnerability": r["vulnerability"],
        "advisory_id": r["advisory_id"],
        "matcher": r["matcher"],
        "status": r["status"],
        "confidence": r["confidence"],
        "reason": r["reason"],
        "evidence": r["evidence"],
        "cvss": r["cvss"],
        "cvss_version": r["cvss_version"],
        "kev": r["kev"],
        "kev_due_date": r["kev_due_date"],
        "epss": r["epss"],
        "epss_percentile": r["epss_percentile"],
        "ssvc": {
            "exploitation": r["ssvc_exploitation"],
            "automatable": r["ssvc_automatable"],
            "technical_impact": r["ssvc_technical_impact"],
        }
        if r["ssvc_exploitation"] is not None
        else None,
        "active": bool(r["active"]),
        "inactive_reason": r["inactive_reason"],
        "first_ns": r["first_ns"],
        "updated_ns": r["updated_ns"],
        "analysis": r["analysis"],
    }


def to_csv(rows: list[dict[str, Any]]) -> str:
    """Findings as CSV with :data:`EXPORT_COLUMNS`."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EXPORT_COLUMNS)
    for r in rows:
        a = r.get("analysis") or {}
        flat = {
            **r,
            "analysis_state": a.get("state"),
            "analysis_justification": a.get("justification"),
            "analysis_author": a.get("author"),
        }
        w.writerow(["" if flat.get(c) is None else flat.get(c) for c in EXPORT_COLUMNS])
    return buf.getvalue()


def to_cyclonedx_vex(rows: list[dict[str, Any]], *, now_ns: int | None = None) -> dict[str, Any]:
    """Findings as a CycloneDX 1.6 VEX document: one vulnerability per CVE, affecting the devices
    (as ``device-<id>`` bom-refs), with the current analysis when there is one."""
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((now_ns or _now()) / 1e9))
    components: dict[int, dict[str, Any]] = {}
    vulns: dict[str, dict[str, Any]] = {}
    for r in rows:
        ref = f"device-{r['device_id']}"
        components.setdefault(
            int(r["device_id"]),
            {
                "type": "device",
                "bom-ref": ref,
                "name": r["model"] or r["device_key"],
                **({"manufacturer": {"name": r["vendor"]}} if r["vendor"] else {}),
            },
        )
        v = vulns.setdefault(
            r["vulnerability"],
            {
                "id": r["vulnerability"],
                "source": {"name": "NVD" if r["vulnerability"].startswith("CVE-") else r["advisory_id"]},
                "affects": [],
            },
        )
        if r["cvss"] is not None:
            v["ratings"] = [
                {"score": r["cvss"], "method": f"CVSSv{str(r['cvss_version'] or '').replace('.', '')}"}
            ]
        if not any(a["ref"] == ref for a in v["affects"]):
            v["affects"].append({"ref": ref})
        a = r.get("analysis")
        if a:
            analysis: dict[str, Any] = {"state": a["state"]}
            if a["justification"]:
                analysis["justification"] = a["justification"]
            if a["responses"]:
                analysis["response"] = a["responses"]
            if a["detail"]:
                analysis["detail"] = a["detail"]
            v["analysis"] = analysis
        elif r["status"] == "possibly_affected":
            v.setdefault("analysis", {"state": "in_triage", "detail": r["reason"]})
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "timestamp": ts,
            "tools": {"components": [{"type": "application", "name": "wardwatch"}]},
        },
        "components": [components[k] for k in sorted(components)],
        "vulnerabilities": [vulns[k] for k in sorted(vulns)],
    }


__all__ = [
    "ImportResult",
    "MatchSummary",
    "VulnError",
    "analysis_history",
    "feed_status",
    "import_feeds",
    "list_findings",
    "match_all",
    "match_device",
    "set_analysis",
    "to_csv",
    "to_cyclonedx_vex",
]
