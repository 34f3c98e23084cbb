"""TLS handshake dissector: client fingerprint (JA4, SNI, ALPN) and the server's hello and certificate.

References: RFC 8446 (TLS 1.3: handshake framing, supported_versions 0x002b), RFC 5246 (TLS 1.2:
record layer, Certificate message), RFC 6066 (server_name 0x0000), RFC 7301 (ALPN 0x0010),
RFC 8701 (GREASE values 0x?a?a), RFC 5280 (X.509) and the FoxIO JA4 specification
(github.com/FoxIO-LLC/ja4, technical_details/JA4.md).

Each TCP direction's stream prefix is handed over once. The handshake byte stream is reassembled
from consecutive handshake records (type 22) at the start of the prefix -- a handshake message may
span records and a record may hold several messages -- and reading stops at the first
ChangeCipherSpec, alert or application-data record, after which handshake bytes are encrypted.

* ClientHello (about the sender, the client): ``tls.sni``, ``tls.alpn``, ``tls.client_version``,
  ``tls.ja4`` and ``tls.ja4_r``.
* ServerHello (about the sender, the server): ``tls.server_version`` (honouring a selected
  supported_versions), ``tls.cipher``, ``tls.alpn_selected``.
* Certificate (TLS <= 1.2 only; TLS 1.3 encrypts it): the leaf certificate's subject, issuer,
  validity, serial, key, fingerprint, SANs and signature algorithm, parsed with ``cryptography``.
  A certificate cut by the prefix is skipped; the hello facts are still emitted.

JA4 here is always the TCP flavour (``t``): QUIC and DTLS are not handed to this dissector.
"""

from __future__ import annotations

import contextlib
import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any, Final

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext, obs, safe_text

FIELDS: dict[str, str] = {
    "tls.sni": "server_name (SNI) a client asked for in its ClientHello (about the client)",
    "tls.alpn": "ALPN protocols offered in the ClientHello, in order (about the client)",
    "tls.client_version": "Highest TLS version the client offers (supported_versions, else legacy version)",
    "tls.ja4": "FoxIO JA4 client fingerprint of the ClientHello (about the client)",
    "tls.ja4_r": "JA4 raw (sorted, unhashed) form: the inputs of tls.ja4",
    "tls.server_version": "TLS version the server selected in its ServerHello (about the server)",
    "tls.cipher": "Cipher suite the server selected, 4 lower-case hex digits, e.g. 'c02f'",
    "tls.alpn_selected": "ALPN protocol the server selected in its ServerHello",
    "tls.cert_subject": "Leaf certificate subject, RFC 4514 string (about the server)",
    "tls.cert_issuer": "Leaf certificate issuer, RFC 4514 string",
    "tls.cert_not_before": "Leaf certificate notBefore, ISO 8601 UTC (YYYY-MM-DDTHH:MM:SSZ)",
    "tls.cert_not_after": "Leaf certificate notAfter, ISO 8601 UTC (YYYY-MM-DDTHH:MM:SSZ)",
    "tls.cert_serial": "Leaf certificate serial number, lower-case hex",
    "tls.cert_key_type": "Leaf certificate public key type: RSA, EC, DSA, Ed25519, Ed448 or other",
    "tls.cert_key_bits": "Leaf certificate public key size in bits",
    "tls.cert_sha256": "SHA-256 fingerprint of the leaf certificate DER, lower-case hex",
    "tls.cert_self_signed": "Leaf certificate issuer equals subject and it verifies with its own key",
    "tls.cert_san": "DNS names in the leaf certificate's subjectAltName (first 32)",
    "tls.cert_sig_alg": "Leaf certificate signature algorithm, e.g. RSA_WITH_SHA256 (dotted OID if unknown)",
}

RECORD_HANDSHAKE: Final = 22
MAX_HANDSHAKE_BYTES: Final = 65536
MAX_MESSAGES: Final = 16
MAX_LIST: Final = 32
TEXT_LIMIT: Final = 256

