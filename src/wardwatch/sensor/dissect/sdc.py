"""IEEE 11073 SDC discovery and metadata: WS-Discovery over UDP 3702 and DPWS GetMetadata responses.

References: OASIS WS-Discovery 1.1 (2009) §4 (Hello, Bye), §5 (Probe, ProbeMatches), §6 (Resolve,
ResolveMatches): ``wsa:EndpointReference/wsa:Address``, ``d:Types``, ``d:Scopes``, ``d:XAddrs``,
``d:MetadataVersion``, actions ``http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01/<Name>``;
OASIS DPWS 1.1 §4.1 (``dpws:ThisModel``: Manufacturer, ManufacturerUrl, ModelName, ModelNumber,
ModelUrl, PresentationUrl; ``dpws:ThisDevice``: FriendlyName, FirmwareVersion, SerialNumber),
WS-MetadataExchange GetMetadata; IEEE 11073-20701-2018 §9.3 (SDC scopes: ``sdc.mds.pkp:``
participant key purposes, ``sdc.cdc.type:`` MDS component types, ``sdc.ctxt.loc:`` location
context) and the DPWS device type ``mdpws:MedicalDevice``.

SOAP-over-UDP messages are about their sender: Hello/Bye/ProbeMatches/ResolveMatches come from the
device (provider), Probe/Resolve from a consumer (whose probe types are recorded as
``sdc.probe_types``). A DPWS metadata response travels in the server-to-client direction of an
HTTP stream and is about its sender, the provider.

Patient data: SDC context scopes other than location (``sdc.ctxt.pat``, ``sdc.ctxt.ens`` ...)
may carry patient or ensemble identifiers, so only ``sdc.mds.*``, ``sdc.cdc.type`` and
``sdc.ctxt.loc`` SDC scopes are kept; every other ``sdc.ctxt.*`` scope is dropped before it
leaves this module. Non-SDC scopes are kept (they are device configuration).

:func:`scan_elements` is the safe XML reader shared with the ``fhir`` and ``poct1`` dissectors: a
tolerant tag scanner, not an XML parser. Documents with a DOCTYPE or ENTITY declaration are
rejected outright (no entity expansion: billion-laughs and external-entity attacks), comments and
CDATA are removed first in one linear pass (:func:`wardwatch.sensor.dissect.upnp.strip_markup`),
and the scan is capped at :data:`MAX_TAGS` tags and :data:`MAX_DEPTH` levels.
"""

from __future__ import annotations

import html
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from wardwatch.model.flow import Transport
from wardwatch.model.observation import FieldValue, Observation
from wardwatch.sensor.dissect.base import PacketContext, observation, safe_text
from wardwatch.sensor.dissect.upnp import dechunk, strip_markup

MAX_BODY = 65536
MAX_TAGS = 4096
MAX_DEPTH = 64
MAX_LIST = 32
MAX_HEADER = 8192
MAX_MESSAGES = 8
METHODS = (b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ", b"HEAD ", b"OPTIONS ")
WSD_NS = b"http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01"
DPWS_NS = b"http://docs.oasis-open.org/ws-dd/ns/dpws/2009/01"
MEDICAL_TYPE = "MedicalDevice"

_TAG = re.compile(rb"<(/?)([A-Za-z_][\w.:-]{0,63})((?:\s[^<>]{0,2048}?)?)(/?)>")
_ATTR = re.compile(rb"([A-Za-z_][\w.:-]{0,63})\s*=\s*(?:\"([^\"<]*)\"|'([^'<]*)')")
_FORBIDDEN = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.I)


@dataclass(frozen=True, slots=True)
class Element:
    """One start tag: its ancestry, attributes and the text right after it (before the next tag)."""

    path: tuple[str, ...]
    """Local names (namespace prefix removed, case kept) from the root down to this element."""
    attrs: tuple[tuple[str, str], ...]
    """(local name, unescaped value) pairs; namespace declarations are left out."""
    text: str
    """Unescaped, stripped text up to the next tag (at most 1 KiB read)."""

    @property
    def name(self) -> str:
        """The element's own local name."""
        return self.path[-1]

    def attr(self, name: str) -> str:
        """Value of the attribute with this local name, or ''."""
        for key, value in self.attrs:
            if key == name:
                return value
        return ""


def observe(ctx: PacketContext, protocol: str, fields: Mapping[str, FieldValue]) -> Observation:
    """An observation about the sender with these fields (empty values dropped)."""
    kept = {k: v for k, v in fields.items() if v is not None and v != "" and v != ()}
    return observation(
        ts_ns=ctx.ts_ns, flow_uid=ctx.flow_uid, protocol=protocol, mac=ctx.src_mac, ip=ctx.src_ip, fields=kept
    )


