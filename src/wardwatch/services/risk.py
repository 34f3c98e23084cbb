"""Use cases of risk in context (issue 6): recompute and show scores, mitigations, what-if, rubric.

Each use case opens one transaction on the store, builds the scoring inputs with
:mod:`wardwatch.risk.adapter`, calls the pure :func:`wardwatch.risk.score.score` and, for a
recompute, stores every device's score with its version and explanation. Errors the user can fix
are :class:`RiskError` with a one-line message.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from wardwatch.gctools import collector_paused
from wardwatch.model.device import Attribute, Device
from wardwatch.model.flow import Conversation
from wardwatch.risk import adapter, fleet, mitigate, rubric
from wardwatch.risk.exposure import AttackGraph, exposure_of
from wardwatch.risk.repo import RiskRepo, context_json, score_rows
from wardwatch.risk.score import SCORING_VERSION, DeviceContext, FindingFacts, RiskScore, ServiceRef, score
from wardwatch.store.sql import SqlStore


class RiskError(Exception):
    """A request the risk use cases cannot satisfy (unknown device, bad argument)."""


def _now() -> int:
    return time.time_ns()


@dataclass
class Fleet:
    """Every device with its scoring inputs (one pass over the store)."""

    devices: dict[int, Device]
    contexts: dict[int, DeviceContext]
    facts: dict[int, list[FindingFacts]]
    conversations: list[Conversation] = field(default_factory=list)


def load_fleet(tx: Any) -> Fleet:
    """Devices, conversations, PHI evidence, rubric answers and findings, read once."""
    devices = adapter.load_devices(tx.conn)
    conversations = tx.conversations()
    repo = RiskRepo(tx.conn)
    contexts = adapter.fleet_contexts(devices, conversations, tx.iter_observations(), repo.rubrics())
    facts = adapter.load_facts(tx.conn, devices)
    return Fleet({d.id: d for d in devices if d.id is not None}, contexts, facts, conversations)


@dataclass(frozen=True, slots=True)
class RecomputeSummary:
    """What a recompute did."""

    version: str
    devices: int
    findings: int
    decisions: dict[str, int]
    seconds: float


#: Devices scored per batch in a recompute: bounds memory (facts and rows of one batch at a time).
BATCH = 5000


def recompute(store: SqlStore, *, now_ns: int | None = None, plain: bool = False) -> RecomputeSummary:
    """Score every device and replace the stored scores (one transaction, devices in batches).

    The default is the fleet fast path (:mod:`wardwatch.risk.fleet`: shared facts, memoised finding
    scores, bulk writes); ``plain`` runs the straightforward loop of ``score()`` per device, the
    reference the fast path is tested against (both store exactly the same rows).
    """
    start = time.perf_counter()
    now = now_ns or _now()
    devices_done = findings_done = 0
    decisions: dict[str, int] = {}
    if not plain:
        with collector_paused(), store.transaction() as tx:
            devices = adapter.load_devices(tx.conn)
            rubrics = RiskRepo(tx.conn).rubrics()
            contexts = adapter.fleet_contexts(devices, tx.conversations(), tx.iter_observations(), rubrics)
            done = fleet.recompute_scores(tx.conn, devices, contexts, now)
        return RecomputeSummary(
            SCORING_VERSION, done.devices, done.findings, done.decisions, time.perf_counter() - start
        )
    with store.transaction() as tx:
        devices = adapter.load_devices(tx.conn)
        repo = RiskRepo(tx.conn)
        contexts = adapter.fleet_contexts(devices, tx.conversations(), tx.iter_observations(), repo.rubrics())
        repo.replace_scores([], [], [], all_devices=True)
        for i in range(0, len(devices), BATCH):
            batch = devices[i : i + BATCH]
            facts = adapter.load_facts(tx.conn, batch)
            heads: list[dict[str, Any]] = []
            rows: list[dict[str, Any]] = []
            for d in batch:
                assert d.id is not None
                ctx = contexts[d.id]
                result = score(facts.get(d.id, []), ctx)
                head, finding_rows = score_rows(result, ctx, now)
                heads.append(head)
                rows.extend(finding_rows)
                for f in result.findings:
                    decisions[str(f.decision)] = decisions.get(str(f.decision), 0) + 1
            repo.insert_scores(heads, rows)
            devices_done += len(heads)
            findings_done += len(rows)
    return RecomputeSummary(
        SCORING_VERSION, devices_done, findings_done, decisions, time.perf_counter() - start
    )


def stored_scores(store: SqlStore, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Stored device scores, highest first, with the device's label."""
    with store.transaction() as tx:
        rows = RiskRepo(tx.conn).scores(limit=limit)
    return rows


@dataclass(frozen=True, slots=True)
class DeviceRisk:
    """One device scored now, with the inputs the score saw."""

    device: Device
    context: DeviceContext
    facts: tuple[FindingFacts, ...]
    score: RiskScore
    allowlist: tuple[str, ...]


