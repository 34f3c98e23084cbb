"""``wardwatch discover --workers 2`` stores the same observations and inventory as one process."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.conftest import DATA
from typer.testing import CliRunner

from wardwatch.services.cli.main import app


def discover(
    db: Path, workers: int, *paths: Path
) -> tuple[list[tuple[object, ...]], list[dict[str, object]], list[tuple[object, ...]]]:
    url = f"sqlite:///{db}"
    result = CliRunner().invoke(app, ["--db", url, "discover", "--workers", str(workers), *map(str, paths)])
    assert result.exit_code == 0, result.output
    devices = CliRunner().invoke(app, ["--db", url, "devices", "--format", "json"])
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select uid, first_ns, last_ns, first_flow_uid, last_flow_uid, count from observation order by uid"
        ).fetchall()
        # the aggregates the parent merges from the workers' partial ones
        aggregates = conn.execute("select * from conversation order by 1, 2, 3, 4, 5, 6").fetchall()
        aggregates += conn.execute("select * from sighting order by 1, 2").fetchall()
        # every flow an observation points to is stored
        missing = conn.execute(
            "select count(*) from observation o where not exists (select 1 from flow f where f.uid ="
            " o.first_flow_uid) or not exists (select 1 from flow f where f.uid = o.last_flow_uid)"
        ).fetchone()[0]
        assert missing == 0
    found = json.loads(devices.stdout)["devices"]
    return rows, [{k: d[k] for k in ("mac", "ip", "attributes") if k in d} for d in found], aggregates


def test_two_workers_store_what_one_stores(tmp_path: Path) -> None:
    caps = [
        DATA / "captures" / n
        for n in ("dhcp-dnsmasq-dhclient.pcap", "http-curl-pythonhttp.pcap", "lldp-lldpd.pcap")
    ]
    one = discover(tmp_path / "one.sqlite", 1, *caps)
    two = discover(tmp_path / "two.sqlite", 2, *caps)
    assert one[0] and one[2] and one == two


def test_streamed_chunks_store_what_one_process_stores(tmp_path: Path) -> None:
    """Workers sending a chunk every few observations: the same rows as one process."""
    from tests.conftest import DEMO

    from wardwatch.sensor.parallel import run_sharded
    from wardwatch.services import discovery
    from wardwatch.store.sql import open_store

    demo = DEMO / "hospital-demo.pcap.gz"
    one = discover(tmp_path / "one.sqlite", 1, demo)
    chunks: list[int] = []

    def small(*args: object, **kw: object):  # type: ignore[no-untyped-def]
        inner = kw.pop("on_chunk")

        def count(out):  # type: ignore[no-untyped-def]
            chunks.append(len(out.observations))
            inner(out)  # type: ignore[operator]

        return run_sharded(*args, **kw, on_chunk=count, chunk=25)  # type: ignore[arg-type]

    import wardwatch.sensor.parallel as parallel

    orig = parallel.run_sharded
    parallel.run_sharded = small  # type: ignore[assignment]
    try:
        store = open_store(f"sqlite:///{tmp_path / 'two.sqlite'}")
        discovery.discover(store, [str(demo)], workers=2)
        store.close()
    finally:
        parallel.run_sharded = orig
    assert len(chunks) >= 4  # each worker sent several (one per batch at this chunk size)
    with sqlite3.connect(tmp_path / "two.sqlite") as conn:
        rows = conn.execute(
            "select uid, first_ns, last_ns, first_flow_uid, last_flow_uid, count from observation order by uid"
        ).fetchall()
        aggregates = conn.execute("select * from conversation order by 1, 2, 3, 4, 5, 6").fetchall()
        aggregates += conn.execute("select * from sighting order by 1, 2").fetchall()
    assert rows == one[0]
    assert aggregates == one[2]


def test_a_failing_worker_is_reported_not_waited_for() -> None:
    import pytest

    from wardwatch.sensor.flows.engine import SensorConfig
    from wardwatch.sensor.parallel import run_sharded

    bad = SensorConfig(max_flows="many")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match=r"worker \d of .* failed"):
        run_sharded(str(DATA / "captures" / "lldp-lldpd.pcap"), workers=2, config=bad)


def test_pack_and_unpack_keep_every_field() -> None:
    """What crosses the queue from a worker comes out equal, uids included."""
    import pickle

    from tests.conftest import DEMO

    from wardwatch.sensor.capture.reader import read_packets
    from wardwatch.sensor.flows.engine import SensorEngine, SensorOutput
    from wardwatch.sensor.parallel import pack, unpack

    engine = SensorEngine()
    total = SensorOutput()
    for out in [*(engine.feed(b) for b in read_packets(DEMO / "hospital-demo.pcap.gz")), engine.finish()]:
        total.observations += out.observations
        total.flows += out.flows
        total.sightings += out.sightings
        total.conversations += out.conversations
        total.flows_ended += out.flows_ended
    assert total.observations and total.flows and total.sightings and total.conversations
    back = unpack(pickle.loads(pickle.dumps(pack(total))))
    assert back == total
    assert [o.uid for o in back.observations] == [o.uid for o in total.observations]
    assert all(o._uid for o in back.observations)  # carried over, not recomputed