def clean_text(raw: bytes) -> str:
    """Bounded, printable, entity-unescaped (predefined and numeric references only) text."""
    return safe_text(html.unescape(safe_text(raw, limit=1024)).encode("utf-8"))


def has_dtd(data: bytes) -> bool:
    """True when ``data`` declares a DOCTYPE or ENTITY (such documents are never read)."""
    return _FORBIDDEN.search(data) is not None


def scan_elements(body: bytes) -> list[Element]:
    """Every start tag of a (possibly truncated) XML document, in order; [] if it has a DTD."""
    body = body[:MAX_BODY]
    if _FORBIDDEN.search(body):
        return []
    body = strip_markup(body)
    out: list[Element] = []
    stack: list[str] = []
    for count, m in enumerate(_TAG.finditer(body)):
        if count >= MAX_TAGS:
            break
        closing, name = m.group(1), m.group(2).split(b":")[-1].decode("ascii", "replace")
        if closing:
            if name in stack:
                while stack and stack.pop() != name:
                    pass
            continue
        attrs: list[tuple[str, str]] = []
        for a in _ATTR.finditer(m.group(3) or b""):
            key = a.group(1).decode("ascii", "replace")
            if key == "xmlns" or key.startswith("xmlns:"):
                continue
            attrs.append(
                (key.split(":")[-1], clean_text(a.group(2) if a.group(2) is not None else a.group(3)))
            )
        text_end = body.find(b"<", m.end(), m.end() + 4096)
        text = clean_text(body[m.end() : text_end if text_end >= 0 else m.end() + 1024])
        out.append(Element(path=(*stack, name), attrs=tuple(attrs), text=text))
        if not m.group(4):
            stack.append(name)
            if len(stack) > MAX_DEPTH:
                break
    return out


def http_messages(payload: bytes) -> list[tuple[bool, bytes, bytes]]:
    """(is_request, lower-cased header block, de-chunked and inflated body) of each HTTP/1.x message."""
    out: list[tuple[bool, bytes, bytes]] = []
    pos = 0
    while len(out) < MAX_MESSAGES and pos < len(payload):
        start = payload[pos : pos + 16]
        is_request = start.startswith(METHODS)
        if not is_request and not start.startswith(b"HTTP/1."):
            break
        end = payload.find(b"\r\n\r\n", pos, pos + MAX_HEADER)
        if end < 0:
            break
        head = payload[pos:end].lower()
        body_start = end + 4
        length = header(head, b"content-length")
        if b"chunked" in header(head, b"transfer-encoding"):
            stop = payload.find(b"\r\n0\r\n\r\n", body_start)
            next_pos = stop + 7 if stop >= 0 else len(payload)
            body = dechunk(payload[body_start:next_pos])
        elif length.isdigit() and len(length) < 10:
            next_pos = body_start + int(length)
            body = payload[body_start:next_pos]
        elif is_request:
            next_pos, body = body_start, b""
        else:
            next_pos, body = len(payload), payload[body_start:]
        out.append((is_request, head, inflate(header(head, b"content-encoding"), body[:MAX_BODY])))
        pos = next_pos
    return out


def header(head: bytes, name: bytes) -> bytes:
    """Value of the first header line ``name`` (lower case) in a lower-cased header block, or b''."""
    for line in head.split(b"\r\n")[1:64]:
        key, colon, value = line.partition(b":")
        if colon and key.strip() == name:
            return value.strip()
    return b""


def inflate(encoding: bytes, body: bytes) -> bytes:
    """Undo gzip/deflate coding, bounded to :data:`MAX_BODY`: truncated gives what inflated, corrupt b""."""
    if encoding not in (b"gzip", b"x-gzip", b"deflate"):
        return body
    wbits = 16 + zlib.MAX_WBITS if encoding != b"deflate" else zlib.MAX_WBITS
    try:
        return zlib.decompressobj(wbits).decompress(body, MAX_BODY)
    except zlib.error:
        return b""


def _words(text: str) -> list[str]:
    return [w for w in text.split() if w][:MAX_LIST]


def keep_scope(scope: str) -> bool:
    """False for SDC context scopes that may carry patient or ensemble identifiers."""
    low = scope.lower()
    return low.startswith("sdc.ctxt.loc") or not low.startswith("sdc.ctxt.")


