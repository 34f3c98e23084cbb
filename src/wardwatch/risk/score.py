"""The one scoring function: a device's findings in its context -> risk 0-10, likelihood, impact, SSVC.

``score(facts, context)`` is pure (no I/O, no clock, no randomness) and versioned
(:data:`SCORING_VERSION`): the same inputs always give the same :class:`RiskScore`, and every stored
score keeps the version that produced it. Everything it reads is in two small input types built
by :mod:`wardwatch.risk.adapter` (or by hand in tests, by the what-if simulator, by procurement):

* :class:`FindingFacts`: what is known about one vulnerability on the device (CVSS vectors, KEV,
  EPSS, CISA vulnrichment SSVC points, fix, remediations, which service it is in);
* :class:`DeviceContext`: what the device is and what the network shows (category, PHI, services,
  peers, subnets, attack path) plus hypothetical controls (blocked services, allow-list, segment).

Per finding (weights in :data:`LIKELIHOOD_WEIGHTS` and :data:`IMPACT_WEIGHTS`, each factor 0..1):

* likelihood = 10 x (0.30 exploitability + 0.35 threat + 0.35 exposure)
* impact = 10 x (0.45 technical impact + 0.30 clinical category + 0.15 PHI + 0.10 dependents)
* risk = sqrt(likelihood x impact) (geometric mean: no likelihood or no impact means no risk)

The device's risk is its highest finding risk (the likelihood and impact are that finding's), so a
device score always points at the one finding that drives it. See docs/risk.md and ADR 009.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from wardwatch.risk import cvss as cv
from wardwatch.risk.ssvc import (
    Automatable,
    Decision,
    Exploitation,
    MissionWellbeing,
    SsvcInputs,
    TechnicalImpact,
    decide,
    parse_automatable,
    parse_exploitation,
    parse_technical_impact,
)

SCORING_VERSION = "risk-1.0"

LIKELIHOOD_WEIGHTS = {"exploitability": 0.30, "threat": 0.35, "exposure": 0.35}
IMPACT_WEIGHTS = {"technical": 0.45, "clinical": 0.30, "phi": 0.15, "dependents": 0.10}

#: Clinical category -> harm weight (the order from issue 6: life-sustaining > ... > non-clinical).
CLINICAL_WEIGHT = {
    "life-sustaining": 1.0,
    "therapeutic": 0.8,
    "diagnostic": 0.6,
    "clinical support": 0.4,
    "non-clinical": 0.2,
}
UNKNOWN_CLINICAL_WEIGHT = 0.5

# Largest modified exploitability / impact a v3.1 vector can reach, used to scale them to 0..1.
_MAX_V3_EXPLOITABILITY = 8.22 * 0.85 * 0.77 * 0.85 * 0.85  # 3.887
_MAX_V3_IMPACT = 6.42 * 0.915  # 5.874 (scope unchanged; a changed scope can exceed it, capped at 1)


class Part(StrEnum):
    """Which half of the score a factor belongs to."""

    LIKELIHOOD = "likelihood"
    IMPACT = "impact"


@dataclass(frozen=True, slots=True)
class PublishedCvss:
    """A CVSS score as published: version, vector, base score."""

    version: str
    vector: str
    base_score: float


@dataclass(frozen=True, slots=True)
class ServiceRef:
    """A network service: transport (``tcp``/``udp``), port and protocol name (``smb``, ``dicom``)."""

    transport: str
    port: int
    protocol: str = ""

    @property
    def key(self) -> tuple[str, int]:
        """(transport, port): what a firewall rule names."""
        return (self.transport, self.port)

    def __str__(self) -> str:
        name = f" ({self.protocol})" if self.protocol else ""
        return f"{self.transport}/{self.port}{name}"


@dataclass(frozen=True, slots=True)
class FindingFacts:
    """What is known about one vulnerability on one device (all optional but the id)."""

    vulnerability: str
    cvss: tuple[PublishedCvss, ...] = ()
    kev: bool = False
    kev_ransomware: bool = False
    epss: float | None = None
    epss_percentile: float | None = None
    ssvc_exploitation: str | None = None
    ssvc_automatable: str | None = None
    ssvc_technical_impact: str | None = None
    fixed_version: str | None = None
    remediations: tuple[str, ...] = ()
    #: Services the vulnerability is in (from the advisory), with the words that said so.
    services: tuple[ServiceRef, ...] = ()
    service_evidence: str = ""
    finding_id: int | None = None
    advisory_id: str = ""
    #: Hypothetical states (what-if): upgraded to the fixed version; advisory workaround applied.
    patched: bool = False
    workaround: bool = False


@dataclass(frozen=True, slots=True)
class ObservedService:
    """A service the device served in stored conversations."""

    transport: str
    port: int
    protocol: str = ""
    clients: int = 0
    internet_clients: int = 0

    @property
    def key(self) -> tuple[str, int]:
        """(transport, port)."""
        return (self.transport, self.port)


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """One device as the network shows it, with any hypothetical controls applied."""

    device_id: int | None
    label: str = ""
    device_type: str | None = None
    clinical_category: str | None = None
    handles_phi: bool = False
    phi_evidence: tuple[str, ...] = ()
    services: tuple[ObservedService, ...] = ()
    peers: int = 0
    internet_peers: tuple[str, ...] = ()
    subnets: tuple[str, ...] = ()  # subnets of the hosts that talk to it (and its own)
    vlans: tuple[int, ...] = ()
    attack_path: tuple[str, ...] = ()  # shortest path from an internet-talking host, "" when none
    dependents: int = 0  # distinct hosts that use a service of it
    #: CVSS environmental metrics a person set for the model (MITRE medical rubric), e.g. {"AR": "H"}.
    rubric_metrics: dict[str, str] = field(default_factory=dict)
    #: Hypothetical controls (what-if): services blocked, restricted to baseline peers, own segment.
    blocked: frozenset[tuple[str, int]] = frozenset()
    allowlisted: bool = False
    segmented: bool = False


@dataclass(frozen=True, slots=True)
class Factor:
    """One input of a score: its weight, its value (0..1), what it adds, and why, in plain words."""

    part: Part
    name: str
    weight: float
    value: float
    detail: str

    @property
    def points(self) -> float:
        """Contribution to likelihood or impact on the 0-10 scale."""
        return round(10 * self.weight * self.value, 2)


@dataclass(frozen=True, slots=True)
class FindingRisk:
    """One finding scored in context."""

    vulnerability: str
    risk: float
    likelihood: float
    impact: float
    cvss_version: str | None
    cvss_base: float | None
    cvss_environmental: float | None
    cvss_environmental_vector: str | None
    ssvc: SsvcInputs
    decision: Decision
    factors: tuple[Factor, ...]
    ssvc_reasons: tuple[str, ...]
    finding_id: int | None = None


@dataclass(frozen=True, slots=True)
class RiskScore:
    """A device's risk: 0-10, its likelihood and impact, each finding, and the explanation."""

    version: str
    device_id: int | None
    risk: float
    likelihood: float
    impact: float
    decision: Decision | None
    top: str | None  # the vulnerability that drives the score
    findings: tuple[FindingRisk, ...]
    explanation: tuple[str, ...]

    def decisions(self) -> dict[str, int]:
        """How many findings got each SSVC decision."""
        counts = {str(d): 0 for d in Decision}
        for f in self.findings:
            counts[str(f.decision)] += 1
        return counts


