"""Secure before procure: predict a candidate device's findings and risk from what is known before purchase.

A candidate is described in a small JSON file (see docs/risk.md): vendor, model, clinical category,
an SBOM, an MDS2 form and the planned network placement (subnet, planned peers, the services it
will serve, whether internet hosts will reach it). Predicted findings come from:

* devices of the same vendor and model already in the inventory (their active findings), and
* the SBOM's components, looked up by CPE in the imported advisories and checked with the issue-5
  NVD configuration matcher (so version ranges count).

The prediction is then scored with the same :func:`wardwatch.risk.score.score` as real devices,
and the recommended secure configuration lists the placement rules, the MDS2 gaps and the best
mitigation options. Nothing is stored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from wardwatch.feeds.base import FeedError
from wardwatch.feeds.cyclonedx import read_cyclonedx
from wardwatch.match.cpe import CpeError, parse_cpe
from wardwatch.match.names import Candidate
from wardwatch.match.nvd_cpe import match_advisory
from wardwatch.model.advisory import Advisory
from wardwatch.model.device import Attribute
from wardwatch.procure.mds2 import Mds2Error, Mds2Form, read_mds2
from wardwatch.risk import mitigate
from wardwatch.risk.adapter import load_facts, services_in_text
from wardwatch.risk.exposure import is_public, protocol_of, subnet_of
from wardwatch.risk.score import DeviceContext, FindingFacts, ObservedService, PublishedCvss, RiskScore, score
from wardwatch.store import schema_vuln as v
from wardwatch.store.repo_vuln import advisory_from_row


class ProcureError(ValueError):
    """A candidate file that cannot be used (names the file and the field)."""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the device will sit: its subnet, who will talk to it, what it will serve."""

    subnet: str
    peers: tuple[str, ...]
    services: tuple[tuple[str, int], ...]
    internet: bool
    segmented: bool


@dataclass(frozen=True, slots=True)
class CandidateSpec:
    """One candidate device as described before purchase."""

    name: str
    vendor: str
    model: str
    clinical_category: str | None
    device_type: str | None
    sbom: str | None
    mds2: str | None
    placement: Placement


@dataclass(frozen=True, slots=True)
class Prediction:
    """A candidate's predicted findings, risk and recommended secure configuration."""

    spec: CandidateSpec
    form: Mds2Form | None
    components: int
    facts: tuple[FindingFacts, ...]
    sources: dict[str, str]  # vulnerability -> "sbom: wolfssl 4.8.1" / "known model: device 12"
    context: DeviceContext
    score: RiskScore
    recommendations: tuple[str, ...]
    options: tuple[mitigate.Option, ...]


def _service(path: str, text: str) -> tuple[str, int]:
    parts = text.lower().replace(":", "/").split("/")
    if len(parts) == 2:
        a, b = parts
        transport, port = (a, b) if a in ("tcp", "udp") else (b, a)
        if transport in ("tcp", "udp") and port.isdigit() and 0 < int(port) < 65536:
            return transport, int(port)
    raise ProcureError(f"{path}: placement.services: {text!r} is not like tcp/443")


