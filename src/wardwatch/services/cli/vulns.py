"""Vulnerability intelligence: `feeds import|status`, `match`, `vulns` (+ `vulns export`), `triage` (issue 5)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wardwatch.services.cli.common import LazyModule, err, fail, new_table, opened_store, out


def _ns_text(ns: int | None) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns / 1e9)) if ns else "-"


def register(app: typer.Typer) -> None:
    """Add this module's commands (or sub-apps) to the ``wardwatch`` app."""
    if TYPE_CHECKING:
        from wardwatch.services import vulns as svc
    else:  # imported when a command runs: not every command needs the vulns service
        svc = LazyModule("wardwatch.services.vulns")

    feeds = typer.Typer(
        help="Import offline vulnerability feeds (NVD, KEV, EPSS, CSAF, SBOM, VEX).", no_args_is_help=True
    )
    app.add_typer(feeds, name="feeds")

    @feeds.command("import")
    def feeds_import(
        paths: Annotated[list[str], typer.Argument(help="Feed files (gzip ok) or directories.")],
        no_match: Annotated[
            bool, typer.Option("--no-match", help="Do not re-match devices afterwards.")
        ] = False,
    ) -> None:
        """Import feed files, one transaction each (already-imported files are skipped), then re-match."""
        with opened_store() as store:
            results = svc.import_feeds(store, paths=paths)
            errors = [r for r in results if r.status == "error"]
            for r in results:
                if r.status != "error":
                    out.print(
                        f"{r.status:9} {r.format:12} {r.records:>8} records "
                        f"(+{r.inserted} ~{r.updated} ={r.skipped})  {r.path}"
                    )
            if not results:
                raise fail("no feed files found in " + ", ".join(paths))
            if not no_match and len(errors) < len(results):
                s = svc.match_all(store)
                out.print(
                    f"matched {s.devices} devices: {s.active} active findings (+{s.opened} new, {s.inactive} now inactive)"
                )
            for r in errors:
                err.print(f"[bold red]error:[/] {r.error}", markup=True, highlight=False)
            if errors:
                raise typer.Exit(2)

    @feeds.command("status")
    def feeds_status(
        output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    ) -> None:
        """What is imported: counts per kind and the latest file imports."""
        with opened_store() as store:
            status = svc.feed_status(store)
        if output == "json":
            out.print_json(json.dumps(status, default=str))
            return
        c = status["counts"]
        out.print(
            f"advisories: {c['advisory']} (NVD {c['advisory_nvd']}, CSAF {c['advisory_csaf']})  KEV: {c['kev']}  "
            f"EPSS: {c['epss']}  SSVC: {c['ssvc']}  SBOMs: {c['sbom']}  VEX statements: {c['vex_statement']}  "
            f"findings: {c['finding_active']} active / {c['finding']}  decisions: {c['analysis']}"
        )
        t = new_table("When", "Status", "Format", "Records", "Watermark", "File")
        for r in status["imports"][:20]:
            t.add_row(
                _ns_text(r["finished_ns"]),
                r["status"],
                r["format"],
                str(r["records"]),
                r["watermark"],
                r["path"],
            )
        out.print(t)

    @app.command("match")
    def match_cmd(
        device: Annotated[
            str | None, typer.Option("--device", help="Only this device (id, key, MAC, IP).")
        ] = None,
    ) -> None:
        """Match devices against the imported advisories (findings never deleted; they go inactive)."""
        with opened_store() as store:
            try:
                s = svc.match_device(store, device=device) if device else svc.match_all(store)
            except svc.VulnError as e:
                raise fail(str(e)) from None
        out.print(
            f"{s.devices} devices ({s.identities} identities) against {s.advisories} advisories: "
            f"{s.active} active findings; {s.opened} new, {s.changed} changed, {s.reactivated} reactivated, "
            f"{s.inactive} now inactive; by matcher {s.by_matcher}"
        )

    vulns = typer.Typer(
        help="Findings: which vulnerabilities apply to which devices, and why.", invoke_without_command=True
    )
    app.add_typer(vulns, name="vulns")

    def _rows(device: str | None, kev: bool, min_cvss: float | None, inactive: bool) -> list[dict[str, Any]]:
        with opened_store() as store:
            try:
                return svc.list_findings(
                    store, device=device, kev_only=kev, min_cvss=min_cvss, include_inactive=inactive
                )
            except svc.VulnError as e:
                raise fail(str(e)) from None

    @vulns.callback()
    def vulns_cmd(
        ctx: typer.Context,
        device: Annotated[str | None, typer.Option("--device", help="Device id, key, MAC or IP.")] = None,
        kev: Annotated[bool, typer.Option("--kev", help="Only CVEs in CISA KEV.")] = False,
        min_cvss: Annotated[
            float | None, typer.Option("--min-cvss", help="Only findings with CVSS >= N.")
        ] = None,
        inactive: Annotated[bool, typer.Option("--inactive", help="Include inactive findings.")] = False,
        output: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
    ) -> None:
        """List findings (run `wardwatch match` or `feeds import` first)."""
        if ctx.invoked_subcommand is not None:
            return
        if output not in ("table", "json", "csv"):
            raise fail(f"--format must be table, json or csv, not {output!r}")
        rows = _rows(device, kev, min_cvss, inactive)
        if output == "json":
            out.print_json(
                json.dumps(
                    {"schema": "wardwatch.findings/1", "findings": [svc.finding_json(r) for r in rows]},
                    default=str,
                )
            )
        elif output == "csv":
            typer.echo(svc.to_csv(rows), nl=False)
        else:
            t = new_table(
                "Device",
                "Vendor / model",
                "Vulnerability",
                "CVSS",
                "KEV",
                "EPSS",
                "Status",
                "Conf.",
                "Matcher",
                "Triage",
            )
            for r in rows:
                a = r["analysis"]
                t.add_row(
                    str(r["device_id"]),
                    f"{r['vendor'] or '-'} {r['model'] or ''}".strip(),
                    r["vulnerability"]
                    + ("" if r["vulnerability"] == r["advisory_id"] else f" ({r['advisory_id']})"),
                    "-" if r["cvss"] is None else f"{r['cvss']:.1f}",
                    "yes" if r["kev"] else "",
                    "-" if r["epss"] is None else f"{r['epss']:.3f}",
                    r["status"]
                    + (f": {r['reason']}" if r["reason"] else "")
                    + ("" if r["active"] else " (inactive)"),
                    f"{r['confidence']:.2f}",
                    r["matcher"],
                    f"{a['state']} ({a['source']})" if a else "",
                )
            out.print(t)
            out.print(f"{len(rows)} findings")

    @vulns.command("export")
    def vulns_export(
        output: Annotated[str, typer.Option("--format", help="csv, json or cyclonedx-vex")] = "json",
        device: Annotated[str | None, typer.Option("--device")] = None,
        kev: Annotated[bool, typer.Option("--kev")] = False,
        min_cvss: Annotated[float | None, typer.Option("--min-cvss")] = None,
    ) -> None:
        """Export findings as CSV, JSON, or a CycloneDX 1.6 VEX document (to stdout)."""
        if output not in ("csv", "json", "cyclonedx-vex"):
            raise fail(f"--format must be csv, json or cyclonedx-vex, not {output!r}")
        rows = _rows(device, kev, min_cvss, False)
        if output == "csv":
            typer.echo(svc.to_csv(rows), nl=False)
        elif output == "json":
            typer.echo(
                json.dumps(
                    {"schema": "wardwatch.findings/1", "findings": [svc.finding_json(r) for r in rows]},
                    default=str,
                    indent=2,
                )
            )
        else:
            typer.echo(json.dumps(svc.to_cyclonedx_vex(rows), indent=2))

    triage = typer.Typer(help="Record decisions about findings (CycloneDX VEX states).", no_args_is_help=True)
    app.add_typer(triage, name="triage")

    @triage.command("set")
    def triage_set(
        vulnerability: Annotated[str, typer.Argument(help="CVE id (or advisory#n).")],
        state: Annotated[
            str,
            typer.Option("--state", help="exploitable, in_triage, false_positive, not_affected, resolved"),
        ],
        author: Annotated[str, typer.Option("--author", help="Who decided.")],
        device: Annotated[str | None, typer.Option("--device", help="One device (id, key, MAC, IP).")] = None,
        model: Annotated[
            str | None, typer.Option("--model", help="All devices of a model: 'Vendor|Model'.")
        ] = None,
        justification: Annotated[str | None, typer.Option("--justification")] = None,
        response: Annotated[list[str] | None, typer.Option("--response", help="Repeatable.")] = None,
        comment: Annotated[str, typer.Option("--comment")] = "",
    ) -> None:
        """Record a decision for one device (--device) or every device of a model (--model 'Vendor|Model')."""
        model_pair: tuple[str, str] | None = None
        if model is not None:
            vendor, sep, name = model.partition("|")
            if not sep:
                raise fail("--model must be 'Vendor|Model'")
            model_pair = (vendor, name)
        with opened_store() as store:
            try:
                n = svc.set_analysis(
                    store,
                    vulnerability=vulnerability,
                    state=state,
                    author=author,
                    device=device,
                    model=model_pair,
                    justification=justification,
                    responses=response or (),
                    detail=comment,
                )
            except svc.VulnError as e:
                raise fail(str(e)) from None
        out.print(f"recorded decision {n}: {vulnerability} {state}")

    @triage.command("history")
    def triage_history(vulnerability: Annotated[str, typer.Argument()]) -> None:
        """Every decision recorded for a vulnerability, oldest first (people and VEX documents)."""
        with opened_store() as store:
            rows = svc.analysis_history(store, vulnerability=vulnerability)
        t = new_table("When", "Scope", "Target", "State", "Justification", "Author", "Source", "Comment")
        for r in rows:
            t.add_row(
                _ns_text(r["created_ns"]),
                r["scope"],
                r["target"],
                r["state"],
                r["justification"] or "",
                r["author"],
                r["source"],
                r["detail"],
            )
        out.print(t)
