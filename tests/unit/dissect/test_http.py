"""HTTP dissector: requests, responses, pipelining, no URIs stored, fuzzing."""

from __future__ import annotations

import gzip

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext
from wardwatch.sensor.dissect.http import DISSECTORS, FIELDS

D = DISSECTORS[0]
CTX = PacketContext(ts_ns=5, flow_uid="f", transport=Transport.TCP, src_ip="10.0.0.7", dst_ip="10.0.0.8")
MARKER = "MRN0099887766"

REQUEST = (
    b"GET /patients/view?mrn=" + MARKER.encode() + b"&name=DOE HTTP/1.1\r\n"
    b"host: emr.hospital.example:8080\r\n"
    b"USER-AGENT: Philips-IntelliVue/M.00.03\r\n"
    b"Cookie: session=" + MARKER.encode() + b"\r\n"
    b"Authorization: Basic " + MARKER.encode() + b"\r\n"
    b"Content-Length: 11\r\n"
    b"\r\n"
    b"mrn="
    + MARKER[:7].encode()
    + b"GET /two HTTP/1.1\r\nHost: second.example\r\nUser-Agent: curl/8.0\r\n\r\n"
)

RESPONSE_BODY = b"<html><head><TITLE>HP LaserJet 4250 &amp; Co\n  Status</TITLE></head><body>x</body></html>"
RESPONSE = (
    b"HTTP/1.1 401 Unauthorized\r\n"
    b"Server: Allegro-Software-RomPager/4.34\r\n"
    b"x-powered-by: PHP/5.2.17\r\n"
    b'WWW-Authenticate: Basic realm="HP LaserJet 4250", charset="UTF-8"\r\n'
    b"Content-Type: text/html\r\n"
    b"Content-Length: " + str(len(RESPONSE_BODY)).encode() + b"\r\n\r\n" + RESPONSE_BODY
)


def test_probe() -> None:
    assert D.probe(REQUEST)
    assert D.probe(RESPONSE)
    assert D.probe(b"HTTP/1.0 200 OK\r\n")
    assert not D.probe(b"\x16\x03\x01\x02\x00\x01")
    assert not D.probe(b"GET / HTTP/2.0\r\n")
    assert not D.probe(b"SSH-2.0-OpenSSH_8.9\r\n")


def test_request_fields_and_pipelining() -> None:
    out = D.dissect(CTX, REQUEST)
    assert [o.fields for o in out] == [
        {"http.user_agent": "Philips-IntelliVue/M.00.03", "http.host": "emr.hospital.example:8080"},
        {"http.user_agent": "curl/8.0", "http.host": "second.example"},
    ]
    assert all(o.ip == "10.0.0.7" for o in out)


def test_uri_cookie_auth_never_stored() -> None:
    out = D.dissect(CTX, REQUEST)
    assert out
    assert MARKER not in repr(out) and MARKER[:7] not in repr(out)
    assert "/patients" not in repr(out)


def test_response_fields() -> None:
    (ob,) = D.dissect(CTX, RESPONSE)
    assert ob.fields == {
        "http.server": "Allegro-Software-RomPager/4.34",
        "http.powered_by": "PHP/5.2.17",
        "http.auth_schemes": ("basic",),
        "http.auth_realm": "HP LaserJet 4250",
        "http.title": "HP LaserJet 4250 & Co Status",
    }


def test_digest_and_multiple_schemes() -> None:
    data = (
        b"HTTP/1.1 401 Unauthorized\r\n"
        b'WWW-Authenticate: Digest realm="GE CARESCAPE", nonce="abc, def", qop="auth"\r\n'
        b"Content-Length: 0\r\n\r\n"
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate, NTLM\r\nContent-Length: 0\r\n\r\n"
    )
    out = D.dissect(CTX, data)
    assert out[0].fields == {"http.auth_schemes": ("digest",), "http.auth_realm": "GE CARESCAPE"}
    assert out[1].fields == {"http.auth_schemes": ("negotiate", "ntlm")}


def test_gzip_title_and_truncated_headers() -> None:
    body = gzip.compress(b"<html><title>Alaris Gateway</title></html>")
    data = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    assert D.dissect(CTX, data)[0].fields == {"http.title": "Alaris Gateway"}
    # headers cut by the 16 KiB prefix: complete lines are still used, the partial one is not
    cut = b"HTTP/1.1 200 OK\r\nServer: lighttpd/1.4.35\r\nX-Powered-By: PH"
    assert D.dissect(CTX, cut)[0].fields == {"http.server": "lighttpd/1.4.35"}


def test_bounded_text() -> None:
    data = b"GET / HTTP/1.1\r\nUser-Agent: " + b"A" * 5000 + b"\x01\x02\r\n\r\n"
    (ob,) = D.dissect(CTX, data)
    assert len(str(ob.fields["http.user_agent"])) == 256


def test_not_http() -> None:
    assert D.dissect(CTX, b"\x00\x01binary junk\r\n\r\n") == []


def _check(out: object) -> None:
    assert isinstance(out, list)
    for o in out:
        assert isinstance(o, Observation) and o.protocol == "http"
        assert set(o.fields) <= set(FIELDS)
        assert MARKER not in repr(o)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_arbitrary(data: bytes) -> None:
    D.probe(data)
    _check(D.dissect(CTX, data))
    _check(D.dissect(CTX, b"HTTP/1.1 200 OK\r\n" + data))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([REQUEST, RESPONSE]), st.data())
def test_fuzz_mutated(sample: bytes, data: st.DataObject) -> None:
    buf = bytearray(sample[: data.draw(st.integers(0, len(sample)))])
    for _ in range(data.draw(st.integers(0, 4))):
        if buf:
            buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    D.probe(bytes(buf))
    out = D.dissect(CTX, bytes(buf))
    assert isinstance(out, list)
    for o in out:
        assert set(o.fields) <= set(FIELDS)