def read_candidates(path: str | Path) -> list[CandidateSpec]:
    """The candidates file: ``{"candidates": [{name, vendor, model, sbom, mds2, placement}, ...]}``."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ProcureError(f"{p}: cannot read candidates: {e}") from None
    items = data.get("candidates") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ProcureError(f'{p}: expected {{"candidates": [...]}} with at least one candidate')
    out: list[CandidateSpec] = []
    for i, c in enumerate(items):
        where = f"{p}: candidates[{i}]"
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            raise ProcureError(f"{where}: needs a name")
        place = c.get("placement") or {}
        if not isinstance(place, dict):
            raise ProcureError(f"{where}: placement must be an object")
        peers = place.get("peers") or []
        services = place.get("services") or []
        if not isinstance(peers, list) or not isinstance(services, list):
            raise ProcureError(f"{where}: placement.peers and placement.services must be lists")

        def rel(key: str, c: dict[str, Any] = c, where: str = where) -> str | None:
            value = c.get(key)
            if value is None:
                return None
            if not isinstance(value, str):
                raise ProcureError(f"{where}: {key} must be a path")
            return str((p.parent / value).resolve())

        out.append(
            CandidateSpec(
                name=c["name"],
                vendor=str(c.get("vendor") or ""),
                model=str(c.get("model") or ""),
                clinical_category=c.get("clinical_category"),
                device_type=c.get("device_type"),
                sbom=rel("sbom"),
                mds2=rel("mds2"),
                placement=Placement(
                    subnet=str(place.get("subnet") or ""),
                    peers=tuple(str(x) for x in peers),
                    services=tuple(_service(where, str(s)) for s in services),
                    internet=bool(place.get("internet", False)),
                    segmented=bool(place.get("segmented", False)),
                ),
            )
        )
    return out


def _threat_facts(conn: Connection, cves: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {c: {} for c in cves}
    for i in range(0, len(cves), 500):
        part = list(cves[i : i + 500])
        for r in conn.execute(select(v.kev.c.cve, v.kev.c.ransomware).where(v.kev.c.cve.in_(part))):
            out[r.cve]["kev"] = True
            out[r.cve]["kev_ransomware"] = (r.ransomware or "").lower() == "known"
        for r in conn.execute(select(v.epss).where(v.epss.c.cve.in_(part))):
            out[r.cve].update(epss=r.epss, epss_percentile=r.percentile)
        for r in conn.execute(select(v.ssvc).where(v.ssvc.c.cve.in_(part))):
            out[r.cve].update(
                ssvc_exploitation=r.exploitation,
                ssvc_automatable=r.automatable,
                ssvc_technical_impact=r.technical_impact,
            )
    return out


def sbom_findings(conn: Connection, sbom_path: str) -> tuple[int, list[FindingFacts], dict[str, str]]:
    """Findings the SBOM's components would have: (components, facts, vulnerability -> source)."""
    try:
        doc = read_cyclonedx(sbom_path)
    except FeedError as e:
        raise ProcureError(str(e)) from None
    by_key: dict[str, list[Candidate]] = {}
    for comp in doc.components:
        if not comp.cpe:
            continue
        try:
            cpe = parse_cpe(comp.cpe)
        except CpeError:
            continue
        version = comp.version or (cpe.version if cpe.version not in ("*", "-") else None)
        by_key.setdefault(cpe.key(), []).append(
            Candidate(cpe.part, cpe.vendor, cpe.product, version, "firmware", "model", f"SBOM {comp.name}")
        )
    keys = sorted(by_key)
    ids: dict[str, set[str]] = {}
    for i in range(0, len(keys), 500):
        q = select(v.advisory_key.c.key, v.advisory_key.c.advisory_id).where(
            v.advisory_key.c.kind == "cpe", v.advisory_key.c.key.in_(keys[i : i + 500])
        )
        for r in conn.execute(q):
            ids.setdefault(r.advisory_id, set()).add(r.key)
    facts: list[FindingFacts] = []
    sources: dict[str, str] = {}
    advisories: list[Advisory] = []
    wanted = sorted(ids)
    for i in range(0, len(wanted), 500):
        advisories.extend(
            advisory_from_row(r)
            for r in conn.execute(select(v.advisory).where(v.advisory.c.id.in_(wanted[i : i + 500])))
        )
    threat = _threat_facts(conn, [a.id for a in advisories])
    for adv in sorted(advisories, key=lambda a: a.id):
        cands = [c for key in sorted(ids[adv.id]) for c in by_key[key]]
        verdict = match_advisory(adv, cands)
        if verdict is None:
            continue
        services, words = services_in_text(f"{adv.title}\n{adv.description}")
        matched = verdict.evidence.get("matched")
        fixed = None
        if isinstance(matched, list) and matched and isinstance(matched[0], dict):
            end = matched[0].get("versionEndExcluding")
            fixed = str(end) if end else None
        facts.append(
            FindingFacts(
                vulnerability=adv.id,
                cvss=tuple(PublishedCvss(s.version, s.vector, s.base_score) for s in adv.scores),
                fixed_version=fixed,
                services=services,
                service_evidence=f"advisory text says {words}" if words else "",
                advisory_id=adv.id,
                **threat.get(adv.id, {}),
            )
        )
        sources[adv.id] = "sbom: " + ", ".join(sorted({c.detail.removeprefix("SBOM ") for c in cands}))
    return len(doc.components), facts, sources


def known_model_findings(tx: Any, vendor: str, model: str) -> tuple[list[FindingFacts], dict[str, str]]:
    """Active findings of inventory devices with the same vendor and model."""
    if not vendor or not model:
        return [], {}
    same = [
        d
        for d in tx.list_devices(search=model)
        if (d.value(Attribute.VENDOR) or "").lower() == vendor.lower()
        and (d.value(Attribute.MODEL) or "").lower() == model.lower()
    ]
    facts: dict[str, FindingFacts] = {}
    sources: dict[str, str] = {}
    for device_id, items in load_facts(tx.conn, same).items():
        for f in items:
            facts.setdefault(f.vulnerability, f)
            sources.setdefault(f.vulnerability, f"known model: device {device_id}")
    return list(facts.values()), sources