def _device_inputs(tx: Any, ref: str, *, with_remediations: bool) -> DeviceRisk:
    device = tx.get_device(ref)
    if device is None or device.id is None:
        raise RiskError(f"no device {ref!r}")
    # The attack path needs the whole graph; exposure needs only this device's conversations.
    conversations = tx.conversations()
    ips = [i.ip for i in device.ips]
    own = [c for c in conversations if c.client_ip in ips or c.server_ip in ips]
    exp = exposure_of(ips, own)
    phi = adapter.phi_by_address(tx.observations(macs=[device.mac] if device.mac else [], ips=ips))
    key = ((device.value(Attribute.VENDOR) or "").lower(), (device.value(Attribute.MODEL) or "").lower())
    ctx = adapter.build_context(
        device,
        exp,
        AttackGraph(conversations).path_to(ips),
        adapter.phi_evidence_of(device, phi, exp),
        RiskRepo(tx.conn).rubrics().get(key),
    )
    facts = adapter.load_facts(tx.conn, [device], with_remediations=with_remediations).get(device.id, [])
    return DeviceRisk(device, ctx, tuple(facts), score(facts, ctx), baseline_allowlist(ips, own))


def baseline_allowlist(ips: Sequence[str], conversations: Sequence[Conversation]) -> tuple[str, ...]:
    """Allow rules that keep exactly the observed conversations of a device (then deny the rest)."""
    own = set(ips)
    rules: set[str] = set()
    for c in conversations:
        if c.server_ip in own:
            rules.add(f"allow {c.client_ip or 'any'} -> this:{c.transport}/{c.server_port}")
        elif c.client_ip in own:
            rules.add(f"allow this -> {c.server_ip or 'any'}:{c.transport}/{c.server_port}")
    return (*sorted(rules), "deny everything else")


def device_risk(store: SqlStore, *, device: str) -> DeviceRisk:
    """Score one device from what is stored now (also stores the result)."""
    with store.transaction() as tx:
        result = _device_inputs(tx, device, with_remediations=False)
        head, rows = score_rows(result.score, result.context, _now())
        assert result.device.id is not None
        RiskRepo(tx.conn).replace_scores([result.device.id], [head], rows, all_devices=False)
        return result


def mitigation_options(store: SqlStore, *, device: str) -> tuple[DeviceRisk, list[mitigate.Option]]:
    """Ranked mitigation options of one device, each with its residual risk."""
    with store.transaction() as tx:
        result = _device_inputs(tx, device, with_remediations=True)
    return result, mitigate.options(result.facts, result.context, result.allowlist)


def parse_service(text: str) -> ServiceRef:
    """``tcp/445``, ``445/tcp`` or ``smb`` (a name from the well-known table) -> a service."""
    from wardwatch.risk.exposure import WELL_KNOWN_PORTS

    t = text.strip().lower()
    parts = t.replace(":", "/").split("/")
    if len(parts) == 2:
        a, b = parts
        transport, port = (a, b) if a in ("tcp", "udp") else (b, a)
        if transport in ("tcp", "udp") and port.isdigit() and 0 < int(port) < 65536:
            return ServiceRef(transport, int(port), WELL_KNOWN_PORTS.get((transport, int(port)), ""))
    aliases = {"smbv1": "smb", "smb1": "smb", "cifs": "smb"}
    name = aliases.get(t, t)
    for (proto_transport, proto_port), proto in WELL_KNOWN_PORTS.items():
        if proto == name:
            return ServiceRef(proto_transport, proto_port, proto)
    raise RiskError(f"cannot read service {text!r}: use tcp/445, 161/udp or a name such as smb, rdp, telnet")


def what_if(
    store: SqlStore,
    *,
    block: Sequence[str] = (),
    allowlist: bool = False,
    segment: bool = False,
    patch: Sequence[str] = (),
    subnet: str | None = None,
    category: str | None = None,
    device_type: str | None = None,
    device: str | None = None,
) -> mitigate.WhatIf:
    """Apply hypothetical mitigations to every device in scope and count what changes."""
    services = tuple(parse_service(s) for s in block)
    if not (services or allowlist or segment or patch):
        raise RiskError("nothing to simulate: give --block, --allowlist, --segment or --patch")
    net = None
    if subnet:
        try:
            net = ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            raise RiskError(f"not a subnet: {subnet!r}") from None
    kinds = [k for k, on in ((mitigate.Kind.BLOCK, services), (mitigate.Kind.PATCH, patch)) if on]
    change = mitigate.Change(
        kinds[0] if kinds else (mitigate.Kind.SEGMENT if segment else mitigate.Kind.ALLOWLIST),
        block=services,
        patch=tuple(patch),
        allowlist=allowlist,
        segment=segment,
    )
    with store.transaction() as tx:
        fleet = load_fleet(tx)
        wanted: set[int] | None = None
        if device is not None:
            d = tx.get_device(device)
            if d is None or d.id is None:
                raise RiskError(f"no device {device!r}")
            wanted = {d.id}
    scope: list[tuple[Sequence[FindingFacts], DeviceContext]] = []
    for device_id, ctx in fleet.contexts.items():
        d = fleet.devices[device_id]
        if wanted is not None and device_id not in wanted:
            continue
        if net is not None and not any(_in(ip.ip, net) for ip in d.ips):
            continue
        if category and (ctx.clinical_category or "").lower() != category.lower():
            continue
        if device_type and (ctx.device_type or "").lower() != device_type.lower():
            continue
        scope.append((fleet.facts.get(device_id, []), ctx))
    words = [f"block {', '.join(str(s) for s in services)}"] if services else []
    words += ["restrict to baseline peers"] if allowlist else []
    words += ["move to own segment"] if segment else []
    words += [f"patch {', '.join(patch)}"] if patch else []
    where = " and ".join(
        x
        for x in (
            f"on {subnet}" if subnet else "",
            f"on {category} devices" if category else "",
            f"on {device_type} devices" if device_type else "",
            f"on device {device}" if device else "",
        )
        if x
    )
    return mitigate.what_if(change, scope, " + ".join(words) + (f" {where}" if where else " on all devices"))


