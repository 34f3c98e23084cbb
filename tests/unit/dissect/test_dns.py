"""DNS / mDNS / LLMNR dissectors: hand-built messages, a real zeroconf capture, and fuzzing."""

from __future__ import annotations

import struct
from pathlib import Path

import dpkt
from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import dns
from wardwatch.sensor.dissect.base import PacketContext

DATA = Path(__file__).parents[2] / "data" / "dissect"


def ctx(src_ip: str = "10.1.2.3", port: int = 5353) -> PacketContext:
    return PacketContext(
        ts_ns=1,
        flow_uid="F1",
        transport=Transport.UDP,
        src_mac="00:11:22:33:44:55",
        dst_mac="01:00:5e:00:00:fb",
        src_ip=src_ip,
        dst_ip="224.0.0.251",
        src_port=port,
        dst_port=port,
    )


def name(text: str) -> bytes:
    out = b""
    for label in text.split("."):
        raw = label.encode()
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def header(flags: int, qd: int = 0, an: int = 0, ns: int = 0, ar: int = 0, ident: int = 0) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, ns, ar)


def rr(owner: bytes, rtype: int, rdata: bytes, rclass: int = 1, ttl: int = 120) -> bytes:
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def question(qname: str, qtype: int, qclass: int = 1) -> bytes:
    return name(qname) + struct.pack("!HH", qtype, qclass)


# ---- the wire parser ---------------------------------------------------------------------------


def test_compression_pointer_is_followed() -> None:
    # "_ipp._tcp.local" at offset 12, then a PTR whose owner is a pointer to it (0xc00c).
    msg = header(0x8400, an=1)
    owner = name("_ipp._tcp.local")
    body = rr(owner, 12, b"\x07Printer\xc0\x0c")
    parsed = dns.parse_message(msg + body)
    assert parsed is not None and parsed.complete
    assert parsed.answers[0].target == ("Printer", "_ipp", "_tcp", "local")


def test_pointer_loop_is_rejected() -> None:
    buf = header(0x0000, qd=1) + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    # Pointer at offset 12 points to itself: forward/self pointers are refused, never loop.
    assert dns.read_name(buf, 12) is None
    # Two pointers pointing at each other.
    buf2 = header(0) + b"\xc0\x0e\xc0\x0c"
    assert dns.read_name(buf2, 12) is None
    assert dns.read_name(buf2, 14) is None


def test_name_length_limit() -> None:
    long_name = b"".join(b"\x3f" + b"a" * 63 for _ in range(5)) + b"\x00"  # 320 bytes > 255
    assert dns.read_name(header(0) + long_name, 12) is None


def test_ptr_name_to_address() -> None:
    assert dns.ptr_name_to_address(("5", "1", "168", "192", "in-addr", "arpa")) == "192.168.1.5"
    assert dns.ptr_name_to_address(("300", "1", "168", "192", "in-addr", "arpa")) is None
    v6 = (*reversed("fe800000000000000000000000000001"), "ip6", "arpa")
    assert dns.ptr_name_to_address(v6) == "fe80::1"


# ---- unicast DNS -------------------------------------------------------------------------------


def test_dns_query_is_about_the_client() -> None:
    payload = header(0x0100, qd=1, ident=0x1234) + question("pacs.hospital.example", 1)
    out = dns.DnsDissector().dissect(ctx(port=53), payload)
    assert len(out) == 1
    assert out[0].mac == "00:11:22:33:44:55" and out[0].ip == "10.1.2.3"
    assert out[0].fields == {"dns.query": "pacs.hospital.example", "dns.qtype": "A"}


def test_dns_ptr_response_names_local_host_only() -> None:
    q = question("20.1.10.10.in-addr.arpa", 12)
    ans_local = rr(b"\xc0\x0c", 12, name("pump-0042.ward3.example"))
    ans_public = rr(name("8.8.8.8.in-addr.arpa"), 12, name("dns.google"))
    payload = header(0x8180, qd=1, an=2) + q + ans_local + ans_public
    out = dns.DnsDissector().dissect(ctx(src_ip="10.0.0.53", port=53), payload)
    assert len(out) == 1
    assert out[0].mac is None and out[0].ip == "10.10.1.20"
    assert out[0].fields == {"dns.ptr_name": "pump-0042.ward3.example"}
    assert out[0].protocol == "dns"


def test_dns_a_response_is_silent() -> None:
    payload = header(0x8180, qd=1, an=1) + question("x.example", 1) + rr(b"\xc0\x0c", 1, bytes([10, 0, 0, 9]))
    assert dns.DnsDissector().dissect(ctx(port=53), payload) == []


# ---- mDNS --------------------------------------------------------------------------------------


