"""Matcher ``nvd_cpe``: device CPE candidates against NVD configurations (AND/OR nodes, negate,
running-on platforms, version ranges), three-valued so an unknown version is "possibly affected".

A configuration applies when its node expression is true and at least one ``vulnerable`` CPE
match took part; a finding is ``affected`` when every test that mattered could be decided, and
``possibly_affected`` (with the reason) when one could not (version unknown or not comparable).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache

from wardwatch.match.cpe import ANY, NA, Cpe, CpeError, parse_cpe
from wardwatch.match.names import Candidate
from wardwatch.match.versions import comparable, compare, in_nvd_bounds
from wardwatch.model.advisory import Advisory, ConfigNode, Configuration, CpeMatch, FindingStatus

MATCHER = "nvd_cpe"


class Truth(Enum):
    """Three-valued logic: unknown when a version could not be checked."""

    FALSE = 0
    UNKNOWN = 1
    TRUE = 2


def _not(t: Truth) -> Truth:
    return {Truth.TRUE: Truth.FALSE, Truth.FALSE: Truth.TRUE, Truth.UNKNOWN: Truth.UNKNOWN}[t]


@dataclass
class _Trace:
    """What a configuration evaluation used: the matched vulnerable criteria and the doubts."""

    matched: list[dict[str, object]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def _bounds(m: CpeMatch) -> dict[str, str]:
    b = {
        "versionStartIncluding": m.version_start_including,
        "versionStartExcluding": m.version_start_excluding,
        "versionEndIncluding": m.version_end_including,
        "versionEndExcluding": m.version_end_excluding,
    }
    return {k: v for k, v in b.items() if v is not None}


@lru_cache(maxsize=1 << 18)
def _cpe(criteria: str) -> Cpe | None:
    # The same criteria recur across thousands of CVEs (every Windows release, every kernel ...).
    try:
        return parse_cpe(criteria)
    except CpeError:
        return None


def match_one(m: CpeMatch, cands: list[Candidate], trace: _Trace) -> Truth:
    """One cpeMatch against the device's candidates."""
    cpe = _cpe(m.criteria)
    if cpe is None:
        return Truth.FALSE
    best = Truth.FALSE
    for c in cands:
        if c.vendor != cpe.vendor or c.product != cpe.product or cpe.part not in (ANY, c.part):
            continue
        bounds = _bounds(m)
        reason = ""
        if cpe.version not in (ANY, NA):
            if c.version is None:
                t, reason = Truth.UNKNOWN, f"device {c.version_from or 'version'} unknown"
            elif not comparable(c.version):
                t, reason = (
                    Truth.UNKNOWN,
                    f"device {c.version_from} {c.version!r} is not a comparable version",
                )
            else:
                t = Truth.TRUE if compare(c.version, cpe.version) == 0 else Truth.FALSE
        elif bounds:
            if c.version is None:
                t, reason = Truth.UNKNOWN, f"device {c.version_from or 'version'} unknown"
            elif not comparable(c.version):
                t, reason = (
                    Truth.UNKNOWN,
                    f"device {c.version_from} {c.version!r} is not a comparable version",
                )
            else:
                ok = in_nvd_bounds(
                    c.version,
                    start_including=m.version_start_including,
                    start_excluding=m.version_start_excluding,
                    end_including=m.version_end_including,
                    end_excluding=m.version_end_excluding,
                )
                t = Truth.TRUE if ok else Truth.FALSE
        else:
            t = Truth.TRUE  # all versions (ANY) or not applicable (NA, e.g. hardware)
        if t is Truth.FALSE:
            continue
        if m.vulnerable:
            trace.matched.append(
                {
                    "criteria": m.criteria,
                    **bounds,
                    "device_value": c.version,
                    "device_field": c.version_from,
                    "candidate": f"{c.part}:{c.vendor}:{c.product}",
                    "candidate_rule": c.rule,
                    "candidate_detail": c.detail,
                }
            )
        if reason:
            trace.reasons.append(reason)
        if t.value > best.value:
            best = t
        if best is Truth.TRUE:
            break
    return best


