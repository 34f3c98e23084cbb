"""NBNS dissector: hand-built RFC 1002 registrations, queries, NBSTAT responses and fuzzing."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import nbns
from wardwatch.sensor.dissect.base import PacketContext

CTX = PacketContext(
    ts_ns=2,
    flow_uid="N",
    transport=Transport.UDP,
    src_mac="00:1b:21:00:00:07",
    src_ip="10.3.0.7",
    dst_ip="10.3.255.255",
    src_port=137,
    dst_port=137,
)


def encode(name: str, suffix: int) -> bytes:
    raw = name.upper().ljust(15).encode() + bytes([suffix])
    return b"\x20" + bytes(b for ch in raw for b in (0x41 + (ch >> 4), 0x41 + (ch & 0xF))) + b"\x00"


def test_first_level_encoding_known_vector() -> None:
    # RFC 1001 §14.1 example: "FRED" (space padded, suffix 0x20) -> EGFCEFEECACACACACACACACACACACACA
    encoded = encode("FRED", 0x20)
    assert encoded[1:33] == b"EGFCEFEECACACACACACACACACACACACA"
    assert nbns.decode_netbios_name(encoded, 0) == ("FRED", 0x20, 34)


def registration(name: str, suffix: int, group: bool, addr: bytes = bytes([10, 3, 0, 7])) -> bytes:
    flags = 0x2910  # request, opcode 5 (registration), RD, broadcast
    nb_flags = 0x8000 if group else 0x0000
    return (
        struct.pack("!HHHHHH", 0x81A2, flags, 1, 0, 0, 1)
        + encode(name, suffix)
        + struct.pack("!HH", 0x20, 1)
        + b"\xc0\x0c"
        + struct.pack("!HHIH", 0x20, 1, 300000, 6)
        + struct.pack("!H", nb_flags)
        + addr
    )


def test_unique_registration() -> None:
    out = nbns.NbnsDissector().dissect(CTX, registration("ICU-WS-12", 0x00, False))
    assert len(out) == 1
    assert (out[0].mac, out[0].ip) == ("00:1b:21:00:00:07", "10.3.0.7")
    assert out[0].fields == {
        "nbns.opcode": "registration",
        "nbns.name": "ICU-WS-12",
        "nbns.suffix": 0,
        "nbns.group": False,
    }


def test_group_registration_is_domain() -> None:
    out = nbns.NbnsDissector().dissect(CTX, registration("HOSPITAL", 0x1C, True))
    assert out[0].fields == {
        "nbns.opcode": "registration",
        "nbns.name": "HOSPITAL",
        "nbns.suffix": 0x1C,
        "nbns.group": True,
        "nbns.domain": "HOSPITAL",
    }


def test_registration_for_other_address_has_no_mac() -> None:
    out = nbns.NbnsDissector().dissect(CTX, registration("PACS", 0x20, False, addr=bytes([10, 3, 0, 99])))
    assert out[0].mac is None and out[0].ip == "10.3.0.99"


def test_query() -> None:
    q = struct.pack("!HHHHHH", 1, 0x0110, 1, 0, 0, 0) + encode("PACS-SRV", 0x20) + struct.pack("!HH", 0x20, 1)
    out = nbns.NbnsDissector().dissect(CTX, q)
    assert out[0].fields == {"nbns.opcode": "query", "nbns.query": "PACS-SRV<20>"}


def test_node_status_response() -> None:
    table = [("ECG-CART-3", 0x00, False), ("WARD3", 0x00, True), ("ECG-CART-3", 0x20, False)]
    rdata = bytes([len(table)])
    for name, suffix, group in table:
        rdata += name.ljust(15).encode() + bytes([suffix]) + struct.pack("!H", 0x8400 if group else 0x0400)
    rdata += bytes.fromhex("0019b9aabbcc") + b"\x00" * 40  # unit ID then statistics
    resp = (
        struct.pack("!HHHHHH", 1, 0x8400, 0, 1, 0, 0)
        + b"\x20CK"
        + b"AA" * 15
        + b"\x00"  # '*' padded with NULs, as in real NBSTAT traffic
        + struct.pack("!HHIH", 0x21, 1, 0, len(rdata))
        + rdata
    )
    out = nbns.NbnsDissector().dissect(CTX, resp)
    assert len(out) == 1
    assert out[0].ip == "10.3.0.7"
    assert out[0].fields == {
        "nbns.opcode": "node-status",
        "nbns.names": ("ECG-CART-3<00>", "WARD3<00>#G", "ECG-CART-3<20>"),
        "nbns.name": "ECG-CART-3",
        "nbns.domain": "WARD3",
        "nbns.unit_id": "00:19:b9:aa:bb:cc",
    }


def test_bad_encoding_is_rejected() -> None:
    bad = bytearray(registration("X", 0, False))
    bad[13] = ord("z")
    assert nbns.NbnsDissector().dissect(CTX, bytes(bad)) == []


VALID = registration("ICU-WS-12", 0x00, False)


def _check(out: object) -> None:
    assert isinstance(out, list)
    for o in out:
        assert isinstance(o, Observation) and set(o.fields) <= set(nbns.FIELDS)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300), st.integers(0, len(VALID)), st.integers(0, len(VALID) - 1), st.integers(0, 255)
)
def test_fuzz(data: bytes, cut: int, at: int, byte: int) -> None:
    mutated = bytearray(VALID)
    mutated[at] = byte
    d = nbns.NbnsDissector()
    for payload in (data, VALID[:cut], bytes(mutated), VALID[:50] + data):
        _check(d.dissect(CTX, payload))
