"""The inventory rebuild's fast paths in the store keep the contract (SQLite, PostgreSQL, fake).

``save_devices`` rewrites attributes and evidence only where they differ from the stored rows and
touches unchanged device rows with one UPDATE; ``iter_observations`` decodes the JSON text itself;
``rebuild_inventory`` reads its "before" snapshot with one query. Each must store and return
exactly what the plain way did.
"""

from __future__ import annotations

import gc
from typing import Any

import pytest
from sqlalchemy import select, text

from wardwatch.gctools import collector_paused
from wardwatch.model.device import Attribute, Device, DeviceIP, Evidence, ResolvedAttribute
from wardwatch.model.observation import Observation
from wardwatch.services import identity
from wardwatch.store import schema

from .conftest import Backend

T0 = 1_700_000_000_000_000_000


def ev(attribute: Attribute, value: str, rule: str, last: int = 5, uid: str | None = "o1") -> Evidence:
    return Evidence(attribute, value, 0.7, rule, uid, T0, T0 + last, f"{rule} said {value!r}")


def dev(key: str, first: int, last: int, *evidence: Evidence, ip: str | None = None) -> Device:
    attributes: dict[str, ResolvedAttribute] = {}
    for e in evidence:
        attributes.setdefault(str(e.attribute), ResolvedAttribute(e.attribute, e.value, 0.7, "only", (e,)))
    ips = (DeviceIP(ip, T0 + first, T0 + last, "dhcp"),) if ip else ()
    return Device(None, key, key.removeprefix("mac:"), T0 + first, T0 + last, attributes=attributes, ips=ips)


def stored(tx: Any, key: str) -> tuple[Device, list[Evidence]]:
    device = tx.get_device(key)
    assert device is not None
    return device, tx.device_evidence(device.id)


def updated_at(store: Any) -> dict[str, int]:
    with store.transaction() as tx:
        return {
            k: int(u) for k, u in tx.conn.execute(select(schema.device.c.key, schema.device.c.updated_at))
        }


def test_a_second_save_stores_exactly_the_new_conclusions(store: Any, backend: Backend) -> None:
    a, b, c = "mac:00:00:00:00:00:0a", "mac:00:00:00:00:00:0b", "mac:00:00:00:00:00:0c"
    first = [
        (dev(a, 10, 20, ev(Attribute.VENDOR, "Baxter", "oui")), [ev(Attribute.VENDOR, "Baxter", "oui")]),
        (
            dev(b, 10, 20, ev(Attribute.HOSTNAME, "pump-1", "dhcp")),
            [ev(Attribute.HOSTNAME, "pump-1", "dhcp")],
        ),
        (dev(c, 10, 20, ev(Attribute.MODEL, "MX450", "upnp")), [ev(Attribute.MODEL, "MX450", "upnp")]),
    ]
    with store.transaction() as tx:
        ids = tx.save_devices(first)
    before = updated_at(store) if backend.name != "fake" else {}
    b_evidence = [
        ev(Attribute.HOSTNAME, "pump-1", "dhcp", last=9),
        ev(Attribute.HOSTNAME, "p1", "mdns", uid=None),
    ]
    c_evidence = [ev(Attribute.MODEL, "MX550", "upnp")]
    second = [
        # a: the same conclusions and times within the stored ones (only updated_at changes)
        (dev(a, 12, 18, ev(Attribute.VENDOR, "Baxter", "oui")), [ev(Attribute.VENDOR, "Baxter", "oui")]),
        # b: the same attribute, one more piece of evidence and a later time; seen earlier too
        (dev(b, 5, 30, ev(Attribute.HOSTNAME, "pump-1", "dhcp"), ip="10.0.0.9"), b_evidence),
        # c: another value
        (dev(c, 10, 20, ev(Attribute.MODEL, "MX550", "upnp")), c_evidence),
        # d: new
        (dev("ip:10.0.0.4", 1, 2), []),
    ]
    with store.transaction() as tx:
        again = tx.save_devices(second)
        assert again[:3] == ids and again[3] not in ids
        got_a, a_evidence = stored(tx, a)
        got_b, got_b_evidence = stored(tx, b)
        got_c, got_c_evidence = stored(tx, c)
        got_d, d_evidence = stored(tx, "ip:10.0.0.4")
    assert (got_a.first_ns, got_a.last_ns, got_a.value("vendor")) == (T0 + 10, T0 + 20, "Baxter")
    assert a_evidence == [ev(Attribute.VENDOR, "Baxter", "oui")]
    assert (got_b.first_ns, got_b.last_ns) == (T0 + 5, T0 + 30)
    assert got_b_evidence == b_evidence and got_b.attributes["hostname"].conflicts == (b_evidence[1],)
    assert got_b.ips == (DeviceIP("10.0.0.9", T0 + 5, T0 + 30, "dhcp"),)
    assert got_c.value("model") == "MX550" and got_c_evidence == c_evidence
    assert got_d.attributes == {} and d_evidence == []
    if backend.name != "fake":
        after = updated_at(store)
        assert all(after[k] > before[k] for k in before)  # unchanged rows were touched too
        assert len(set(after.values())) == 1


