"""UPnP device descriptions seen crossing the wire over HTTP.

References: UPnP Device Architecture 1.1 §2.3 / 2.0 §2.3 (device description: ``<root
xmlns="urn:schemas-upnp-org:device-1-0">`` with ``specVersion`` and one root ``device`` holding
``deviceType``, ``friendlyName``, ``manufacturer``, ``manufacturerURL``, ``modelDescription``,
``modelName``, ``modelNumber``, ``modelURL``, ``serialNumber``, ``UDN``, ``UPC``, ``iconList``,
``serviceList``, ``deviceList`` (embedded devices) and ``presentationURL``), RFC 9112 §7.1
(chunked transfer coding).

The payload is a bounded in-order prefix of the server-to-client direction of a TCP stream, so
the response may be truncated anywhere. The body (at most :data:`MAX_BODY` bytes) is therefore
read with a small tolerant tag scanner, not an XML parser: it never expands entities beyond the
predefined ones and numeric references, and any document with a DOCTYPE or ENTITY declaration is
rejected outright (billion-laughs and external-entity attacks). Comments and CDATA sections are
removed in one linear pass first; the scan is capped at :data:`MAX_TAGS` tags and 64 levels. Only the root device's own child elements are
reported; embedded devices contribute only their ``deviceType`` (``upnp.embedded_types``).
``firmwareVersion`` / ``softwareVersion`` are common non-standard vendor elements.

Subject: the HTTP server, i.e. the sender of the response (``ctx.src``).
"""

from __future__ import annotations

import html
import re

from wardwatch.model.flow import Transport
from wardwatch.model.observation import FieldValue, Observation
from wardwatch.sensor.dissect.base import PacketContext, observation, safe_text

MAX_BODY = 65536
MAX_HEADER = 8192
MAX_TAGS = 4096
MAX_CHUNKS = 256
MAX_LIST = 32
MARKER = b"urn:schemas-upnp-org:device-1-0"

#: Lower-cased element name of a root-device child -> field.
ELEMENTS: dict[str, str] = {
    "manufacturer": "upnp.manufacturer",
    "manufacturerurl": "upnp.manufacturer_url",
    "modelname": "upnp.model_name",
    "modelnumber": "upnp.model_number",
    "modeldescription": "upnp.model_description",
    "modelurl": "upnp.model_url",
    "serialnumber": "upnp.serial_number",
    "friendlyname": "upnp.friendly_name",
    "udn": "upnp.udn",
    "devicetype": "upnp.device_type",
    "presentationurl": "upnp.presentation_url",
    "firmwareversion": "upnp.firmware",
    "softwareversion": "upnp.firmware",
    "fwversion": "upnp.firmware",
}

_TAG = re.compile(rb"<(/?)([A-Za-z_][\w.:-]{0,63})(?:\s[^<>]{0,1024}?)?(/?)>")
_FORBIDDEN = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.I)


