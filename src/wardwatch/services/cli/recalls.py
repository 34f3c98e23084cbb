"""FDA recalls, CMMS assets, lifecycle and alerts: `recalls`, `assets`, `lifecycle`, `alerts` (issue 8).

Thin: parsing options and printing; the use cases are in :mod:`wardwatch.services.recalls`.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from wardwatch.services.cli.common import err, fail, new_table, opened_store, out

FORMATS = ("table", "json", "csv")


def _check_format(output: str, allowed: tuple[str, ...] = FORMATS) -> None:
    if output not in allowed:
        raise fail(f"--format must be {', '.join(allowed[:-1])} or {allowed[-1]}, not {output!r}")


def _json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def _csv(rows: list[dict[str, Any]], fields: list[str]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)


def _parse_now(text: str | None) -> int:
    from wardwatch.services.recalls import now_ns

    if text is None:
        return now_ns()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"--now {text!r}: expected an ISO date or date-time, e.g. 2026-01-15T08:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000) * 1000


def _short(iso: str | None) -> str:
    return (iso or "-")[:19].replace("T", " ")


recalls_app = typer.Typer(
    help="FDA device recalls: import openFDA files, list affected devices.", no_args_is_help=False
)
assets_app = typer.Typer(
    help="CMMS asset lists: import and reconcile with the network.", no_args_is_help=True
)
alerts_app = typer.Typer(help="Recall, missing, moved and new-device alerts.")


@recalls_app.callback(invoke_without_command=True)
def recalls_cmd(
    ctx: typer.Context,
    open_only: Annotated[bool, typer.Option("--open", help="Only recalls still open.")] = False,
    device: Annotated[
        str | None, typer.Option("--device", help="One device (id, MAC, IP) or asset tag.")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list not-affected units and product-line matches.")
    ] = False,
    output: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """List the devices a recall affects (and those it possibly affects), with evidence and location."""
    if ctx.invoked_subcommand is not None:
        return
    from wardwatch.model.recall import MatchLevel
    from wardwatch.services.recalls import ACTIONABLE, finding_json, recall_findings

    _check_format(output)
    levels = tuple(MatchLevel) if show_all else ACTIONABLE
    with opened_store() as store:
        try:
            findings = recall_findings(store, open_only=open_only, device_ref=device, levels=levels)
        except LookupError as exc:
            raise fail(str(exc).strip("'\""), 1) from None
    rows = [finding_json(f) for f in findings]
    if output == "json":
        _json({"schema": "wardwatch.recall-findings/1", "findings": rows})
        return
    if output == "csv":
        flat = [
            {
                "recall": r["recall"]["number"] or r["recall"]["uid"],
                "firm": r["recall"]["recalling_firm"],
                "status": r["recall"]["status"],
                "level": r["match"]["level"],
                "confidence": r["match"]["confidence"],
                "device_id": r["match"]["device_id"],
                "asset_tag": r["asset_tag"],
                "ip": r["where"]["ip"],
                "segment": r["where"]["segment"],
                "vlans": " ".join(map(str, r["where"]["vlans"])),
                "switch_port": r["where"]["switch_port"],
                "last_seen": r["where"]["last_seen"],
                "location": r["where"]["location"],
                "evidence": "; ".join(
                    f"{e['criterion']} {e['outcome']} ({e['device_value']} / {e['recall_value']})"
                    for e in r["match"]["evidence"]
                ),
            }
            for r in rows
        ]
        _csv(
            flat,
            [
                "recall",
                "firm",
                "status",
                "level",
                "confidence",
                "device_id",
                "asset_tag",
                "ip",
                "segment",
                "vlans",
                "switch_port",
                "last_seen",
                "location",
                "evidence",
            ],
        )
        return
    table = new_table(title=f"{len(rows)} recall matches", title_justify="left", show_lines=True)
    for column in ("Recall", "Level", "Unit", "Where", "Evidence"):
        table.add_column(column, overflow="fold")
    for r in rows:
        rec, m, where = r["recall"], r["match"], r["where"]
        unit = f"device {m['device_id']}" if m["device_id"] is not None else ""
        if r["asset_tag"]:
            unit += f"{' / ' if unit else ''}asset {r['asset_tag']}"
        if r["device"]:
            unit += "\n" + " ".join(
                x
                for x in (
                    r["device"]["vendor"],
                    r["device"]["model"],
                    r["device"]["serial"] and f"s/n {r['device']['serial']}",
                )
                if x
            )
        place = [
            f"{where['ip'] or '-'} ({where['segment'] or '-'})",
            f"VLAN {','.join(map(str, where['vlans'])) or '-'}",
            f"port {where['switch_port'] or '-'}",
            f"last seen {_short(where['last_seen'])}",
        ]
        if where["location"] or where["department"]:
            place.append(" / ".join(x for x in (where["department"], where["location"]) if x))
        evidence = "\n".join(
            f"{e['criterion']}: {e['outcome']} ({e['device_value'] or '?'} vs {e['recall_value'] or '?'}; {e['source']})"
            + (
                f" {e['detail']}"
                if e["outcome"] != "match" or e["criterion"] in ("lot", "serial", "unit")
                else ""
            )
            for e in m["evidence"]
        )
        table.add_row(
            f"{rec['number'] or rec['uid']}\n{rec['recalling_firm']}\n{rec['classification'] or ''} {rec['status']}",
            f"{m['level']}\n{m['confidence']:.2f}",
            unit,
            "\n".join(place),
            evidence,
        )
    out.print(table)


@recalls_app.command("import")
def recalls_import_cmd(
    paths: Annotated[
        list[str],
        typer.Argument(help="openFDA device recall/enforcement files (.json, .json.gz, bulk .zip)."),
    ],
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Import openFDA recall files (idempotent; newer status replaces older). One transaction per file."""
    from wardwatch.services.recalls import import_recalls, refresh_recall_alerts

    _check_format(output, ("table", "json"))
    with opened_store() as store:
        results = import_recalls(store, paths=paths)
        alerts = refresh_recall_alerts(store)
    if output == "json":
        _json(
            {
                "schema": "wardwatch.recall-import/1",
                "files": [
                    {
                        "path": r.path,
                        "recalls": r.recalls,
                        "new": r.new,
                        "updated": r.updated,
                        "error": r.error,
                    }
                    for r in results
                ],
                "alerts": alerts,
            }
        )
    else:
        for r in results:
            if r.error:
                err.print(f"[bold red]error:[/] {r.error} (nothing from this file was stored)")
            else:
                out.print(f"{r.path}: {r.recalls} recalls ({r.new} new, {r.updated} updated)")
        if alerts.get("new") or alerts.get("reopened"):
            out.print(f"recall alerts: {alerts.get('new', 0)} new, {alerts.get('reopened', 0)} reopened")
    if any(r.error for r in results):
        raise typer.Exit(1)


