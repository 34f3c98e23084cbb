"""HTTP/1.x dissector: client software and the server's self-description from headers.

References: RFC 9112 (HTTP/1.1 message syntax: request line, status line, field lines, message
body length via Content-Length / Transfer-Encoding), RFC 9110 (User-Agent, Host, Server,
WWW-Authenticate and its ``realm`` auth-param), HTML Living Standard (the ``<title>`` element).

From requests (about the client): ``http.user_agent`` and ``http.host`` (which server name the
client talks to). Request targets (URIs) are NEVER stored: query strings of clinical web
applications carry patient identifiers and session tokens. Request methods are not stored either
(they say little about the device). Cookies and Authorization headers are never read.

From responses (about the server): ``Server``, ``X-Powered-By``, the ``WWW-Authenticate`` schemes
and realm (embedded web servers name their model there, ``Basic realm="HP LaserJet"``) and the
HTML title of the body when the title lies within the stream prefix. UPnP description XML is left
to the ``upnp`` dissector.

The sensor hands one direction's stream prefix; ``ctx.client_is_src`` may be None, so requests and
responses are told apart by their first line. Pipelined messages are followed through
Content-Length, at most :data:`MAX_MESSAGES` of them, with at most :data:`MAX_HEADERS` field
lines each.
"""

from __future__ import annotations

import contextlib
import html
import re
import zlib
from typing import Any, Final

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext, obs, safe_text

FIELDS: dict[str, str] = {
    "http.user_agent": "User-Agent header of a request (about the client)",
    "http.host": "Host header of a request: the server name the client talks to (about the client)",
    "http.server": "Server header of a response (about the server)",
    "http.powered_by": "X-Powered-By header of a response (about the server)",
    "http.auth_schemes": "Schemes offered in WWW-Authenticate, lower case, e.g. ('basic',)",
    "http.auth_realm": "realm of the first WWW-Authenticate challenge; often names the device model",
    "http.title": "HTML <title> of a response body, when within the stream prefix (about the server)",
}

MAX_MESSAGES: Final = 4
MAX_HEADERS: Final = 64
MAX_LINE: Final = 8192
TEXT_LIMIT: Final = 256
TITLE_WINDOW: Final = 8192  # only search the start of a body for <title>
MAX_INFLATE: Final = 16384

_METHODS: Final = frozenset(
    {
        b"GET",
        b"POST",
        b"HEAD",
        b"PUT",
        b"DELETE",
        b"OPTIONS",
        b"PATCH",
        b"TRACE",
        b"CONNECT",
        b"PROPFIND",
        b"NOTIFY",
        b"SUBSCRIBE",
        b"UNSUBSCRIBE",
    }
)
_VERSION = re.compile(rb"HTTP/1\.[019]")
_STATUS = re.compile(rb"HTTP/1\.[019] \d{3}(?: |$)")
_TITLE = re.compile(rb"<title[^>]{0,64}>(.{0,1024}?)</title", re.IGNORECASE | re.DOTALL)
_REALM = re.compile(r'realm\s*=\s*(?:"([^"]{0,512})"|([^\s,]{1,512}))', re.IGNORECASE)
_SCHEME = re.compile(r"(?:^|,)\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,31})(?=\s|,|$)")


def _first_line(data: bytes) -> bytes | None:
    end = data.find(b"\n", 0, MAX_LINE)
    if end < 0:
        return None
    return data[:end].rstrip(b"\r")


def is_request_line(line: bytes) -> bool:
    """``METHOD SP request-target SP HTTP/1.x``."""
    parts = line.split(b" ")
    return len(parts) == 3 and parts[0] in _METHODS and bool(parts[1]) and bool(_VERSION.fullmatch(parts[2]))


def is_status_line(line: bytes) -> bool:
    """``HTTP/1.x SP 3DIGIT SP reason``."""
    return bool(_STATUS.match(line))