def split_http(payload: bytes) -> bytes | None:
    """The (de-chunked, Content-Length bounded) body of an HTTP response, or None."""
    if not payload.startswith(b"HTTP/1."):
        return None
    end = payload.find(b"\r\n\r\n", 0, MAX_HEADER)
    sep = 4
    if end < 0:
        end = payload.find(b"\n\n", 0, MAX_HEADER)
        sep = 2
    if end < 0:
        return None
    status = payload.split(b"\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        return None
    headers: dict[bytes, bytes] = {}
    for line in payload[:end].split(b"\n")[1:64]:
        name, colon, value = line.partition(b":")
        if colon:
            headers.setdefault(name.strip().lower(), value.strip())
    body = payload[end + sep :]
    if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        return dechunk(body)
    length = headers.get(b"content-length", b"")
    if length.isdigit() and len(length) < 10:
        body = body[: int(length)]
    return body[:MAX_BODY]


def dechunk(body: bytes) -> bytes:
    """Decode chunked transfer coding, keeping what arrived if the prefix is cut short."""
    out = bytearray()
    pos = 0
    for _ in range(MAX_CHUNKS):
        line_end = body.find(b"\n", pos, pos + 1024)
        if line_end < 0:
            break
        size_text = body[pos:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            break
        if size <= 0:
            break
        start = line_end + 1
        out += body[start : start + size]
        if start + size >= len(body) or len(out) >= MAX_BODY:
            break
        pos = start + size
        # skip the CRLF that ends the chunk data
        if body[pos : pos + 2] == b"\r\n":
            pos += 2
        elif body[pos : pos + 1] == b"\n":
            pos += 1
    return bytes(out[:MAX_BODY])


def strip_markup(body: bytes) -> bytes:
    """Remove comments and CDATA sections in one linear pass.

    Done before the tag scan so a crafted body full of unterminated ``<!--`` cannot make the
    regex rescan the rest of the document from every occurrence (quadratic time). Everything
    after an unterminated comment is inside it, so it is dropped.
    """
    out = bytearray()
    pos = 0
    while pos < len(body):
        start = body.find(b"<!", pos)
        if start < 0:
            out += body[pos:]
            break
        out += body[pos:start]
        if body.startswith(b"<!--", start):
            end, skip = body.find(b"-->", start + 4), 3
        elif body.startswith(b"<![CDATA[", start):
            end, skip = body.find(b"]]>", start + 9), 3
        else:
            out += b"<!"
            pos = start + 2
            continue
        if end < 0:
            break
        pos = end + skip
    return bytes(out)


def _clean(raw: bytes) -> str:
    return safe_text(html.unescape(safe_text(raw, limit=1024)).encode("utf-8"))


def scan_description(body: bytes) -> dict[str, FieldValue]:
    """Tolerant scan of a device description for the root device's identity fields."""
    if _FORBIDDEN.search(body):
        return {}
    body = strip_markup(body)
    fields: dict[str, FieldValue] = {}
    embedded: list[str] = []
    services: list[str] = []
    stack: list[str] = []
    root_depth: int | None = None  # depth of the root device's children
    for count, m in enumerate(_TAG.finditer(body)):
        if count >= MAX_TAGS:
            break
        closing, name, selfclose = m.group(1), m.group(2).split(b":")[-1].lower().decode(), m.group(3)
        if closing:
            if name in stack:
                while stack and stack.pop() != name:
                    pass
            if root_depth is not None and len(stack) < root_depth - 1:
                root_depth = -1  # the root device closed: nothing later is about it
            continue
        parent = stack[-1] if stack else ""
        if name == "device" and root_depth is None and parent == "root":
            root_depth = len(stack) + 2
        depth = len(stack) + 1
        if not selfclose:
            text_end = body.find(b"<", m.end())
            text = body[m.end() : text_end if text_end >= 0 else len(body)]
            if name in ELEMENTS and depth == root_depth:
                key = ELEMENTS[name]
                value = _clean(text)
                if value and key not in fields:
                    fields[key] = value
            elif name == "devicetype" and root_depth not in (None, -1) and depth > root_depth:
                value = _clean(text)
                if value and value not in embedded and len(embedded) < MAX_LIST:
                    embedded.append(value)
            elif name == "servicetype":
                value = _clean(text)
                if value and value not in services and len(services) < MAX_LIST:
                    services.append(value)
            stack.append(name)
            if len(stack) > 64:
                break
    if embedded:
        fields["upnp.embedded_types"] = tuple(embedded)
    if services:
        fields["upnp.service_types"] = tuple(services)
    return fields


class UpnpDissector:
    """UPnP device description in an HTTP response -> one observation about the server."""

    name = "upnp"
    transports = frozenset({Transport.TCP})
    udp_ports: frozenset[int] = frozenset()
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """An HTTP response carrying the UPnP device namespace."""
        return payload.startswith(b"HTTP/1.") and MARKER in payload[: MAX_HEADER + MAX_BODY]

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Never raises."""
        try:
            body = split_http(payload[: MAX_HEADER + MAX_BODY * 2])
            if body is None or MARKER not in body:
                return []
            fields = scan_description(body)
        except Exception:
            return []
        if not fields:
            return []
        return [
            observation(
                ts_ns=ctx.ts_ns,
                flow_uid=ctx.flow_uid,
                protocol=self.name,
                mac=ctx.src_mac,
                ip=ctx.src_ip,
                fields=fields,
            )
        ]


DISSECTORS: list[UpnpDissector] = [UpnpDissector()]

FIELDS: dict[str, str] = {
    "upnp.manufacturer": "Root device <manufacturer>.",
    "upnp.manufacturer_url": "Root device <manufacturerURL>.",
    "upnp.model_name": "Root device <modelName>.",
    "upnp.model_number": "Root device <modelNumber>.",
    "upnp.model_description": "Root device <modelDescription>.",
    "upnp.model_url": "Root device <modelURL>.",
    "upnp.serial_number": "Root device <serialNumber>.",
    "upnp.friendly_name": "Root device <friendlyName>.",
    "upnp.udn": "Root device <UDN> (uuid:...).",
    "upnp.device_type": "Root device <deviceType> URN.",
    "upnp.presentation_url": "Root device <presentationURL>.",
    "upnp.firmware": "Non-standard <firmwareVersion>/<softwareVersion>/<fwVersion> of the root device.",
    "upnp.embedded_types": "deviceType URNs of embedded devices (deviceList).",
    "upnp.service_types": "serviceType URNs listed anywhere in the description.",
}
