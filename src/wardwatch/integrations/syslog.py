"""RFC 5424 syslog messages, framed for UDP (one message per datagram, RFC 5426) or TCP/TLS
(octet counting, RFC 6587 section 3.4.1).

A message: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [wardwatch@32473 k="v" ...] MSG``.
PRI = facility * 8 + severity; structured data values escape ``"``, ``\\`` and ``]`` (section
6.3.3); header fields are printable US-ASCII without spaces, or "-" when empty. 32473 is the
private enterprise number RFC 5612 reserves for documentation, to be replaced by a real one.
"""

from __future__ import annotations

import os
import re
import socket

from wardwatch.integrations.events import Event

#: local0, the facility SIEMs conventionally give to applications like this one.
FACILITY_LOCAL0 = 16
SD_ID = "wardwatch@32473"
APP_NAME = "wardwatch"
_NOT_PRINTABLE = re.compile(r"[^\x21-\x7e]")
_PARAM_NAME = re.compile(r"[^\x21-\x7e]|[= \]\"]")


def _header(value: str, limit: int) -> str:
    cleaned = _NOT_PRINTABLE.sub("_", value)[:limit]
    return cleaned or "-"


def _sd_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _sd_name(name: str) -> str:
    return (_PARAM_NAME.sub("_", name) or "_")[:32]


def format_rfc5424(
    event: Event, *, hostname: str | None = None, facility: int = FACILITY_LOCAL0, procid: str | None = None
) -> str:
    """One RFC 5424 message (without framing)."""
    pri = facility * 8 + int(event.severity)
    host = _header(hostname if hostname is not None else socket.gethostname(), 255)
    pid = _header(procid if procid is not None else str(os.getpid()), 128)
    params = {
        "kind": event.kind.value,
        **({"device": str(event.device_id)} if event.device_id else {}),
        **event.fields,
    }
    sd = "[" + SD_ID + "".join(f' {_sd_name(k)}="{_sd_value(v)}"' for k, v in params.items()) + "]"
    msgid = _header(event.kind.value, 32)
    # The message is UTF-8 with a BOM, as section 6.4 asks when MSG is Unicode.
    return f"<{pri}>1 {event.at} {host} {APP_NAME} {pid} {msgid} {sd} \ufeff{event.message}"


def frame_octet_counting(message: str) -> bytes:
    """TCP framing: ``LEN SP MSG`` with LEN the byte length of the UTF-8 message."""
    data = message.encode("utf-8")
    return str(len(data)).encode("ascii") + b" " + data
