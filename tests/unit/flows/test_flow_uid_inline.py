"""``FlowState`` computes its uid inline (one per flow, a million on a scan), in C where the
extension is built (``_uid.c``: ``flow_uid``): it must equal ``flow_uid`` over the endpoint texts,
the definition ``uid_of`` and other components use."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.sensor.capture import _common
from wardwatch.sensor.flows.decode import T_ICMP, T_ICMP6, T_OTHER, T_TCP, T_UDP, V4_MAPPED, format_ip
from wardwatch.sensor.flows.meter import TRANSPORTS, FlowState, endpoint, flow_uid

U64 = st.integers(min_value=0, max_value=2**64 - 1)
V4 = st.integers(min_value=0, max_value=2**32 - 1).map(lambda a: (0, V4_MAPPED | a))
ADDRESS = st.one_of(V4, st.tuples(U64, U64))
# what both tests draw after the transport: VLAN (-1: none), the two ports and addresses, the start
_REST = (
    st.integers(min_value=-1, max_value=4095),
    st.integers(min_value=0, max_value=0xFFFF),
    st.integers(min_value=0, max_value=0xFFFF),
    ADDRESS,
    ADDRESS,
    st.integers(min_value=0, max_value=2**63 - 1),
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([T_TCP, T_UDP, T_ICMP, T_ICMP6, T_OTHER]), *_REST, st.integers(0, 255))
def test_the_inline_uid_is_flow_uid(
    tcode: int,
    vlan: int,
    lo_port: int,
    hi_port: int,
    lo: tuple[int, int],
    hi: tuple[int, int],
    first_ns: int,
    proto: int,
) -> None:
    c0 = (proto << 56) | ((vlan + 1) << 40) | (tcode << 32) | (lo_port << 16) | hi_port
    state = FlowState((c0, lo[0], lo[1], hi[0], hi[1]), 1, first_ns, True, 1, 2)
    expected = flow_uid(
        TRANSPORTS[tcode],
        None if vlan < 0 else vlan,
        first_ns,
        endpoint(format_ip(*lo), lo_port),
        endpoint(format_ip(*hi), hi_port),
    )
    assert state.uid == expected
    # the same flow again (the prefix now comes from the cache) gives the same uid
    assert FlowState((c0, lo[0], lo[1], hi[0], hi[1]), 2, first_ns, False, 1, 2).uid == expected


NATIVE_UID = getattr(_common._NATIVE, "flow_uid", None)
needs_c = pytest.mark.skipif(NATIVE_UID is None, reason="the C extension has no flow_uid (not built)")


@needs_c
@settings(max_examples=300)
@given(st.sampled_from([T_TCP, T_UDP, T_OTHER]), *_REST)
def test_the_c_uid_in_a_flow_state_is_the_python_one(
    tcode: int, vlan: int, lo_port: int, hi_port: int, lo: tuple[int, int], hi: tuple[int, int], first_ns: int
) -> None:
    c0 = ((vlan + 1) << 40) | (tcode << 32) | (lo_port << 16) | hi_port
    key = (c0, lo[0], lo[1], hi[0], hi[1])
    assert (
        FlowState(key, 1, first_ns, True, 1, 2, NATIVE_UID).uid == FlowState(key, 1, first_ns, True, 1, 2).uid
    )


TEXT = st.one_of(
    st.sampled_from(["10.0.0.1", "10.0.0.10", "10.0.0.1#", "", "fe80::1", "::"]),
    st.text(alphabet="0123456789abcdef.:#|", max_size=60),
    st.text(max_size=8),  # not ASCII: left to Python
)
INT = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.integers(), st.sampled_from([0, -1, 2**63, -(2**63) - 1])
)


@needs_c
@settings(max_examples=500)
@given(st.text(max_size=40), TEXT, INT, TEXT, INT, INT)
def test_c_flow_uid_is_flow_uid_or_none(
    prefix: str, lo_ip: str, lo_port: int, hi_ip: str, hi_port: int, first_ns: int
) -> None:
    assert NATIVE_UID is not None
    got = NATIVE_UID(prefix, lo_ip, lo_port, hi_ip, hi_port, first_ns)
    e1, e2 = sorted((f"{lo_ip}#{lo_port}", f"{hi_ip}#{hi_port}"))
    want = hashlib.blake2b(f"{prefix}{e1}|{e2}|{first_ns}".encode(), digest_size=8).hexdigest()
    encodable = all(s.isascii() and len(s) <= 72 for s in (prefix, lo_ip, hi_ip)) and all(
        -(2**63) <= v < 2**63 for v in (lo_port, hi_port, first_ns)
    )
    assert got == want if encodable else got in (None, want)


@needs_c
def test_c_flow_uid_refuses_what_it_does_not_encode() -> None:
    assert NATIVE_UID is not None
    assert NATIVE_UID("p|", "10.0.0.2", 2, "10.0.0.1", 1, 3) == (
        hashlib.blake2b(b"p|10.0.0.1#1|10.0.0.2#2|3", digest_size=8).hexdigest()
    )
    assert NATIVE_UID("p|", "é", 1, "10.0.0.2", 2, 3) is None
    assert NATIVE_UID("p|", "10.0.0.1", True, "10.0.0.2", 2, 3) is None  # an int subclass
    assert NATIVE_UID("p|", "10.0.0.1", 2**64, "10.0.0.2", 2, 3) is None
    assert NATIVE_UID("p|", None, 1, "10.0.0.2", 2, 3) is None
    with pytest.raises(TypeError):
        NATIVE_UID("p|", "10.0.0.1", 1, "10.0.0.2", 2)  # type: ignore[call-arg]