# --- the parts ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def _parse(vector: str, version: str) -> cv.Cvss2 | cv.Cvss3 | cv.Cvss4 | None:
    # Cached: a fleet has far fewer distinct vectors than findings. Parsed vectors are never mutated.
    try:
        return cv.parse(vector, version)
    except cv.CvssError:
        return None


_ORDER = {"4.0": 4, "3.1": 3, "3.0": 2, "2.0": 1}


def _best_vector(facts: FindingFacts) -> PublishedCvss | None:
    """The newest parseable vector (v4 > v3.1 > v3.0 > v2); unparseable ones are skipped."""
    for published in sorted(facts.cvss, key=lambda c: -_ORDER.get(c.version, 0)):
        if _parse(published.vector, published.version) is not None:
            return published
    return None


def _matching_services(facts: FindingFacts, ctx: DeviceContext) -> tuple[list[ObservedService], bool]:
    """Observed services the vulnerability is in, and whether all of them are blocked."""
    wanted = {s.key for s in facts.services}
    hits = [s for s in ctx.services if s.key in wanted]
    all_blocked = bool(wanted) and all(k in ctx.blocked for k in wanted)
    return hits, all_blocked


def _environment(
    base: cv.Cvss3,
    cat: str,
    handles_phi: bool,
    no_reach: bool,
    all_blocked: bool,
    rubric: tuple[tuple[str, str], ...],
) -> tuple[cv.Cvss3, list[str]]:
    """CVSS environmental metrics from the device's category, PHI and observed exposure."""
    why: list[str] = []
    cr = "H" if handles_phi else "M"
    ir = "H" if cat in ("life-sustaining", "therapeutic", "diagnostic") else "M"
    ar = "H" if cat in ("life-sustaining", "therapeutic") else ("L" if cat == "non-clinical" else "M")
    metrics = {"CR": cr, "IR": ir, "AR": ar}
    why.append(f"CR:{cr} ({'handles PHI' if handles_phi else 'no PHI seen'})")
    why.append(f"IR:{ir}/AR:{ar} (clinical category {cat or 'unknown'})")
    if all_blocked:
        metrics["MAV"] = "L"
        why.append("MAV:L (the vulnerable service is blocked)")
    elif base.metrics["AV"] == "N" and no_reach:
        metrics["MAV"] = "A"
        why.append("MAV:A (no internet host reaches it)")
    derived = dict(metrics)
    # Rubric answers (per model) refine the requirements and modified impacts; what the network
    # shows about this device's attack vector wins over an answer about the model in general.
    merged = {**metrics, **{k: v for k, v in rubric if k in ("CR", "IR", "AR") or k.startswith("M")}}
    merged.update({k: v for k, v in derived.items() if k == "MAV"})
    if rubric:
        why.append("medical rubric answers: " + "/".join(f"{k}:{v}" for k, v in rubric))
    try:
        return base.with_metrics(**merged), why
    except cv.CvssError:
        # A bad rubric value must not break scoring; fall back to the derived metrics.
        return base.with_metrics(**derived), [*why, "rubric answers ignored (invalid metric)"]


