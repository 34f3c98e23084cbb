"""Syslog (RFC 5424) and CEF formatting, signed webhooks, the CMDB export: byte-exact formats,
escaping fuzzed with Hypothesis, and delivery to collectors on loopback."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wardwatch.integrations import cmdb, transport, webhook
from wardwatch.integrations.cef import format_cef
from wardwatch.integrations.events import Event, EventKind, Severity, finding_event
from wardwatch.integrations.syslog import format_rfc5424, frame_octet_counting

EVENT = Event(
    kind=EventKind.NEW_DEVICE,
    at_ns=1_767_225_615_336_296_000,
    severity=Severity.NOTICE,
    message="new device B. Braun Infusomat at 10.1.2.3",
    device_id=42,
    fields={"ip": "10.1.2.3", "mac": "00:1b:00:00:00:42", "serial": 'A"B]C\\D', "model": "x=y|z"},
)


def test_rfc5424_exact() -> None:
    line = format_rfc5424(EVENT, hostname="sensor-1", procid="77")
    assert line == (
        "<133>1 2026-01-01T00:00:15.336296Z sensor-1 wardwatch 77 new-device "
        '[wardwatch@32473 kind="new-device" device="42" ip="10.1.2.3" mac="00:1b:00:00:00:42" '
        'serial="A\\"B\\]C\\\\D" model="x=y|z"] \ufeffnew device B. Braun Infusomat at 10.1.2.3'
    )
    assert frame_octet_counting("é") == b"2 \xc3\xa9"


def test_cef_exact_and_severity() -> None:
    line = format_cef(EVENT)
    assert line.startswith("CEF:0|wardwatch|wardwatch|")
    assert line.endswith(
        "|new-device|new device B. Braun Infusomat at 10.1.2.3|3|rt=1767225615336 "
        "msg=new device B. Braun Infusomat at 10.1.2.3 externalId=42 src=10.1.2.3 smac=00:1b:00:00:00:42 "
        'cs1=A"B]C\\\\D cs1Label=serial cs2=x\\=y|z cs2Label=model'
    )
    critical = finding_event(at_ns=EVENT.at_ns, device_id=1, vulnerability="CVE-2024-0001", score=9.8)
    assert critical.severity is Severity.CRITICAL and "|10|" in format_cef(critical)


_SD_PARAM = re.compile(r' ([^= \]"]+)="((?:[^"\\\]]|\\["\\\]])*)"')


@given(
    st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=40), max_size=5), st.text(max_size=60)
)
def test_rfc5424_structured_data_always_parses_back(fields: dict[str, str], message: str) -> None:
    event = Event(
        kind=EventKind.NEW_DEVICE, at_ns=0, severity=Severity.NOTICE, message=message, fields=fields
    )
    line = format_rfc5424(event, hostname="h o\nst", procid="1")
    header, _, rest = line.partition(" [wardwatch@32473")
    assert header.split(" ")[2] == "h_o_st"  # no spaces or controls in header fields
    sd, sep, msg = rest.partition("] \ufeff")
    assert sep and msg == message
    params = _SD_PARAM.findall(sd)
    assert "".join(f' {k}="{v}"' for k, v in params) == sd  # the whole SD element is well-formed
    unescaped = [re.sub(r"\\(.)", r"\1", v) for _, v in params]
    assert unescaped[0] == "new-device" and unescaped[1:] == list(fields.values())


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            current += text[i : i + 2]
            i += 2
            continue
        if text[i] == sep:
            parts.append(current)
            current = ""
        else:
            current += text[i]
        i += 1
    return [*parts, current]


def _cef_extension(extension: str) -> dict[str, str]:
    """Parse ``k=v k=v`` where values escape ``\\`` and ``=``: a key is the last word before an
    unescaped ``=``."""
    pieces = _split_unescaped(extension, "=")
    keys = [pieces[0]]
    values = []
    for piece in pieces[1:-1]:
        value, _, key = piece.rpartition(" ")
        values.append(value)
        keys.append(key)
    values.append(pieces[-1])
    unescape = lambda v: re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), v)  # noqa: E731
    return {k: unescape(v) for k, v in zip(keys, values, strict=True)}


@given(st.text(max_size=60), st.text(max_size=60))
def test_cef_fields_round_trip_and_never_break_the_line(name: str, value: str) -> None:
    event = Event(
        kind=EventKind.NEW_DEVICE, at_ns=0, severity=Severity.NOTICE, message=name, fields={"x": value}
    )
    line = format_cef(event)
    assert "\n" not in line and "\r" not in line
    fields = _split_unescaped(line, "|")
    # Seven header fields (pipes inside the extension need no escaping, so rejoin the rest).
    header, extension_text = fields[:7], "|".join(fields[7:])
    assert header[0] == "CEF:0" and header[6] == "3"
    assert re.sub(r"\\(.)", r"\1", header[5]) == name.replace("\r", " ").replace("\n", " ")
    extension = _cef_extension(extension_text)
    assert extension["cs1"] == value and extension["msg"] == name
    assert extension["cs1Label"] == "x"


def test_webhook_signature_and_replay() -> None:
    body, headers = webhook.request(EVENT, b"s3cret", now=1_000_000)
    assert webhook.verify(b"s3cret", headers, body, now=1_000_010)
    assert not webhook.verify(b"other", headers, body, now=1_000_010)
    assert not webhook.verify(b"s3cret", headers, body + b" ", now=1_000_010)
    assert not webhook.verify(b"s3cret", headers, body, now=1_000_000 + webhook.TOLERANCE_S + 1)
    assert json.loads(body)["fields"]["serial"] == 'A"B]C\\D'


def test_syslog_over_udp_and_tcp_on_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(5)
        assert transport.send(f"udp://127.0.0.1:{udp.getsockname()[1]}", ["<133>1 a", "<133>1 b"]) == 2
        assert [udp.recv(4096), udp.recv(4096)] == [b"<133>1 a", b"<133>1 b"]
    received = bytearray()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def accept() -> None:
            conn, _ = server.accept()
            with conn:
                while chunk := conn.recv(4096):
                    received.extend(chunk)

        thread = threading.Thread(target=accept)
        thread.start()
        transport.send(f"tcp://127.0.0.1:{server.getsockname()[1]}", ["héllo", "x"])
        thread.join(5)
    assert bytes(received) == b"6 h\xc3\xa9llo1 x"
    with pytest.raises(transport.SyslogError, match="use udp://"):
        transport.parse_target("http://x")


def test_webhook_delivery_to_a_loopback_receiver() -> None:
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request)
    thread.start()
    try:
        assert webhook.send(f"http://127.0.0.1:{server.server_port}/hook", EVENT, b"k") == 204
    finally:
        thread.join(5)
        server.server_close()
    headers, body = got[0]
    assert webhook.verify(b"k", headers, body)
    with pytest.raises(webhook.WebhookError, match=r"webhook http://127\.0\.0\.1:9/"):
        webhook.send("http://127.0.0.1:9/", EVENT, b"k", timeout=2)


@pytest.mark.anyio
async def test_cmdb_export_and_event_feed_over_the_api(viewer: httpx.AsyncClient) -> None:
    response = await viewer.get("/api/v1/export/cmdb")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 72 and list(rows[0]) == list(cmdb.COLUMNS)
    serial = next(r for r in rows if r["serial_number"] == "DE98296572")
    assert serial["discovery_source"] == "wardwatch" and serial["correlation_id"].startswith("wardwatch:mac:")
    assert 0 < float(serial["serial_confidence"]) <= 1
    events = (await viewer.get("/api/v1/events")).json()["items"]
    assert len(events) == 72 and all(e["kind"] == "new-device" for e in events)
    cef = (await viewer.get("/api/v1/events", params={"format": "cef", "limit": 3})).text.splitlines()
    assert len(cef) == 3 and all(line.startswith("CEF:0|wardwatch|") for line in cef)


def test_cmdb_cells_cannot_become_spreadsheet_formulas() -> None:
    from wardwatch.model.device import Attribute, Device, ResolvedAttribute

    host = ResolvedAttribute(Attribute.HOSTNAME, "=HYPERLINK(1)", 0.9, "only", ())
    device = Device(id=1, key="mac:x", mac=None, first_ns=0, last_ns=0, attributes={"hostname": host})
    text = "".join(cmdb.export_csv([device]))
    assert "'=HYPERLINK(1)" in text


@given(st.text(max_size=80))
def test_syslog_target_parser_only_raises_its_own_error(target: str) -> None:
    try:
        scheme, host, port = transport.parse_target(target)
    except transport.SyslogError as e:
        assert "\n" not in str(e)
    else:
        assert scheme in ("udp", "tcp") and host and 0 <= port <= 65535


@given(
    st.dictionaries(st.sampled_from(["X-Wardwatch-Timestamp", "X-Wardwatch-Signature", "x"]), st.text()),
    st.binary(),
)
def test_webhook_verify_never_raises_on_hostile_input(headers: dict[str, str], body: bytes) -> None:
    assert webhook.verify(b"k", headers, body) in (True, False)


@pytest.mark.parametrize("target", ["udp://[", "tcp://h:99999", "http://h", "udp://"])
def test_bad_syslog_targets_are_one_line_errors(target: str) -> None:
    with pytest.raises(transport.SyslogError, match="syslog target"):
        transport.parse_target(target)