def location_of(scopes: list[str]) -> str:
    """The ``fac/bldng/flr/poc/rm/bed`` query of an ``sdc.ctxt.loc`` scope as 'key=value;...'."""
    for scope in scopes:
        if scope.lower().startswith("sdc.ctxt.loc:") and "?" in scope:
            query = scope.split("?", 1)[1]
            parts = []
            for item in query.split("&")[:8]:
                key, _, value = item.partition("=")
                if key in {"fac", "bldng", "flr", "poc", "rm", "bed"} and value:
                    parts.append(f"{key}={safe_text(unquote(value).encode(), limit=64)}")
            return ";".join(parts)
    return ""


_WSD_ACTIONS = ("Hello", "Bye", "ProbeMatches", "ResolveMatches", "Probe", "Resolve")
_THIS_MODEL = {
    "Manufacturer": "sdc.manufacturer",
    "ManufacturerUrl": "sdc.manufacturer_url",
    "ModelName": "sdc.model_name",
    "ModelNumber": "sdc.model_number",
    "ModelUrl": "sdc.model_url",
}
_THIS_DEVICE = {
    "FriendlyName": "sdc.friendly_name",
    "FirmwareVersion": "sdc.firmware",
    "SerialNumber": "sdc.serial_number",
}


def parse_discovery(body: bytes) -> dict[str, FieldValue]:
    """Fields of one WS-Discovery SOAP envelope (first matching message only)."""
    elements = scan_elements(body)
    action = ""
    for el in elements:
        if el.name == "Action" and "Header" in el.path:
            tail = el.text.rsplit("/", 1)[-1]
            if tail in _WSD_ACTIONS:
                action = tail
            break
    if not action:
        for el in elements:
            if "Body" in el.path[:-1] and el.path[-2] == "Body" and el.name in _WSD_ACTIONS:
                action = el.name
                break
    if not action:
        return {}
    fields: dict[str, FieldValue] = {"sdc.wsd_action": action}
    types: list[str] = []
    scopes: list[str] = []
    xaddrs: list[str] = []
    for el in elements:
        if "Body" not in el.path:
            continue
        if el.name == "Address" and "EndpointReference" in el.path and "sdc.endpoint" not in fields:
            fields["sdc.endpoint"] = el.text
        elif el.name == "Types":
            types += [t.split(":")[-1] if ":" in t and "//" not in t else t for t in _words(el.text)]
        elif el.name == "Scopes":
            scopes += _words(el.text)
        elif el.name == "XAddrs":
            xaddrs += _words(el.text)
        elif el.name == "MetadataVersion" and el.text.isdigit() and len(el.text) < 10:
            fields.setdefault("sdc.metadata_version", int(el.text))
    types = list(dict.fromkeys(types))[:MAX_LIST]
    kept = [s for s in dict.fromkeys(scopes) if keep_scope(s)][:MAX_LIST]
    if action in ("Probe", "Resolve"):
        # a consumer's query: what it looks for, not what it is
        if types:
            fields["sdc.probe_types"] = tuple(types)
        # a Resolve names the endpoint it looks for: that is not the sender's identity
        fields.pop("sdc.endpoint", None)
        return fields
    if types:
        fields["sdc.types"] = tuple(types)
    if kept:
        fields["sdc.scopes"] = tuple(kept)
    if xaddrs:
        fields["sdc.xaddrs"] = tuple(dict.fromkeys(xaddrs))
    medical = MEDICAL_TYPE in types or any(s.lower().startswith("sdc.") for s in kept)
    fields["sdc.medical"] = medical
    pkp = [s.split(":", 1)[1] for s in kept if s.lower().startswith("sdc.mds.pkp:")]
    if pkp:
        fields["sdc.participant_key_purposes"] = tuple(pkp)
    mds_types = [s.split(":", 1)[1].strip("/") for s in kept if s.lower().startswith("sdc.cdc.type:")]
    if mds_types:
        fields["sdc.mds_types"] = tuple(mds_types)
    loc = location_of(kept)
    if loc:
        fields["sdc.location"] = loc
    return fields