_HELLO_CLIENT: Final = 1
_HELLO_SERVER: Final = 2
_CERTIFICATE: Final = 11

EXT_SNI: Final = 0x0000
EXT_SIG_ALGS: Final = 0x000D
EXT_ALPN: Final = 0x0010
EXT_SUPPORTED_VERSIONS: Final = 0x002B

_VERSION_NAMES: Final = {
    0x0002: "SSLv2",
    0x0300: "SSLv3",
    0x0301: "TLSv1.0",
    0x0302: "TLSv1.1",
    0x0303: "TLSv1.2",
    0x0304: "TLSv1.3",
}
_JA4_VERSIONS: Final = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}


class _Short(ValueError):
    """Truncated structure; caught inside this module."""


def is_grease(value: int) -> bool:
    """RFC 8701 GREASE: 0x0a0a, 0x1a1a, ... 0xfafa."""
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


class _Reader:
    """Bounds-checked big-endian reader over a bytes slice."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise _Short
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "big")

    def vec(self, length_bytes: int) -> bytes:
        return self.take(int.from_bytes(self.take(length_bytes), "big"))

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos


@dataclass
class ClientHello:
    """The parts of a ClientHello that JA4 and the observations use."""

    legacy_version: int
    ciphers: list[int] = field(default_factory=list)
    extensions: list[int] = field(default_factory=list)
    sni: str | None = None
    alpn: list[bytes] = field(default_factory=list)
    supported_versions: list[int] = field(default_factory=list)
    sig_algs: list[int] = field(default_factory=list)


def _u16s(data: bytes) -> list[int]:
    """The big-endian 16-bit values of a vector (a trailing odd byte ignored), in one call."""
    return list(struct.unpack_from(f"!{len(data) // 2}H", data))


def parse_client_hello(body: bytes) -> ClientHello:
    """Parse a ClientHello handshake body; raises ``_Short``/``ValueError`` when malformed."""
    r = _Reader(body)
    hello = ClientHello(legacy_version=r.u16())
    r.take(32)  # random
    r.vec(1)  # legacy_session_id
    hello.ciphers = _u16s(r.vec(2))
    r.vec(1)  # compression methods
    if r.remaining < 2:
        return hello  # extensions are optional before TLS 1.2
    exts = _Reader(r.vec(2))
    while exts.remaining >= 4:
        ext_type = exts.u16()
        data = exts.vec(2)
        hello.extensions.append(ext_type)
        try:
            _client_extension(hello, ext_type, data)
        except _Short:
            continue  # a broken extension body does not invalidate the list of types
    return hello


def _client_extension(hello: ClientHello, ext_type: int, data: bytes) -> None:
    r = _Reader(data)
    if ext_type == EXT_SNI:
        names = _Reader(r.vec(2))
        while names.remaining >= 3 and hello.sni is None:
            kind = names.u8()
            name = names.vec(2)
            if kind == 0:
                hello.sni = safe_text(name, TEXT_LIMIT)
    elif ext_type == EXT_ALPN:
        protos = _Reader(r.vec(2))
        while protos.remaining >= 1 and len(hello.alpn) < MAX_LIST:
            hello.alpn.append(protos.vec(1))
    elif ext_type == EXT_SUPPORTED_VERSIONS:
        hello.supported_versions.extend(_u16s(r.vec(1)))
    elif ext_type == EXT_SIG_ALGS:
        hello.sig_algs.extend(_u16s(r.vec(2)))


def _alpn_chars(value: bytes) -> str:
    """JA4 ALPN part: first and last character, or of its hex form if either is not alphanumeric."""
    if not value:
        return "00"
    first, last = value[0], value[-1]
    if chr(first).isascii() and chr(first).isalnum() and chr(last).isascii() and chr(last).isalnum():
        return chr(first) + chr(last)
    hexed = value.hex()
    return hexed[0] + hexed[-1]


def _hash12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def client_version(hello: ClientHello) -> int:
    """Highest non-GREASE supported_versions entry, else the legacy ClientHello version."""
    offered = [v for v in hello.supported_versions if not is_grease(v)]
    return max(offered) if offered else hello.legacy_version


def ja4(hello: ClientHello, protocol: str = "t") -> tuple[str, str]:
    """JA4 fingerprint and its raw (sorted) form, per FoxIO's JA4 specification."""
    if EXT_SUPPORTED_VERSIONS in hello.extensions and hello.supported_versions:
        offered = [v for v in hello.supported_versions if not is_grease(v)]
        version = _JA4_VERSIONS.get(max(offered), "00") if offered else "00"
    else:
        version = _JA4_VERSIONS.get(hello.legacy_version, "00")
    ciphers = [c for c in hello.ciphers if not is_grease(c)]
    exts = [e for e in hello.extensions if not is_grease(e)]
    sni = "d" if EXT_SNI in exts else "i"
    alpn = _alpn_chars(hello.alpn[0]) if hello.alpn else "00"
    part_a = f"{protocol}{version}{sni}{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}{alpn}"
    cipher_list = ",".join(f"{c:04x}" for c in sorted(ciphers))
    ext_list = ",".join(f"{e:04x}" for e in sorted(e for e in exts if e not in (EXT_SNI, EXT_ALPN)))
    sigs = ",".join(f"{s:04x}" for s in hello.sig_algs if not is_grease(s))
    part_c_raw = f"{ext_list}_{sigs}" if sigs else ext_list
    part_b = _hash12(cipher_list) if ciphers else "000000000000"
    part_c = _hash12(part_c_raw) if ext_list else "000000000000"
    return f"{part_a}_{part_b}_{part_c}", f"{part_a}_{cipher_list}_{part_c_raw}"


