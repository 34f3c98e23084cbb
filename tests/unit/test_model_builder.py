"""``model._build.builder``: the same frozen objects as the dataclasses' own ``__init__``."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from wardwatch.model._build import builder
from wardwatch.model.flow import Conversation, Flow, Transport
from wardwatch.model.observation import Observation
from wardwatch.store.ports import Sighting

CONV: dict[str, Any] = dict(
    client_ip="10.0.0.2", client_mac="02:00:00:00:00:02", server_ip=None, server_mac=None,
    transport=Transport.UDP, server_port=53, first_ns=1, last_ns=2, flows=3, packets=4, bytes=5,
)  # fmt: skip


def test_conversation_equals_its_init_and_stays_frozen() -> None:
    made = builder(Conversation)(**CONV)
    assert made == Conversation(**CONV)
    assert [getattr(made, k) for k in CONV] == list(CONV.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.flows = 9  # type: ignore[misc]


def test_observation_with_its_uid() -> None:
    plain = Observation(
        ts_ns=5, flow_uid="f", protocol="dns", mac=None, ip="10.0.0.1", fields={"dns.qname": "x"}
    )
    made = builder(Observation)(
        ts_ns=5,
        flow_uid="f",
        protocol="dns",
        mac=None,
        ip="10.0.0.1",
        fields={"dns.qname": "x"},
        _uid=plain.uid,
    )
    assert made == plain and made.uid == plain.uid
    # positional, in declaration order, gives the same
    assert builder(Observation)(5, "f", "dns", None, "10.0.0.1", {"dns.qname": "x"}, plain.uid) == plain


@pytest.mark.parametrize("cls", [Flow, Sighting])
def test_every_field_is_set(cls: type) -> None:
    values = {f.name: f"v{i}" for i, f in enumerate(dataclasses.fields(cls))}
    made = builder(cls)(**values)
    assert {k: getattr(made, k) for k in values} == values
    with pytest.raises(TypeError):
        builder(cls)(**dict(list(values.items())[1:]))  # a missing field is an error, not a default


def test_refuses_classes_it_cannot_build() -> None:
    @dataclasses.dataclass
    class Checked:
        x: int

        def __post_init__(self) -> None:
            assert self.x >= 0

    with pytest.raises(TypeError):
        builder(Checked)


def test_packet_context_equals_its_init() -> None:
    """The engine builds one context per dissected packet with every field given."""
    from wardwatch.sensor.dissect.base import PacketContext

    given: dict[str, Any] = dict(
        ts_ns=1, flow_uid="f", transport=Transport.TCP, src_mac="02:00:00:00:00:01", dst_mac=None,
        src_ip="10.0.0.1", dst_ip="10.0.0.2", src_port=1234, dst_port=80, vlan=None, ethertype=0,
        ttl=0, client_is_src=True, tcp=None,
    )  # fmt: skip
    made = builder(PacketContext)(**given)
    assert made == PacketContext(**given)
    assert [f.name for f in dataclasses.fields(PacketContext)] == list(given)  # every field, in order
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.ttl = 9  # type: ignore[misc]


def test_evidence_and_stored_observation_equal_their_init() -> None:
    """The identification engine and the store's observation pages build these per row."""
    from wardwatch.model.device import Attribute, Evidence
    from wardwatch.store.ports import StoredObservation

    evidence = ("vendor", "Acme", 0.9, "dhcp.vendor_class", "u1", 1, 2, "dhcp.vendor_class='Acme'")
    made = builder(Evidence)(Attribute(evidence[0]), *evidence[1:])
    assert made == Evidence(Attribute(evidence[0]), *evidence[1:])  # type: ignore[arg-type]
    stored = ("u1", "dhcp", "02:00:00:00:00:01", None, {"dhcp.hostname": "x"}, 1, 2, "f1", "f2", 3)
    made_stored = builder(StoredObservation)(*stored)
    assert made_stored == StoredObservation(*stored)  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        made_stored.count = 9  # type: ignore[misc]