def test_mdns_announcement_hand_built() -> None:
    inst = name("Infusion Hub._ipp._tcp.local")
    srv = struct.pack("!HHH", 0, 0, 631) + name("hub-7.local")
    txt = b"\x0dty=Acme Hub 7" + b"\x0aserial=A12" + b"\x00"
    records = [
        rr(name("_services._dns-sd._udp.local"), 12, name("_ipp._tcp.local")),
        rr(name("_ipp._tcp.local"), 12, inst),
        rr(inst, 33, srv, rclass=0x8001),
        rr(inst, 16, txt, rclass=0x8001),
        rr(name("hub-7.local"), 1, bytes([10, 1, 2, 3]), rclass=0x8001),
        rr(name("other.local"), 1, bytes([10, 9, 9, 9]), rclass=0x8001),
    ]
    payload = header(0x8400, an=len(records)) + b"".join(records)
    d = dns.MdnsDissector()
    assert d.probe(payload)
    out = d.dissect(ctx(), payload)
    assert len(out) == 1
    o = out[0]
    assert (o.mac, o.ip, o.protocol) == ("00:11:22:33:44:55", "10.1.2.3", "mdns")
    assert o.fields == {
        "mdns.hostname": ("hub-7.local",),  # the one whose address is the sender's
        "mdns.services": ("_ipp._tcp",),
        "mdns.instances": ("Infusion Hub",),
        "mdns.txt": ("ty=Acme Hub 7", "serial=A12"),
        "mdns.srv_port": (631,),
        "mdns.srv_target": ("hub-7.local",),
    }


def test_mdns_query_ignores_known_answers_and_records_queries() -> None:
    known = rr(name("_airplay._tcp.local"), 12, name("Someone Else._airplay._tcp.local"))
    payload = (
        header(0x0000, qd=2, an=1)
        + question("_airplay._tcp.local", 12, qclass=0x8001)  # unicast-response bit set
        + question("_raop._tcp.local", 12)
        + known
    )
    out = dns.MdnsDissector().dissect(ctx(), payload)
    assert len(out) == 1
    assert out[0].fields == {"mdns.queries": ("_airplay._tcp.local", "_raop._tcp.local")}


def test_mdns_probe_authority_is_about_sender() -> None:
    payload = (
        header(0x0000, qd=1, ns=1)
        + question("monitor-3.local", 255)
        + rr(b"\xc0\x0c", 1, bytes([169, 254, 7, 7]))
    )
    out = dns.MdnsDissector().dissect(ctx(src_ip="0.0.0.0"), payload)
    assert out[0].fields["mdns.hostname"] == ("monitor-3.local",)
    assert out[0].fields["mdns.queries"] == ("monitor-3.local",)


def test_mdns_real_zeroconf_capture() -> None:
    """Bytes captured on loopback from python-zeroconf (see tests/data/dissect/README.md)."""
    d = dns.MdnsDissector()
    results: list[Observation] = []
    with (DATA / "mdns_zeroconf_lo.pcap").open("rb") as f:
        for _, frame in dpkt.pcap.Reader(f):
            udp = dpkt.ethernet.Ethernet(frame).data.data
            assert d.probe(bytes(udp.data))
            results.extend(d.dissect(ctx(src_ip="127.0.0.1"), bytes(udp.data)))
    announcements = [o for o in results if "mdns.txt" in o.fields]
    assert announcements
    assert announcements[0].fields == {
        "mdns.hostname": ("wardprinter.local",),
        "mdns.services": ("_ipp._tcp",),
        "mdns.instances": ("Ward Printer 3",),
        "mdns.txt": (
            "ty=Acme LaserWard 9000",
            "product=(LaserWard 9000)",
            "usb_MFG=Acme",
            "usb_MDL=LW9000",
            "rp=ipp/print",
        ),
        "mdns.srv_port": (631,),
        "mdns.srv_target": ("wardprinter.local",),
    }
    assert any(o.fields.get("mdns.queries") == ("_ipp._tcp.local",) for o in results)


# ---- LLMNR -------------------------------------------------------------------------------------


def test_llmnr_query_and_response() -> None:
    q = header(0x0000, qd=1, ident=7) + question("WS-NURSE-12", 1)
    out = dns.LlmnrDissector().dissect(ctx(port=5355), q)
    assert out[0].fields == {"llmnr.query": "WS-NURSE-12", "llmnr.qtype": "A"}
    r = (
        header(0x8000, qd=1, an=1, ident=7)
        + question("WS-NURSE-12", 1)
        + rr(b"\xc0\x0c", 1, bytes([10, 1, 2, 3]))
    )
    out = dns.LlmnrDissector().dissect(ctx(port=5355), r)
    assert out[0].fields == {"llmnr.name": "WS-NURSE-12", "llmnr.addresses": ("10.1.2.3",)}


# ---- fuzzing -----------------------------------------------------------------------------------


def _check(out: object, fields: dict[str, str]) -> None:
    assert isinstance(out, list)
    for o in out:
        assert isinstance(o, Observation)
        assert set(o.fields) <= set(fields)


VALID = (
    header(0x8400, an=3)
    + rr(name("_ipp._tcp.local"), 12, name("P._ipp._tcp.local"))
    + rr(b"\xc0\x27", 33, struct.pack("!HHH", 0, 0, 80) + b"\x01h\xc0\x16")
    + rr(name("h.local"), 1, bytes([10, 1, 2, 3]))
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    for d in dns.DISSECTORS:
        _check(d.dissect(ctx(), data), dns.FIELDS)
        assert isinstance(d.probe(data), bool)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(VALID)), st.integers(0, len(VALID) - 1), st.integers(0, 255))
def test_fuzz_truncated_and_mutated(cut: int, at: int, byte: int) -> None:
    mutated = bytearray(VALID)
    mutated[at] = byte
    for payload in (VALID[:cut], bytes(mutated)):
        for d in dns.DISSECTORS:
            _check(d.dissect(ctx(), payload), dns.FIELDS)
