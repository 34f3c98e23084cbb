"""TLS dissector: JA4 against the FoxIO spec vector, a real OpenSSL handshake via MemoryBIO, fuzzing."""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext
from wardwatch.sensor.dissect.tls import DISSECTORS, FIELDS, ClientHello, is_grease, ja4, parse_client_hello

D = DISSECTORS[0]
CLIENT = PacketContext(
    ts_ns=1, flow_uid="f", transport=Transport.TCP, src_ip="10.0.0.10", dst_ip="10.0.0.20", client_is_src=True
)
SERVER = PacketContext(
    ts_ns=1,
    flow_uid="f",
    transport=Transport.TCP,
    src_ip="10.0.0.20",
    dst_ip="10.0.0.10",
    client_is_src=False,
)


def _u16s(values: list[int]) -> bytes:
    return b"".join(struct.pack(">H", v) for v in values)


def _ext(ext_type: int, data: bytes) -> bytes:
    return struct.pack(">HH", ext_type, len(data)) + data


def _record(handshake: bytes, version: int = 0x0301) -> bytes:
    return struct.pack(">BHH", 22, version, len(handshake)) + handshake


def _handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


# ---------------------------------------------------------------- JA4 spec vector
# FoxIO JA4 specification, technical_details/JA4.md ("Example" and "Raw Output"), also the unit
# test test_client_stats_into_out in rust/ja4/src/tls.rs of github.com/FoxIO-LLC/ja4:
SPEC_CIPHERS = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014]
SPEC_CIPHERS += [0x009C, 0x009D, 0x002F, 0x0035]
SPEC_EXTS = [0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005, 0x0023, 0x0012]
SPEC_EXTS += [0x002B, 0xFF01, 0x000B, 0x000A, 0x0015]
SPEC_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
SPEC_JA4 = "t13d1516h2_8daaf6152771_e5627efa2ab1"
SPEC_JA4_R = (
    "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_"
    "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_"
    "0403,0804,0401,0503,0805,0501,0806,0601"
)


def _spec_client_hello(grease: bool = True) -> bytes:
    """A wire ClientHello with the spec example's ciphers, extensions and signature algorithms,
    with GREASE values sprinkled in (which JA4 must ignore)."""
    ciphers = ([0x2A2A] if grease else []) + SPEC_CIPHERS
    exts = b""
    if grease:
        exts += _ext(0x0A0A, b"")
    for ext_type in SPEC_EXTS:
        if ext_type == 0x0000:
            name = b"pacs.hospital.example"
            entry = b"\x00" + struct.pack(">H", len(name)) + name
            data = struct.pack(">H", len(entry)) + entry
        elif ext_type == 0x0010:
            protos = b"\x02h2\x08http/1.1"
            data = struct.pack(">H", len(protos)) + protos
        elif ext_type == 0x000D:
            algs = _u16s(([0x1A1A] if grease else []) + SPEC_SIGALGS)
            data = struct.pack(">H", len(algs)) + algs
        elif ext_type == 0x002B:
            versions = _u16s(([0x5A5A] if grease else []) + [0x0304, 0x0303])
            data = bytes([len(versions)]) + versions
        else:
            data = b""
        exts += _ext(ext_type, data)
    if grease:
        exts += _ext(0xFAFA, b"\x00")
    body = (
        b"\x03\x03"
        + bytes(32)
        + b"\x20"
        + bytes(range(32))
        + struct.pack(">H", 2 * len(ciphers))
        + _u16s(ciphers)
        + b"\x01\x00"
        + struct.pack(">H", len(exts))
        + exts
    )
    return _record(_handshake(1, body))


def test_ja4_spec_vector() -> None:
    data = _spec_client_hello()
    assert D.probe(data)
    out = D.dissect(CLIENT, data)
    assert len(out) == 1 and out[0].ip == "10.0.0.10"
    assert out[0].fields == {
        "tls.sni": "pacs.hospital.example",
        "tls.alpn": ("h2", "http/1.1"),
        "tls.client_version": "TLSv1.3",
        "tls.ja4": SPEC_JA4,
        "tls.ja4_r": SPEC_JA4_R,
    }
    # same without GREASE: GREASE must not change the fingerprint
    assert D.dissect(CLIENT, _spec_client_hello(grease=False))[0].fields["tls.ja4"] == SPEC_JA4


