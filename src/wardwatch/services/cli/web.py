"""The web application and its accounts: ``serve``, ``users add|list|disable``,
``tokens create|list|revoke`` (issue 7).

Changes made here are audited like those made in the browser, with the actor ``cli:<OS user>``.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from wardwatch.services.cli.common import err, fail, opened_store, out, state


def _actor() -> str:
    try:
        return "cli:" + getpass.getuser()
    except Exception:  # no user name in this environment (containers): still say where it came from
        return "cli"


def _password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise fail(f"cannot read password file {password_file}: {e}") from None
        lines = text.splitlines()
        if not lines or not lines[0]:
            raise fail(f"password file {password_file}: the first line is empty")
        return lines[0]
    if not sys.stdin.isatty():
        raise fail("no terminal to prompt for a password: use --password-file FILE")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise fail("the two passwords differ")
    return first


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``users`` and ``tokens`` to the ``wardwatch`` app."""
    users = typer.Typer(help="Local users of the web application.", no_args_is_help=True)
    tokens = typer.Typer(help="API tokens for integrations (stored hashed, revocable).", no_args_is_help=True)
    events = typer.Typer(
        help="Send SIEM events (syslog RFC 5424 or CEF) and signed webhooks.", no_args_is_help=True
    )
    app.add_typer(users, name="users")
    app.add_typer(tokens, name="tokens")
    app.add_typer(events, name="events")

    @app.command("serve")
    def serve(
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8080,
        tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: serve HTTPS.")] = None,
        tls_key: Annotated[Path | None, typer.Option(help="PEM private key for --tls-cert.")] = None,
        workers: Annotated[int, typer.Option(help="Worker processes.", min=1, max=64)] = 1,
    ) -> None:
        """Serve the web UI and the REST API (/api/v1)."""
        import uvicorn

        from wardwatch.auth.service import AuthService
        from wardwatch.store.sql import StoreError, open_store

        try:
            store = open_store(state.db)
        except StoreError as e:
            raise fail(str(e)) from None
        if not AuthService(store).users():
            out.print(
                "No user yet: create the first admin with [bold]wardwatch users add NAME --role admin[/]"
            )
        store.close()
        if (tls_cert is None) != (tls_key is None):
            raise fail("--tls-cert and --tls-key go together")
        scheme = "https" if tls_cert else "http"
        out.print(f"wardwatch web UI on {scheme}://{host}:{port}/  (Ctrl-C to stop)")
        os.environ["WARDWATCH_DB"] = state.db
        uvicorn.run(
            "wardwatch.web.asgi:app",
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
            ssl_certfile=str(tls_cert) if tls_cert else None,
            ssl_keyfile=str(tls_key) if tls_key else None,
            proxy_headers=False,
        )

    @users.command("add")
    def users_add(
        name: Annotated[str, typer.Argument(help="Login name.")],
        role: Annotated[str, typer.Option(help="admin, analyst or viewer.")] = "viewer",
        password_file: Annotated[
            Path | None, typer.Option(help="Read the password from the first line of this file.")
        ] = None,
    ) -> None:
        """Create a user (the password is prompted for, or read from --password-file)."""
        from wardwatch.auth.service import AuthError, AuthService

        password = _password(password_file)
        with opened_store() as store:
            try:
                user = AuthService(store).add_user(name=name, password=password, role=role, actor=_actor())
            except AuthError as e:
                raise fail(str(e)) from None
        out.print(f"user {user.name} ({user.role.value}) created")

    @users.command("list")
    def users_list(output: Annotated[str, typer.Option("--format", help="table or json")] = "table") -> None:
        """List users."""
        from wardwatch.auth.service import AuthService
        from wardwatch.web.api.admin import user_json

        with opened_store() as store:
            found = AuthService(store).users()
        if output == "json":
            out.print_json(json.dumps([user_json(u) for u in found]))
            return
        for u in found:
            out.print(f"{u.name}\t{u.role.value}\t{'disabled' if u.disabled else 'active'}")

    @users.command("disable")
    def users_disable(name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
        """Disable a user and end their sessions."""
        from wardwatch.auth.service import AuthError, AuthService

        with opened_store() as store:
            try:
                AuthService(store).set_disabled(name=name, disabled=True, actor=_actor())
            except AuthError as e:
                raise fail(str(e)) from None
        out.print(f"user {name} disabled")

    @tokens.command("create")
    def tokens_create(
        user: Annotated[str, typer.Argument(help="The user the token acts as (its role applies).")],
        name: Annotated[str, typer.Option(help="What uses the token, e.g. 'siem'.")] = "api",
    ) -> None:
        """Create an API token and print it once (it is stored hashed)."""
        from wardwatch.auth.service import AuthError, AuthService

        with opened_store() as store:
            try:
                secret, record = AuthService(store).create_token(user_name=user, name=name, actor=_actor())
            except AuthError as e:
                raise fail(str(e)) from None
        typer.echo(secret)
        typer.echo(f"token {record.id} for {user}: send it as 'Authorization: Bearer <token>'", err=True)

    @tokens.command("list")
    def tokens_list() -> None:
        """List API tokens (never their secrets)."""
        from wardwatch.auth.service import AuthService
        from wardwatch.services.present import iso

        with opened_store() as store:
            found = AuthService(store).tokens()
        for t in found:
            status = "active" if t.active else f"revoked {iso(t.revoked_ns)}"
            out.print(f"{t.id}\t{t.user_name}\t{t.name}\t{t.prefix}…\t{status}")

    @tokens.command("revoke")
    def tokens_revoke(
        token_id: Annotated[int, typer.Argument(help="Token number (see tokens list).")],
    ) -> None:
        """Revoke an API token."""
        from wardwatch.auth.service import AuthError, AuthService

        with opened_store() as store:
            try:
                AuthService(store).revoke_token(token_id=token_id, actor=_actor())
            except AuthError as e:
                raise fail(str(e)) from None
        out.print(f"token {token_id} revoked")

    @app.command("export-cmdb")
    def export_cmdb(
        output: Annotated[Path, typer.Argument(help="CSV file to write ('-' for standard output).")],
    ) -> None:
        """Write the inventory as CSV for CMMS/CMDB import."""
        from wardwatch.integrations.cmdb import export_csv
        from wardwatch.web.api.integrations import all_devices

        with opened_store() as store, store.transaction() as tx:
            chunks = export_csv(all_devices(tx))
            if str(output) == "-":
                for chunk in chunks:
                    sys.stdout.write(chunk)
                return
            tmp = output.with_name(output.name + ".tmp")
            try:
                with tmp.open("w", encoding="utf-8", newline="") as f:
                    for chunk in chunks:
                        f.write(chunk)
                tmp.replace(output)
            except OSError as e:
                raise fail(f"cannot write {output}: {e.strerror or e}") from None
        err.print(f"wrote {output}")

    @events.command("send")
    def events_send(
        since: Annotated[str, typer.Option(help="Devices first seen at or after this ISO 8601 UTC time.")],
        syslog: Annotated[
            str | None, typer.Option(help="Collector: udp://host[:514] or tcp://host:port.")
        ] = None,
        cef: Annotated[
            bool, typer.Option(help="Send CEF lines instead of RFC 5424 structured data.")
        ] = False,
        webhook: Annotated[str | None, typer.Option(help="URL to POST each event to (signed).")] = None,
        secret_file: Annotated[
            Path | None, typer.Option(help="HMAC secret for --webhook (first line).")
        ] = None,
    ) -> None:
        """Send a new-device event for every device first seen since --since."""
        import datetime as dt

        from wardwatch.integrations import transport
        from wardwatch.integrations import webhook as hooks
        from wardwatch.integrations.cef import format_cef
        from wardwatch.integrations.events import new_device_events
        from wardwatch.integrations.syslog import format_rfc5424

        try:
            when = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise fail(f"--since {since!r}: not an ISO 8601 time") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        if syslog is None and webhook is None:
            raise fail("give --syslog and/or --webhook")
        if webhook is not None and secret_file is None:
            raise fail("--webhook needs --secret-file (webhooks are always signed)")
        secret = _password(secret_file).encode("utf-8") if secret_file is not None else b""
        with opened_store() as store, store.transaction() as tx:
            found = new_device_events(tx, since_ns=int(when.timestamp() * 1_000_000_000))
        try:
            if syslog is not None:
                lines = [format_cef(e) if cef else format_rfc5424(e) for e in found]
                transport.send(syslog, lines)
            if webhook is not None:
                for event in found:
                    hooks.send(webhook, event, secret)
        except (transport.SyslogError, hooks.WebhookError) as e:
            raise fail(str(e)) from None
        out.print(f"{len(found)} events sent")