@dataclass(frozen=True, slots=True)
class _CvssView:
    version: str | None
    base: float | None
    environmental: float | None
    environmental_vector: str | None
    exploitability: float
    exploitability_why: str
    technical: float
    technical_why: str
    vec: cv.Cvss2 | cv.Cvss3 | cv.Cvss4 | None


@functools.lru_cache(maxsize=65536)
def _cvss_view(
    published: PublishedCvss | None,
    cat: str,
    handles_phi: bool,
    no_reach: bool,
    all_blocked: bool,
    rubric: tuple[tuple[str, str], ...],
) -> _CvssView:
    # Cached: a fleet has few distinct (vector, environment) pairs, and this is the costly part.
    vec = _parse(published.vector, published.version) if published else None
    env: cv.Cvss3 | None = None
    env_why: list[str] = []
    if isinstance(vec, cv.Cvss3):
        env, env_why = _environment(vec, cat, handles_phi, no_reach, all_blocked, rubric)
    base: float | None
    if isinstance(vec, (cv.Cvss3, cv.Cvss2)):
        base = vec.base_score()
    elif isinstance(vec, cv.Cvss4) and published is not None:
        base = published.base_score
    else:
        base = None
    expl_value, expl_why = _exploitability(vec, env)
    tech_value, tech_why = _technical(vec, env)
    return _CvssView(
        vec.version if vec is not None else None,
        base,
        env.environmental_score() if env is not None else None,
        env.vector if env is not None else None,
        round(expl_value, 4),
        expl_why,
        round(tech_value, 4),
        tech_why + ("; " + ", ".join(env_why) if env_why else ""),
        vec,
    )


_V4_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_V4_UI = {"N": 0.85, "P": 0.62, "A": 0.62}


