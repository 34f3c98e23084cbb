"""``wardwatch``: discover devices from captures and look at the inventory.

Every command takes ``--db URL`` (or the ``WARDWATCH_DB`` variable): ``sqlite:///path.sqlite``
(the embedded default) or ``postgresql://user@host/db``. Errors are one line on stderr and a
non-zero exit status; a traceback is a bug.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wardwatch.services.cli.common import DEFAULT_DB, err, fail, new_table, opened_store, out, state

if TYPE_CHECKING:
    # Each command imports what it needs when it runs (discovery pulls in NumPy and the
    # sensor, the progress bar rich.progress): ``--help`` and the other commands start faster.
    from rich.progress import Progress

    from wardwatch.services.discovery import DiscoverySummary, SourceSummary

app = typer.Typer(
    name="wardwatch",
    help="Passive discovery and security of connected medical devices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    db: Annotated[
        str | None,
        typer.Option(
            "--db", envvar="WARDWATCH_DB", help="Database URL (sqlite:///file.sqlite or postgresql://...)."
        ),
    ] = None,
) -> None:
    """Passive discovery and security of connected medical devices."""
    state.db = db or DEFAULT_DB


class _RichProgress:
    """Draws one progress line per source while discovery runs (only on a terminal)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def source_started(self, source: str) -> None:
        self.tasks[source] = self.progress.add_task(Path(source).name or source, total=None)

    def packets_read(self, source: str, packets: int) -> None:
        self.progress.update(self.tasks[source], advance=packets)

    def source_finished(self, source: str, summary: SourceSummary) -> None:
        self.progress.update(self.tasks[source], total=summary.packets, completed=summary.packets)


