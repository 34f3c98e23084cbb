"""Storage of risk scores, per-finding decisions and rubric answers (tables in ``schema_risk``).

Works on a ``sqlalchemy.Connection`` (``tx.conn`` inside ``store.transaction()``) so a recompute
is one transaction: either every device's new score is visible, or none is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, select

from wardwatch.risk.score import DeviceContext, FindingRisk, RiskScore
from wardwatch.store import schema_risk as r

_CHUNK = 500


def context_json(ctx: DeviceContext) -> dict[str, Any]:
    """The exposure a score saw, as stored beside it (no patient data: addresses and ports only)."""
    return {
        "label": ctx.label,
        "device_type": ctx.device_type,
        "clinical_category": ctx.clinical_category,
        "handles_phi": ctx.handles_phi,
        "phi_evidence": list(ctx.phi_evidence),
        "services": [
            {"transport": s.transport, "port": s.port, "protocol": s.protocol, "clients": s.clients}
            for s in ctx.services
        ],
        "peers": ctx.peers,
        "internet_peers": list(ctx.internet_peers),
        "subnets": list(ctx.subnets),
        "attack_path": list(ctx.attack_path),
        "dependents": ctx.dependents,
        "rubric_metrics": dict(ctx.rubric_metrics),
    }


def score_rows(
    result: RiskScore, ctx: DeviceContext, now_ns: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``risk_score`` row and the ``risk_finding`` rows of one scored device."""
    return head_row(result, ctx, now_ns), [finding_row(result, f, now_ns) for f in result.findings]


def head_row(result: RiskScore, ctx: DeviceContext, now_ns: int) -> dict[str, Any]:
    """The ``risk_score`` row of one scored device."""
    return {
        "device_id": result.device_id,
        "version": result.version,
        "risk": result.risk,
        "likelihood": result.likelihood,
        "impact": result.impact,
        "decision": str(result.decision) if result.decision else None,
        "top_vulnerability": result.top,
        "findings": len(result.findings),
        "explanation": list(result.explanation),
        "context": context_json(ctx),
        "computed_ns": now_ns,
    }


def finding_row(result: RiskScore, f: FindingRisk, now_ns: int) -> dict[str, Any]:
    """The ``risk_finding`` row of one scored finding of a device."""
    return {
        "device_id": result.device_id,
        "vulnerability": f.vulnerability,
        "version": result.version,
        "risk": f.risk,
        "likelihood": f.likelihood,
        "impact": f.impact,
        "decision": str(f.decision),
        "ssvc": f.ssvc.vector,
        "cvss_environmental": f.cvss_environmental,
        # Compact on purpose (600,000 findings): the values in the version's factor order
        # (exploitability, threat, exposure, technical impact, clinical, PHI, dependents[, control]).
        "factors": [x.value for x in f.factors],
        "computed_ns": now_ns,
    }


class RiskRepo:
    """Reads and writes the risk tables."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def replace_scores(
        self,
        device_ids: Sequence[int],
        heads: list[dict[str, Any]],
        rows: list[dict[str, Any]],
        *,
        all_devices: bool,
    ) -> None:
        """Replace the stored scores of these devices (of every device when ``all_devices``)."""
        if all_devices:
            self.conn.execute(delete(r.risk_finding))
            self.conn.execute(delete(r.risk_score))
        else:
            ids = list(device_ids)
            for i in range(0, len(ids), _CHUNK):
                part = ids[i : i + _CHUNK]
                self.conn.execute(delete(r.risk_finding).where(r.risk_finding.c.device_id.in_(part)))
                self.conn.execute(delete(r.risk_score).where(r.risk_score.c.device_id.in_(part)))
        self.insert_scores(heads, rows)

    def insert_scores(self, heads: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
        """Insert score rows (the devices' old rows must be gone: see :meth:`replace_scores`)."""
        for i in range(0, len(heads), 5000):
            self.conn.execute(r.risk_score.insert(), heads[i : i + 5000])
        for i in range(0, len(rows), 10000):
            self.conn.execute(r.risk_finding.insert(), rows[i : i + 10000])

    def scores(self, *, device_id: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Stored device scores, highest risk first."""
        t = r.risk_score
        q = select(t).order_by(t.c.risk.desc(), t.c.device_id)
        if device_id is not None:
            q = q.where(t.c.device_id == device_id)
        if limit is not None:
            q = q.limit(limit)
        return [dict(x._mapping) for x in self.conn.execute(q)]

    def findings(self, device_id: int) -> list[dict[str, Any]]:
        """Stored per-finding scores of one device, highest risk first."""
        t = r.risk_finding
        q = select(t).where(t.c.device_id == device_id).order_by(t.c.risk.desc(), t.c.vulnerability)
        return [dict(x._mapping) for x in self.conn.execute(q)]

    def decision_counts(self) -> dict[str, int]:
        """How many stored findings got each SSVC decision."""
        t = r.risk_finding
        q = select(t.c.decision, func.count()).group_by(t.c.decision)
        return {str(d): int(n) for d, n in self.conn.execute(q)}

    def set_rubric(
        self,
        *,
        vendor: str,
        model: str,
        answers: dict[str, str],
        metrics: dict[str, str],
        author: str,
        now_ns: int,
    ) -> None:
        """Store (replace) the rubric answers of one model."""
        t = r.risk_rubric
        key = (vendor.lower(), model.lower())
        self.conn.execute(delete(t).where(t.c.vendor == key[0], t.c.model == key[1]))
        self.conn.execute(
            t.insert().values(
                vendor=key[0],
                model=key[1],
                answers=answers,
                metrics=metrics,
                author=author,
                updated_ns=now_ns,
            )
        )

    def rubrics(self) -> dict[tuple[str, str], dict[str, str]]:
        """(vendor, model) lower-cased -> the CVSS metrics its rubric answers give."""
        t = r.risk_rubric
        return {(x.vendor, x.model): dict(x.metrics) for x in self.conn.execute(select(t))}

    def rubric_rows(self) -> list[dict[str, Any]]:
        """Every stored rubric with its answers."""
        t = r.risk_rubric
        return [dict(x._mapping) for x in self.conn.execute(select(t).order_by(t.c.vendor, t.c.model))]


def ids_of(rows: Iterable[dict[str, Any]]) -> list[int]:
    """Device ids of score rows."""
    return [int(x["device_id"]) for x in rows]
