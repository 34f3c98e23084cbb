"""SSDP, the UPnP discovery protocol (UPnP Device Architecture 1.1 §1 / 2.0 §1), udp 1900.

Messages are HTTP-over-UDP (HTTPU/HTTPMU): a start line, ``Name: value`` headers (names are
case-insensitive), an empty line. Three kinds:

* ``NOTIFY * HTTP/1.1`` — advertisements (``NTS: ssdp:alive`` / ``ssdp:byebye`` /
  ``ssdp:update``) with ``NT``, ``USN``, ``LOCATION``, ``SERVER``;
* ``M-SEARCH * HTTP/1.1`` — searches with ``ST``, ``MAN``, ``MX`` and often ``USER-AGENT``;
* ``HTTP/1.1 200 OK`` — unicast search responses with ``ST``, ``USN``, ``LOCATION``, ``SERVER``.

All three are about the sender. The ``SERVER`` header is ``OS/version UPnP/1.x product/version``
by the spec and often names the product outright. Header count and line lengths are bounded.
"""

from __future__ import annotations

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext, obs, safe_text

MAX_HEADERS = 48
MAX_MESSAGE = 8192

_STARTS = (b"NOTIFY * HTTP/1.", b"M-SEARCH * HTTP/1.", b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK")


def parse_headers(payload: bytes) -> tuple[str, dict[str, str]] | None:
    """Start line and lower-cased header dict (first occurrence wins), or None if not SSDP-shaped."""
    text = payload[:MAX_MESSAGE]
    lines = text.split(b"\n", MAX_HEADERS + 1)
    start = lines[0].rstrip(b"\r")
    if not start.upper().startswith(_STARTS):
        return None
    headers: dict[str, str] = {}
    for raw in lines[1 : MAX_HEADERS + 1]:
        line = raw.rstrip(b"\r")
        if not line:
            break
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = safe_text(name, limit=64).lower()
        if key and key not in headers:
            headers[key] = safe_text(value.strip())
    return safe_text(start, limit=64), headers


class SsdpDissector:
    """SSDP NOTIFY / M-SEARCH / search response -> one observation about the sender."""

    name = "ssdp"
    transports = frozenset({Transport.UDP})
    udp_ports = frozenset({1900})
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """An SSDP start line; a 200 response must also carry ST and USN headers."""
        try:
            head = payload[:16].upper()
            if head.startswith((b"NOTIFY * HTTP/1.", b"M-SEARCH * HTTP/")):
                return True
            if head.startswith((b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK")):
                lower = payload[:MAX_MESSAGE].lower()
                return b"\nst:" in lower and b"\nusn:" in lower
        except Exception:
            return False
        return False

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Never raises."""
        try:
            parsed = parse_headers(payload)
        except Exception:
            return []
        if parsed is None:
            return []
        start, h = parsed
        upper = start.upper()
        if upper.startswith("NOTIFY"):
            method = "NOTIFY"
        elif upper.startswith("M-SEARCH"):
            method = "M-SEARCH"
        else:
            method = "response"
        return [
            obs(
                ctx,
                self.name,
                ssdp__method=method,
                ssdp__server=h.get("server"),
                ssdp__usn=h.get("usn"),
                ssdp__nt=h.get("nt"),
                ssdp__nts=h.get("nts"),
                ssdp__st=h.get("st"),
                ssdp__location=h.get("location"),
                ssdp__user_agent=h.get("user-agent"),
            )
        ]


DISSECTORS: list[SsdpDissector] = [SsdpDissector()]

FIELDS: dict[str, str] = {
    "ssdp.method": "SSDP message kind: NOTIFY, M-SEARCH or response.",
    "ssdp.server": "SERVER header: 'OS/version UPnP/1.x product/version'.",
    "ssdp.usn": "USN header: unique service name (uuid:...::type).",
    "ssdp.nt": "NT header of a NOTIFY: the advertised device/service type.",
    "ssdp.nts": "NTS header of a NOTIFY: ssdp:alive, ssdp:byebye or ssdp:update.",
    "ssdp.st": "ST header: search target of an M-SEARCH, or the type a response answers for.",
    "ssdp.location": "LOCATION header: URL of the device description.",
    "ssdp.user_agent": "USER-AGENT header of an M-SEARCH.",
}