def test_ja4_spec_no_sigalgs_hash() -> None:
    # JA4.md: with no signature algorithms the extension string is hashed alone = 6d807ffa2a79
    hello = ClientHello(legacy_version=0x0303, ciphers=SPEC_CIPHERS, extensions=SPEC_EXTS, alpn=[b"h2"])
    hello.supported_versions = [0x0304]
    fingerprint, _ = ja4(hello)
    assert fingerprint == "t13d1516h2_8daaf6152771_6d807ffa2a79"


def test_ja4_edge_rules() -> None:
    hello = ClientHello(legacy_version=0x0301, ciphers=[], extensions=[])
    assert ja4(hello)[0] == "t10i000000_000000000000_000000000000"  # no ALPN: "00"
    # ALPN: non-alphanumeric first/last byte -> first/last hex characters (JA4.md examples)
    for alpn, expected in (
        (b"\xab", "ab"),
        (b"\xab\xcd", "ad"),
        (b"\x30\xab", "3b"),
        (b"\x30\xab\xcd\x31", "01"),
    ):
        assert ja4(ClientHello(legacy_version=0x0303, alpn=[alpn]))[0][8:10] == expected
    assert ja4(ClientHello(legacy_version=0x0303, alpn=[b"h"]))[0][8:10] == "hh"
    assert ja4(ClientHello(legacy_version=0x0303, alpn=[b""]))[0][8:10] == "00"
    assert ja4(ClientHello(legacy_version=0x9999))[0][1:3] == "00"
    assert ja4(ClientHello(legacy_version=0x0303, ciphers=list(range(1, 200))))[0][4:6] == "99"
    assert all(is_grease(v) for v in (0x0A0A, 0x1A1A, 0xFAFA)) and not is_grease(0x0A1A)


# ---------------------------------------------------------------- real OpenSSL handshake

HOST = "pump-0042.ward3.hospital.example"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[x509.Certificate, Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Medical GmbH"),
            x509.NameAttribute(NameOID.COMMON_NAME, HOST),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234ABCD)
        .not_valid_before(dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2034, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(HOST), x509.DNSName("pump-0042")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("pki")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert, cert_path, key_path


@pytest.fixture(scope="module")
def handshake(pki: tuple[x509.Certificate, Path, Path]) -> tuple[bytes, bytes]:
    """(ClientHello flight, server flight) produced by Python's ssl over memory BIOs: no network."""
    _, cert_path, key_path = pki
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_path, key_path)
    server_ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # so the Certificate message is in clear
    server_ctx.set_alpn_protocols(["http/1.1"])
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    client_ctx.set_alpn_protocols(["h2", "http/1.1"])
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=HOST)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    client_flight = c_out.read()
    s_in.write(client_flight)
    with pytest.raises(ssl.SSLWantReadError):
        server.do_handshake()
    return client_flight, s_out.read()


def test_real_client_hello(handshake: tuple[bytes, bytes]) -> None:
    client_flight, _ = handshake
    assert D.probe(client_flight)
    (ob,) = D.dissect(CLIENT, client_flight)
    assert ob.ip == "10.0.0.10"
    assert ob.fields["tls.sni"] == HOST
    assert ob.fields["tls.alpn"] == ("h2", "http/1.1")
    assert ob.fields["tls.client_version"] == "TLSv1.3"
    fingerprint = str(ob.fields["tls.ja4"])
    raw = str(ob.fields["tls.ja4_r"])
    assert fingerprint.startswith("t13d") and fingerprint[8:10] == "h2"
    # the hashed parts are the sha256-12 of the raw parts
    _, cipher_list, rest = raw.split("_", 2)
    assert fingerprint.split("_")[1] == hashlib.sha256(cipher_list.encode()).hexdigest()[:12]
    assert fingerprint.split("_")[2] == hashlib.sha256(rest.encode()).hexdigest()[:12]
    assert "0000" not in rest.split("_")[0].split(",") and "0010" not in rest.split("_")[0].split(",")
    # independent cross-check of the counts from the parsed hello
    hello = parse_client_hello(client_flight[9:])
    assert int(fingerprint[4:6]) == len([c for c in hello.ciphers if not is_grease(c)])
    assert int(fingerprint[6:8]) == len([e for e in hello.extensions if not is_grease(e)])