@assets_app.command("import")
def assets_import_cmd(
    paths: Annotated[list[str], typer.Argument(help="CMMS export(s): .csv or .xlsx (first sheet).")],
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="FIELD=Column header (repeat, or comma-separated), e.g. tag='Asset Tag'."),
    ] = None,
) -> None:
    """Replace the stored CMMS asset list with these files."""
    from wardwatch.assets.cmms import AssetFileError, parse_mapping
    from wardwatch.services.recalls import import_assets, refresh_recall_alerts

    try:
        columns = parse_mapping(mapping or [])
    except ValueError as exc:
        raise fail(str(exc)) from None
    with opened_store() as store:
        try:
            count = import_assets(store, paths=paths, mapping=columns)
        except AssetFileError as exc:
            raise fail(f"{exc} (the stored asset list is unchanged)", 1) from None
        # Lots and UDIs from the CMMS can put units into (or out of) a recall.
        alerts = refresh_recall_alerts(store)
    out.print(f"{count} assets imported from {len(paths)} file(s)")
    if alerts.get("new") or alerts.get("reopened"):
        out.print(f"recall alerts: {alerts.get('new', 0)} new, {alerts.get('reopened', 0)} reopened")


@assets_app.command("reconcile")
def assets_reconcile_cmd(
    output: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    state_filter: Annotated[
        str | None, typer.Option("--state", help="matched, network_only or cmms_only.")
    ] = None,
) -> None:
    """Compare the CMMS asset list with the discovered inventory."""
    from wardwatch.assets.reconcile import reconciliation_json
    from wardwatch.model.recall import ReconState
    from wardwatch.services.recalls import reconcile_inventory

    _check_format(output)
    if state_filter is not None and state_filter not in {s.value for s in ReconState}:
        raise fail(f"--state must be one of {', '.join(s.value for s in ReconState)}")
    with opened_store() as store:
        rows = [reconciliation_json(r) for r in reconcile_inventory(store)]
    counts = {s.value: sum(1 for r in rows if r["state"] == s.value) for s in ReconState}
    if state_filter:
        rows = [r for r in rows if r["state"] == state_filter]
    if output == "json":
        _json({"schema": "wardwatch.reconciliation/1", "counts": counts, "rows": rows})
        return
    if output == "csv":
        flat = [
            {
                "state": r["state"],
                "device_id": r["device_id"],
                "asset_tag": r["asset_tag"],
                "matched_by": r["matched_by"],
                "conflicts": " ".join(r["conflicts"]),
                **{f"{k}": v["value"] for k, v in r["merged"].items()},
            }
            for r in rows
        ]
        fields = [
            "state",
            "device_id",
            "asset_tag",
            "matched_by",
            "conflicts",
            "serial",
            "vendor",
            "model",
            "mac",
            "ip",
            "hostname",
            "department",
            "location",
            "lot",
            "udi",
        ]
        _csv(flat, fields)
        return
    out.print(", ".join(f"{v} {k.replace('_', '-')}" for k, v in counts.items()))
    table = new_table(show_lines=False)
    for column in ("State", "Device", "Asset", "By", "Conflicts (network / CMMS)"):
        table.add_column(column, overflow="fold")
    for r in rows:
        conflicts = "; ".join(
            f"{name}: {r['merged'][name]['network']} / {r['merged'][name]['cmms']}" for name in r["conflicts"]
        )
        table.add_row(
            r["state"],
            str(r["device_id"] or "-"),
            r["asset_tag"] or "-",
            r["matched_by"] or "-",
            conflicts or "-",
        )
    out.print(table)


