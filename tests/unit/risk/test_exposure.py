"""Observed exposure and attack paths over the conversation graph."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from wardwatch.model.flow import Conversation, Transport
from wardwatch.risk.exposure import AttackGraph, exposure_of, is_public, subnet_of


def conv(client: str, server: str, port: int, transport: Transport = Transport.TCP) -> Conversation:
    return Conversation(client, None, server, None, transport, port, 0, 1, 1, 2, 100)


NET = [
    conv("8.8.4.4", "10.0.0.5", 443),  # internet -> VPN/web gateway (exposed host)
    conv("10.0.0.5", "10.0.1.20", 3389),  # gateway -> workstation (RDP)
    conv("10.0.1.20", "10.0.2.30", 104),  # workstation -> modality (DICOM)
    conv("10.0.3.7", "10.0.2.30", 104),  # another client of the modality
    conv("10.0.2.30", "10.0.2.1", 53, Transport.UDP),  # modality -> DNS
    conv("10.0.9.9", "10.0.9.8", 22),  # unrelated island
]


def test_exposure_of_the_modality() -> None:
    e = exposure_of(["10.0.2.30"], NET)
    assert [(s.transport, s.port, s.protocol, s.clients) for s in e.services] == [("tcp", 104, "dicom", 2)]
    assert e.peers == ("10.0.1.20", "10.0.2.1", "10.0.3.7")
    assert e.internet_peers == ()
    assert e.subnets == ("10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24")
    assert e.dependents == 2
    assert e.uses == (("udp", 53),)


def test_shortest_attack_path_from_the_internet() -> None:
    g = AttackGraph(NET)
    assert g.sources == frozenset({"8.8.4.4"})
    assert g.path_to(["10.0.2.30"]) == ("8.8.4.4", "10.0.0.5", "10.0.1.20", "10.0.2.30")
    assert g.path_to(["10.0.9.8"]) == ()
    # A client of the modality is not reachable by following client -> server edges.
    assert g.path_to(["10.0.3.7"]) == ()


def test_local_host_talking_out_is_a_source_and_shortest_path_wins() -> None:
    g = AttackGraph([*NET, conv("10.0.3.7", "1.1.1.1", 443)])
    assert "10.0.3.7" in g.sources
    assert g.path_to(["10.0.2.30"]) == ("10.0.3.7", "10.0.2.30")
    assert g.path_to(["10.0.3.7"]) == ("10.0.3.7",)


def test_public_and_subnets() -> None:
    assert is_public("8.8.8.8") and not is_public("10.1.2.3") and not is_public("224.0.0.251")
    assert not is_public("not an ip") and not is_public(None)
    assert subnet_of("10.1.2.3") == "10.1.2.0/24"
    assert subnet_of("2001:db8::1") == "2001:db8::/64"


_ips = st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.1.3", "8.8.8.8", "192.0.2.1", "10.0.2.4"])


@given(st.lists(st.tuples(_ips, _ips, st.integers(1, 65535)), max_size=30), _ips)
def test_paths_are_made_of_observed_edges(edges: list[tuple[str, str, int]], target: str) -> None:
    convs = [conv(a, b, p) for a, b, p in edges]
    g = AttackGraph(convs)
    path = g.path_to([target])
    if path:
        assert path[0] in g.sources and path[-1] == target
        pairs = {(c.client_ip, c.server_ip) for c in convs}
        assert all((a, b) in pairs for a, b in itertools.pairwise(path))
        assert len(set(path)) == len(path)
