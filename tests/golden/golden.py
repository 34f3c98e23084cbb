"""Golden files: capture in -> observations and inventory out.

Regenerate every golden file after an intended change with:

    .venv/bin/python -m tests.golden.golden [CAPTURE.pcap ...]

and review the diff like code. ``tests/integration/test_golden.py`` compares.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.conftest import DATA, DEMO, run_sensor
from wardwatch.identify.knowledge import Knowledge
from wardwatch.identify.oui import OuiRegistry
from wardwatch.inventory.build import build_devices
from wardwatch.model.observation import Observation
from wardwatch.services.present import device_json
from wardwatch.store.ports import Sighting, StoredObservation

HERE = Path(__file__).parent
REGENERATE = ".venv/bin/python -m tests.golden.golden"

#: capture path -> golden file name
CASES: dict[str, Path] = {
    **{p.name: p for p in sorted((DATA / "captures").glob("*.pcap"))},
    "hospital-demo.pcap.gz": DEMO / "hospital-demo.pcap.gz",
}


def stored(observations: list[Observation]) -> list[StoredObservation]:
    """Deduplicate observations the way the store does (first/last seen per content uid)."""
    merged: dict[str, StoredObservation] = {}
    for o in sorted(observations, key=lambda o: o.ts_ns):
        uid = o.uid
        old = merged.get(uid)
        merged[uid] = StoredObservation(
            uid=uid,
            protocol=o.protocol,
            mac=o.mac,
            ip=o.ip,
            fields=o.fields,
            first_ns=old.first_ns if old else o.ts_ns,
            last_ns=o.ts_ns,
            first_flow_uid=old.first_flow_uid if old else o.flow_uid,
            last_flow_uid=o.flow_uid,
            count=(old.count + 1) if old else 1,
        )
    return list(merged.values())


def merged_sightings(sightings: list[Sighting]) -> list[Sighting]:
    """Combine sightings of the same (mac, ip) emitted at different times."""
    merged: dict[tuple[str | None, str | None], Sighting] = {}
    for s in sightings:
        old = merged.get((s.mac, s.ip))
        if old is not None:
            s = Sighting(
                mac=s.mac,
                ip=s.ip,
                first_ns=min(old.first_ns, s.first_ns),
                last_ns=max(old.last_ns, s.last_ns),
                packets=old.packets + s.packets,
                bytes=old.bytes + s.bytes,
                ttl=max(old.ttl, s.ttl),
            )
        merged[(s.mac, s.ip)] = s
    return list(merged.values())


def golden_for(path: Path) -> dict[str, Any]:
    """The golden document of one capture."""
    out = run_sensor(path)
    observations = stored(out.observations)
    devices = build_devices(
        merged_sightings(out.sightings),
        observations,
        knowledge=Knowledge.bundled(),
        oui=OuiRegistry.bundled(),
    )
    return {
        "_comment": f"Golden file for {path.name}. Regenerate: {REGENERATE}",
        "observations": sorted(
            (
                {
                    "uid": o.uid,
                    "protocol": o.protocol,
                    "mac": o.mac,
                    "ip": o.ip,
                    "fields": {
                        k: list(v) if isinstance(v, tuple) else v for k, v in sorted(o.fields.items())
                    },
                    "first_flow_uid": o.first_flow_uid,
                    "count": o.count,
                }
                for o in observations
            ),
            key=lambda d: (d["protocol"], str(d["mac"]), str(d["ip"]), d["uid"]),
        ),
        "devices": [device_json(d) for d, _ in devices],
    }


def golden_path(name: str) -> Path:
    """Where the golden file of a capture lives."""
    return HERE / f"{name.split('.')[0]}.golden.json"


def main(names: list[str]) -> None:
    """Rewrite the golden files of the named captures (all when none is named)."""
    unknown = set(names) - set(CASES)
    if unknown:
        raise SystemExit(f"no such capture: {', '.join(sorted(unknown))}; known: {', '.join(CASES)}")
    for name, path in CASES.items():
        if names and name not in names:
            continue
        target = golden_path(name)
        target.write_text(json.dumps(golden_for(path), indent=1, sort_keys=False, ensure_ascii=False) + "\n")
        print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
