"""``FlowState`` computes its uid inline (one per flow, a million on a scan): it must equal
``flow_uid`` over the endpoint texts, the definition ``uid_of`` and other components use."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.sensor.flows.decode import T_ICMP, T_ICMP6, T_OTHER, T_TCP, T_UDP, V4_MAPPED, format_ip
from wardwatch.sensor.flows.meter import TRANSPORTS, FlowState, endpoint, flow_uid

U64 = st.integers(min_value=0, max_value=2**64 - 1)
V4 = st.integers(min_value=0, max_value=2**32 - 1).map(lambda a: (0, V4_MAPPED | a))
ADDRESS = st.one_of(V4, st.tuples(U64, U64))


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([T_TCP, T_UDP, T_ICMP, T_ICMP6, T_OTHER]),
    st.integers(min_value=0, max_value=255),
    st.integers(min_value=-1, max_value=4095),
    st.integers(min_value=0, max_value=0xFFFF),
    st.integers(min_value=0, max_value=0xFFFF),
    ADDRESS,
    ADDRESS,
    st.integers(min_value=0, max_value=2**63 - 1),
)
def test_the_inline_uid_is_flow_uid(
    tcode: int,
    proto: int,
    vlan: int,
    lo_port: int,
    hi_port: int,
    lo: tuple[int, int],
    hi: tuple[int, int],
    first_ns: int,
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