def _combine(operator: str, values: list[Truth]) -> Truth:
    if not values:
        return Truth.FALSE
    if operator.upper() == "AND":
        return Truth(min(v.value for v in values))
    return Truth(max(v.value for v in values))


def eval_node(node: ConfigNode, cands: list[Candidate], trace: _Trace) -> Truth:
    """A node: its matches combined with its operator, then negated when ``negate``."""
    t = _combine(node.operator, [match_one(m, cands, trace) for m in node.matches])
    return _not(t) if node.negate else t


def eval_configuration(conf: Configuration, cands: list[Candidate]) -> tuple[Truth, _Trace]:
    """A configuration's truth for the device, and what it rested on."""
    trace = _Trace()
    values = [eval_node(n, cands, trace) for n in conf.nodes]
    if conf.operator.upper() == "AND":
        for i, n in enumerate(conf.nodes):
            # A running-on platform (only non-vulnerable matches) the device identity does not name:
            # the device may well sit on it (a SpaceCom2 module in a SpaceStation), so "unknown".
            if (
                values[i] is Truth.FALSE
                and not n.negate
                and n.matches
                and not any(m.vulnerable for m in n.matches)
            ):
                values[i] = Truth.UNKNOWN
                trace.reasons.append(
                    "running-on platform not identified: " + ", ".join(m.criteria for m in n.matches[:3])
                )
    t = _combine(conf.operator, values)
    if conf.negate:
        t = _not(t)
    if t is not Truth.FALSE and not trace.matched:
        t = Truth.FALSE  # only platform (running-on) parts matched: nothing vulnerable on this device
    return t, trace


@dataclass(frozen=True, slots=True)
class CpeVerdict:
    """The outcome for one advisory and one device identity."""

    status: FindingStatus
    confidence: float
    evidence: dict[str, object]
    reason: str


# Confidence of a CPE rule, before the device attributes' own confidence is applied: an alias
# entry was checked by a person; a slugged model name or an OS guess may coincide by accident.
RULE_CONFIDENCE = {"alias": 0.95, "model": 0.85, "os": 0.8}


def match_advisory(adv: Advisory, cands: list[Candidate]) -> CpeVerdict | None:
    """Whether an NVD advisory applies to a device with these candidates (None: it does not)."""
    best: tuple[Truth, _Trace, int] | None = None
    keys = {(c.vendor, c.product) for c in cands}
    for i, conf in enumerate(adv.configurations):
        # Cheap pre-check: a configuration can only apply if one of its vulnerable CPEs names a
        # candidate (most configurations of an advisory are about other products).
        if not any(
            (cpe := _cpe(m.criteria)) is not None and (cpe.vendor, cpe.product) in keys
            for n in conf.nodes
            for m in n.matches
            if m.vulnerable
        ):
            continue
        t, trace = eval_configuration(conf, cands)
        if t is Truth.FALSE:
            continue
        if best is None or t.value > best[0].value:
            best = (t, trace, i)
        if t is Truth.TRUE:
            break
    if best is None:
        return None
    t, trace, index = best
    rules = {str(m["candidate_rule"]) for m in trace.matched}
    confidence = min(RULE_CONFIDENCE.get(r, 0.8) for r in rules) if rules else 0.8
    status = FindingStatus.AFFECTED if t is Truth.TRUE else FindingStatus.POSSIBLY_AFFECTED
    reason = "; ".join(dict.fromkeys(trace.reasons)) if status is FindingStatus.POSSIBLY_AFFECTED else ""
    if status is FindingStatus.POSSIBLY_AFFECTED:
        confidence *= 0.6
    evidence: dict[str, object] = {"configuration": index, "matched": trace.matched[:5]}
    return CpeVerdict(status, round(confidence, 3), evidence, reason)