def handshake_stream(payload: bytes) -> bytes:
    """Concatenate the fragments of the leading handshake records of a TLS byte stream.

    A truncated last record contributes what the prefix holds: enough for a hello or the start
    of a certificate chain.
    """
    out = bytearray()
    pos = 0
    while pos + 5 <= len(payload) and len(out) < MAX_HANDSHAKE_BYTES:
        content_type = payload[pos]
        if content_type != RECORD_HANDSHAKE or payload[pos + 1] != 0x03:
            break
        length = int.from_bytes(payload[pos + 3 : pos + 5], "big")
        if length == 0 or length > 18432:  # 2^14 + 2048: the largest legal TLSCiphertext
            break
        out += payload[pos + 5 : pos + 5 + length]
        pos += 5 + length
    return bytes(out[:MAX_HANDSHAKE_BYTES])


def handshake_messages(stream: bytes) -> list[tuple[int, bytes, bool]]:
    """(type, body, complete) for each handshake message; the last one may be incomplete."""
    out: list[tuple[int, bytes, bool]] = []
    pos = 0
    while pos + 4 <= len(stream) and len(out) < MAX_MESSAGES:
        msg_type = stream[pos]
        length = int.from_bytes(stream[pos + 1 : pos + 4], "big")
        body = stream[pos + 4 : pos + 4 + length]
        out.append((msg_type, body, len(body) == length))
        pos += 4 + length
    return out