def _fields(out: list[Observation]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for o in out:
        merged.update(o.fields)
    return merged


def test_real_server_flight(handshake: tuple[bytes, bytes], pki: tuple[x509.Certificate, Path, Path]) -> None:
    cert, _, _ = pki
    _, server_flight = handshake
    assert D.probe(server_flight)
    out = D.dissect(SERVER, server_flight)
    assert all(o.ip == "10.0.0.20" for o in out)
    fields = _fields(out)
    expected_name = f"CN={HOST},O=Example Medical GmbH,C=DE"
    assert fields["tls.server_version"] == "TLSv1.2"
    assert fields["tls.alpn_selected"] == "http/1.1"
    assert len(str(fields["tls.cipher"])) == 4
    assert fields["tls.cert_subject"] == expected_name
    assert fields["tls.cert_issuer"] == expected_name
    assert fields["tls.cert_not_before"] == "2024-01-02T03:04:05Z"
    assert fields["tls.cert_not_after"] == "2034-01-02T03:04:05Z"
    assert fields["tls.cert_serial"] == "1234abcd"
    assert fields["tls.cert_key_type"] == "RSA"
    assert fields["tls.cert_key_bits"] == 2048
    assert fields["tls.cert_sha256"] == cert.fingerprint(hashes.SHA256()).hex()
    assert fields["tls.cert_self_signed"] is True
    assert fields["tls.cert_san"] == (HOST, "pump-0042")
    assert fields["tls.cert_sig_alg"] == "RSA_WITH_SHA256"


def _rerecord(flight: bytes, size: int) -> bytes:
    """The same handshake bytes re-framed into records of ``size`` bytes."""
    stream = b""
    pos = 0
    while pos + 5 <= len(flight) and flight[pos] == 22:
        length = int.from_bytes(flight[pos + 3 : pos + 5], "big")
        stream += flight[pos + 5 : pos + 5 + length]
        pos += 5 + length
    return b"".join(_record(stream[i : i + size], 0x0303) for i in range(0, len(stream), size))


def test_handshake_spanning_records(handshake: tuple[bytes, bytes]) -> None:
    _, server_flight = handshake
    whole = _fields(D.dissect(SERVER, server_flight))
    assert _fields(D.dissect(SERVER, _rerecord(server_flight, 100))) == whole
    client_flight = handshake[0]
    assert (
        D.dissect(CLIENT, _rerecord(client_flight, 37))[0].fields
        == D.dissect(CLIENT, client_flight)[0].fields
    )


def test_certificate_cut_by_prefix(handshake: tuple[bytes, bytes]) -> None:
    _, server_flight = handshake
    cut = server_flight[: server_flight.find(b"\x30\x82") + 300]  # inside the leaf certificate
    fields = _fields(D.dissect(SERVER, cut))
    assert fields["tls.server_version"] == "TLSv1.2"
    assert not any(k.startswith("tls.cert_") for k in fields)


def test_stops_at_change_cipher_spec() -> None:
    data = b"\x14\x03\x03\x00\x01\x01" + _spec_client_hello()
    assert D.dissect(CLIENT, data) == []


# ---------------------------------------------------------------- fuzzing


def _check(out: object) -> None:
    assert isinstance(out, list)
    for o in out:
        assert isinstance(o, Observation) and o.protocol == "tls"
        assert set(o.fields) <= set(FIELDS)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_arbitrary(data: bytes) -> None:
    D.probe(data)
    _check(D.dissect(CLIENT, data))
    _check(D.dissect(SERVER, b"\x16\x03\x03" + data))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_fuzz_mutated(handshake: tuple[bytes, bytes], data: st.DataObject) -> None:
    sample = data.draw(st.sampled_from([handshake[0], handshake[1], _spec_client_hello()]))
    buf = bytearray(sample[: data.draw(st.integers(0, len(sample)))])
    for _ in range(data.draw(st.integers(0, 4))):
        if buf:
            buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    _check(D.dissect(SERVER, bytes(buf)))


@given(st.binary(max_size=41))
def test_vectors_of_16_bit_values_read_as_the_pairwise_loop(data: bytes) -> None:
    from wardwatch.sensor.dissect.tls import _u16s

    assert _u16s(data) == [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2)]
