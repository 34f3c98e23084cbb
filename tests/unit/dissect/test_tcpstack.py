"""TCP stack traits dissector: p0f-style signature from SYN / SYN-ACK traits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext, TcpTraits
from wardwatch.sensor.dissect.tcpstack import DISSECTORS, FIELDS, initial_ttl

D = DISSECTORS[0]


def _ctx(traits: TcpTraits | None) -> PacketContext:
    return PacketContext(
        ts_ns=1,
        flow_uid="f",
        transport=Transport.TCP,
        src_ip="10.0.0.2",
        src_mac="00:11:22:33:44:55",
        tcp=traits,
    )


def test_linux_syn() -> None:
    # A typical Linux SYN: ttl 64 seen as 61 after three hops, window 64240 = 44 * 1460
    traits = TcpTraits(
        syn_ack=False,
        ttl=61,
        ip_version=4,
        df=True,
        window=64240,
        mss=1460,
        wscale=7,
        options=("mss", "sok", "ts", "nop", "ws"),
        ip_header_len=20,
        quirks=("id+",),
    )
    (ob,) = D.dissect(_ctx(traits), b"")
    assert ob.mac == "00:11:22:33:44:55" and ob.ip == "10.0.0.2"
    assert ob.fields == {
        "tcpstack.ttl": 61,
        "tcpstack.initial_ttl": 64,
        "tcpstack.window": 64240,
        "tcpstack.mss": 1460,
        "tcpstack.wscale": 7,
        "tcpstack.options": "mss,sok,ts,nop,ws",
        "tcpstack.df": True,
        "tcpstack.syn_ack": False,
        "tcpstack.signature": "4:64:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0",
    }


def test_windows_syn_ack_without_options() -> None:
    traits = TcpTraits(
        syn_ack=True,
        ttl=128,
        ip_version=4,
        df=False,
        window=8192,
        mss=None,
        wscale=None,
        options=(),
        ip_header_len=20,
    )
    (ob,) = D.dissect(_ctx(traits), b"data")
    assert ob.fields["tcpstack.signature"] == "4:128:0:*:8192,0:::+"
    assert "tcpstack.mss" not in ob.fields and ob.fields["tcpstack.syn_ack"] is True


def test_no_traits_and_probe() -> None:
    assert D.dissect(_ctx(None), b"") == []
    assert not D.probe(b"GET / HTTP/1.1\r\n")
    assert D.wants_syn is True and not D.tcp_ports and not D.udp_ports


def test_initial_ttl() -> None:
    assert [initial_ttl(t) for t in (1, 32, 33, 64, 65, 128, 129, 255)] == [
        32,
        32,
        64,
        64,
        128,
        128,
        255,
        255,
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.builds(
        TcpTraits,
        syn_ack=st.booleans(),
        ttl=st.integers(-5, 300),
        ip_version=st.sampled_from([4, 6, 0]),
        df=st.booleans(),
        window=st.integers(-1, 1 << 20),
        mss=st.none() | st.integers(-1, 1 << 17),
        wscale=st.none() | st.integers(-1, 300),
        options=st.lists(st.text(max_size=30), max_size=60).map(tuple),
        ip_header_len=st.integers(0, 80),
        ip_options_len=st.integers(-4, 60),
        quirks=st.lists(st.text(max_size=30), max_size=10).map(tuple),
    ),
    st.binary(max_size=20),
)
def test_fuzz(traits: TcpTraits, payload: bytes) -> None:
    out = D.dissect(_ctx(traits), payload)
    assert isinstance(out, list)
    for o in out:
        assert isinstance(o, Observation)
        assert set(o.fields) <= set(FIELDS)
        assert str(o.fields["tcpstack.signature"]).count(":") == 7
