"""The dissectors' shared helpers give exactly what the plain constructions give.

``ipv4_text``/``ipv6_text``/``mac_text`` and ``obs`` are on every dissector's path and were
rewritten for speed (no ``ipaddress`` object, no frozen ``__init__``); these properties hold them
to the plain forms they replace.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext, ipv4_text, ipv6_text, mac_text, obs


@given(st.binary(min_size=4, max_size=4))
def test_ipv4_text_is_ipaddress_text(raw: bytes) -> None:
    assert ipv4_text(raw) == str(ipaddress.IPv4Address(raw))
    assert ipv4_text(memoryview(raw)) == str(ipaddress.IPv4Address(raw))


@given(st.binary(max_size=8).filter(lambda b: len(b) != 4))
def test_ipv4_text_refuses_other_lengths_like_ipaddress(raw: bytes) -> None:
    with pytest.raises(ValueError):
        ipaddress.IPv4Address(raw)
    with pytest.raises(ValueError):
        ipv4_text(raw)


@given(st.binary(min_size=16, max_size=16) | st.sampled_from([bytes(16), b"\xfe\x80" + bytes(13) + b"\x01"]))
def test_ipv6_text_is_ipaddress_text(raw: bytes) -> None:
    assert ipv6_text(raw) == str(ipaddress.IPv6Address(raw))


@given(st.binary(max_size=10))
def test_mac_text_is_the_colon_form(raw: bytes) -> None:
    assert mac_text(raw) == ":".join(f"{b:02x}" for b in raw[:6])


class _Str(str):
    pass


VALUES = st.one_of(
    st.none(),
    st.just(""),
    st.just(()),
    st.just([]),
    st.text(max_size=3),
    st.integers(-2, 2),
    st.booleans(),
    st.lists(st.text(max_size=2), max_size=2),
    st.tuples(st.integers(0, 3)),
    st.just(_Str("")),
    st.just(_Str("x")),
)


def _plain(ctx: PacketContext, protocol: str, subject: str, fields: dict[str, object]) -> Observation:
    """``obs`` as first written: the reference."""
    clean: dict[str, object] = {}
    for key, value in fields.items():
        if value is None or value == "" or value == ():
            continue
        if isinstance(value, list):
            value = tuple(value)
        clean[key.replace("__", ".")] = value
    mac, ip = (ctx.src_mac, ctx.src_ip) if subject == "src" else (ctx.dst_mac, ctx.dst_ip)
    return Observation(
        ts_ns=ctx.ts_ns, flow_uid=ctx.flow_uid, protocol=protocol, mac=mac, ip=ip, fields=clean
    )  # type: ignore[arg-type]


@given(
    fields=st.dictionaries(st.sampled_from(["x__a", "x__b__c", "x_d", "y"]), VALUES, max_size=4),
    subject=st.sampled_from(["src", "dst"]),
)
def test_obs_is_the_plain_observation(fields: dict[str, object], subject: str) -> None:
    ctx = PacketContext(
        ts_ns=5, flow_uid="f1", transport=Transport.UDP, src_mac="02:00:00:00:00:0a", src_ip="10.0.0.1",
        dst_mac="02:00:00:00:00:0b", dst_ip="10.0.0.2",
    )  # fmt: skip
    got = obs(ctx, "x", subject=subject, **fields)
    want = _plain(ctx, "x", subject, fields)
    assert got == want and got.uid == want.uid
    assert [(k, type(v)) for k, v in got.fields.items()] == [(k, type(v)) for k, v in want.fields.items()]
    with pytest.raises(AttributeError):
        got.protocol = "y"  # type: ignore[misc]  # still frozen