def _context(spec: CandidateSpec, form: Mds2Form | None) -> DeviceContext:
    pl = spec.placement
    services = tuple(
        ObservedService(t, port, protocol_of(t, port), clients=len(pl.peers)) for t, port in pl.services
    )
    subnets = {subnet_of(x) for x in pl.peers if not is_public(x)}
    if pl.subnet:
        subnets.add(pl.subnet)
    return DeviceContext(
        device_id=None,
        label=spec.name,
        device_type=spec.device_type,
        clinical_category=spec.clinical_category,
        handles_phi=bool(form and form.handles_phi),
        phi_evidence=("MDS2 MPII-1: Yes",) if form and form.handles_phi else (),
        services=services,
        peers=len(pl.peers),
        internet_peers=tuple(x for x in pl.peers if is_public(x)) or (("internet",) if pl.internet else ()),
        subnets=tuple(sorted(subnets)),
        dependents=len(pl.peers),
        segmented=pl.segmented,
    )


def predict(tx: Any, spec: CandidateSpec) -> Prediction:
    """Predict one candidate (reads advisories and the inventory; writes nothing)."""
    form: Mds2Form | None = None
    if spec.mds2:
        try:
            form = read_mds2(spec.mds2)
        except Mds2Error as e:
            raise ProcureError(str(e)) from None
    components = 0
    facts: list[FindingFacts] = []
    sources: dict[str, str] = {}
    if spec.sbom:
        components, facts, sources = sbom_findings(tx.conn, spec.sbom)
    known, known_sources = known_model_findings(tx, spec.vendor, spec.model)
    seen = {f.vulnerability for f in facts}
    facts += [f for f in known if f.vulnerability not in seen]
    for k, s in known_sources.items():
        sources.setdefault(k, s)
    ctx = _context(spec, form)
    result = score(facts, ctx)
    allow = (
        *tuple(
            f"allow {peer} -> this:{t}/{port}"
            for peer in spec.placement.peers
            for t, port in spec.placement.services
        ),
        "deny everything else",
    )
    options = tuple(mitigate.options(facts, ctx, allow)[:5])
    recs: list[str] = []
    if spec.placement.internet:
        recs.append("do not expose it to the internet: reach it through the hospital's VPN or gateway")
    recs.append(
        f"place it on {spec.placement.subnet or 'a dedicated clinical VLAN'}; firewall: " + "; ".join(allow)
    )
    cleartext = {("tcp", 21): "FTP", ("tcp", 23): "Telnet", ("tcp", 80): "HTTP", ("tcp", 5900): "VNC"}
    recs += [
        f"disable {cleartext[s]} ({s[0]}/{s[1]}): cleartext management service"
        for s in spec.placement.services
        if s in cleartext
    ]
    if form is not None:
        recs += [f"MDS2 {q.id} {q.risky}: {q.recommendation}" for q in form.gaps()]
    else:
        recs.append("no MDS2 form: ask the manufacturer for one (ANSI/NEMA HN 1-2019)")
    if not spec.sbom:
        recs.append("no SBOM: ask the manufacturer for one; predicted findings are incomplete")
    recs += [f"option {o.rank}: {o.title} (residual risk {o.after.risk})" for o in options[:3]]
    return Prediction(spec, form, components, tuple(facts), sources, ctx, result, tuple(recs), options)


def comparison(predictions: Sequence[Prediction]) -> list[dict[str, Any]]:
    """Side-by-side rows: one dict per candidate with the numbers that differ between them."""
    rows = []
    for p in predictions:
        decisions = p.score.decisions()
        rows.append(
            {
                "candidate": p.spec.name,
                "vendor": p.spec.vendor,
                "model": p.spec.model,
                "risk": p.score.risk,
                "likelihood": p.score.likelihood,
                "impact": p.score.impact,
                "findings": len(p.facts),
                "act": decisions["Act"],
                "attend": decisions["Attend"],
                "kev": sum(1 for f in p.facts if f.kev),
                "sbom_components": p.components,
                "mds2_flags": [q.id for q in p.form.gaps()] if p.form else None,
                "best_option": p.options[0].title if p.options else None,
                "residual_after_best": p.options[0].after.risk if p.options else p.score.risk,
            }
        )
    return rows