def lifecycle_cmd(
    now: Annotated[
        str | None, typer.Option("--now", help="Assess as of this time (ISO 8601; default: now).")
    ] = None,
    thresholds: Annotated[
        str | None, typer.Option("--thresholds", help="A thresholds JSON file (see docs/recalls.md).")
    ] = None,
    new_days: Annotated[
        float, typer.Option("--new-days", min=0.0, help="First seen within this many days: new.")
    ] = 1.0,
    no_alerts: Annotated[bool, typer.Option("--no-alerts", help="Report only; raise no alerts.")] = False,
    output: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Last seen and where, missing/moved/new, end of support, utilization; raises alerts."""
    from wardwatch.lifecycle.assess import load_thresholds
    from wardwatch.services.present import iso
    from wardwatch.services.recalls import check_lifecycle

    _check_format(output)
    at = _parse_now(now)
    try:
        limits = load_thresholds(thresholds)
    except ValueError as exc:
        raise fail(str(exc)) from None
    with opened_store() as store:
        report = check_lifecycle(
            store, at_ns=at, thresholds=limits, new_days=new_days, raise_alerts=not no_alerts
        )
    rows: list[dict[str, Any]] = []
    for e in report.entries:
        d = report.devices[e.device_id]
        used = report.utilization.get(e.device_id, {})
        rows.append(
            {
                "device_id": e.device_id,
                "mac": d.mac,
                "ip": d.ips[0].ip if d.ips else None,
                "device_type": d.value("device_type"),
                "vendor": d.value("vendor"),
                "model": d.value("model"),
                "last_seen": iso(e.last_seen_ns),
                "unseen_days": e.unseen_days,
                "threshold_days": e.threshold_days,
                "missing": e.missing,
                "new": e.new,
                "moved": None
                if e.moved is None
                else {
                    "from_ip": e.moved.from_ip,
                    "from_segment": e.moved.from_segment,
                    "to_ip": e.moved.to_ip,
                    "to_segment": e.moved.to_segment,
                    "since": iso(e.moved.to_first_ns),
                },
                "support": {
                    "status": e.support.status,
                    "product": e.support.product,
                    "end_of_support": e.support.end_of_support,
                    "reason": e.support.reason,
                    "source": e.support.source,
                },
                "model_support": {
                    "status": e.model_support.status,
                    "model": e.model_support.product,
                    "end_of_support": e.model_support.end_of_support,
                    "reason": e.model_support.reason,
                    "source": e.model_support.source,
                },
                "utilization_hours_per_day": used,
            }
        )
    if output == "json":
        _json(
            {
                "schema": "wardwatch.lifecycle/1",
                "as_of": iso(at),
                "devices": rows,
                "cmms_only": [
                    {
                        "asset_tag": a.tag,
                        "source": a.source,
                        "department": a.department,
                        "location": a.location,
                    }
                    for a in report.cmms_only
                ],
                "alerts": report.alerts,
            }
        )
        return
    if output == "csv":
        flat = [
            {
                **{
                    k: v
                    for k, v in r.items()
                    if k not in ("moved", "support", "model_support", "utilization_hours_per_day")
                },
                "moved_to": r["moved"]["to_segment"] if r["moved"] else "",
                "support": r["support"]["status"],
                "end_of_support": r["support"]["end_of_support"],
                "model_support": r["model_support"]["status"],
                "model_end_of_support": r["model_support"]["end_of_support"],
                "hours_active_per_day": round(
                    sum(r["utilization_hours_per_day"].values())
                    / max(1, len(r["utilization_hours_per_day"])),
                    2,
                ),
            }
            for r in rows
        ]
        _csv(flat, list(flat[0]) if flat else ["device_id"])
        return
    table = new_table(title=f"lifecycle as of {_short(iso(at))} UTC", title_justify="left")
    for column in ("ID", "Type", "Vendor / model", "Last seen", "Status", "Support", "Hours/day"):
        table.add_column(column, overflow="fold")
    for r in rows:
        status = []
        if r["missing"]:
            status.append(f"MISSING ({r['unseen_days']:g} d > {r['threshold_days']:g})")
        if r["moved"]:
            status.append(f"moved {r['moved']['from_segment']} -> {r['moved']['to_segment']}")
        if r["new"]:
            status.append("new")
        used = r["utilization_hours_per_day"]
        table.add_row(
            str(r["device_id"]),
            r["device_type"] or "-",
            " ".join(x for x in (r["vendor"], r["model"]) if x) or "-",
            _short(r["last_seen"]),
            ", ".join(status) or "ok",
            "OS "
            + r["support"]["status"]
            + (f" ({r['support']['end_of_support']})" if r["support"]["end_of_support"] else "")
            + "\nmodel "
            + r["model_support"]["status"]
            + (f" ({r['model_support']['end_of_support']})" if r["model_support"]["end_of_support"] else ""),
            f"{sum(used.values()) / len(used):.1f}" if used else "-",
        )
    out.print(table)
    for a in report.cmms_only:
        out.print(f"CMMS only (not seen on the network): asset {a.tag} ({a.source})")
    if report.alerts:
        out.print("alerts: " + ", ".join(f"{k} {v}" for k, v in sorted(report.alerts.items())))


@alerts_app.callback(invoke_without_command=True)
def alerts_cmd(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option("--state", help="open, acknowledged or closed.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="recall, missing, moved or new.")] = None,
    output: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """List stored alerts."""
    if ctx.invoked_subcommand is not None:
        return
    from wardwatch.alerts.repo import list_alerts
    from wardwatch.model.recall import AlertKind, AlertState
    from wardwatch.services.recalls import alert_json

    _check_format(output)
    try:
        wanted_state = AlertState(state) if state else None
        wanted_kind = AlertKind(kind) if kind else None
    except ValueError as exc:
        raise fail(str(exc)) from None
    with opened_store() as store, store.transaction() as tx:
        alerts = list_alerts(tx.conn, state=wanted_state, kind=wanted_kind)
    rows: list[dict[str, Any]] = [alert_json(a) for a in alerts]
    if output == "json":
        _json({"schema": "wardwatch.alerts/1", "alerts": rows})
        return
    if output == "csv":
        _csv(
            rows,
            ["id", "kind", "state", "title", "device_id", "asset_tag", "first", "last", "count", "dedup_key"],
        )
        return
    table = new_table(title=f"{len(rows)} alerts", title_justify="left")
    for column in ("ID", "Kind", "State", "Alert", "Last", "Count"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(str(r["id"]), r["kind"], r["state"], r["title"], _short(r["last"]), str(r["count"]))
    out.print(table)


def _set_state(alert_id: int, state: str) -> None:
    from wardwatch.alerts.repo import AlertNotFound, set_state
    from wardwatch.model.recall import AlertState
    from wardwatch.services.recalls import now_ns

    with opened_store() as store:
        try:
            with store.transaction() as tx:
                alert = set_state(tx.conn, alert_id, AlertState(state), now_ns=now_ns())
        except AlertNotFound as exc:
            raise fail(str(exc).strip("'\""), 1) from None
    out.print(f"alert {alert.id}: {alert.state.value}")


@alerts_app.command("ack")
def alerts_ack_cmd(
    alert_id: Annotated[int, typer.Argument(help="Alert id (from 'wardwatch alerts').")],
) -> None:
    """Acknowledge an alert (someone is on it)."""
    _set_state(alert_id, "acknowledged")


@alerts_app.command("close")
def alerts_close_cmd(
    alert_id: Annotated[int, typer.Argument(help="Alert id (from 'wardwatch alerts').")],
) -> None:
    """Close an alert (it reopens if the condition is seen again later)."""
    _set_state(alert_id, "closed")


@alerts_app.command("reopen")
def alerts_reopen_cmd(alert_id: Annotated[int, typer.Argument(help="Alert id.")]) -> None:
    """Reopen an alert."""
    _set_state(alert_id, "open")


def register(app: typer.Typer) -> None:
    """Add this module's commands (or sub-apps) to the ``wardwatch`` app."""
    app.add_typer(recalls_app, name="recalls")
    app.add_typer(assets_app, name="assets")
    app.add_typer(alerts_app, name="alerts")
    app.command("lifecycle")(lifecycle_cmd)
