"""A dissector's ``context_fields`` promise: its output depends on those context fields only.

The sensor remembers a dissector's results keyed by the declared fields and the payload (see
``SensorEngine._call``), so a wrong declaration would hand one host's facts to another. Here two
contexts that agree on the declared fields, and differ at random in every other field, must give
the same observations (apart from timestamp and flow, which the sensor sets per call).
"""

from __future__ import annotations

from dataclasses import fields, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.sensor.dissect.base import PacketContext, TcpTraits
from wardwatch.sensor.dissect.registry import DISSECTORS

DECLARING = [d for d in DISSECTORS if getattr(d, "context_fields", None)]

MACS = st.sampled_from([None, "00:11:22:33:44:55", "02:00:00:00:00:0a", "ff:ff:ff:ff:ff:ff"])
IPS = st.sampled_from([None, "10.0.0.2", "10.0.0.3", "fe80::1", "224.0.0.251"])
TRAITS = st.none() | st.builds(
    TcpTraits,
    syn_ack=st.booleans(),
    ttl=st.integers(0, 255),
    ip_version=st.sampled_from([4, 6]),
    df=st.booleans(),
    window=st.integers(0, 65535),
    mss=st.none() | st.integers(0, 65535),
    wscale=st.none() | st.integers(0, 14),
    options=st.lists(st.sampled_from(["mss", "nop", "ws", "sok", "ts", "eol", "?30"]), max_size=8).map(tuple),
    ip_header_len=st.sampled_from([20, 24, 40]),
    ip_options_len=st.sampled_from([0, 4]),
    quirks=st.lists(st.sampled_from(["id+", "ecn", "ts1-", "ack+"]), max_size=3).map(tuple),
)
CONTEXTS = st.builds(
    PacketContext,
    ts_ns=st.integers(0, 2**62),
    flow_uid=st.text(min_size=1, max_size=16),
    transport=st.sampled_from(list(Transport)),
    src_mac=MACS,
    dst_mac=MACS,
    src_ip=IPS,
    dst_ip=IPS,
    src_port=st.integers(0, 65535),
    dst_port=st.integers(0, 65535),
    vlan=st.none() | st.integers(0, 4094),
    ethertype=st.integers(0, 0xFFFF),
    ttl=st.integers(0, 255),
    client_is_src=st.none() | st.booleans(),
    tcp=TRAITS,
)


#: Well-formed messages, so the property is also tried where dissectors do produce output.
WELL_FORMED = [
    bytes.fromhex("1234010000010000000000000470616373086c6f63616c6e65740000010001"),  # DNS A query
    # DNS response: PTR 2.0.0.10.in-addr.arpa -> pacs.localnet
    bytes.fromhex(
        "abcd8180000100010000000001320130013002313007696e2d61646472046172706100000c0001"
        "c00c000c000100000e10000f0470616373086c6f63616c6e657400"
    ),
    # HTTP request and response headers (the HTTP dissector declares its fields too)
    b"GET /status HTTP/1.1\r\nHost: pump-7\r\nUser-Agent: InfusionAgent/2.1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nServer: Apache/2.4.41 (Ubuntu)\r\nContent-Length: 0\r\n\r\n",
    # DHCP DISCOVER (type-1 client id, host name, vendor class, parameter list) and an ACK
    bytes.fromhex(
        "010106003a2b3c4d0004800000000000000000000000000000000000001122334455"
        + "00" * 10
        + "00" * 192
        + "63825363"
        + "350101"
        + "3d0701001122334455"
        + "0c0670756d702d37"
        + "3c084d53465420352e30"
        + "3704010306 0f".replace(" ", "")
        + "ff"
    ),
    bytes.fromhex(
        "020106003a2b3c4d00000000000000000a00000700000000000000000011223344550000000000000000"
        + "0000"
        + "00" * 192
        + "63825363"
        + "350105"
        + "3604 0a000001".replace(" ", "")
        + "3304 00000e10".replace(" ", "")
        + "ff"
    ),
]
PAYLOADS = st.binary(max_size=64) | st.sampled_from(WELL_FORMED)
# a random payload as long as a DHCP message, so its option area is reached too
PAYLOADS |= st.binary(min_size=240, max_size=300).map(lambda b: b[:236] + b"\x63\x82\x53\x63" + b[240:])