class TlsDissector:
    """TLS handshakes in TCP stream prefixes; see the module docstring."""

    name = "tls"
    transports = frozenset({Transport.TCP})
    udp_ports: frozenset[int] = frozenset()
    tcp_ports = frozenset({443, 2762, 8443, 636, 993, 995, 5061, 6514})
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """Handshake record, version 3.x, carrying a ClientHello or ServerHello."""
        return (
            len(payload) >= 6
            and payload[0] == RECORD_HANDSHAKE
            and payload[1] == 0x03
            and payload[2] <= 0x04
            and payload[5] in (_HELLO_CLIENT, _HELLO_SERVER)
        )

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Observations from the handshake messages in one direction's prefix. Never raises."""
        out: list[Observation] = []
        with contextlib.suppress(Exception):  # keep what was parsed before the damage
            self._dissect(ctx, payload, out)
        return out

    def _dissect(self, ctx: PacketContext, payload: bytes, out: list[Observation]) -> None:
        for msg_type, body, complete in handshake_messages(handshake_stream(payload)):
            try:
                if msg_type == _HELLO_CLIENT and complete:
                    out.append(self._client(ctx, body))
                    return  # one ClientHello per direction; the rest is encrypted or irrelevant
                if msg_type == _HELLO_SERVER and complete:
                    out.append(self._server(ctx, body))
                elif msg_type == _CERTIFICATE and complete:
                    cert = _leaf_certificate(ctx, body)
                    if cert is not None:
                        out.append(cert)
                    return
            except (_Short, ValueError):
                return

    def _client(self, ctx: PacketContext, body: bytes) -> Observation:
        hello = parse_client_hello(body)
        fingerprint, raw = ja4(hello)
        return obs(
            ctx,
            self.name,
            tls__sni=hello.sni,
            tls__alpn=tuple(safe_text(p, 64) for p in hello.alpn if p),
            tls__client_version=_version_name(client_version(hello)),
            tls__ja4=fingerprint,
            tls__ja4_r=raw[:2048],
        )

    def _server(self, ctx: PacketContext, body: bytes) -> Observation:
        r = _Reader(body)
        version = r.u16()
        r.take(32)
        r.vec(1)
        cipher = r.u16()
        r.take(1)
        alpn: str | None = None
        if r.remaining >= 2:
            exts = _Reader(r.vec(2))
            while exts.remaining >= 4:
                ext_type = exts.u16()
                data = exts.vec(2)
                if ext_type == EXT_SUPPORTED_VERSIONS and len(data) == 2:
                    version = int.from_bytes(data, "big")
                elif ext_type == EXT_ALPN and len(data) >= 3:
                    alpn = safe_text(_Reader(_Reader(data).vec(2)).vec(1), 64)
        return obs(
            ctx,
            self.name,
            tls__server_version=_version_name(version),
            tls__cipher=f"{cipher:04x}",
            tls__alpn_selected=alpn,
        )


def _version_name(version: int) -> str:
    return _VERSION_NAMES.get(version, f"0x{version:04x}")


def _leaf_certificate(ctx: PacketContext, body: bytes) -> Observation | None:
    """The first certificate of a TLS 1.2 Certificate message, described field by field."""
    r = _Reader(body)
    chain = _Reader(r.vec(3))
    der = chain.vec(3)
    if not der:
        return None
    fields = _certificate_fields(bytes(der))
    if not fields:
        return None
    return obs(ctx, "tls", **fields)


#: Described certificates by DER bytes: a server presents the same certificate on every
#: connection, and parsing X.509 is the most expensive thing a dissector does. Bounded.
_CERT_CACHE: dict[bytes, dict[str, Any]] = {}
_CERT_CACHE_MAX = 4096


def _certificate_fields(der: bytes) -> dict[str, Any]:
    cached = _CERT_CACHE.get(der)
    if cached is not None:
        return dict(cached)
    # Imported on the first certificate, not with the dissector: cryptography's X.509 modules
    # cost every discover run ~15 ms of start-up, and most captures carry no certificate.
    from wardwatch.sensor.dissect import tls_cert

    fields = tls_cert.certificate_fields(der)
    if not fields:
        return {}
    if len(_CERT_CACHE) >= _CERT_CACHE_MAX:
        _CERT_CACHE.clear()
    _CERT_CACHE[der] = dict(fields)
    return fields


DISSECTORS: list[TlsDissector] = [TlsDissector()]
