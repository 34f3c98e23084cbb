"""Risk in context: `risk` (+ `risk rubric`), `mitigate`, `what-if`, `procure` (issue 6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wardwatch.services.cli.common import LazyModule, fail, new_table, opened_store, out


def _check_format(output: str) -> None:
    if output not in ("table", "json"):
        raise fail(f"--format must be table or json, not {output!r}")


def _json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


def register(app: typer.Typer) -> None:
    """Add this module's commands (or sub-apps) to the ``wardwatch`` app."""
    if TYPE_CHECKING:
        from wardwatch.services import risk as svc
    else:  # imported when a command runs: not every command needs the risk service
        svc = LazyModule("wardwatch.services.risk")

    risk = typer.Typer(
        help="Device risk in context: likelihood x impact, SSVC decisions, explanations.",
        invoke_without_command=True,
    )
    app.add_typer(risk, name="risk")

    @risk.callback()
    def risk_cmd(
        ctx: typer.Context,
        device: Annotated[str | None, typer.Option("--device", help="Device id, key, MAC or IP.")] = None,
        limit: Annotated[int, typer.Option("--limit", help="How many devices to list.")] = 50,
        output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    ) -> None:
        """Score devices now (all of them, or one with --device) and show why."""
        if ctx.invoked_subcommand is not None:
            return
        _check_format(output)
        with opened_store() as store:
            if device is not None:
                try:
                    result = svc.device_risk(store, device=device)
                except svc.RiskError as e:
                    raise fail(str(e)) from None
                if output == "json":
                    _json({"schema": "wardwatch.risk/1", **svc.device_risk_json(result)})
                    return
                s = result.score
                out.print(
                    f"{result.context.label}: risk {s.risk} (likelihood {s.likelihood}, impact {s.impact}), "
                    f"SSVC {s.decision or '-'}, {len(s.findings)} finding(s), scoring {s.version}"
                )
                for line in s.explanation:
                    out.print(f"  {line}")
                if s.findings:
                    t = new_table(
                        "Vulnerability", "Risk", "Likelihood", "Impact", "SSVC", "Decision", "CVSS env"
                    )
                    for f in s.findings:
                        t.add_row(
                            f.vulnerability,
                            f"{f.risk:.1f}",
                            f"{f.likelihood:.1f}",
                            f"{f.impact:.1f}",
                            f.ssvc.vector,
                            str(f.decision),
                            "-" if f.cvss_environmental is None else f"{f.cvss_environmental:.1f}",
                        )
                    out.print(t)
                return
            summary = svc.recompute(store)
            rows = svc.stored_scores(store, limit=limit)
        if output == "json":
            _json(
                {
                    "schema": "wardwatch.risk-fleet/1",
                    "version": summary.version,
                    "devices": summary.devices,
                    "findings": summary.findings,
                    "decisions": summary.decisions,
                    "scores": rows,
                }
            )
            return
        out.print(
            f"scored {summary.devices} devices, {summary.findings} findings with {summary.version} in "
            f"{summary.seconds:.1f}s; decisions {summary.decisions}"
        )
        t = new_table("Device", "Risk", "Likelihood", "Impact", "Decision", "Findings", "Driven by")
        for r in rows:
            t.add_row(
                f"{r['device_id']} {r['context'].get('label', '')}",
                f"{r['risk']:.1f}",
                f"{r['likelihood']:.1f}",
                f"{r['impact']:.1f}",
                r["decision"] or "-",
                str(r["findings"]),
                r["top_vulnerability"] or "-",
            )
        out.print(t)

    @risk.command("rubric")
    def rubric_cmd(
        vendor: Annotated[str, typer.Option("--vendor", help="Device vendor as identified.")],
        model: Annotated[str, typer.Option("--model", help="Device model as identified.")],
        answers: Annotated[
            list[str], typer.Argument(help="Answers as ID=VALUE (e.g. XAVN=yes XIT=H), or one JSON file.")
        ],
        author: Annotated[str, typer.Option("--author", help="Who answered.")] = "cli",
        output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    ) -> None:
        """Answer the MITRE medical-device CVSS rubric for a model (applies at the next scoring)."""
        _check_format(output)
        parsed: dict[str, str] = {}
        if len(answers) == 1 and answers[0].endswith(".json"):
            path = Path(answers[0])
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise fail(f"{path}: cannot read rubric answers: {e}") from None
            if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
                raise fail(f"{path}: rubric answers must be a JSON object of question id -> answer")
            parsed = {str(k): v for k, v in data.items()}
        else:
            for a in answers:
                key, sep, value = a.partition("=")
                if not sep:
                    raise fail(f"answer {a!r} is not ID=VALUE")
                parsed[key.strip()] = value.strip()
        with opened_store() as store:
            try:
                result = svc.set_rubric(store, vendor=vendor, model=model, answers=parsed, author=author)
            except svc.RiskError as e:
                raise fail(str(e)) from None
        if output == "json":
            _json(
                {
                    "base": result.base,
                    "vector": result.vector,
                    "environmental": result.environmental,
                    "reasons": list(result.reasons),
                }
            )
            return
        out.print(
            f"{vendor} {model}: medical-context vector {result.vector}; requirements {result.environmental}"
        )
        for line in result.reasons:
            out.print(f"  {line}")

    @app.command("mitigate")
    def mitigate_cmd(
        device: Annotated[str, typer.Option("--device", help="Device id, key, MAC or IP.")],
        output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    ) -> None:
        """Ranked mitigation options for one device, each with the residual risk after it."""
        _check_format(output)
        with opened_store() as store:
            try:
                result, options = svc.mitigation_options(store, device=device)
            except svc.RiskError as e:
                raise fail(str(e)) from None
        if output == "json":
            _json(
                {
                    "schema": "wardwatch.mitigations/1",
                    "device": {"id": result.device.id, "label": result.context.label},
                    "risk": result.score.risk,
                    "allowlist": list(result.allowlist),
                    "options": [svc.option_json(o) for o in options],
                }
            )
            return
        out.print(f"{result.context.label}: risk {result.score.risk} now; {len(options)} option(s)")
        t = new_table("#", "Option", "Residual risk", "Decisions after", "Detail")
        for o in options:
            moved = ", ".join(f"{v} {a}->{b}" for v, a, b in o.transitions)
            t.add_row(
                str(o.rank),
                o.title,
                f"{o.after.risk:.1f} (-{o.reduction:.1f})",
                moved or "-",
                "; ".join(o.detail[:3]),
            )
        out.print(t)

    @app.command("what-if")
    def what_if_cmd(
        block: Annotated[
            list[str] | None, typer.Option("--block", help="Block a service: tcp/445, 161/udp, smb, rdp ...")
        ] = None,
        allowlist: Annotated[bool, typer.Option("--allowlist", help="Restrict to observed peers.")] = False,
        segment: Annotated[bool, typer.Option("--segment", help="Move to a dedicated segment/VLAN.")] = False,
        patch: Annotated[
            list[str] | None, typer.Option("--patch", help="Assume this CVE is patched.")
        ] = None,
        subnet: Annotated[str | None, typer.Option("--subnet", help="Only devices in this subnet.")] = None,
        category: Annotated[
            str | None, typer.Option("--category", help="Only this clinical category.")
        ] = None,
        device_type: Annotated[str | None, typer.Option("--type", help="Only this device type.")] = None,
        device: Annotated[str | None, typer.Option("--device", help="Only this device.")] = None,
        output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    ) -> None:
        """Apply hypothetical mitigations across the fleet: which findings change decision, residual risk."""
        _check_format(output)
        with opened_store() as store:
            try:
                result = svc.what_if(
                    store,
                    block=block or [],
                    allowlist=allowlist,
                    segment=segment,
                    patch=patch or [],
                    subnet=subnet,
                    category=category,
                    device_type=device_type,
                    device=device,
                )
            except svc.RiskError as e:
                raise fail(str(e)) from None
        if output == "json":
            _json({"schema": "wardwatch.what-if/1", **svc.what_if_json(result)})
            return
        out.print(result.summary())
        out.print(
            f"{result.devices} device(s) in scope, {result.devices_changed} changed; mean risk "
            f"{result.risk_before} -> {result.risk_after}"
        )

    @app.command("procure")
    def procure_cmd(
        candidates: Annotated[
            str, typer.Argument(help="Candidates JSON (vendor, model, SBOM, MDS2, placement).")
        ],
        output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    ) -> None:
        """Secure before procure: predicted findings, risk and secure configuration, side by side."""
        _check_format(output)
        with opened_store() as store:
            try:
                rows = svc.procure(store, candidates=candidates)
            except svc.RiskError as e:
                raise fail(str(e)) from None
        if output == "json":
            _json({"schema": "wardwatch.procure/1", "candidates": rows})
            return
        t = new_table("", *(r["candidate"] for r in rows))
        for key in (
            "vendor",
            "model",
            "risk",
            "likelihood",
            "impact",
            "findings",
            "act",
            "attend",
            "kev",
            "sbom_components",
            "mds2_flags",
            "best_option",
            "residual_after_best",
        ):
            t.add_row(key, *("-" if r[key] is None else str(r[key]) for r in rows))
        out.print(t)
        for r in rows:
            out.print(f"[bold]{r['candidate']}[/]: recommended secure configuration", markup=True)
            for line in r["recommendations"]:
                out.print(f"  - {line}")