def observations() -> list[Observation]:
    values: list[dict[str, Any]] = [
        {"dhcp.hostname": "PUMP-1", "dhcp.param_list": (1, 3, 6)},
        {"http.title": "a [bracket] in text", "http.server": "näive ünïcode ✓"},
        {"mdns.txt": ("ty=Pump", "fw=1.2"), "mdns.instances": ()},
        {"snmp.sys_descr": '"quoted" \\ back\\slash', "lldp.ttl": 120, "arp.gratuitous": True},
        {},
    ]
    return [
        Observation(T0 + i, f"f{i}", "dhcp", f"00:00:00:00:00:{i:02x}", "10.0.0.5", fields)
        for i, fields in enumerate(values)
    ]


def test_iter_observations_returns_the_fields_as_stored(store: Any) -> None:
    with store.transaction() as tx:
        tx.merge_observations(observations())
    with store.transaction() as tx:
        listed = list(tx.iter_observations())
        by_uid = tx.observations(uids=[o.uid for o in observations()])  # the plain reading
    assert sorted(listed, key=lambda o: o.uid) == sorted(by_uid, key=lambda o: o.uid)
    assert {o.uid: o.fields for o in listed} == {o.uid: o.fields for o in observations()}


def test_iter_observations_reads_json_with_surrounding_whitespace(store: Any, backend: Backend) -> None:
    if backend.name == "fake":
        pytest.skip("the fake stores no JSON text")
    with store.transaction() as tx:
        tx.merge_observations(observations())
    cast = "(' ' || fields::text || ' ')::json" if backend.name == "postgres" else "' ' || fields || ' '"
    with store.transaction() as tx:
        tx.conn.execute(text(f"UPDATE observation SET fields = {cast}"))
    with store.transaction() as tx:
        assert {o.uid: o.fields for o in tx.iter_observations()} == {o.uid: o.fields for o in observations()}


def test_the_before_snapshot_equals_the_listed_inventory(store: Any, backend: Backend) -> None:
    if backend.name == "fake":
        pytest.skip("the fake store is read through list_devices")
    items: list[tuple[Device, list[Evidence]]] = [
        (dev("mac:00:00:00:00:00:01", 1, 2, ev(Attribute.VENDOR, "Baxter", "oui")), []),
        (dev("ip:10.0.0.4", 1, 2), []),  # no attribute at all: still in the snapshot, as {}
    ]
    with store.transaction() as tx:
        tx.save_devices(items)
        assert identity._stored_snapshot(tx.conn) == identity._snapshot(tx.list_devices())
        assert identity._stored_snapshot(tx.conn)["ip:10.0.0.4"] == {}


@pytest.mark.parametrize("enabled", [True, False])
def test_a_rebuild_restores_the_garbage_collector(store: Any, enabled: bool) -> None:
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        identity.rebuild_inventory(store)
        assert gc.isenabled() is enabled
        with pytest.raises(RuntimeError), collector_paused():
            assert not gc.isenabled()
            raise RuntimeError
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
