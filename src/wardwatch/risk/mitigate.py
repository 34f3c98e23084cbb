"""Mitigation options with residual risk, and fleet-wide what-if, by re-scoring hypothetical states.

Every option is a change to the scoring inputs (a finding marked patched, a service blocked, the
device restricted to its baseline peers or moved to its own segment, the advisory's workaround
applied); its residual risk is :func:`wardwatch.risk.score.score` of the changed inputs, so the
residual is explained exactly like any other score. Nothing here touches a network or a store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from wardwatch.risk.score import DeviceContext, FindingFacts, RiskScore, ServiceRef, score


class Kind(StrEnum):
    """What kind of change an option makes (also the tie-break order: least disruptive first)."""

    BLOCK = "block"
    WORKAROUND = "workaround"
    ALLOWLIST = "allowlist"
    SEGMENT = "segment"
    PATCH = "patch"


_EFFORT = {k: i for i, k in enumerate(Kind)}


@dataclass(frozen=True, slots=True)
class Change:
    """One hypothetical change: which findings and which context fields it touches."""

    kind: Kind
    block: tuple[ServiceRef, ...] = ()
    patch: tuple[str, ...] = ()  # vulnerabilities upgraded away
    workaround: tuple[str, ...] = ()
    allowlist: bool = False
    segment: bool = False


def apply(
    change: Change, facts: Sequence[FindingFacts], ctx: DeviceContext
) -> tuple[list[FindingFacts], DeviceContext]:
    """The inputs after the change (the originals are not modified: everything is frozen)."""
    new_facts = [
        replace(
            f,
            patched=f.patched or f.vulnerability in change.patch,
            workaround=f.workaround or f.vulnerability in change.workaround,
        )
        for f in facts
    ]
    new_ctx = replace(
        ctx,
        blocked=ctx.blocked | {s.key for s in change.block},
        allowlisted=ctx.allowlisted or change.allowlist,
        segmented=ctx.segmented or change.segment,
    )
    return new_facts, new_ctx


@dataclass(frozen=True, slots=True)
class Option:
    """A ranked mitigation option and the device's risk after it."""

    rank: int
    kind: Kind
    title: str
    detail: tuple[str, ...]
    findings: tuple[str, ...]  # the findings it addresses
    before: RiskScore
    after: RiskScore
    transitions: tuple[tuple[str, str, str], ...]  # (vulnerability, decision before, after) that changed

    @property
    def reduction(self) -> float:
        """How much the device risk drops (0-10 points)."""
        return round(self.before.risk - self.after.risk, 1)


def _transitions(before: RiskScore, after: RiskScore) -> tuple[tuple[str, str, str], ...]:
    prior = {f.vulnerability: f.decision for f in before.findings}
    return tuple(
        (f.vulnerability, str(prior[f.vulnerability]), str(f.decision))
        for f in after.findings
        if f.vulnerability in prior and prior[f.vulnerability] != f.decision
    )


def candidate_changes(
    facts: Sequence[FindingFacts], ctx: DeviceContext, allowlist: Sequence[str] = ()
) -> list[tuple[Change, str, tuple[str, ...], tuple[str, ...]]]:
    """Every option that applies: (change, title, detail lines, findings addressed)."""
    out: list[tuple[Change, str, tuple[str, ...], tuple[str, ...]]] = []
    for f in facts:
        if f.fixed_version and not f.patched:
            out.append(
                (
                    Change(Kind.PATCH, patch=(f.vulnerability,)),
                    f"upgrade to {f.fixed_version} (fixes {f.vulnerability})",
                    ("the matched rule says versions before this one are affected",),
                    (f.vulnerability,),
                )
            )
    by_service: dict[ServiceRef, list[str]] = {}
    for f in facts:
        for s in f.services:
            if s.key not in ctx.blocked:
                by_service.setdefault(s, []).append(f.vulnerability)
    observed = {s.key: s for s in ctx.services}
    for service, vulns in sorted(by_service.items(), key=lambda kv: kv[0].key):
        seen = observed.get(service.key)
        use = (
            f"in use: {seen.clients} client(s) talk to it (check they can do without it)"
            if seen
            else "not seen in traffic: blocking it should not disturb clinical use"
        )
        out.append(
            (
                Change(Kind.BLOCK, block=(service,)),
                f"block or disable {service.transport.upper()}/{service.port}"
                + (f" ({service.protocol})" if service.protocol else ""),
                (use, f"firewall rule: deny {service.transport} to port {service.port} on this device"),
                tuple(dict.fromkeys(vulns)),
            )
        )
    for f in facts:
        if f.remediations and not f.workaround:
            out.append(
                (
                    Change(Kind.WORKAROUND, workaround=(f.vulnerability,)),
                    f"apply the advisory's remediation for {f.vulnerability}",
                    tuple(f.remediations[:5]),
                    (f.vulnerability,),
                )
            )
    everything = tuple(f.vulnerability for f in facts)
    if facts and not ctx.allowlisted:
        out.append(
            (
                Change(Kind.ALLOWLIST, allowlist=True),
                f"restrict to its observed baseline ({len(allowlist)} rule(s))",
                tuple(allowlist[:20]) or ("no conversations stored: the allow-list would be empty",),
                everything,
            )
        )
    if facts and not ctx.segmented:
        out.append(
            (
                Change(Kind.SEGMENT, segment=True),
                "move to a dedicated segment/VLAN",
                (
                    f"today {len(ctx.subnets)} subnet(s) and {len(ctx.internet_peers)} internet host(s) talk to it",
                    "allow only the baseline flows across the segment boundary",
                ),
                everything,
            )
        )
    return out