def _exploitability(vec: cv.Cvss2 | cv.Cvss3 | cv.Cvss4 | None, env: cv.Cvss3 | None) -> tuple[float, str]:
    if env is not None:
        value = env.modified_exploitability() / _MAX_V3_EXPLOITABILITY
        m = env
        return min(value, 1.0), (
            f"CVSS v{m.version} AV:{m.modified('AV')} AC:{m.modified('AC')} PR:{m.modified('PR')} "
            f"UI:{m.modified('UI')} (exploitability {env.modified_exploitability():.2f} of 3.89)"
        )
    if isinstance(vec, cv.Cvss4):
        m4 = vec.metrics
        pr = {"N": 0.85, "L": 0.62, "H": 0.27}[m4["PR"]]
        ac = 0.77 if m4["AC"] == "L" and m4["AT"] == "N" else 0.44
        value = 8.22 * _V4_AV[m4["AV"]] * ac * pr * _V4_UI[m4["UI"]] / _MAX_V3_EXPLOITABILITY
        return min(value, 1.0), (
            f"CVSS v4.0 AV:{m4['AV']} AC:{m4['AC']} AT:{m4['AT']} PR:{m4['PR']} UI:{m4['UI']} "
            "(weighted with the v3.1 constants)"
        )
    if isinstance(vec, cv.Cvss2):
        return vec.exploitability() / 10.0, f"CVSS v2 exploitability {vec.exploitability():.2f} of 10"
    return 0.5, "no CVSS vector: assumed average (0.5)"


def _technical(vec: cv.Cvss2 | cv.Cvss3 | cv.Cvss4 | None, env: cv.Cvss3 | None) -> tuple[float, str]:
    if env is not None:
        mi = max(env.modified_impact(), 0.0)
        return min(mi / _MAX_V3_IMPACT, 1.0), (
            f"CVSS v{env.version} C:{env.modified('C')} I:{env.modified('I')} A:{env.modified('A')} with "
            f"CR:{env.get('CR')} IR:{env.get('IR')} AR:{env.get('AR')} (modified impact {mi:.2f} of 5.87)"
        )
    if isinstance(vec, cv.Cvss4):
        m4 = vec.metrics
        w = {"H": 0.56, "L": 0.22, "N": 0.0}
        iss = 1 - (1 - w[m4["VC"]]) * (1 - w[m4["VI"]]) * (1 - w[m4["VA"]])
        return min(iss / 0.915, 1.0), f"CVSS v4.0 VC:{m4['VC']} VI:{m4['VI']} VA:{m4['VA']}"
    if isinstance(vec, cv.Cvss2):
        return vec.impact() / 10.41, f"CVSS v2 impact {vec.impact():.2f} of 10.41"
    return 0.5, "no CVSS vector: assumed average (0.5)"


def _threat(facts: FindingFacts) -> tuple[float, str]:
    return _threat_of(
        facts.kev, facts.kev_ransomware, facts.ssvc_exploitation, facts.epss, facts.epss_percentile
    )


@functools.lru_cache(maxsize=65536)
def _threat_of(
    kev: bool,
    kev_ransomware: bool,
    ssvc_exploitation: str | None,
    epss_score: float | None,
    epss_pct: float | None,
) -> tuple[float, str]:
    reasons: list[tuple[float, str]] = [(0.1, "no exploitation evidence (floor 0.1)")]
    if kev:
        ransom = ", used in ransomware campaigns" if kev_ransomware else ""
        reasons.append((1.0, f"in CISA KEV (known exploited{ransom})"))
    exploitation = parse_exploitation(ssvc_exploitation)
    if exploitation is Exploitation.ACTIVE:
        reasons.append((1.0, "CISA SSVC exploitation: active"))
    elif exploitation is Exploitation.POC:
        reasons.append((0.6, "CISA SSVC exploitation: public PoC"))
    if epss_pct is not None:
        value = 0.8 * max(0.0, min(epss_pct, 1.0))
        epss = f"{epss_score:.4f}" if epss_score is not None else "?"
        reasons.append((value, f"EPSS {epss} (percentile {epss_pct:.2f}) x 0.8"))
    return max(reasons, key=lambda r: r[0])


def _exposure(
    facts: FindingFacts, ctx: DeviceContext, hits: list[ObservedService], all_blocked: bool
) -> tuple[float, str]:
    return _exposure_of(
        facts.services,
        tuple(hits),
        all_blocked,
        ctx.services,
        ctx.blocked,
        ctx.segmented,
        ctx.allowlisted,
        ctx.internet_peers,
        ctx.attack_path,
        len(ctx.subnets),
        ctx.peers,
    )


