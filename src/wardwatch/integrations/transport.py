"""Sending syslog messages to a collector: ``udp://host:port`` (default port 514) or
``tcp://host:port`` (octet-counting framing). Only the configured collector is contacted."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from wardwatch.integrations.syslog import frame_octet_counting

#: UDP datagrams larger than this may be dropped by collectors (RFC 5426 says 480 bytes must be
#: accepted, 2048 should be); longer messages are truncated at a UTF-8 boundary.
MAX_UDP = 2048


class SyslogError(Exception):
    """The collector address is invalid or unreachable (one line)."""


def parse_target(target: str) -> tuple[str, str, int]:
    """(``udp``|``tcp``, host, port) from ``udp://host:port``. Raises SyslogError."""
    try:
        parts = urlsplit(target if "://" in target else "udp://" + target)
        hostname = parts.hostname
    except ValueError:  # e.g. an unbalanced "[" around an IPv6 address
        raise SyslogError(f"syslog target {target!r}: not a valid address") from None
    if parts.scheme not in ("udp", "tcp") or not hostname:
        raise SyslogError(f"syslog target {target!r}: use udp://host[:port] or tcp://host[:port]")
    try:
        port = parts.port or 514
    except ValueError:
        raise SyslogError(f"syslog target {target!r}: bad port") from None
    return parts.scheme, hostname, port


def send(target: str, messages: Iterable[str], *, timeout: float = 10.0) -> int:
    """Send messages to the collector; returns how many were sent."""
    scheme, host, port = parse_target(target)
    sent = 0
    try:
        if scheme == "udp":
            with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as sock:
                for message in messages:
                    data = message.encode("utf-8")[:MAX_UDP]
                    sock.sendto(data.decode("utf-8", "ignore").encode("utf-8"), (host, port))
                    sent += 1
        else:
            with socket.create_connection((host, port), timeout=timeout) as sock:
                for message in messages:
                    sock.sendall(frame_octet_counting(message))
                    sent += 1
    except OSError as e:
        raise SyslogError(f"syslog {target}: {e.strerror or e}") from None
    return sent
