"""Syslog dissector: RFC 3164 and RFC 5424 headers, message text never stored, fuzzing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext
from wardwatch.sensor.dissect.syslog import DISSECTORS, FIELDS

D = DISSECTORS[0]
CTX = PacketContext(ts_ns=9, flow_uid="f", transport=Transport.UDP, src_ip="10.3.3.3", dst_ip="10.0.0.1")
MARKER = "PATIENTDOEJOHN4711"


def _fields(data: bytes) -> dict[str, object]:
    out = D.dissect(CTX, data)
    assert len(out) == 1 and out[0].ip == "10.3.3.3"
    return dict(out[0].fields)


def test_rfc5424() -> None:
    # RFC 5424 section 6.5 example 1, with the message replaced by the marker
    data = (
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xef\xbb\xbf'su root' "
        + MARKER.encode()
    )
    assert D.probe(data)
    assert _fields(data) == {
        "syslog.facility": 4,
        "syslog.severity": 2,
        "syslog.version": 1,
        "syslog.hostname": "mymachine.example.com",
        "syslog.app_name": "su",
    }
    assert MARKER not in repr(D.dissect(CTX, data))


def test_rfc5424_nil_and_structured_data() -> None:
    data = (
        b'<165>1 - - - - - [exampleSDID@32473 iut="3" eventSource="'
        + MARKER.encode()
        + b'"] '
        + MARKER.encode()
    )
    assert _fields(data) == {"syslog.facility": 20, "syslog.severity": 5, "syslog.version": 1}
    assert MARKER not in repr(D.dissect(CTX, data))


def test_rfc3164() -> None:
    # RFC 3164 section 5.4 example 1
    data = b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for " + MARKER.encode() + b" on /dev/pts/8"
    assert _fields(data) == {
        "syslog.facility": 4,
        "syslog.severity": 2,
        "syslog.hostname": "mymachine",
        "syslog.app_name": "su",
    }
    data = b"<13>Feb  5 17:32:18 10.0.0.99 infusiond[812]: bolus for " + MARKER.encode()
    assert _fields(data) == {
        "syslog.facility": 1,
        "syslog.severity": 5,
        "syslog.hostname": "10.0.0.99",
        "syslog.app_name": "infusiond",
    }


def test_rfc3164_without_hostname_or_header() -> None:
    assert _fields(b"<13>Oct  1 01:02:03 pumpd: " + MARKER.encode()) == {
        "syslog.facility": 1,
        "syslog.severity": 5,
        "syslog.app_name": "pumpd",
    }
    # no timestamp: only the unambiguous "prog[pid]:" shape is taken as a tag
    assert _fields(b"<13>monitor[42]: " + MARKER.encode()) == {
        "syslog.facility": 1,
        "syslog.severity": 5,
        "syslog.app_name": "monitor",
    }
    # RFC 3164 4.3.3: a message without a valid header is all content -- nothing but PRI is taken
    for data in (b"<13>" + MARKER.encode() + b": admitted", b"<13>Patient " + MARKER.encode() + b" admitted"):
        assert _fields(data) == {"syslog.facility": 1, "syslog.severity": 5}
        assert MARKER not in repr(D.dissect(CTX, data))


def test_octet_counting_and_rejects() -> None:
    assert _fields(b"75 <14>1 2024-01-01T00:00:00Z host app - - - msg")["syslog.hostname"] == "host"
    assert D.dissect(CTX, b"<192>bad pri") == []
    assert D.dissect(CTX, b"no pri at all") == []
    assert not D.probe(b"<999>x") and not D.probe(b"GET / HTTP/1.1")


def _check(out: object) -> None:
    assert isinstance(out, list)
    for o in out:
        assert isinstance(o, Observation) and o.protocol == "syslog"
        assert set(o.fields) <= set(FIELDS)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_arbitrary(data: bytes) -> None:
    D.probe(data)
    _check(D.dissect(CTX, data))
    _check(D.dissect(CTX, b"<13>" + data))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_message_text_never_leaks(text: str) -> None:
    # Whatever the message says, with a full RFC 5424 or RFC 3164 header, it never shows up.
    secret = MARKER + text
    for data in (
        b"<34>1 2003-10-11T22:14:15Z host app 12 ID1 - " + secret.encode(),
        b"<34>Oct 11 22:14:15 host app[1]: " + secret.encode(),
    ):
        assert MARKER not in repr(D.dissect(CTX, data))