@functools.lru_cache(maxsize=65536)
def _exposure_of(
    services: tuple[ServiceRef, ...],
    hits: tuple[ObservedService, ...],
    all_blocked: bool,
    served_all: tuple[ObservedService, ...],
    blocked: frozenset[tuple[str, int]],
    segmented: bool,
    allowlisted: bool,
    internet_peers: tuple[str, ...],
    attack_path: tuple[str, ...],
    subnets: int,
    peers: int,
) -> tuple[float, str]:
    # Cached on exactly what it reads: many findings of a device share one answer.
    if all_blocked:
        return 0.0, "the vulnerable service " + ", ".join(map(str, services)) + " is blocked"
    if services:
        open_hits = [s for s in hits if s.key not in blocked]
        if open_hits:
            service_value = 1.0
            service = "vulnerable service observed in use: " + ", ".join(
                f"{s.transport}/{s.port} ({s.clients} clients)" for s in open_hits
            )
        else:
            service_value = 0.4
            service = "vulnerable service " + ", ".join(map(str, services)) + " not seen in traffic"
    else:
        served = [s for s in served_all if s.key not in blocked]
        service_value = 0.7 if served else 0.4
        service = (
            f"affected service unknown; device serves {len(served)} service(s)"
            if served
            else "affected service unknown; device serves nothing observed"
        )
    if segmented:
        reach, where = 0.2, "moved to its own segment"
    elif allowlisted:
        reach = 0.6 if internet_peers else 0.3
        where = "restricted to its observed peers" + (
            " (baseline includes internet hosts)" if internet_peers else ""
        )
    elif internet_peers:
        reach, where = 1.0, f"{len(internet_peers)} internet host(s) talk to it"
    elif attack_path:
        hops = len(attack_path) - 1
        reach = max(0.5, 0.9 - 0.1 * (hops - 1))
        where = f"reachable from an internet-talking host in {hops} hop(s): " + " -> ".join(attack_path)
    elif subnets > 1:
        reach, where = 0.6, f"flat: {subnets} subnets talk to it"
    elif peers:
        reach, where = 0.5, f"{peers} peer(s), one subnet"
    else:
        reach, where = 0.3, "no peers observed"
    return round(service_value * reach, 4), f"{service}; {where}"


def _mission(cat: str, handles_phi: bool) -> tuple[MissionWellbeing, str]:
    if cat in ("life-sustaining", "therapeutic"):
        return MissionWellbeing.HIGH, f"mission & well-being high ({cat})"
    if cat == "non-clinical" and not handles_phi:
        return MissionWellbeing.LOW, "mission & well-being low (non-clinical, no PHI)"
    reason = cat or "clinical category unknown"
    return (
        MissionWellbeing.MEDIUM,
        f"mission & well-being medium ({reason}{', handles PHI' if handles_phi else ''})",
    )


@functools.lru_cache(maxsize=65536)
def _ssvc(
    ssvc_exploitation: str | None,
    ssvc_automatable: str | None,
    ssvc_technical_impact: str | None,
    kev: bool,
    published: PublishedCvss | None,
    all_blocked: bool,
    cat: str,
    handles_phi: bool,
) -> tuple[SsvcInputs, tuple[str, ...]]:
    # Cached on exactly what it reads; returns a tuple so the cached value cannot be mutated.
    vec = _parse(published.vector, published.version) if published else None
    why: list[str] = []
    exploitation = parse_exploitation(ssvc_exploitation)
    if exploitation is not None:
        why.append(f"exploitation {exploitation} (CISA vulnrichment)")
    elif kev:
        exploitation = Exploitation.ACTIVE
        why.append("exploitation active (in CISA KEV)")
    else:
        exploitation = Exploitation.NONE
        why.append("exploitation none (no KEV entry, no vulnrichment record)")

    automatable = parse_automatable(ssvc_automatable)
    if automatable is not None:
        why.append(f"automatable {automatable} (CISA vulnrichment)")
    else:
        m = vec.metrics if isinstance(vec, (cv.Cvss3, cv.Cvss4)) else {}
        remote = m.get("AV") == "N" and m.get("AC") == "L" and m.get("PR") == "N" and m.get("UI") == "N"
        automatable = Automatable.YES if remote else Automatable.NO
        why.append(
            f"automatable {automatable} (CVSS {'AV:N/AC:L/PR:N/UI:N' if remote else 'needs more than AV:N/AC:L/PR:N/UI:N'})"
        )
    if automatable is Automatable.YES and all_blocked:
        automatable = Automatable.NO
        why.append("automatable no in context: the vulnerable service is blocked")

    technical = parse_technical_impact(ssvc_technical_impact)
    if technical is not None:
        why.append(f"technical impact {technical} (CISA vulnrichment)")
    else:
        if isinstance(vec, cv.Cvss3):
            total = vec.metrics["C"] == "H" and vec.metrics["I"] == "H"
        elif isinstance(vec, cv.Cvss4):
            total = vec.metrics["VC"] == "H" and vec.metrics["VI"] == "H"
        elif isinstance(vec, cv.Cvss2):
            total = vec.metrics["C"] == "C" and vec.metrics["I"] == "C"
        else:
            total = False
        technical = TechnicalImpact.TOTAL if total else TechnicalImpact.PARTIAL
        why.append(
            f"technical impact {technical} (CVSS confidentiality and integrity {'both high' if total else 'not both high'})"
        )

    mission, mission_why = _mission(cat, handles_phi)
    why.append(mission_why)
    return SsvcInputs(exploitation, automatable, technical, mission), tuple(why)