def parse_metadata(body: bytes) -> dict[str, FieldValue]:
    """DPWS ThisModel / ThisDevice / hosted types of a GetMetadata (or Get) response."""
    fields: dict[str, FieldValue] = {}
    hosted: list[str] = []
    for el in scan_elements(body):
        if "ThisModel" in el.path[:-1] and el.name in _THIS_MODEL:
            key = _THIS_MODEL[el.name]
        elif "ThisDevice" in el.path[:-1] and el.name in _THIS_DEVICE:
            key = _THIS_DEVICE[el.name]
        elif el.name == "Types" and "Host" in el.path:
            host_types = [t.split(":")[-1] for t in _words(el.text)]
            fields.setdefault("sdc.types", tuple(host_types))
            continue
        elif el.name == "Types" and "Hosted" in el.path:
            hosted += [t.split(":")[-1] for t in _words(el.text)]
            continue
        else:
            continue
        # several localised values (xml:lang) may be given: keep the first
        if el.text and key not in fields:
            fields[key] = el.text
    if hosted:
        fields["sdc.hosted_types"] = tuple(list(dict.fromkeys(hosted))[:MAX_LIST])
    if not any(k in fields for k in (*_THIS_MODEL.values(), *_THIS_DEVICE.values())):
        return {}
    types = fields.get("sdc.types", ())
    fields["sdc.medical"] = (isinstance(types, tuple) and MEDICAL_TYPE in types) or any(
        "SetService" in str(h) or "GetService" in str(h) for h in hosted
    )
    return fields


class SdcDissector:
    """WS-Discovery (UDP 3702, or probed) and DPWS metadata over HTTP -> observations."""

    name = "sdc"
    transports = frozenset({Transport.UDP, Transport.TCP})
    udp_ports = frozenset({3702})
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """A SOAP envelope in the WS-Discovery namespace, or an HTTP response with DPWS metadata."""
        head = payload[:4096]
        if WSD_NS in head and b"Envelope" in head:
            return True
        if not payload.startswith(b"HTTP/1."):
            return False
        # DPWS metadata is often gzip-coded: the SOAP media type in the header is the sign
        end = payload.find(b"\r\n\r\n", 0, MAX_HEADER)
        head = payload[: end if end >= 0 else MAX_HEADER].lower()
        return b"application/soap+xml" in head or DPWS_NS in payload[:MAX_BODY]

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Never raises."""
        try:
            if payload.startswith(b"HTTP/1."):
                fields = {}
                for is_request, _head, body in http_messages(payload[: MAX_BODY * 2]):
                    if not is_request and DPWS_NS in body:
                        fields = parse_metadata(body)
                        if fields:
                            break
            elif payload[:16].startswith(METHODS):
                return []  # requests carry no identity of either side
            else:
                if WSD_NS not in payload[:MAX_BODY]:
                    return []
                fields = parse_discovery(payload)
        except Exception:
            return []
        if not fields:
            return []
        return [observe(ctx, self.name, fields)]


DISSECTORS: list[SdcDissector] = [SdcDissector()]

FIELDS: dict[str, str] = {
    "sdc.wsd_action": "WS-Discovery message: Hello, Bye, Probe, ProbeMatches, Resolve or ResolveMatches.",
    "sdc.endpoint": "WS-Addressing EndpointReference Address of the device (usually urn:uuid:...).",
    "sdc.types": "WS-Discovery / DPWS Host Types, local names (e.g. ('Device', 'MedicalDevice')).",
    "sdc.probe_types": "Types a consumer's Probe/Resolve asks for (about the consumer).",
    "sdc.scopes": "WS-Discovery Scopes, minus SDC context scopes other than location (PHI risk).",
    "sdc.xaddrs": "WS-Discovery XAddrs: transport addresses of the device's metadata endpoint.",
    "sdc.metadata_version": "WS-Discovery MetadataVersion.",
    "sdc.medical": "True when types or scopes mark an IEEE 11073 SDC medical device.",
    "sdc.participant_key_purposes": "sdc.mds.pkp: scope values (IEEE 11073-20701 participant key purposes).",
    "sdc.mds_types": "sdc.cdc.type: scope values (MDS component type codings).",
    "sdc.location": "Location of the sdc.ctxt.loc scope as 'fac=..;bldng=..;flr=..;poc=..;rm=..;bed=..'.",
    "sdc.manufacturer": "DPWS ThisModel/Manufacturer.",
    "sdc.manufacturer_url": "DPWS ThisModel/ManufacturerUrl.",
    "sdc.model_name": "DPWS ThisModel/ModelName.",
    "sdc.model_number": "DPWS ThisModel/ModelNumber.",
    "sdc.model_url": "DPWS ThisModel/ModelUrl.",
    "sdc.friendly_name": "DPWS ThisDevice/FriendlyName.",
    "sdc.firmware": "DPWS ThisDevice/FirmwareVersion.",
    "sdc.serial_number": "DPWS ThisDevice/SerialNumber.",
    "sdc.hosted_types": "Types of the hosted services in DPWS Relationship metadata (local names).",
}
