"""SensorEngine end to end on hand-built packets: metering, dispatch, aggregates, invariance."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.flows.flowpkts import SEC, FakeDissector, arp, eth, ipv4, ipv6, mac, tcp, udp

from wardwatch.model.flow import Transport
from wardwatch.sensor.capture.batch import LinkType, PacketBatch
from wardwatch.sensor.flows import SensorConfig, SensorEngine, SensorOutput, uid_of
from wardwatch.sensor.flows.meter import port_server

A, B, C = "00:11:22:33:44:55", "66:77:88:99:aa:bb", "02:00:00:00:00:0c"
CLI, SRV = "10.0.0.1", "10.0.0.2"


def run(
    packets: Sequence[tuple[int, bytes]],
    dissectors: Sequence[FakeDissector] = (),
    *,
    batch_size: int = 4096,
    config: SensorConfig | None = None,
    linktype: int = LinkType.ETHERNET,
) -> tuple[SensorOutput, SensorEngine]:
    engine = SensorEngine(config, dissectors=list(dissectors))
    total = SensorOutput()
    for i in range(0, len(packets), batch_size):
        batch = PacketBatch.from_packets(list(packets[i : i + batch_size]), linktype=linktype, first_index=i)
        _extend(total, engine.feed(batch))
    _extend(total, engine.finish())
    return total, engine


def _extend(total: SensorOutput, out: SensorOutput) -> None:
    total.observations += out.observations
    total.flows += out.flows
    total.sightings += out.sightings
    total.conversations += out.conversations


def c2s(*args: object, **kw: object) -> bytes:
    return eth(B, A, 0x0800, ipv4(CLI, SRV, 6, tcp(40000, 80, *args, **kw)))  # type: ignore[arg-type]


def s2c(*args: object, **kw: object) -> bytes:
    return eth(A, B, 0x0800, ipv4(SRV, CLI, 6, tcp(80, 40000, *args, **kw)))  # type: ignore[arg-type]


REQ = b"GET /pump/status HTTP/1.1\r\nHost: pump-7\r\n\r\n"
RESP = b"HTTP/1.1 200 OK\r\nServer: InfusionOS/2.1\r\n\r\n"
SYN_OPTS = b"\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x01\x03\x03\x07"


def tcp_session(t0: int = 0, sport: int = 40000) -> list[tuple[int, bytes]]:
    """Handshake, a request in 3 segments (one retransmitted, one out of order), response, FINs."""

    def cs(*a: object, **k: object) -> bytes:
        return eth(B, A, 0x0800, ipv4(CLI, SRV, 6, tcp(sport, 80, *a, **k)))  # type: ignore[arg-type]

    def sc(*a: object, **k: object) -> bytes:
        return eth(A, B, 0x0800, ipv4(SRV, CLI, 6, tcp(80, sport, *a, **k)))  # type: ignore[arg-type]

    r1, r2, r3 = REQ[:10], REQ[10:25], REQ[25:]
    c, s = 1001, 5001
    pk = [
        cs(1000, 0, "S", options=SYN_OPTS),
        sc(5000, 1001, "SA", options=b"\x02\x04\x05\xb4"),
        cs(c, s, "A"),
        cs(c, s, "PA", r1),
        cs(c + 10 + 15, s, "PA", r3),  # out of order: arrives before r2
        cs(c + 10, s, "PA", r2),
        cs(c, s, "PA", r1),  # retransmission
        sc(s, c + len(REQ), "PA", RESP),
        cs(c + len(REQ), s + len(RESP), "FA"),
        sc(s + len(RESP), c + len(REQ) + 1, "FA"),
        cs(c + len(REQ) + 1, s + len(RESP) + 1, "A"),
    ]
    return [(t0 + i * SEC // 100, p) for i, p in enumerate(pk)]


def http() -> FakeDissector:
    return FakeDissector("http", frozenset({Transport.TCP}), tcp_ports=frozenset({80}))


def test_tcp_session_roles_counts_close_and_stream_prefix_once() -> None:
    h = http()
    stack = FakeDissector("tcpstack", frozenset({Transport.TCP}))
    out, engine = run(tcp_session(), [h, stack])
    (flow,) = out.flows
    assert (flow.a_ip, flow.a_port, flow.b_ip, flow.b_port) == (CLI, 40000, SRV, 80)
    assert (flow.a_mac, flow.b_mac) == (A, B)
    assert flow.server == "b" and flow.ended_by == "tcp-close"
    assert (flow.packets_ab, flow.packets_ba) == (8, 3)
    assert flow.bytes_ab + flow.bytes_ba == sum(len(p) for _, p in tcp_session())
    assert uid_of(flow) == flow.uid
    by_dir = {ctx.src_ip: (ctx, payload) for ctx, payload in h.calls}
    assert len(h.calls) == 2
    assert by_dir[CLI][1] == REQ and by_dir[CLI][0].client_is_src is True
    assert by_dir[SRV][1] == RESP and by_dir[SRV][0].client_is_src is False
    assert by_dir[CLI][0].flow_uid == flow.uid and by_dir[CLI][0].src_mac == A
    # SYN and SYN-ACK with their traits
    syn, synack = (ctx.tcp for ctx, _ in stack.calls)
    assert syn is not None and synack is not None
    assert not syn.syn_ack and synack.syn_ack
    assert syn.options == ("mss", "sok", "ts", "nop", "ws") and syn.mss == 1460 and syn.wscale == 7
    assert syn.ttl == 64 and syn.df and syn.ip_version == 4 and syn.ip_header_len == 20
    assert stack.calls[0][0].ttl == 64
    assert engine.stats.flows_closed == 1 and engine.stats.dissector_errors == 0
    (conv,) = out.conversations
    assert (conv.client_ip, conv.server_ip, conv.server_port, conv.flows) == (CLI, SRV, 80, 1)


def test_mid_stream_capture_uses_port_rule() -> None:
    out, _ = run([(0, s2c(9, 9, "A", b"x")), (1, c2s(9, 9, "A", b"y"))])
    assert out.flows[0].a_port == 80 and out.flows[0].server == "a"
    assert port_server(40000, 443) == 1 and port_server(5000, 6000) == -1 and port_server(123, 123) == -1
    assert port_server(50000, 2575) == 1


def test_rst_ends_flow_and_hands_over_prefix() -> None:
    h = http()
    pk = [(0, c2s(1000, 0, "S")), (1, s2c(50, 1001, "SA")), (2, c2s(1001, 51, "PA", b"GET / HTTP/1.0\r\n")),
          (3, s2c(51, 1017, "R"))]  # fmt: skip
    out, _ = run(pk, [h])
    assert out.flows[0].ended_by == "tcp-close" and [p for _, p in h.calls] == [b"GET / HTTP/1.0\r\n"]


def test_full_prefix_is_handed_over_at_the_limit() -> None:
    h = http()
    chunk = b"A" * 100
    pk = [(0, c2s(1000, 0, "S")), (1, s2c(50, 1001, "SA"))]
    pk += [(2 + i, c2s(1001 + 100 * i, 51, "PA", chunk)) for i in range(5)]
    run(pk, [h], config=SensorConfig(stream_prefix_bytes=250))
    assert [len(p) for _, p in h.calls] == [250]


def test_snap_cut_segment_ends_the_prefix() -> None:
    h = http()
    full = c2s(1001, 51, "PA", b"0123456789")
    cut = c2s(1011, 51, "PA", b"abcdefghij")
    pk = [
        (0, c2s(1000, 0, "S"), 0),
        (1, full, len(full)),
        (2, cut[:-5], len(cut)),
        (3, c2s(1021, 51, "PA", b"zz")),
    ]
    engine = SensorEngine(dissectors=[h])
    engine.feed(
        PacketBatch.from_packets(
            [(t, f, w or len(f)) for t, f, w in (p if len(p) == 3 else (*p, 0) for p in pk)]
        )
    )  # type: ignore[misc]
    engine.finish()
    assert [p for _, p in h.calls] == [b"0123456789abcde"]


def test_udp_port_dissector_gets_every_payload_packet() -> None:
    dns = FakeDissector("dns", frozenset({Transport.UDP}), udp_ports=frozenset({53}))
    q = eth(B, A, 0x0800, ipv4(CLI, SRV, 17, udp(33000, 53, b"query")))
    r = eth(A, B, 0x0800, ipv4(SRV, CLI, 17, udp(53, 33000, b"answer")))
    out, engine = run([(0, q), (1, r), (2, q)], [dns])
    assert [p for _, p in dns.calls] == [b"query", b"answer", b"query"]
    assert dns.calls[1][0].src_ip == SRV and dns.calls[1][0].src_port == 53 and dns.calls[1][0].ttl == 64
    assert len(out.observations) == 3 and engine.stats.observations == 3
    assert out.flows[0].server == "b" and out.flows[0].transport == Transport.UDP


def test_probe_on_odd_port_then_sticks_to_flow_bounded() -> None:
    magic = FakeDissector("proto", frozenset({Transport.UDP}), magic=b"MAGIC")
    other = FakeDissector("other", frozenset({Transport.UDP}), magic=b"NOPE")
    pk = [(0, eth(B, A, 0x0800, ipv4(CLI, SRV, 17, udp(40001, 40002, b"MAGIC-hello"))))]
    pk += [(1 + i, eth(B, A, 0x0800, ipv4(CLI, SRV, 17, udp(40001, 40002, b"more")))) for i in range(12)]
    pk += [(20, eth(B, A, 0x0800, ipv4(CLI, "10.0.0.9", 17, udp(40001, 40002, b"plain"))))]
    run(pk, [other, magic])
    assert len(magic.calls) == 8 and magic.calls[0][1] == b"MAGIC-hello" and not other.calls


def test_arp_goes_to_l2_dissector_and_vlan_is_kept() -> None:
    a = FakeDissector("arp", ethertypes=frozenset({0x0806}))
    body = arp(1, A, CLI, "00:00:00:00:00:00", SRV)
    pk = [(0, eth("ff:ff:ff:ff:ff:ff", A, 0x0806, body, vlans=(30, 40), tpid=0x88A8)),
          (1, eth("ff:ff:ff:ff:ff:ff", A, 0x0806, body + bytes(18), vlans=(30, 40), tpid=0x88A8))]  # fmt: skip
    out, engine = run(pk, [a])
    assert [p[:28] for _, p in a.calls] == [body, body]
    ctx = a.calls[0][0]
    assert ctx.transport == Transport.L2 and ctx.ethertype == 0x0806 and ctx.vlan == 30 and ctx.src_mac == A
    assert ctx.src_ip is None and ctx.dst_mac == "ff:ff:ff:ff:ff:ff"
    (flow,) = out.flows
    assert (
        flow.transport == Transport.L2
        and flow.vlan == 30
        and flow.ethertype == 0x0806
        and flow.packets_ab == 2
    )
    assert engine.stats.non_ip == 2 and uid_of(flow) == flow.uid
    assert out.sightings[0].mac == A and out.sightings[0].ip is None


def test_linktypes_sll_sll2_raw_null_meter_the_same_flow() -> None:
    ip = ipv4(CLI, SRV, 17, udp(68, 67, b"x"))
    ip6 = ipv6("fe80::1", "fe80::2", 17, udp(546, 547, b"y"))
    cases: list[tuple[int, bytes, str | None, str]] = [
        (LinkType.LINUX_SLL, struct.pack("!HHH", 0, 1, 6) + mac(A) + b"\0\0\x08\x00" + ip, A, CLI),
        (
            LinkType.LINUX_SLL2,
            struct.pack("!HHIHBB", 0x86DD, 0, 1, 1, 0, 6) + mac(A) + b"\0\0" + ip6,
            A,
            "fe80::1",
        ),
        (LinkType.RAW, ip, None, CLI),
        (LinkType.NULL, struct.pack("<I", 2) + ip, None, CLI),
        (LinkType.NULL, struct.pack(">I", 28) + ip6, None, "fe80::1"),
    ]
    for lt, frame, smac, sip in cases:
        out, _ = run([(0, frame)], linktype=lt)
        (flow,) = out.flows
        assert (flow.a_mac, flow.a_ip, flow.transport) == (smac, sip, Transport.UDP), lt


def udp_pk(t_s: float, sport: int = 5000, dport: int = 6000, src: str = CLI) -> tuple[int, bytes]:
    return int(t_s * SEC), eth(B, A, 0x0800, ipv4(src, SRV, 17, udp(sport, dport, b"p")))


def test_idle_and_active_timeouts() -> None:
    out, engine = run([udp_pk(0), udp_pk(1), udp_pk(200)])
    assert [(f.ended_by, f.packets_ab) for f in out.flows] == [("idle", 2), ("end-of-capture", 1)]
    assert engine.stats.flows_expired_idle == 1
    pk = [udp_pk(t) for t in range(0, 2001, 100)]
    out, engine = run(pk)
    assert [f.ended_by for f in out.flows] == ["active", "end-of-capture"]
    assert out.flows[0].packets_ab == 18 and out.flows[0].last_ns == 1700 * SEC
    cfg = SensorConfig(udp_idle_timeout_s=10.0)
    out, _ = run([udp_pk(0), udp_pk(50)], config=cfg)
    assert len(out.flows) == 2


def test_max_flows_evicts_least_recent_and_counts() -> None:
    pk = [udp_pk(i, sport=1000 + i) for i in range(5)]
    out, engine = run(pk, config=SensorConfig(max_flows=2), batch_size=1)
    assert engine.stats.flows_evicted == 3 and len(engine.meter) == 0
    assert [f.a_port for f in out.flows if f.ended_by == "eviction"] == [1000, 1001, 1002]


def test_broken_dissector_is_counted_not_fatal() -> None:
    bad = FakeDissector("dns", frozenset({Transport.UDP}), udp_ports=frozenset({6000}), raises=True)
    out, engine = run([udp_pk(0), udp_pk(1)], [bad])
    assert engine.stats.dissector_errors == 2 and len(out.flows) == 1


def test_sightings_skip_multicast_sources_and_unspecified_ips() -> None:
    dhcp = eth("ff:ff:ff:ff:ff:ff", C, 0x0800, ipv4("0.0.0.0", "255.255.255.255", 17, udp(68, 67, b"d")))
    mcast = eth(B, "01:00:5e:00:00:01", 0x0800, ipv4(CLI, SRV, 17, udp(1, 2, b"m")))
    out, _ = run([(5, dhcp), (6, mcast), (7, dhcp)])
    assert [(s.mac, s.ip, s.packets, s.first_ns, s.last_ns) for s in out.sightings] == [(C, None, 2, 5, 7)]


def test_periodic_reports_during_feed() -> None:
    pk = [udp_pk(t, src=f"10.0.1.{t // 10 % 5 + 1}") for t in range(0, 200, 10)]
    engine = SensorEngine(SensorConfig(report_interval_s=60.0), dissectors=[])
    early = engine.feed(PacketBatch.from_packets(pk[:8]))  # up to t=70 s: crossed 60 s
    assert early.sightings and not early.conversations
    assert {s.ip for s in early.sightings} == {f"10.0.1.{i}" for i in range(1, 6)}


def mixed_capture() -> list[tuple[int, bytes]]:
    pk: list[tuple[int, bytes]] = []
    pk += tcp_session(0)
    pk += tcp_session(SEC, sport=40001)
    pk += [udp_pk(t / 10, sport=7000 + t % 3) for t in range(0, 50)]
    pk += [(int(2.5 * SEC) + i, eth(A, B, 0x0806, arp(2, B, SRV, A, CLI))) for i in range(3)]
    pk += [
        (int(t * SEC), eth(B, A, 0x0800, ipv4(CLI, SRV, 17, udp(9000, 53, b"q%d" % t))))
        for t in (3, 130, 400)
    ]
    pk += [udp_pk(t, sport=1) for t in range(0, 4000, 90)]
    pk.sort(key=lambda p: p[0])
    return pk


def canonical(out: SensorOutput) -> tuple[object, ...]:
    sightings: dict[tuple[object, ...], tuple[int, ...]] = {}
    for s in out.sightings:  # the store's max-merge
        old = sightings.get((s.mac, s.ip), (s.first_ns, s.last_ns, 0, 0, 0))
        sightings[(s.mac, s.ip)] = (min(old[0], s.first_ns), max(old[1], s.last_ns), max(old[2], s.packets),
                                    max(old[3], s.bytes), max(old[4], s.ttl))  # fmt: skip
    convs: dict[tuple[object, ...], tuple[int, ...]] = {}
    for c in out.conversations:
        key = (c.client_ip, c.client_mac, c.server_ip, c.server_mac, c.transport, c.server_port)
        o = convs.get(key, (c.first_ns, c.last_ns, 0, 0, 0))
        convs[key] = (min(o[0], c.first_ns), max(o[1], c.last_ns), max(o[2], c.flows), max(o[3], c.packets),
                      max(o[4], c.bytes))  # fmt: skip
    return (
        sorted(out.flows, key=lambda f: (f.first_ns, f.uid)),
        sorted(out.observations, key=lambda o: (o.ts_ns, o.flow_uid, o.protocol, o.ip or "", repr(o.fields))),
        sorted(sightings.items(), key=repr),
        sorted(convs.items(), key=repr),
    )


def test_batch_boundaries_do_not_change_outputs() -> None:
    pk = mixed_capture()

    def make() -> list[FakeDissector]:
        return [
            http(),
            FakeDissector("dns", frozenset({Transport.UDP}), udp_ports=frozenset({53})),
            FakeDissector("arp", ethertypes=frozenset({0x0806})),
            FakeDissector("tcpstack", frozenset({Transport.TCP})),
            FakeDissector("probe", frozenset({Transport.UDP}), magic=b"p"),
        ]

    ref, engine = run(pk, make())
    assert engine.stats.flows_expired_active and engine.stats.flows_expired_idle and engine.stats.flows_closed
    assert len(ref.observations) > 10
    for size in (1, 2, 3, 7, 16, 64):
        got, _ = run(pk, make(), batch_size=size)
        assert canonical(got) == canonical(ref), size


def test_uids_are_deterministic_across_runs() -> None:
    pk = mixed_capture()
    a, _ = run(pk)
    b, _ = run(pk, batch_size=5)
    assert sorted(f.uid for f in a.flows) == sorted(f.uid for f in b.flows)
    assert all(len(f.uid) == 16 and int(f.uid, 16) >= 0 for f in a.flows)
    assert len({f.uid for f in a.flows}) == len(a.flows)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 10**12), st.binary(max_size=120)), max_size=30),
    st.sampled_from([int(x) for x in LinkType]),
)
def test_random_bytes_never_raise(packets: list[tuple[int, bytes]], linktype: int) -> None:
    packets.sort(key=lambda p: p[0])
    ds = [
        http(),
        FakeDissector("dns", frozenset({Transport.UDP}), udp_ports=frozenset({53}), magic=b""),
        FakeDissector("arp", ethertypes=frozenset({0x0806, 0x88CC})),
        FakeDissector("tcpstack", frozenset({Transport.TCP})),
    ]
    engine = SensorEngine(SensorConfig(max_flows=4, max_streams=2), dissectors=ds)
    batch = PacketBatch.from_packets(packets, linktype=linktype)
    batch.linktype = np.full(len(packets), linktype, dtype=np.int32)
    engine.feed(batch)
    engine.finish()
    assert engine.stats.packets == len(packets)


def test_rst_from_a_finished_direction_hands_over_the_live_one() -> None:
    """Once one direction is over, its payload packets are skipped, but its RST still counts.

    The client's request fills its prefix; its later data is skipped while the server's goes
    on into its prefix; the client's RST hands the server's prefix over at once (a server
    segment after the RST is not in it). In batches of 24 (the second batch's 46 packets take
    the vectorised selection) and of 8 (the per-position one).
    """
    seq = 1001 + len(REQ)
    pk = [(0, c2s(1000, 0, "S")), (1, s2c(50, 1001, "SA")), (2, c2s(1001, 51, "PA", REQ))]
    pk += [(10 + i, s2c(51 + i, seq, "PA", b"R")) for i in range(20)]
    pk += [(40 + i, c2s(seq + i, 71, "PA", b"x")) for i in range(40)]
    pk += [(80 + i, s2c(71 + i, seq + 40, "PA", b"R")) for i in range(5)]
    pk += [(99, c2s(seq + 40, 76, "R")), (100, s2c(76, seq + 40, "PA", b"late"))]
    for batch_size in (24, 8):
        h = http()
        run(pk, [h], batch_size=batch_size, config=SensorConfig(stream_prefix_bytes=len(REQ)))
        assert [(ctx.ts_ns, p) for ctx, p in h.calls] == [(2, REQ), (99, b"R" * 25)], batch_size