@dataclass(frozen=True, slots=True)
class _DeviceParts:
    """What every finding of one device shares: computed once per device, not once per finding."""

    cat: str
    no_reach: bool
    rubric: tuple[tuple[str, str], ...]
    factors: tuple[Factor, ...]  # clinical category, PHI, dependents


def _device_parts(ctx: DeviceContext) -> _DeviceParts:
    cat = (ctx.clinical_category or "").lower()
    clin_value = CLINICAL_WEIGHT.get(cat, UNKNOWN_CLINICAL_WEIGHT)
    deps = min(ctx.dependents / 10.0, 1.0)
    im, iw = Part.IMPACT, IMPACT_WEIGHTS
    return _DeviceParts(
        cat,
        ctx.segmented or (not ctx.internet_peers and not ctx.attack_path),
        tuple(sorted(ctx.rubric_metrics.items())),
        (
            Factor(im, "clinical category", iw["clinical"], clin_value, f"{cat or 'unknown'} ({clin_value})"),
            Factor(
                im,
                "PHI",
                iw["phi"],
                1.0 if ctx.handles_phi else 0.0,
                ("handles PHI: " + ", ".join(ctx.phi_evidence))
                if ctx.handles_phi
                else "no HL7/DICOM/FHIR seen",
            ),
            Factor(
                im,
                "dependents",
                iw["dependents"],
                round(deps, 4),
                f"{ctx.dependents} host(s) use its services",
            ),
        ),
    )


def device_parts(ctx: DeviceContext) -> _DeviceParts:
    """What every finding of a device shares (pass it to :func:`score_finding` for each finding)."""
    return _device_parts(ctx)


def score_finding(facts: FindingFacts, ctx: DeviceContext, parts: _DeviceParts | None = None) -> FindingRisk:
    """Score one finding on one device (see the module docstring for the formula)."""
    dp = parts if parts is not None else _device_parts(ctx)
    published = _best_vector(facts)
    hits, all_blocked = _matching_services(facts, ctx)
    cat = dp.cat
    view = _cvss_view(published, cat, ctx.handles_phi, dp.no_reach, all_blocked, dp.rubric)
    threat_value, threat_why = _threat(facts)
    expo_value, expo_why = _exposure(facts, ctx, hits, all_blocked)
    lk, im = Part.LIKELIHOOD, Part.IMPACT
    lw, iw = LIKELIHOOD_WEIGHTS, IMPACT_WEIGHTS
    factors = [
        Factor(lk, "exploitability", lw["exploitability"], view.exploitability, view.exploitability_why),
        Factor(lk, "threat", lw["threat"], round(threat_value, 4), threat_why),
        Factor(lk, "exposure", lw["exposure"], expo_value, expo_why),
        Factor(im, "technical impact", iw["technical"], view.technical, view.technical_why),
        *dp.factors,
    ]
    likelihood = sum(10 * f.weight * f.value for f in factors if f.part is lk)
    impact = sum(10 * f.weight * f.value for f in factors if f.part is im)
    if facts.patched:
        factors.append(Factor(lk, "patched", 1.0, 0.0, "upgraded to the fixed version: likelihood 0"))
        likelihood = 0.0
    elif facts.workaround:
        factors.append(Factor(lk, "workaround", 1.0, 0.5, "advisory's workaround applied: likelihood halved"))
        likelihood *= 0.5
    risk = math.sqrt(likelihood * impact)
    ssvc_inputs, reasons = _ssvc(
        facts.ssvc_exploitation,
        facts.ssvc_automatable,
        facts.ssvc_technical_impact,
        facts.kev,
        published,
        all_blocked,
        cat,
        ctx.handles_phi,
    )
    ssvc_why = list(reasons)
    decision = decide(ssvc_inputs)
    # A mitigated finding (patched, or its only vulnerable service blocked) is tracked, not acted on:
    # the CISA guide's outcomes are about what remains to be done, and the remediation is done.
    if facts.patched:
        decision = Decision.TRACK
        ssvc_why.append("Track in context: patched")
    elif all_blocked:
        decision = Decision.TRACK
        ssvc_why.append("Track in context: mitigated, the vulnerable service is blocked")
    return FindingRisk(
        vulnerability=facts.vulnerability,
        risk=round(risk, 1),
        likelihood=round(likelihood, 1),
        impact=round(impact, 1),
        cvss_version=view.version,
        cvss_base=view.base,
        cvss_environmental=view.environmental,
        cvss_environmental_vector=view.environmental_vector,
        ssvc=ssvc_inputs,
        decision=decision,
        factors=tuple(factors),
        ssvc_reasons=tuple(ssvc_why),
        finding_id=facts.finding_id,
    )


