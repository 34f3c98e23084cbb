"""ARP dissector: hand-built RFC 826 / RFC 5227 frames and fuzzing."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import arp
from wardwatch.sensor.dissect.base import PacketContext

SHA = bytes.fromhex("0011223344aa")


def ctx(src_mac: str = "00:11:22:33:44:aa") -> PacketContext:
    return PacketContext(ts_ns=5, flow_uid="L2", transport=Transport.L2, src_mac=src_mac, ethertype=0x0806)


def frame(op: int, spa: str, tpa: str, sha: bytes = SHA, tha: bytes = b"\x00" * 6) -> bytes:
    def ip(text: str) -> bytes:
        return bytes(int(x) for x in text.split("."))

    # 18 bytes of Ethernet padding follow on the wire: must be ignored.
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + ip(spa) + tha + ip(tpa) + b"\x00" * 18


def test_request_is_about_sender() -> None:
    out = arp.ArpDissector().dissect(ctx(), frame(1, "10.1.2.3", "10.1.2.1"))
    assert out == [
        Observation(
            ts_ns=5,
            flow_uid="L2",
            protocol="arp",
            mac="00:11:22:33:44:aa",
            ip="10.1.2.3",
            fields={"arp.op": "request"},
        )
    ]


def test_reply_uses_arp_body_not_ethernet_source() -> None:
    out = arp.ArpDissector().dissect(ctx(src_mac="00:00:5e:00:01:01"), frame(2, "10.1.2.9", "10.1.2.3"))
    assert out[0].mac == "00:11:22:33:44:aa" and out[0].ip == "10.1.2.9"
    assert out[0].fields == {"arp.op": "reply", "arp.eth_src_differs": True}


def test_probe_has_no_ip() -> None:
    out = arp.ArpDissector().dissect(ctx(), frame(1, "0.0.0.0", "169.254.3.4"))
    assert out[0].ip is None and out[0].mac == "00:11:22:33:44:aa"
    assert out[0].fields == {"arp.op": "request", "arp.probe": True, "arp.probe_ip": "169.254.3.4"}


def test_gratuitous() -> None:
    out = arp.ArpDissector().dissect(ctx(), frame(1, "10.1.2.3", "10.1.2.3", tha=b"\xff" * 6))
    assert out[0].fields == {"arp.op": "request", "arp.gratuitous": True}


def test_rejects_non_ethernet_ipv4_and_bad_sender() -> None:
    d = arp.ArpDissector()
    bad = bytearray(frame(1, "10.1.2.3", "10.1.2.1"))
    bad[5] = 16  # plen
    assert d.dissect(ctx(), bytes(bad)) == []
    assert d.dissect(ctx(), frame(1, "10.1.2.3", "10.1.2.1", sha=b"\x00" * 6)) == []
    assert d.dissect(ctx(), frame(1, "10.1.2.3", "10.1.2.1")[:27]) == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz(data: bytes) -> None:
    for payload in (data, frame(1, "10.1.2.3", "10.1.2.1")[:8] + data):
        out = arp.ArpDissector().dissect(ctx(), payload)
        assert isinstance(out, list)
        for o in out:
            assert isinstance(o, Observation) and set(o.fields) <= set(arp.FIELDS)
