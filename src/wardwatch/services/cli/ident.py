"""Overrides and re-identification: ``override``, ``overrides``, ``reidentify`` (issue 3).

``wardwatch override DEVICE ATTRIBUTE VALUE --reason "..."`` sets a value a person knows (from the
device's label, the CMMS, the vendor) and wins over anything observed; ``--clear`` ends it. The
inventory is re-identified at once, so ``wardwatch device`` shows the change with who and when.
``wardwatch reidentify`` applies the current knowledge files to every stored observation.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated

import typer

from wardwatch.services.cli.common import fail, new_table, opened_store, out


def _default_author() -> str:
    try:
        return os.environ.get("WARDWATCH_USER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def _print_changes(changes: Sequence[Mapping[str, object]], limit: int = 50) -> None:
    if not changes:
        out.print("no attribute changed")
        return
    table = new_table()
    for column in ("Device", "Attribute", "Was", "Now"):
        table.add_column(column, overflow="fold")
    for change in changes[:limit]:
        table.add_row(
            str(change["device"]),
            str(change["attribute"]),
            str(change["old"] or "-"),
            str(change["new"] or "-"),
        )
    out.print(table)
    if len(changes) > limit:
        out.print(f"... and {len(changes) - limit} more (use --format json for all)")


def register(app: typer.Typer) -> None:
    """Add ``override``, ``overrides`` and ``reidentify`` to the ``wardwatch`` app."""

    @app.command("override")
    def override_cmd(
        ref: Annotated[str, typer.Argument(help="Device id, MAC, IP or key.")],
        attribute: Annotated[
            str,
            typer.Argument(
                help="vendor, model, model_number, serial, hostname, os, os_version, "
                "firmware, device_type, clinical_category, description, location."
            ),
        ],
        value: Annotated[str | None, typer.Argument(help="The value (omit with --clear).")] = None,
        reason: Annotated[str, typer.Option(help="Why (e.g. 'asset label', 'CMMS record 4411').")] = "",
        author: Annotated[
            str | None, typer.Option(help="Who sets it (default: $WARDWATCH_USER or the login name).")
        ] = None,
        clear: Annotated[bool, typer.Option("--clear", help="End the active override instead.")] = False,
        output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    ) -> None:
        """Set (or --clear) one attribute of one device; it survives re-identification."""
        from wardwatch.services.identity import IdentityError, clear_override, override_json, set_override

        if output not in ("table", "json"):
            raise fail(f"--format must be table or json, not {output!r}")
        who = author or _default_author()
        with opened_store() as store:
            try:
                if clear:
                    if value is not None:
                        raise fail("--clear takes no value")
                    summary = clear_override(store, ref, attribute, author=who)
                    result: dict[str, object] = {"cleared": attribute}
                else:
                    if value is None:
                        raise fail("give a value, or --clear to end the override")
                    override, summary = set_override(store, ref, attribute, value, author=who, reason=reason)
                    result = {"override": override_json(override)}
            except IdentityError as exc:
                raise fail(str(exc)) from None
        changes = [
            {"device": c.device_key, "attribute": c.attribute, "old": c.old, "new": c.new}
            for c in summary.changes
        ]
        if output == "json":
            sys.stdout.write(json.dumps({**result, "changes": changes}, indent=2) + "\n")
            return
        if clear:
            out.print(f"cleared the override of {attribute}")
        else:
            out.print(f"set {attribute} = {value!r} by {who}")
        _print_changes(changes)

    @app.command("overrides")
    def overrides_cmd(
        ref: Annotated[
            str | None, typer.Argument(help="Device id, MAC, IP or key (all devices if omitted).")
        ] = None,
        history: Annotated[bool, typer.Option("--history", help="Include ended overrides.")] = False,
        output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    ) -> None:
        """List overrides (active ones, or the whole history)."""
        from wardwatch.services.identity import IdentityError, list_overrides, override_json

        if output not in ("table", "json"):
            raise fail(f"--format must be table or json, not {output!r}")
        with opened_store() as store:
            try:
                rows = [override_json(o) for o in list_overrides(store, ref, history=history)]
            except IdentityError as exc:
                raise fail(str(exc)) from None
        if output == "json":
            sys.stdout.write(
                json.dumps({"schema": "wardwatch.overrides/1", "overrides": rows}, indent=2) + "\n"
            )
            return
        table = new_table()
        for column in ("Device", "Attribute", "Value", "By", "When", "Reason", "State"):
            table.add_column(column, overflow="fold")
        for r in rows:
            state = "active" if r["active"] else f"ended {r['ended']} by {r['ended_by']}"
            table.add_row(
                str(r["device"]),
                str(r["attribute"]),
                str(r["value"]),
                str(r["author"]),
                str(r["created"]),
                str(r["reason"] or "-"),
                state,
            )
        out.print(table)

    @app.command("reidentify")
    def reidentify_cmd(
        history: Annotated[bool, typer.Option("--history", help="Show past runs instead.")] = False,
        output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    ) -> None:
        """Re-identify every device from stored observations with the current knowledge (no capture needed)."""
        from wardwatch.services.identity import identification_runs, reidentify

        if output not in ("table", "json"):
            raise fail(f"--format must be table or json, not {output!r}")
        with opened_store() as store:
            if history:
                runs = identification_runs(store)
                data: list[dict[str, object]] = [
                    {
                        "id": r.id,
                        "trigger": r.trigger,
                        "knowledge_version": r.knowledge_version,
                        "devices": r.devices,
                        "devices_new": r.devices_new,
                        "changed": r.changed,
                        "author": r.author,
                        "started_ns": r.started_ns,
                    }
                    for r in runs
                ]
                if output == "json":
                    sys.stdout.write(json.dumps({"runs": data}, indent=2) + "\n")
                else:
                    table = new_table()
                    for column in ("Run", "Trigger", "Knowledge", "Devices", "New", "Changed", "By"):
                        table.add_column(column)
                    for r in runs:
                        table.add_row(
                            str(r.id),
                            r.trigger,
                            r.knowledge_version,
                            str(r.devices),
                            str(r.devices_new),
                            str(r.changed),
                            r.author or "-",
                        )
                    out.print(table)
                return
            summary = reidentify(store, author=_default_author())
        changes = [
            {"device": c.device_key, "attribute": c.attribute, "old": c.old, "new": c.new}
            for c in summary.changes
        ]
        if output == "json":
            payload = {
                "schema": "wardwatch.reidentify/1",
                "run": summary.run_id,
                "knowledge_version": summary.knowledge_version,
                "devices": summary.devices,
                "changed": summary.changed,
                "changes": changes,
            }
            sys.stdout.write(json.dumps(payload, indent=2) + "\n")
            return
        out.print(
            f"re-identified {summary.devices} devices with knowledge {summary.knowledge_version} "
            f"in {summary.seconds:.1f}s: {summary.changed} attribute(s) changed"
        )
        _print_changes(changes)
