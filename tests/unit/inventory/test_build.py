"""Grouping sightings and observations into devices (rules in wardwatch.inventory.build)."""

from __future__ import annotations

from wardwatch.identify.knowledge import Knowledge
from wardwatch.identify.oui import OuiRegistry
from wardwatch.inventory.build import build_devices, is_inventory_ip
from wardwatch.store.ports import Sighting, StoredObservation

K = Knowledge.bundled()
OUI = OuiRegistry({"001234": ("MA-L", "Baxter International Inc"), "00000C": ("MA-L", "Cisco Systems, Inc")})
ROUTER = "00:00:0c:00:00:01"
PUMP = "00:12:34:00:00:07"


def sighting(mac: str | None, ip: str | None, first: int = 1, last: int = 2) -> Sighting:
    return Sighting(mac=mac, ip=ip, first_ns=first, last_ns=last, packets=1, bytes=60)


def obs(
    protocol: str, mac: str | None, ip: str | None, fields: dict[str, object], t: int = 1
) -> StoredObservation:
    return StoredObservation(
        uid=f"{protocol}{mac}{ip}{sorted(fields.items())}",
        protocol=protocol,
        mac=mac,
        ip=ip,
        fields=fields,  # type: ignore[arg-type]
        first_ns=t,
        last_ns=t,
        first_flow_uid="f",
        last_flow_uid="f",
    )


def by_key(devices: list) -> dict:  # type: ignore[type-arg]
    return {d.key: d for d, _ in devices}


def test_dhcp_lease_move_keeps_one_device_with_ip_history() -> None:
    devices = by_key(
        build_devices(
            [sighting(PUMP, "10.1.0.20", 1, 10), sighting(PUMP, "10.1.0.33", 20, 30)],
            [
                obs("dhcp", PUMP, "10.1.0.20", {"dhcp.leased_ip": "10.1.0.20"}, t=1),
                obs("dhcp", PUMP, "10.1.0.33", {"dhcp.leased_ip": "10.1.0.33"}, t=20),
            ],
            knowledge=K,
            oui=OUI,
        )
    )
    assert list(devices) == [f"mac:{PUMP}"]
    pump = devices[f"mac:{PUMP}"]
    assert [(i.ip, i.source) for i in pump.ips] == [("10.1.0.20", "dhcp"), ("10.1.0.33", "dhcp")]
    assert (pump.first_ns, pump.last_ns) == (1, 30)
    assert pump.value("vendor") == "Baxter"


def test_hosts_behind_a_router_become_ip_devices_and_public_peers_do_not() -> None:
    remote = [sighting(ROUTER, f"10.9.0.{n}") for n in range(1, 7)] + [sighting(ROUTER, "8.8.8.8")]
    devices = by_key(
        build_devices(
            [*remote, sighting(ROUTER, "10.1.0.1")],
            [obs("arp", ROUTER, "10.1.0.1", {"arp.op": "reply"})],
            knowledge=K,
            oui=OUI,
        )
    )
    assert f"mac:{ROUTER}" in devices
    assert [i.ip for i in devices[f"mac:{ROUTER}"].ips] == ["10.1.0.1"]
    assert {f"ip:10.9.0.{n}" for n in range(1, 7)} <= set(devices)
    assert "ip:8.8.8.8" not in devices


def test_few_addresses_behind_a_mac_are_the_mac_device() -> None:
    devices = by_key(
        build_devices([sighting(PUMP, "10.1.0.20"), sighting(PUMP, "10.1.0.21")], [], knowledge=K, oui=OUI)
    )
    assert list(devices) == [f"mac:{PUMP}"]


def test_observation_behind_router_goes_to_the_ip_device() -> None:
    remote = [sighting(ROUTER, f"10.9.0.{n}") for n in range(1, 7)]
    devices = by_key(
        build_devices(
            remote,
            [obs("snmp", ROUTER, "10.9.0.3", {"snmp.sys_name": "lab-analyzer-3"})],
            knowledge=K,
            oui=OUI,
        )
    )
    assert devices["ip:10.9.0.3"].value("hostname") == "lab-analyzer-3"
    assert devices[f"mac:{ROUTER}"].value("hostname") is None


def test_raw_ip_capture_gives_ip_devices_and_zero_mac_is_no_mac() -> None:
    devices = by_key(
        build_devices(
            [sighting(None, "192.168.5.5"), sighting("00:00:00:00:00:00", "192.168.5.6")],
            [],
            knowledge=K,
            oui=OUI,
        )
    )
    assert set(devices) == {"ip:192.168.5.5", "ip:192.168.5.6"}


def test_randomized_mac_flagged_and_has_no_registry_vendor() -> None:
    devices = by_key(build_devices([sighting("02:12:34:00:00:01", "10.0.0.9")], [], knowledge=K, oui=OUI))
    device = devices["mac:02:12:34:00:00:01"]
    assert device.mac_randomized
    assert device.value("vendor") is None


def test_inventory_ip() -> None:
    assert is_inventory_ip("10.0.0.1")
    assert is_inventory_ip("fd00::1")
    assert not is_inventory_ip("8.8.8.8")
    assert not is_inventory_ip("127.0.0.1")
    assert not is_inventory_ip("fe80::1")
    assert not is_inventory_ip("224.0.0.251")
    assert not is_inventory_ip("bogus")
