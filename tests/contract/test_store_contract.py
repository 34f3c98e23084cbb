"""The storage contract: every Store adapter (SQLite, PostgreSQL, the in-memory fake) passes these."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from wardwatch.model.device import Attribute, Device, DeviceIP, Evidence, ResolvedAttribute
from wardwatch.model.flow import Conversation, Flow, Transport
from wardwatch.model.observation import Observation
from wardwatch.store import schema
from wardwatch.store.ports import CaptureRecord, Sighting
from wardwatch.store.sql import open_store

from .conftest import Backend

T0 = 1_700_000_000_000_000_000


def obs(ts: int, flow: str = "f1", mac: str | None = "00:11:22:33:44:55", **fields: Any) -> Observation:
    return Observation(
        ts_ns=T0 + ts,
        flow_uid=flow,
        protocol="dhcp",
        mac=mac,
        ip="10.0.0.5",
        fields=fields or {"dhcp.hostname": "PUMP-0042"},
    )


def flow(uid: str = "f1", first: int = 0, last: int = 10, packets: int = 5, ended_by: str = "idle") -> Flow:
    return Flow(
        uid=uid,
        transport=Transport.UDP,
        a_mac="00:11:22:33:44:55",
        a_ip="10.0.0.5",
        a_port=68,
        b_mac=None,
        b_ip="10.0.0.1",
        b_port=67,
        vlan=12,
        first_ns=T0 + first,
        last_ns=T0 + last,
        packets_ab=packets,
        packets_ba=packets + 1,
        bytes_ab=packets * 100,
        bytes_ba=packets * 110,
        server="b",
        ended_by=ended_by,
        ethertype=0x0800,
    )


def evidence(attribute: Attribute, value: str, rule: str, confidence: float = 0.9) -> Evidence:
    return Evidence(
        attribute=attribute,
        value=value,
        confidence=confidence,
        rule=rule,
        observation_uid="abc123",
        first_ns=T0,
        last_ns=T0 + 5,
        detail="seen in DHCP",
    )


def device(
    key: str,
    *,
    mac: str | None = None,
    first: int = 0,
    last: int = 100,
    ips: tuple[DeviceIP, ...] = (),
    **attrs: str,
) -> Device:
    resolved = {
        name: ResolvedAttribute(
            attribute=Attribute(name), value=value, confidence=0.8, chosen_by="only", evidence=()
        )
        for name, value in attrs.items()
    }
    return Device(
        id=None,
        key=key,
        mac=mac,
        first_ns=T0 + first,
        last_ns=T0 + last,
        attributes=resolved,
        ips=ips,
    )


def snapshot(store: Any) -> dict[str, Any]:
    with store.transaction() as tx:
        return {
            "observations": list(tx.iter_observations()),
            "sightings": tx.sightings(),
            "conversations": tx.conversations(),
        }


# --------------------------------------------------------------------------- migrations


def test_migrations_apply_on_empty_database_and_are_idempotent(backend: Backend) -> None:
    if backend.empty_url is None:
        pytest.skip("the fake has no schema")
    url = backend.empty_url()
    first = open_store(url)
    try:
        with first.transaction() as tx:
            tx.merge_observations([obs(1)])
        with first.engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
            assert {t.name for t in schema.metadata.sorted_tables} <= names
            # The migration history builds exactly what schema.py declares.
            assert compare_metadata(MigrationContext.configure(conn), schema.metadata) == []
    finally:
        first.close()
    second = open_store(url)  # already at head: nothing to do, data kept
    try:
        second.migrate()
        with second.transaction() as tx:
            assert len(list(tx.iter_observations())) == 1
    finally:
        second.close()


def test_open_without_create_on_existing_database(backend: Backend) -> None:
    if backend.empty_url is None:
        pytest.skip("the fake has no schema")
    url = backend.empty_url()
    open_store(url).close()
    store = open_store(url, create=False)
    with store.transaction() as tx:
        assert tx.device_keys() == []
    store.close()


# --------------------------------------------------------------------------- captures


def test_captures_round_trip(store: Any) -> None:
    record = CaptureRecord(
        source="ward3.pcap",
        sha256="ab" * 32,
        packets=10,
        bytes=1000,
        first_ns=T0,
        last_ns=T0 + 9,
        started_at="2026-05-01T10:00:00Z",
        finished_at="2026-05-01T10:00:01Z",
        stats={"dissectors": {"dhcp": 3}, "errors": []},
    )
    with store.transaction() as tx:
        a = tx.add_capture(record)
        b = tx.add_capture(CaptureRecord("eth0", None, 0, 0, None, None, "s", "f", error="boom"))
    with store.transaction() as tx:
        got = tx.captures()
    assert [c.id for c in got] == [a, b] and a != b
    assert got[0].stats == {"dissectors": {"dhcp": 3}, "errors": []}
    assert got[0].source == "ward3.pcap" and got[0].sha256 == "ab" * 32 and got[0].last_ns == T0 + 9
    assert got[1].error == "boom" and got[1].first_ns is None


# --------------------------------------------------------------------------- observations


def test_merge_observations_is_idempotent_and_widens(store: Any) -> None:
    batch = [obs(5, "f5"), obs(3, "f3"), obs(9, "f9"), obs(4, mac="aa:bb:cc:dd:ee:ff")]
    with store.transaction() as tx:
        assert tx.merge_observations(batch) == 2
    before = snapshot(store)
    with store.transaction() as tx:
        assert tx.merge_observations(batch) == 0
    assert snapshot(store) == before

    (stored,) = [o for o in before["observations"] if o.mac == "00:11:22:33:44:55"]
    assert stored.uid == obs(0).uid
    assert (stored.first_ns, stored.first_flow_uid) == (T0 + 3, "f3")
    assert (stored.last_ns, stored.last_flow_uid) == (T0 + 9, "f9")
    assert stored.count == 3  # occurrences within the call; not doubled by the re-merge

    with store.transaction() as tx:
        assert tx.merge_observations([obs(1, "f1"), obs(20, "f20")]) == 0
        (widened,) = tx.observations(uids=[stored.uid])
    assert (widened.first_ns, widened.first_flow_uid) == (T0 + 1, "f1")
    assert (widened.last_ns, widened.last_flow_uid) == (T0 + 20, "f20")
    assert widened.count == 3


def test_observation_timestamp_ties_are_order_independent(store: Any) -> None:
    with store.transaction() as tx:
        tx.merge_observations([obs(5, "fb")])
        tx.merge_observations([obs(5, "fa"), obs(5, "fc")])
        (o,) = tx.observations(uids=[obs(0).uid])
    assert (o.first_flow_uid, o.last_flow_uid) == ("fa", "fc")


def test_observation_fields_round_trip_with_tuples(store: Any) -> None:
    fields: dict[str, Any] = {
        "dhcp.hostname": "PUMP-0042",
        "dhcp.params": (1, 3, 6, 15),
        "mdns.services": ("_http._tcp", "_ipp._tcp"),
        "dhcp.rapid_commit": True,
        "dhcp.lease": 3600,
        "dhcp.empty": (),
    }
    o = Observation(ts_ns=T0, flow_uid="f", protocol="dhcp", mac=None, ip="10.0.0.9", fields=fields)
    with store.transaction() as tx:
        tx.merge_observations([o])
    with store.transaction() as tx:
        (stored,) = tx.observations(ips=["10.0.0.9"])
    assert stored.fields == fields
    assert type(stored.fields["dhcp.params"]) is tuple and type(stored.fields["mdns.services"]) is tuple
    assert stored.fields["dhcp.rapid_commit"] is True
    assert type(stored.fields["dhcp.lease"]) is int
    assert stored.mac is None and stored.protocol == "dhcp"
    # The uid recomputed from what came back is the stored uid: content identity survives storage.
    assert Observation(T0, "f", stored.protocol, stored.mac, stored.ip, stored.fields).uid == stored.uid


def test_observation_queries(store: Any) -> None:
    a = obs(1, mac="00:00:00:00:00:01", n="a")
    b = Observation(T0 + 2, "f", "mdns", None, "10.9.9.9", {"mdns.name": "x"})
    c = obs(3, mac="00:00:00:00:00:03", n="c")
    with store.transaction() as tx:
        tx.merge_observations([c, b, a])
        assert tx.observations() == []
        assert [o.uid for o in tx.observations(macs=["00:00:00:00:00:01"])] == [a.uid]
        assert [o.uid for o in tx.observations(ips=["10.9.9.9"], uids=[c.uid])] == [b.uid, c.uid]
        assert [o.uid for o in tx.observations(macs=["00:00:00:00:00:03"], uids=[c.uid])] == [c.uid]


def test_iter_observations_pages_through_everything_in_uid_order(store: Any) -> None:
    many = [obs(i, f"f{i}", n=i) for i in range(2500)]
    with store.transaction() as tx:
        assert tx.merge_observations(many) == 2500
    with store.transaction() as tx:
        uids = [o.uid for o in tx.iter_observations()]
    assert uids == sorted(o.uid for o in many)


# --------------------------------------------------------------------------- flows, sightings, conversations


def test_merge_flows(store: Any) -> None:
    with store.transaction() as tx:
        tx.merge_flows([flow(first=5, last=10, packets=5)])
        tx.merge_flows([flow(first=5, last=10, packets=5)])
        assert tx.flow("f1") == flow(first=5, last=10, packets=5)
        assert tx.flow("nope") is None
        # Same uid again (re-read or continued): wider times, larger counters, later end reason.
        tx.merge_flows([flow(first=2, last=30, packets=3, ended_by="tcp-close")])
        got = tx.flow("f1")
    assert got is not None
    assert (got.first_ns, got.last_ns) == (T0 + 2, T0 + 30)
    assert (got.packets_ab, got.bytes_ba) == (5, 550)
    assert got.ended_by == "tcp-close" and got.transport is Transport.UDP and got.b_mac is None
    with store.transaction() as tx:
        tx.merge_flows([flow(first=2, last=20, packets=1, ended_by="idle")])
        assert tx.flow("f1") == got  # an older record changes nothing


def test_merge_sightings(store: Any) -> None:
    batch = [
        Sighting("00:11:22:33:44:55", "10.0.0.5", T0 + 5, T0 + 9, 10, 1000, 64),
        Sighting(None, "10.8.0.1", T0 + 1, T0 + 2, 3, 300, 61),
        Sighting("00:11:22:33:44:55", None, T0, T0, 1, 60, 0),
    ]
    with store.transaction() as tx:
        tx.merge_sightings(batch)
        tx.merge_sightings(batch)
        tx.merge_sightings([Sighting(None, "10.8.0.1", T0, T0 + 7, 2, 200, 63)])
        tx.merge_sightings([])
        every = tx.sightings()
        mine = tx.sightings(macs=["00:11:22:33:44:55"])
    assert len(every) == 3
    (routed,) = [x for x in every if x.mac is None]
    assert routed == Sighting(None, "10.8.0.1", T0, T0 + 7, 3, 300, 63)
    assert {(x.mac, x.ip) for x in mine} == {("00:11:22:33:44:55", "10.0.0.5"), ("00:11:22:33:44:55", None)}


def test_merge_conversations(store: Any) -> None:
    c = Conversation(
        "10.0.0.5", "00:11:22:33:44:55", "10.0.0.1", None, Transport.TCP, 443, T0, T0 + 5, 2, 20, 2000
    )
    other = Conversation("10.0.0.6", None, "10.0.0.7", None, Transport.UDP, 53, T0, T0, 1, 2, 100)
    with store.transaction() as tx:
        tx.merge_conversations([c, other])
        tx.merge_conversations([c])
        tx.merge_conversations(
            [
                Conversation(
                    "10.0.0.5",
                    "00:11:22:33:44:55",
                    "10.0.0.1",
                    None,
                    Transport.TCP,
                    443,
                    T0 - 5,
                    T0 + 1,
                    1,
                    30,
                    10,
                )
            ]
        )
        every = tx.conversations()
        by_server = tx.conversations(ips=["10.0.0.1"])
        by_client = tx.conversations(ips=["10.0.0.6"])
    assert len(every) == 2
    assert by_server == [
        Conversation(
            "10.0.0.5", "00:11:22:33:44:55", "10.0.0.1", None, Transport.TCP, 443, T0 - 5, T0 + 5, 2, 30, 2000
        )
    ]
    assert by_client == [other]


# --------------------------------------------------------------------------- devices


def test_save_device_upserts_merges_ips_and_replaces_evidence(store: Any) -> None:
    d1 = device(
        "mac:00:11:22:33:44:55",
        mac="00:11:22:33:44:55",
        first=10,
        last=20,
        ips=(DeviceIP("10.0.0.5", T0 + 10, T0 + 20, "dhcp"),),
        vendor="Baxter",
        hostname="PUMP-0042",
    )
    e1 = [
        evidence(Attribute.VENDOR, "Baxter", "oui"),
        evidence(Attribute.HOSTNAME, "PUMP-0042", "dhcp.hostname"),
    ]
    with store.transaction() as tx:
        id1 = tx.save_device(d1, e1)
        assert tx.device_evidence(id1) == e1
    d2 = device(
        "mac:00:11:22:33:44:55",
        mac="00:11:22:33:44:55",
        first=15,
        last=40,
        ips=(DeviceIP("10.0.0.5", T0 + 5, T0 + 12, "arp"), DeviceIP("10.0.0.77", T0 + 30, T0 + 40, "dhcp")),
        vendor="Baxter",
        model="Sigma Spectrum",
    )
    e2 = [evidence(Attribute.MODEL, "Sigma Spectrum", "upnp.model", 0.95)]
    with store.transaction() as tx:
        assert tx.save_device(d2, e2) == id1
        assert tx.device_keys() == ["mac:00:11:22:33:44:55"]
        assert tx.device_evidence(id1) == e2
        got = tx.get_device(str(id1))
    assert got is not None
    assert (got.first_ns, got.last_ns) == (T0 + 10, T0 + 40)
    assert set(got.attributes) == {"vendor", "model"}  # hostname no longer resolved: replaced
    assert got.value("model") == "Sigma Spectrum" and got.value(Attribute.HOSTNAME) is None
    assert got.attributes["model"].evidence == tuple(e2)
    # IP history merged: 10.0.0.5 keeps its widest span and the source of the latest record.
    assert got.ips == (
        DeviceIP("10.0.0.77", T0 + 30, T0 + 40, "dhcp"),
        DeviceIP("10.0.0.5", T0 + 5, T0 + 20, "dhcp"),
    )
    with store.transaction() as tx:
        assert tx.count_devices(search="pump") == 0  # denormalised hostname was cleared too


def test_get_device_evidence_and_conflicts(store: Any) -> None:
    vendor = ResolvedAttribute(Attribute.VENDOR, "Baxter", 0.9, "confidence", evidence=())
    d = Device(None, "mac:00:11:22:33:44:55", "00:11:22:33:44:55", T0, T0, attributes={"vendor": vendor})
    ev = [
        evidence(Attribute.VENDOR, "Baxter", "oui", 0.9),
        evidence(Attribute.VENDOR, "Acme", "upnp.manufacturer", 0.5),
        evidence(Attribute.HOSTNAME, "x", "dhcp.hostname", 0.5),
    ]
    with store.transaction() as tx:
        tx.save_device(d, ev)
        got = tx.get_device("00:11:22:33:44:55")
        (listed,) = tx.list_devices()
    assert got is not None
    resolved = got.attributes["vendor"]
    assert (resolved.value, resolved.confidence, resolved.chosen_by) == ("Baxter", 0.9, "confidence")
    assert resolved.evidence == (ev[0],) and resolved.conflicts == (ev[1],)
    # Listings carry resolved values but not their evidence.
    assert listed.attributes["vendor"].evidence == () and listed.value("vendor") == "Baxter"


def test_get_device_by_every_reference_form(store: Any) -> None:
    pump = device(
        "mac:00:11:22:33:44:55",
        mac="00:11:22:33:44:55",
        ips=(DeviceIP("10.0.0.5", T0, T0 + 10, "dhcp"), DeviceIP("2001:db8::5", T0, T0 + 10, "traffic")),
    )
    monitor = device(
        "mac:00:aa:bb:cc:dd:ee",
        mac="00:aa:bb:cc:dd:ee",
        ips=(DeviceIP("10.0.0.5", T0 + 20, T0 + 30, "dhcp"),),  # took over the lease later
    )
    routed = device("ip:10.8.0.1", ips=(DeviceIP("10.8.0.1", T0, T0, "traffic"),))
    keyed_only = device("ip:10.9.0.1")
    with store.transaction() as tx:
        pump_id = tx.save_device(pump, [])
        monitor_id = tx.save_device(monitor, [])
        routed_id = tx.save_device(routed, [])
        keyed_id = tx.save_device(keyed_only, [])

        def ref(r: str) -> int | None:
            d = tx.get_device(r)
            return None if d is None else d.id

        assert ref(str(pump_id)) == pump_id
        assert ref(f" {monitor_id} ") == monitor_id
        assert ref("mac:00:11:22:33:44:55") == pump_id
        assert ref("MAC:00-11-22-33-44-55") == pump_id
        for form in (
            "00:11:22:33:44:55",
            "00-11-22-33-44-55",
            "0011.2233.4455",
            "00:11:22:33:44:55".upper(),
            "001122334455",
        ):
            assert ref(form) == pump_id, form
        assert ref("00-AA-BB-CC-DD-EE") == monitor_id
        assert ref("10.0.0.5") == monitor_id  # latest last_ns wins
        assert ref("2001:DB8:0::5") == pump_id  # canonicalised
        assert ref("ip:10.8.0.1") == routed_id
        assert ref("10.8.0.1") == routed_id
        assert ref("10.9.0.1") == keyed_id  # no device_ip row: falls back to the ip: key
        for missing in ("999999", "mac:00:00:00:00:00:00", "10.1.1.1", "pump", "", "ip:nonsense"):
            assert ref(missing) is None, missing


def _inventory(tx: Any) -> dict[str, int]:
    rows = [
        ("mac:00:00:00:00:00:01", "Baxter", "PUMP-0001", "10.1.0.1"),
        ("mac:00:00:00:00:00:02", "GE Healthcare", "MON-ICU-2", "10.1.0.2"),
        ("mac:00:00:00:00:00:03", None, "unknown-host", "10.2.0.3"),
        ("mac:00:00:00:00:00:04", "baxter", None, "10.1.0.40"),
        ("mac:00:00:00:00:00:05", "Philips", "IntelliVue_MX40", "192.168.7.5"),
        ("mac:00:00:00:00:00:06", None, None, None),
        ("mac:00:00:00:00:00:07", "Baxter", "PUMP-0007", "10.1.0.7"),
    ]
    ids = {}
    for i, (key, vendor, hostname, ip) in enumerate(rows):
        attrs = {k: v for k, v in (("vendor", vendor), ("hostname", hostname)) if v is not None}
        ips = (DeviceIP(ip, T0, T0 + i, "dhcp"),) if ip else ()
        d = device(key, mac=key[4:], first=i, last=100 - i, ips=ips, **attrs)
        ids[key[-2:]] = tx.save_device(d, [])
    return ids


def test_list_devices_sort_paging(store: Any) -> None:
    with store.transaction() as tx:
        ids = _inventory(tx)
        names = {v: k for k, v in ids.items()}

        def order(**kw: Any) -> list[str]:
            return [names[d.id] for d in tx.list_devices(**kw)]

        assert order() == ["01", "02", "03", "04", "05", "06", "07"]
        assert order(sort="-id") == ["07", "06", "05", "04", "03", "02", "01"]
        # Byte order ("B" < "G" < "P" < "b"), ties by id, unknown (NULL) last ascending...
        assert order(sort="vendor") == ["01", "07", "02", "05", "04", "03", "06"]
        # ... and first descending, ties by id descending.
        assert order(sort="-vendor") == ["06", "03", "04", "05", "02", "07", "01"]
        assert order(sort="-last_ns") == ["01", "02", "03", "04", "05", "06", "07"]
        assert order(sort="first_ns", limit=3) == ["01", "02", "03"]
        assert order(sort="vendor", limit=2, offset=2) == ["02", "05"]
        assert order(sort="vendor", offset=5) == ["03", "06"]
        assert order(limit=0) == []
        listed = tx.list_devices(limit=1)[0]
        assert listed.ips == (DeviceIP("10.1.0.1", T0, T0, "dhcp"),) and listed.value("vendor") == "Baxter"
        with pytest.raises(ValueError, match="cannot sort"):
            tx.list_devices(sort="colour")
        assert tx.count_devices() == 7


def test_list_devices_search(store: Any) -> None:
    with store.transaction() as tx:
        ids = _inventory(tx)
        names = {v: k for k, v in ids.items()}

        def found(term: str) -> list[str]:
            result = [names[d.id] for d in tx.list_devices(search=term)]
            assert tx.count_devices(search=term) == len(result)
            return result

        assert found("BAXTER") == ["01", "04", "07"]  # vendor, case-insensitive
        assert found("pump") == ["01", "07"]  # hostname substring
        assert found("icu") == ["02"]
        assert found("intellivue_") == ["05"]  # LIKE wildcards are literal
        assert found("%") == []
        assert found("00:00:00:00:00:06") == ["06"]  # MAC
        assert found("00-00-00-00-00-05") == ["05"]  # MAC, other notation
        assert found("00-00-00-00-00-0") == ["01", "02", "03", "04", "05", "06", "07"]  # fragment
        assert found("10.1.0.") == ["01", "02", "04", "07"]  # IP prefix
        assert found("10.1.0.4") == ["04"]
        assert found("0.4") == []  # IPs match by prefix, not substring
        assert found("  ") == found("") == ["01", "02", "03", "04", "05", "06", "07"]
        assert [names[d.id] for d in tx.list_devices(search="baxter", sort="-id", limit=2)] == ["07", "04"]


def test_search_matches_model_and_serial(store: Any) -> None:
    d = device("mac:00:00:00:00:00:09", mac="00:00:00:00:00:09", model="Alaris 8015", serial="SN-77-AB")
    with store.transaction() as tx:
        device_id = tx.save_device(d, [])
        assert [x.id for x in tx.list_devices(search="alaris")] == [device_id]
        assert [x.id for x in tx.list_devices(search="77-ab")] == [device_id]


def test_search_matches_dicom_ae_title_and_hl7_application(store: Any) -> None:
    ct = device("mac:00:00:00:00:00:0a", mac="00:00:00:00:00:0a", ae_title="CT_01")
    central = device("mac:00:00:00:00:00:0b", mac="00:00:00:00:00:0b", hl7_application="PIC_iX^Philips")
    with store.transaction() as tx:
        ct_id, central_id = tx.save_devices([(ct, []), (central, [])])
        assert [x.id for x in tx.list_devices(search="ct_0")] == [ct_id]
        assert [x.id for x in tx.list_devices(search="pic_ix")] == [central_id]
        assert tx.count_devices(search="philips") == 1
        assert tx.list_devices(search="mr_01") == []


# --------------------------------------------------------------------------- transactions


def test_failed_transaction_leaves_committed_data_and_nothing_of_itself(store: Any) -> None:
    with store.transaction() as tx:
        kept = tx.save_device(device("mac:00:00:00:00:00:01", mac="00:00:00:00:00:01", vendor="Baxter"), [])
        tx.merge_observations([obs(1)])

    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.transaction() as tx:
        tx.save_device(device("mac:00:00:00:00:00:02", mac="00:00:00:00:00:02"), [])
        tx.save_device(device("mac:00:00:00:00:00:01", mac="00:00:00:00:00:01", vendor="Changed"), [])
        tx.merge_observations([obs(0, "f0"), obs(2, mac="aa:aa:aa:aa:aa:aa")])
        tx.merge_sightings([Sighting("aa:aa:aa:aa:aa:aa", "10.0.0.1", T0, T0, 1, 1, 1)])
        raise Boom

    with store.transaction() as tx:
        assert tx.device_keys() == ["mac:00:00:00:00:00:01"]
        got = tx.get_device(str(kept))
        assert got is not None and got.value("vendor") == "Baxter"
        (o,) = tx.iter_observations()
        assert (o.first_ns, o.count) == (T0 + 1, 1)
        assert tx.sightings() == []