@app.command("discover")
def discover_cmd(
    paths: Annotated[
        list[str], typer.Argument(help="pcap/pcapng files (gzip ok), directories, or - for stdin.")
    ],
    output: Annotated[str, typer.Option("--format", help="Summary format: table or json.")] = "table",
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Processes per capture, sharded by flow.")
    ] = 1,
) -> None:
    """Discover devices in packet captures and update the inventory."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from wardwatch.gctools import packet_path_gc
    from wardwatch.services.discovery import discover

    if output not in ("table", "json"):
        raise fail(f"--format must be table or json, not {output!r}")
    with opened_store() as store:
        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,} packets"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        with progress, packet_path_gc():
            summary = discover(store, paths, progress=_RichProgress(progress), workers=workers)
    if output == "json":
        out.print_json(json.dumps(_summary_json(summary)))
    else:
        _print_summary(summary)
    if not summary.ok:
        raise typer.Exit(1)


def _summary_json(summary: DiscoverySummary) -> dict[str, Any]:
    return {
        "schema": "wardwatch.discovery/1",
        "devices": summary.devices,
        "devices_new": summary.devices_new,
        "seconds": round(summary.seconds, 3),
        "sources": [
            {
                "source": s.source,
                "packets": s.packets,
                "bytes": s.bytes,
                "observations": s.observations,
                "new_observations": s.new_observations,
                "flows": s.flows,
                "skipped_records": s.skipped_records,
                "unsupported_linktype_packets": s.unsupported_linktype_packets,
                "warnings": s.warnings,
                "error": s.error,
            }
            for s in summary.sources
        ],
    }


def _print_summary(summary: DiscoverySummary) -> None:
    for s in summary.sources:
        line = (
            f"{s.source}: {s.packets:,} packets, {s.observations:,} observations ({s.new_observations:,} new)"
        )
        if s.skipped_records:
            line += f", {s.skipped_records} records skipped"
        if s.unsupported_linktype_packets:
            line += f", {s.unsupported_linktype_packets} packets of unsupported link types"
        out.print(line)
        for warning in s.warnings:
            err.print(f"[yellow]warning:[/] {warning}")
        if s.error:
            err.print(f"[bold red]error:[/] {s.error} (everything read before it was kept)")
    out.print(
        f"inventory: {summary.devices:,} devices ({summary.devices_new:,} new) in {summary.seconds:.1f} s"
    )


@app.command("devices")
def devices_cmd(
    output: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    search: Annotated[
        str | None, typer.Option(help="Match MAC, IP, host name, vendor, model, serial.")
    ] = None,
    sort: Annotated[str, typer.Option(help="Column to sort by; prefix - for descending.")] = "id",
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many devices.")] = None,
) -> None:
    """List the device inventory."""
    from wardwatch.services import present

    if output not in ("table", "json", "csv"):
        raise fail(f"--format must be table, json or csv, not {output!r}")
    with opened_store() as store, store.transaction() as tx:
        try:
            devices = tx.list_devices(limit=limit, sort=sort, search=search)
        except ValueError as exc:
            raise fail(str(exc)) from None
    if output == "json":
        payload = {"schema": present.DEVICES_SCHEMA, "devices": [present.device_json(d) for d in devices]}
        sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        return
    if output == "csv":
        rows = [present.csv_row(d) for d in devices]
        fields = list(rows[0]) if rows else ["id", "mac", "ip", *map(str, present.COLUMNS)]
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    table = new_table(title=f"{len(devices)} devices", title_justify="left")
    for column in ("ID", "MAC", "IP", "Host name", "Vendor", "Model", "Type", "OS", "Last seen"):
        table.add_column(column, overflow="fold")
    for d in devices:
        os_text = " ".join(x for x in (d.value("os"), d.value("os_version")) if x)
        mac = (d.mac or "-") + (" (random)" if d.mac_randomized else "")
        table.add_row(
            str(d.id),
            mac,
            present.current_ip(d) or "-",
            d.value("hostname") or "-",
            d.value("vendor") or "-",
            d.value("model") or "-",
            d.value("device_type") or "-",
            os_text or "-",
            (present.iso(d.last_ns) or "-")[:19].replace("T", " "),
        )
    out.print(table)


@app.command("device")
def device_cmd(
    ref: Annotated[str, typer.Argument(help="Device id, MAC address or IP address.")],
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Show one device: every attribute with its evidence and confidence."""
    from wardwatch.services import present

    if output not in ("table", "json"):
        raise fail(f"--format must be table or json, not {output!r}")
    with opened_store() as store, store.transaction() as tx:
        device = tx.get_device(ref)
        if device is None:
            raise fail(f"no device matches {ref!r} (try an id, a MAC or an IP from 'wardwatch devices')", 1)
        assert device.id is not None
        evidence = tx.device_evidence(device.id)
    data = present.device_json(device, evidence=evidence)
    if output == "json":
        sys.stdout.write(
            json.dumps({"schema": present.DEVICE_SCHEMA, **data}, indent=2, ensure_ascii=False) + "\n"
        )
        return
    title = f"device {device.id}  {device.key}"
    out.print(f"[bold]{title}[/]")
    out.print(f"first seen {data['first_seen']}   last seen {data['last_seen']}")
    if device.mac_randomized:
        out.print("MAC is locally administered (randomized or software-assigned): no registry vendor")
    for ip in data["ips"]:
        out.print(f"  ip {ip['ip']:<40} {ip['first_seen']} .. {ip['last_seen']}  ({ip['source']})")
    table = new_table(show_lines=True)
    for column in ("Attribute", "Value", "Confidence", "Evidence"):
        table.add_column(column, overflow="fold")
    for name, attr in data["attributes"].items():
        lines = [
            f"{e['rule']} ({e['confidence']:.2f}, {str(e['last_seen'])[:19]}): {e['detail']}"
            for e in attr["evidence"]
        ]
        lines += [
            f"[dim]against: {e['value']!r} by {e['rule']} ({e['confidence']:.2f})[/]"
            for e in attr["conflicts"]
        ]
        table.add_row(
            name, attr["value"], f"{attr['confidence']:.2f} ({attr['chosen_by']})", "\n".join(lines)
        )
    out.print(table)


@app.command("simulate")
def simulate_cmd(
    output: Annotated[Path, typer.Option("-o", "--output", help="Capture to write (.pcap, or .pcap.gz).")],
    devices: Annotated[int, typer.Option(min=1, max=1_000_000, help="Number of devices.")] = 60,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same file.")] = 1,
    duration: Annotated[float, typer.Option(min=1.0, help="Capture time span in seconds.")] = 3600.0,
    scale: Annotated[float, typer.Option(min=0.0, help="Multiplies background traffic per device.")] = 1.0,
    truth: Annotated[Path | None, typer.Option(help="Also write the ground truth as JSON.")] = None,
) -> None:
    """Write a synthetic hospital capture (for demos, tests and benchmarks)."""
    from wardwatch.simulate import SimConfig, simulate, truth_json

    try:
        result = simulate(SimConfig(devices=devices, seed=seed, duration_s=duration, scale=scale), output)
    except OSError as exc:
        raise fail(f"{output}: {exc.strerror or exc}") from None
    if truth is not None:
        truth.write_text(json.dumps(truth_json(result), indent=2) + "\n")
    out.print(f"{output}: {result.packets:,} packets, {len(result.devices)} devices")


# Command modules of the other subsystems register themselves on the same app.
from wardwatch.services.cli import ident, recalls, risk, sensor, vulns, web  # noqa: E402

for _module in (ident, vulns, risk, recalls, sensor, web):
    _module.register(app)


def run() -> None:
    """Entry point that keeps KeyboardInterrupt quiet."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("COLUMNS", "160")
    run()