def _in(ip: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(ip) in net
    except ValueError:
        return False


def set_rubric(
    store: SqlStore, *, vendor: str, model: str, answers: dict[str, str], author: str
) -> rubric.RubricResult:
    """Evaluate and store a model's rubric answers (they apply at the next scoring)."""
    try:
        result = rubric.evaluate(answers)
    except rubric.RubricError as exc:
        raise RiskError(str(exc)) from None
    with store.transaction() as tx:
        RiskRepo(tx.conn).set_rubric(
            vendor=vendor,
            model=model,
            answers=answers,
            metrics=result.environmental,
            author=author,
            now_ns=_now(),
        )
    return result


# --- JSON views -----------------------------------------------------------------------------


def score_json(result: RiskScore) -> dict[str, Any]:
    """A score with every finding, factor and reason."""
    return {
        "version": result.version,
        "device_id": result.device_id,
        "risk": result.risk,
        "likelihood": result.likelihood,
        "impact": result.impact,
        "decision": str(result.decision) if result.decision else None,
        "top": result.top,
        "decisions": result.decisions(),
        "explanation": list(result.explanation),
        "findings": [
            {
                "vulnerability": f.vulnerability,
                "risk": f.risk,
                "likelihood": f.likelihood,
                "impact": f.impact,
                "decision": str(f.decision),
                "ssvc": f.ssvc.vector,
                "ssvc_reasons": list(f.ssvc_reasons),
                "cvss_version": f.cvss_version,
                "cvss_base": f.cvss_base,
                "cvss_environmental": f.cvss_environmental,
                "cvss_environmental_vector": f.cvss_environmental_vector,
                "factors": [
                    {
                        "part": str(x.part),
                        "name": x.name,
                        "weight": x.weight,
                        "value": x.value,
                        "points": x.points,
                        "detail": x.detail,
                    }
                    for x in f.factors
                ],
            }
            for f in result.findings
        ],
    }


def device_risk_json(result: DeviceRisk) -> dict[str, Any]:
    """A device's score with the exposure it saw."""
    return {
        "device": {"id": result.device.id, "key": result.device.key, "label": result.context.label},
        "context": context_json(result.context),
        "score": score_json(result.score),
    }


def option_json(o: mitigate.Option) -> dict[str, Any]:
    """A mitigation option with its residual risk."""
    return {
        "rank": o.rank,
        "kind": str(o.kind),
        "title": o.title,
        "detail": list(o.detail),
        "findings": list(o.findings),
        "risk_before": o.before.risk,
        "risk_after": o.after.risk,
        "likelihood_after": o.after.likelihood,
        "impact_after": o.after.impact,
        "reduction": o.reduction,
        "decisions_after": o.after.decisions(),
        "transitions": [{"vulnerability": v, "from": a, "to": b} for v, a, b in o.transitions],
        "residual_explanation": list(o.after.explanation),
    }


def what_if_json(w: mitigate.WhatIf) -> dict[str, Any]:
    """A fleet what-if result."""
    return {
        "description": w.description,
        "summary": w.summary(),
        "devices": w.devices,
        "devices_changed": w.devices_changed,
        "findings_changed": w.findings_changed,
        "transitions": {k: {"findings": n, "devices": d} for k, (n, d) in w.transitions.items()},
        "mean_risk_before": w.risk_before,
        "mean_risk_after": w.risk_after,
        "scoring_version": SCORING_VERSION,
    }


def procure(store: SqlStore, *, candidates: str) -> list[dict[str, Any]]:
    """Predict and compare the candidates of one file (reads advisories and inventory; stores nothing)."""
    from wardwatch.procure.model import ProcureError, comparison, predict, read_candidates

    try:
        specs = read_candidates(candidates)
        with store.transaction() as tx:
            preds = [predict(tx, spec) for spec in specs]
    except ProcureError as exc:
        raise RiskError(str(exc)) from None
    rows = comparison(preds)
    for row, p in zip(rows, preds, strict=True):
        row["recommendations"] = list(p.recommendations)
        row["predicted_findings"] = [
            {
                "vulnerability": f.vulnerability,
                "source": p.sources.get(f.vulnerability, ""),
                "risk": f.risk,
                "decision": str(f.decision),
            }
            for f in p.score.findings
        ]
        row["explanation"] = list(p.score.explanation)
    return rows