class HttpDissector:
    """HTTP/1.x request and response headers over TCP; see the module docstring."""

    name = "http"
    transports = frozenset({Transport.TCP})
    udp_ports: frozenset[int] = frozenset()
    tcp_ports = frozenset({80, 8080, 8000, 8008, 8888})
    ethertypes: frozenset[int] = frozenset()
    context_fields = ("src_mac", "src_ip")
    """Every observation is about the sender of the direction; nothing else of the context
    matters, so a device polling the same URL with the same headers is not parsed again."""

    def probe(self, payload: bytes) -> bool:
        """A request line or a status line at the start of the stream."""
        try:
            line = _first_line(payload)
            return line is not None and (is_request_line(line) or is_status_line(line))
        except Exception:
            return False

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Observations from the first few messages of one direction. Never raises."""
        out: list[Observation] = []
        with contextlib.suppress(Exception):  # keep what was parsed before the damage
            self._dissect(ctx, payload, out)
        return out

    def _dissect(self, ctx: PacketContext, data: bytes, out: list[Observation]) -> None:
        pos = 0
        seen: set[str] = set()
        for _ in range(MAX_MESSAGES):
            parsed = _parse_message(data, pos)
            if parsed is None:
                return
            line, headers, body_start = parsed
            if is_request_line(line):
                ob = obs(
                    ctx,
                    self.name,
                    subject="src",
                    http__user_agent=_text(headers.get("user-agent")),
                    http__host=_text(headers.get("host")),
                )
                length: int | None = _content_length(headers) or 0
            elif is_status_line(line):
                body_end, length = _body_bounds(data, body_start, headers, line)
                fields = _response_fields(headers, data[body_start:body_end])
                ob = obs(ctx, self.name, subject="src", **fields)
            else:
                return
            if ob.fields and ob.uid not in seen:
                seen.add(ob.uid)
                out.append(ob)
            if length is None or "chunked" in headers.get("transfer-encoding", "").lower():
                return  # cannot find the next message boundary without decoding the body
            pos = body_start + length
            if pos >= len(data):
                return


def _parse_message(data: bytes, pos: int) -> tuple[bytes, dict[str, str], int] | None:
    """Start line, headers (lower-case names, first occurrence wins) and the body offset."""
    # The earliest of CRLF CRLF and bare LF LF ends the header block (RFC 9112 2.2 tolerates LF).
    crlf, lf = data.find(b"\r\n\r\n", pos), data.find(b"\n\n", pos)
    end, sep = crlf, 4
    if lf >= 0 and (crlf < 0 or lf < crlf):
        end, sep = lf, 2
    if end < 0:
        # Headers cut by the prefix: still use the complete lines we have.
        end = len(data)
        sep = 0
    block = data[pos:end]
    lines = block.split(b"\n")
    if not lines:
        return None
    start = lines[0].rstrip(b"\r")
    if len(start) > MAX_LINE:
        return None
    headers: dict[str, str] = {}
    complete = lines[1:] if sep else lines[1:-1]
    for raw in complete[:MAX_HEADERS]:
        name, colon, value = raw.rstrip(b"\r").partition(b":")
        if not colon or not name or name != name.strip():
            continue
        key = name.decode("latin-1").lower()
        headers.setdefault(key, value.strip()[:1024].decode("latin-1"))
    return start, headers, end + sep


def _content_length(headers: dict[str, str]) -> int | None:
    value = headers.get("content-length", "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 12:
        return None
    return int(value)


def _body_bounds(data: bytes, start: int, headers: dict[str, str], line: bytes) -> tuple[int, int | None]:
    """End of the body within the prefix, and the body length if it is known."""
    status = line[9:12]
    if status[:1] == b"1" or status in (b"204", b"304"):
        return start, 0
    length = _content_length(headers)
    if length is None:
        return len(data), None
    return min(len(data), start + length), length


def _response_fields(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "http__server": _text(headers.get("server")),
        "http__powered_by": _text(headers.get("x-powered-by")),
    }
    challenge = headers.get("www-authenticate")
    if challenge:
        schemes: list[str] = []
        for match in _SCHEME.finditer(challenge[:1024]):
            scheme = match.group(1).lower()
            # auth-params ("realm=...") are not schemes; a scheme is followed by space or comma
            if "=" not in scheme and scheme not in schemes and len(schemes) < 8:
                schemes.append(scheme)
        fields["http__auth_schemes"] = tuple(schemes)
        realm = _REALM.search(challenge)
        if realm:
            fields["http__auth_realm"] = _text(realm.group(1) or realm.group(2))
    fields["http__title"] = _title(headers, body)
    return fields


def _title(headers: dict[str, str], body: bytes) -> str | None:
    encoding = headers.get("content-encoding", "").strip().lower()
    body = body[:TITLE_WINDOW]
    if encoding in ("gzip", "deflate", "x-gzip"):
        try:
            # wbits 47 auto-detects gzip or zlib headers; max_length bounds the work.
            body = zlib.decompressobj(47).decompress(body, MAX_INFLATE)
        except zlib.error:
            return None
    elif encoding and encoding != "identity":
        return None
    match = _TITLE.search(body)
    if not match:
        return None
    raw = match.group(1)[:1024].decode("utf-8", errors="replace")
    return _text(" ".join(html.unescape(raw).split()))


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    return safe_text(value.encode("utf-8", errors="replace"), TEXT_LIMIT)[:TEXT_LIMIT] or None


DISSECTORS: list[HttpDissector] = [HttpDissector()]
