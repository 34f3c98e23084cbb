"""Whatever the bytes, the reader raises nothing but CaptureError (and never loops or crashes)."""

from __future__ import annotations

import gzip
import io
import sys

import pytest
from _capture_writers import Pkt, custom, epb, frame, idb, nrb, obsolete_pb, pcap_bytes, shb, spb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wardwatch.sensor.capture.errors import CaptureError, ReadStats
from wardwatch.sensor.capture.reader import read_packets

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class _FakeStdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def read_all(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    # Standard input avoids a temporary file per example; the parsing is the same.
    monkeypatch.setattr(sys, "stdin", _FakeStdin(data))
    stats = ReadStats()
    try:
        for batch in read_packets("-", batch_size=3, stats=stats):
            n = len(batch)
            assert n > 0
            ends = batch.offset + batch.caplen
            assert (batch.offset >= 0).all() and (ends <= len(batch.data)).all()
            assert (batch.caplen <= batch.wirelen).all()
    except CaptureError as e:
        assert "internal error" not in str(e)
        assert "\n" not in str(e)
    assert stats.packets >= 0


def valid_pcap() -> bytes:
    return pcap_bytes([Pkt(1_700_000_000 + i, i, frame(i, 20 + 3 * i)) for i in range(6)], nano=True)


def valid_pcapng() -> bytes:
    return (
        shb()
        + idb(1, snaplen=64)
        + nrb()
        + idb(101, tsresol=0x80 | 20)
        + epb(0, 10, frame(1, 41))
        + spb(frame(2, 30))
        + custom()
        + obsolete_pb(1, 11, b"\x45" + bytes(27))
        + shb(">")
        + idb(113, endian=">")
        + epb(0, 5, bytes(30), endian=">")
    )


PREFIXES = [b"", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a", b"\x1f\x8b"]


@SETTINGS
@given(prefix=st.sampled_from(PREFIXES), rest=st.binary(max_size=300))
def test_arbitrary_bytes(monkeypatch: pytest.MonkeyPatch, prefix: bytes, rest: bytes) -> None:
    read_all(monkeypatch, prefix + rest)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from([valid_pcap(), valid_pcapng()])))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    out = bytes(data)
    if draw(st.booleans()):
        gz = gzip.compress(out)
        if draw(st.booleans()):
            gz = gz[: draw(st.integers(0, len(gz)))]
        out = gz
    return out


@SETTINGS
@given(data=mutated())
def test_mutated_valid_files(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    read_all(monkeypatch, data)
