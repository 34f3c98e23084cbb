"""The X.509 part of the TLS dissector: a leaf certificate described field by field.

A separate module so that ``cryptography``'s X.509 code is imported on the first certificate a
capture carries (``tls._certificate_fields``), not at every start of the sensor. Only public
certificate metadata is read: subject, issuer, validity, serial, signature algorithm, SANs, key
type and size, and whether it is self-signed.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import SignatureAlgorithmOID

from wardwatch.sensor.dissect.base import safe_text
from wardwatch.sensor.dissect.tls import MAX_LIST, TEXT_LIMIT

_SIG_ALG_NAMES: Final = {
    value: name
    for name, value in vars(SignatureAlgorithmOID).items()
    if isinstance(value, x509.ObjectIdentifier)
}


def certificate_fields(der: bytes) -> dict[str, Any]:
    """The ``tls__cert_*`` fields of a DER certificate; empty when it does not parse."""
    fields: dict[str, Any] = {}
    with warnings.catch_warnings():
        # cryptography warns (rather than fails) on some non-conforming certificates; the wire
        # is full of those and the warnings are noise here.
        warnings.simplefilter("ignore")
        try:
            cert = x509.load_der_x509_certificate(der)
        except Exception:
            return {}
        _describe(cert, der, fields)
    return fields


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(cert: x509.Certificate, der: bytes, fields: dict[str, Any]) -> None:
    """Fill ``fields``; every accessor is guarded alone because parsing is lazy and may fail late."""
    fields["tls__cert_sha256"] = hashlib.sha256(der).hexdigest()
    getters: dict[str, Callable[[], object]] = {
        "tls__cert_subject": lambda: _bounded(cert.subject.rfc4514_string()),
        "tls__cert_issuer": lambda: _bounded(cert.issuer.rfc4514_string()),
        "tls__cert_not_before": lambda: _iso(cert.not_valid_before_utc),
        "tls__cert_not_after": lambda: _iso(cert.not_valid_after_utc),
        "tls__cert_serial": lambda: format(cert.serial_number, "x")[:128],
        "tls__cert_sig_alg": lambda: _SIG_ALG_NAMES.get(
            cert.signature_algorithm_oid, cert.signature_algorithm_oid.dotted_string
        ),
        "tls__cert_san": lambda: _san(cert),
        "tls__cert_self_signed": lambda: _self_signed(cert),
    }
    for key, getter in getters.items():
        try:
            fields[key] = getter()
        except Exception:
            continue
    try:
        key_type, bits = _key(cert)
        fields["tls__cert_key_type"] = key_type
        fields["tls__cert_key_bits"] = bits
    except Exception:
        pass


def _bounded(text: str) -> str:
    return safe_text(text.encode("utf-8", errors="replace"), TEXT_LIMIT)


def _san(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    names = ext.value.get_values_for_type(x509.DNSName)
    return tuple(_bounded(n) for n in names[:MAX_LIST])


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except InvalidSignature:
        return False
    except (ValueError, TypeError):
        return True  # algorithm cryptography cannot verify: fall back to the name comparison
    return True


def _key(cert: x509.Certificate) -> tuple[str, int | None]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return "other", None