def context_signature(ctx: DeviceContext) -> tuple[object, ...]:
    """Exactly the parts of a context that :func:`score_finding` reads (a memo key for fleet runs).

    Two contexts with equal signatures give equal finding scores for equal facts: the device id,
    label, type, the subnets' names (only their count is read) and VLANs are left out, which is what
    lets a fleet of 100,000 devices share a few hundred signatures. Keep in step with
    :func:`_device_parts`, :func:`_matching_services` and :func:`_exposure` (a test checks it).
    """
    return (
        ctx.clinical_category,
        ctx.handles_phi,
        ctx.phi_evidence,
        ctx.dependents,
        tuple(sorted(ctx.rubric_metrics.items())),
        ctx.services,
        ctx.blocked,
        ctx.segmented,
        ctx.allowlisted,
        ctx.internet_peers,
        ctx.attack_path,
        len(ctx.subnets),
        ctx.peers,
    )


def score(facts: Sequence[FindingFacts], context: DeviceContext) -> RiskScore:
    """Score a device: every finding in context; the device takes its highest finding's risk."""
    parts = _device_parts(context)
    return device_score([score_finding(f, context, parts) for f in facts], context)


def device_score(scored: Sequence[FindingRisk], context: DeviceContext) -> RiskScore:
    """A device's score from its already-scored findings (what :func:`score` does after scoring them).

    Split out so the fleet recompute can reuse memoised finding scores and still build the device
    score, its decision and its explanation with this one piece of code.
    """
    findings = sorted(scored, key=lambda r: (-r.risk, -r.decision.rank, r.vulnerability))
    if not findings:
        return RiskScore(
            version=SCORING_VERSION,
            device_id=context.device_id,
            risk=0.0,
            likelihood=0.0,
            impact=0.0,
            decision=None,
            top=None,
            findings=(),
            explanation=("no active findings: risk 0",),
        )
    top = findings[0]
    lines = [
        f"risk {top.risk} = sqrt(likelihood {top.likelihood} x impact {top.impact}), "
        f"from {top.vulnerability}, the highest of {len(findings)} finding(s) (scoring {SCORING_VERSION})",
        f"SSVC {top.decision} ({top.ssvc.vector}): " + "; ".join(top.ssvc_reasons),
    ]
    for f in top.factors:
        lines.append(
            f"{f.part} {f.name}: weight {f.weight} x value {f.value} = {f.points} points; {f.detail}"
        )
    return RiskScore(
        version=SCORING_VERSION,
        device_id=context.device_id,
        risk=top.risk,
        likelihood=top.likelihood,
        impact=top.impact,
        decision=max((f.decision for f in findings), key=lambda d: d.rank),
        top=top.vulnerability,
        findings=tuple(findings),
        explanation=tuple(lines),
    )


def with_controls(ctx: DeviceContext, **changes: object) -> DeviceContext:
    """A copy of the context with hypothetical controls set (used by the what-if simulator)."""
    return replace(ctx, **changes)  # type: ignore[arg-type]
