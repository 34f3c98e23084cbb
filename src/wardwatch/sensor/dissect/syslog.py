"""Syslog dissector (udp 514, tcp 601): which host and program is logging, never what it logs.

References: RFC 3164 (BSD syslog: ``<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[pid]: MSG``), RFC 5424
(``<PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]``, NILVALUE
``-``), RFC 5426 (UDP transport) and RFC 6587 (TCP octet-counting framing ``LEN SP MSG``).

Every observation is about the sender. The message text (MSG and structured data) is NEVER
stored or even decoded: clinical systems log patient names, MRNs and orders into syslog, and
the header fields are all identification needs. For the same reason RFC 3164 header tokens are
only taken when they look like a host name or a program tag, so a headerless message cannot
leak its first words as a "hostname".
"""

from __future__ import annotations

import re
from typing import Any, Final

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext, obs

FIELDS: dict[str, str] = {
    "syslog.facility": "Facility code from PRI (0-23, e.g. 16 = local0)",
    "syslog.severity": "Severity code from PRI (0 emergency .. 7 debug)",
    "syslog.version": "RFC 5424 VERSION (absent for RFC 3164 messages)",
    "syslog.hostname": "HOSTNAME header field as the sender wrote it",
    "syslog.app_name": "RFC 5424 APP-NAME, or the RFC 3164 TAG (program name without [pid])",
}

#: Only the header is ever looked at; 512 bytes covers the longest legal RFC 5424 header.
HEADER_LIMIT: Final = 512

_PRI = re.compile(rb"<(\d{1,3})>")
_OCTET_COUNT = re.compile(rb"[1-9]\d{0,5} (?=<)")
_RFC5424 = re.compile(
    rb"([1-9]\d{0,2}) (?:-|\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d)) "
    rb"([\x21-\x7e]{1,255}) ([\x21-\x7e]{1,48}) "
)
_BSD_TS = re.compile(rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d ")
_HOSTNAME = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:%-]{0,254}")
# A TAG is a program name, optionally with [pid], followed by a colon: the shape that tells it
# apart from message text.
_TAG = re.compile(rb"([A-Za-z0-9_./-]{1,48})(?:\[\d{1,10}\])?:")
_TAG_WITH_PID = re.compile(rb"([A-Za-z0-9_./-]{1,48})\[\d{1,10}\]:")


class SyslogDissector:
    """RFC 3164 / RFC 5424 syslog headers; see the module docstring."""

    name = "syslog"
    transports = frozenset({Transport.UDP, Transport.TCP})
    udp_ports = frozenset({514})
    tcp_ports = frozenset({601})
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """``<PRI>`` with PRI <= 191, optionally after an RFC 6587 octet count."""
        try:
            return _pri(_strip_count(payload[:HEADER_LIMIT])) is not None
        except Exception:
            return False

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Parse the header of the first message; never raises, never reads the message text."""
        try:
            return self._dissect(ctx, payload[:HEADER_LIMIT])
        except Exception:  # hostile input must never stop the sensor
            return []

    def _dissect(self, ctx: PacketContext, data: bytes) -> list[Observation]:
        data = _strip_count(data)
        pri = _pri(data)
        if pri is None:
            return []
        value, rest = pri
        fields: dict[str, Any] = {"syslog__facility": value >> 3, "syslog__severity": value & 7}
        m5424 = _RFC5424.match(rest)
        if m5424:
            fields["syslog__version"] = int(m5424.group(1))
            fields["syslog__hostname"] = _nil(m5424.group(2))
            fields["syslog__app_name"] = _nil(m5424.group(3))
        else:
            fields.update(_bsd_header(rest))
        return [obs(ctx, self.name, **fields)]


def _strip_count(data: bytes) -> bytes:
    """Drop an RFC 6587 octet-counting prefix if present."""
    match = _OCTET_COUNT.match(data)
    return data[match.end() :] if match else data


def _pri(data: bytes) -> tuple[int, bytes] | None:
    match = _PRI.match(data)
    if not match:
        return None
    value = int(match.group(1))
    if value > 191:  # facility 23 * 8 + severity 7
        return None
    return value, data[match.end() :]


def _nil(token: bytes) -> str | None:
    if token == b"-":
        return None
    return token.decode("ascii", errors="replace")[:255]


def _bsd_header(rest: bytes) -> dict[str, Any]:
    """RFC 3164 HOSTNAME and TAG, only where the header structure makes them unambiguous."""
    out: dict[str, Any] = {}
    ts = _BSD_TS.match(rest)
    if not ts:
        # No timestamp means, per RFC 3164 section 4.3.3, no HEADER at all: only accept the very
        # specific "prog[pid]:" shape, which message text virtually never starts with.
        tag = _TAG_WITH_PID.match(rest)
        if tag:
            out["syslog__app_name"] = tag.group(1).decode("ascii")
        return out
    tokens = rest[ts.end() :].split(b" ", 2)
    first = tokens[0]
    tag = _TAG.fullmatch(first)
    if tag:  # "Oct 11 22:14:15 su: ..." -- the host omitted its name
        out["syslog__app_name"] = tag.group(1).decode("ascii")
        return out
    if len(tokens) < 2 or not _HOSTNAME.fullmatch(first):
        return out
    out["syslog__hostname"] = first.decode("ascii")
    tag = _TAG.fullmatch(tokens[1])
    if tag:
        out["syslog__app_name"] = tag.group(1).decode("ascii")
    return out


DISSECTORS: list[SyslogDissector] = [SyslogDissector()]
