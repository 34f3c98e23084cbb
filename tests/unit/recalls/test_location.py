"""Where a recalled unit is: VLANs from its flows, and a switch port only when one can be named honestly."""

from __future__ import annotations

from wardwatch.model.device import Device, DeviceIP
from wardwatch.model.flow import Flow, Transport
from wardwatch.model.observation import Observation
from wardwatch.model.recall import Asset
from wardwatch.services.recalls import SwitchPort, device_vlans, locate, switch_ports
from wardwatch.store.sql import open_store

PUMP = Device(
    id=1,
    key="mac:02:00:00:00:00:01",
    mac="02:00:00:00:00:01",
    first_ns=0,
    last_ns=5,
    ips=(DeviceIP("10.120.0.9", 0, 5, "dhcp"),),
)


def _cdp(port: str, vlan: int, caps: tuple[str, ...] = ("switch", "igmp")) -> Observation:
    return Observation(
        ts_ns=1,
        flow_uid=f"f-{port}",
        protocol="cdp",
        mac="08:4f:a9:56:d5:58",
        ip=None,
        fields={
            "cdp.device_id": "sw-ICU-01",
            "cdp.port_id": port,
            "cdp.native_vlan": vlan,
            "cdp.capabilities": caps,
        },
    )


def test_switch_ports_and_vlans_from_the_store(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    try:
        with store.transaction() as tx:
            tx.merge_observations(
                [_cdp("Gi1/0/5", 120), _cdp("Gi1/0/6", 130), _cdp("Port 1", 120, ("host",))]
            )
            tx.merge_flows(
                [
                    Flow(
                        "u1",
                        Transport.TCP,
                        PUMP.mac,
                        "10.120.0.9",
                        1000,
                        "02:00:00:00:00:99",
                        "10.1.1.1",
                        443,
                        120,
                        0,
                        5,
                        1,
                        1,
                        60,
                        60,
                        "b",
                        "idle",
                    ),
                ]
            )
        with store.transaction() as tx:
            ports = switch_ports(tx.conn)
            vlans = device_vlans(tx.conn, [PUMP.mac or ""])
    finally:
        store.close()
    assert sorted((p.switch, p.port, tuple(p.vlans)) for p in ports) == [
        ("sw-ICU-01", "Gi1/0/5", (120,)),
        ("sw-ICU-01", "Gi1/0/6", (130,)),
    ]
    assert vlans == {PUMP.mac: {120}}
    where = locate(PUMP, None, vlans=vlans[PUMP.mac or ""], ports=ports)
    assert where.switch_port == "sw-ICU-01 Gi1/0/5" and "candidate" in where.switch_port_reason
    assert (where.ip, where.segment, where.vlans) == ("10.120.0.9", "10.120.0.0/24", (120,))


def test_switch_port_unknown_with_the_reason() -> None:
    two = [
        SwitchPort("sw", None, "Gi1/0/1", frozenset({120}), "lldp"),
        SwitchPort("sw", None, "Gi1/0/2", frozenset({120}), "lldp"),
    ]
    assert locate(PUMP, None, vlans={120}, ports=two).switch_port is None
    assert "2 switch ports advertise" in locate(PUMP, None, vlans={120}, ports=two).switch_port_reason
    assert "no switch LLDP/CDP adverts" in locate(PUMP, None, vlans={120}, ports=[]).switch_port_reason
    assert "carried no VLAN tag" in locate(PUMP, None, vlans=set(), ports=two).switch_port_reason
    shelf = locate(None, Asset(tag="A", department="Biomed", location="Shelf 3"), vlans=set(), ports=two)
    assert (shelf.ip, shelf.last_seen_ns, shelf.location) == (None, None, "Shelf 3")
    assert shelf.switch_port_reason == "not seen on the network"