def options(facts: Sequence[FindingFacts], ctx: DeviceContext, allowlist: Sequence[str] = ()) -> list[Option]:
    """Ranked options for one device: lowest residual risk first, then least disruptive."""
    before = score(facts, ctx)
    scored: list[Option] = []
    for change, title, detail, addressed in candidate_changes(facts, ctx, allowlist):
        new_facts, new_ctx = apply(change, facts, ctx)
        after = score(new_facts, new_ctx)
        scored.append(
            Option(0, change.kind, title, detail, addressed, before, after, _transitions(before, after))
        )
    scored.sort(key=lambda o: (o.after.risk, -o.reduction, _EFFORT[o.kind], o.title))
    return [replace(o, rank=i + 1) for i, o in enumerate(scored)]


@dataclass(frozen=True, slots=True)
class WhatIf:
    """What one change does across many devices."""

    description: str
    devices: int  # devices in scope
    devices_changed: int
    findings_changed: int
    transitions: dict[str, tuple[int, int]]  # "Act->Track" -> (findings, devices)
    risk_before: float  # mean device risk in scope
    risk_after: float
    per_device: tuple[tuple[int | None, float, float], ...]  # (device id, risk before, after)

    def summary(self) -> str:
        """One line per decision change, like "Act->Track: 412 findings on 37 devices"."""
        if not self.transitions:
            return f"{self.description}: no SSVC decision changes on {self.devices} device(s)"
        parts = [
            f"{n} finding(s) on {d} device(s) go from {k.replace('->', ' to ')}"
            for k, (n, d) in sorted(self.transitions.items(), key=lambda kv: -kv[1][0])
        ]
        return f"{self.description}: " + "; ".join(parts)


def what_if(
    change: Change,
    fleet: Iterable[tuple[Sequence[FindingFacts], DeviceContext]],
    description: str,
) -> WhatIf:
    """Apply one change to every (facts, context) given and count what moves."""
    per_device: list[tuple[int | None, float, float]] = []
    transitions: dict[str, list[int]] = {}
    devices_by_transition: dict[str, set[int | None]] = {}
    changed_devices = 0
    changed_findings = 0
    for facts, ctx in fleet:
        before = score(facts, ctx)
        new_facts, new_ctx = apply(change, facts, ctx)
        after = score(new_facts, new_ctx)
        per_device.append((ctx.device_id, before.risk, after.risk))
        moved = _transitions(before, after)
        if moved or after.risk != before.risk:
            changed_devices += 1
        for _, a, b in moved:
            key = f"{a}->{b}"
            transitions.setdefault(key, [0])[0] += 1
            devices_by_transition.setdefault(key, set()).add(ctx.device_id)
            changed_findings += 1
    n = len(per_device)
    return WhatIf(
        description=description,
        devices=n,
        devices_changed=changed_devices,
        findings_changed=changed_findings,
        transitions={k: (v[0], len(devices_by_transition[k])) for k, v in transitions.items()},
        risk_before=round(sum(b for _, b, _ in per_device) / n, 2) if n else 0.0,
        risk_after=round(sum(a for _, _, a in per_device) / n, 2) if n else 0.0,
        per_device=tuple(per_device),
    )