def test_http_output_is_checked_where_it_has_some() -> None:
    from wardwatch.sensor.dissect.http import HttpDissector

    ctx = PacketContext(ts_ns=1, flow_uid="f", transport=Transport.TCP, src_mac="00:11:22:33:44:55")
    assert all(HttpDissector().dissect(ctx, p) for p in WELL_FORMED[2:4])


def test_tcpstack_declares_its_fields() -> None:
    # the SYN path relies on it: without the declaration every SYN would be dissected anew
    assert any(d.name == "tcpstack" for d in DECLARING)


@pytest.mark.parametrize("dissector", DECLARING, ids=lambda d: d.name)
@settings(max_examples=300, deadline=None)
@given(a=CONTEXTS, b=CONTEXTS, payload=PAYLOADS, head=st.binary(min_size=8, max_size=8))
def test_output_depends_on_declared_fields_only(
    dissector: object, a: PacketContext, b: PacketContext, payload: bytes, head: bytes
) -> None:
    declared: tuple[str, ...] = dissector.context_fields  # type: ignore[attr-defined]
    assert set(declared) <= {f.name for f in fields(PacketContext)} - {"ts_ns", "flow_uid"}
    # b agrees with a on the declared fields and differs anywhere else
    b = replace(b, **{name: getattr(a, name) for name in declared})

    # ... and b's payload differs in the leading bytes the dissector declares to skip, and in
    # the byte range it declares to ignore
    skip: int = getattr(dissector, "cache_skip", 0)
    other = (head[:skip] + payload[skip:]) if len(payload) >= skip else head[: len(payload)]
    start, end = getattr(dissector, "cache_ignore", (0, 0))
    assert 0 <= start <= end and end - start <= len(head)
    span = len(other[start:end])
    other = other[:start] + head[:span] + other[start + span :]

    def content(ctx: PacketContext, data: bytes) -> list[tuple[object, ...]]:
        out = dissector.dissect(ctx, data)  # type: ignore[attr-defined]
        return [(o.protocol, o.mac, o.ip, o.fields, o.uid) for o in out]

    assert content(a, payload) == content(b, other)


def test_dhcp_output_is_checked_where_it_has_some() -> None:
    from wardwatch.sensor.dissect.dhcp import DhcpDissector

    ctx = PacketContext(ts_ns=1, flow_uid="f", transport=Transport.UDP, src_mac="00:11:22:33:44:55")
    discover, ack = (DhcpDissector().dissect(ctx, p) for p in WELL_FORMED[-2:])
    assert discover[0].fields["dhcp.hostname"] == "pump-7"
    assert discover[0].fields["dhcp.param_list"] == (1, 3, 6, 15)
    assert ack[0].ip == "10.0.0.7" and ack[0].fields["dhcp.lease_time"] == 3600


def test_dns_repeats_hit_whatever_the_transaction_id() -> None:
    from wardwatch.sensor.dissect.dns import DnsDissector

    query = bytes.fromhex("1234010000010000000000000470616373086c6f63616c6e65740000010001")
    ctx = PacketContext(
        ts_ns=1, flow_uid="f", transport=Transport.UDP, src_mac="00:11:22:33:44:55", src_ip="10.0.0.2"
    )
    first = DnsDissector().dissect(ctx, query)
    again = DnsDissector().dissect(replace(ctx, src_port=999, ts_ns=2), b"\xab\xcd" + query[2:])
    assert first and [o.fields for o in first] == [o.fields for o in again]
    assert first[0].fields["dns.query"] == "pacs.localnet"
    answer = DnsDissector().dissect(ctx, WELL_FORMED[1])
    assert [(o.ip, o.fields) for o in answer] == [("10.0.0.2", {"dns.ptr_name": "pacs.localnet"})]
