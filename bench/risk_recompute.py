"""Risk recompute at fleet scale (issue 6): 100,000 devices and 600,000 findings after a feed update.

Usage::

    .venv/bin/python bench/risk_recompute.py [--devices 100000] [--findings-per-device 6]
                                             [--db sqlite:////tmp/wardwatch-risk-bench.sqlite] [--keep]
                                             [--reuse] [--plain]

Synthesises a scratch store (never the user's): devices spread over 400 /24 subnets with clinical
categories and types, conversations (every device uses 2 services of a server in its subnet, 1 in 50
talks to an internet host, each server serves 4 ports), 3,000 advisories with CVSS v3.1 vectors, KEV
for 2 % of them, EPSS for all, SSVC points for 10 %, and ``findings-per-device`` active findings
per device. Then runs ``wardwatch.services.risk.recompute`` in a fresh child process (so its peak
RSS is the recompute's alone) and prints wall time, CPU time, peak RSS and the machine load.
Target: < 60 s. ``--plain`` measures the reference path (``score()`` per device, ORM-style writes)
that the default fast path must match row for row.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

CATEGORIES = ["life-sustaining", "therapeutic", "diagnostic", "clinical support", "non-clinical"]
TYPES = ["infusion_pump", "patient_monitor", "ct", "workstation", "printer"]
VECTORS = [
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
    "CVSS:3.1/AV:N/AC:H/PR:L/UI:N/S:U/C:L/I:L/A:N",
    "CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
    "CVSS:3.1/AV:L/AC:L/PR:L/UI:R/S:C/C:H/I:H/A:H",
]
TITLES = [
    "SMBv1 remote code execution",
    "Telnet hard-coded credentials",
    "web server overflow",
    "DICOM parser",
    "x",
]


def synthesise(url: str, devices: int, per_device: int, seed: int = 6) -> None:
    """Fill a fresh store with the synthetic fleet (bulk inserts, one transaction per table)."""
    from wardwatch.store import schema as s
    from wardwatch.store import schema_vuln as v
    from wardwatch.store.sql import open_store

    rnd = random.Random(seed)
    store = open_store(url)
    t0 = 1_700_000_000_000_000_000
    engine = store.engine

    def ip_of(i: int) -> str:
        return f"10.{(i // 250) // 250 % 250}.{(i // 250) % 250}.{i % 250 + 2}"

    def insert(table: object, rows: list[dict[str, object]]) -> None:
        with engine.begin() as conn:
            for i in range(0, len(rows), 20000):
                conn.execute(table.insert(), rows[i : i + 20000])  # type: ignore[attr-defined]

    dev_rows, ip_rows, attr_rows = [], [], []
    for i in range(devices):
        cat, typ = CATEGORIES[i % 5], TYPES[i % 5]
        dev_rows.append(
            {
                "id": i + 1,
                "key": f"ip:{ip_of(i)}",
                "mac": None,
                "mac_randomized": False,
                "first_ns": t0,
                "last_ns": t0 + 1,
                "vendor": f"vendor{i % 40}",
                "model": f"model{i % 400}",
                "serial": None,
                "hostname": f"host{i}",
                "os": None,
                "os_version": None,
                "firmware": None,
                "device_type": typ,
                "clinical_category": cat,
                "updated_at": t0,
            }
        )
        ip_rows.append(
            {"device_id": i + 1, "ip": ip_of(i), "first_ns": t0, "last_ns": t0 + 1, "source": "dhcp"}
        )
        for name, value in (
            ("clinical_category", cat),
            ("device_type", typ),
            ("vendor", f"vendor{i % 40}"),
            ("model", f"model{i % 400}"),
            ("hostname", f"host{i}"),
        ):
            attr_rows.append(
                {
                    "device_id": i + 1,
                    "attribute": name,
                    "value": value,
                    "confidence": 0.9,
                    "chosen_by": "only",
                    "conflict_count": 0,
                }
            )
    insert(s.device, dev_rows)
    insert(s.device_ip, ip_rows)
    insert(s.device_attribute, attr_rows)
    del dev_rows, ip_rows, attr_rows

    conv: dict[tuple[str, str, int], dict[str, object]] = {}
    ports = [445, 104, 443, 2575]
    for i in range(devices):
        server = ip_of((i // 25) * 25)  # the first device of every 25 is a server
        if server == ip_of(i):
            continue
        for port in rnd.sample(ports, 2):
            conv[(ip_of(i), server, port)] = {
                "client_ip": ip_of(i),
                "client_mac": "",
                "server_ip": server,
                "server_mac": "",
                "transport": "tcp",
                "server_port": port,
                "first_ns": t0,
                "last_ns": t0 + 1,
                "flows": 1,
                "packets": 10,
                "bytes": 1000,
            }
        if i % 50 == 0:
            conv[(ip_of(i), "8.8.8.8", 443)] = {
                "client_ip": ip_of(i),
                "client_mac": "",
                "server_ip": "8.8.8.8",
                "server_mac": "",
                "transport": "tcp",
                "server_port": 443,
                "first_ns": t0,
                "last_ns": t0 + 1,
                "flows": 1,
                "packets": 10,
                "bytes": 1000,
            }
    insert(s.conversation, list(conv.values()))
    del conv

    n_adv = 3000
    adv_rows, kev_rows, epss_rows, ssvc_rows = [], [], [], []
    for a in range(n_adv):
        cve = f"CVE-2099-{a:05d}"
        adv_rows.append(
            {
                "id": cve,
                "source": "nvd",
                "title": TITLES[a % 5],
                "description": f"synthetic {TITLES[a % 5]}",
                "published": None,
                "revision": "1",
                "status": "Analyzed",
                "cvss_score": 7.5,
                "cvss_version": "3.1",
                "cvss_vector": VECTORS[a % 5],
                "data": {},
                "import_id": 1,
            }
        )
        epss_rows.append(
            {
                "cve": cve,
                "epss": rnd.random() / 10,
                "percentile": rnd.random(),
                "model_version": "v",
                "score_date": "2099-01-01",
                "import_id": 1,
            }
        )
        if a % 50 == 0:
            kev_rows.append(
                {
                    "cve": cve,
                    "vendor_project": "x",
                    "product": "x",
                    "name": "x",
                    "date_added": "2099-01-01",
                    "due_date": "2099-02-01",
                    "required_action": "x",
                    "ransomware": "Unknown",
                    "catalog_version": "1",
                    "import_id": 1,
                }
            )
        if a % 10 == 0:
            ssvc_rows.append(
                {
                    "cve": cve,
                    "exploitation": ["none", "poc", "active"][a % 3],
                    "automatable": "yes",
                    "technical_impact": "total",
                    "timestamp": "2099",
                    "role": "CISA Coordinator",
                    "import_id": 1,
                }
            )
    insert(v.advisory, adv_rows)
    insert(v.kev, kev_rows)
    insert(v.epss, epss_rows)
    insert(v.ssvc, ssvc_rows)
    finding_rows = []
    for i in range(devices):
        for cve_index in rnd.sample(range(n_adv), per_device):
            cve = f"CVE-2099-{cve_index:05d}"
            finding_rows.append(
                {
                    "device_id": i + 1,
                    "vulnerability": cve,
                    "matcher": "nvd_cpe",
                    "advisory_id": cve,
                    "status": "affected",
                    "confidence": 0.9,
                    "evidence": {},
                    "reason": "",
                    "active": True,
                    "inactive_reason": "",
                    "first_ns": t0,
                    "updated_ns": t0,
                }
            )
    insert(v.finding, finding_rows)
    store.close()


def recompute_child(url: str, plain: bool = False) -> None:
    """Run in the child: recompute, then print one JSON line with the figures."""
    from wardwatch.services.risk import recompute
    from wardwatch.store.sql import open_store

    store = open_store(url)
    start, cpu = time.perf_counter(), time.process_time()
    summary = recompute(store, plain=plain)
    wall, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    store.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "devices": summary.devices,
                "findings": summary.findings,
                "decisions": summary.decisions,
                "wall_s": round(wall, 1),
                "cpu_s": round(cpu_s, 1),
                "peak_rss_mb": round(rss_mb),
                "path": "plain" if plain else "fast",
            }
        )
    )


def main() -> None:
    """Generate (unless --reuse), then measure the recompute in a child process."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--findings-per-device", type=int, default=6)
    ap.add_argument("--db", default="sqlite:////tmp/wardwatch-risk-bench.sqlite")
    ap.add_argument("--reuse", action="store_true", help="Do not regenerate the scratch store.")
    ap.add_argument("--keep", action="store_true", help="Keep the scratch SQLite file afterwards.")
    ap.add_argument(
        "--plain", action="store_true", help="Measure the plain reference path (score() per device)."
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        recompute_child(args.db, args.plain)
        return
    path = Path(args.db.removeprefix("sqlite:///")) if args.db.startswith("sqlite:///") else None
    if not args.reuse:
        if path is not None and path.exists():
            path.unlink()
        t = time.perf_counter()
        synthesise(args.db, args.devices, args.findings_per_device)
        print(
            f"synthesised {args.devices} devices x {args.findings_per_device} findings in "
            f"{time.perf_counter() - t:.0f}s"
        )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--db", args.db, *(["--plain"] if args.plain else [])],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(figures))
    load = os.getloadavg()
    print(
        f"recompute ({figures['path']} path, load {load[0]:.1f} {load[1]:.1f} on {os.cpu_count()} CPUs): "
        f"{figures['devices']} devices, {figures['findings']} findings in {figures['wall_s']} s "
        f"(CPU {figures['cpu_s']} s), peak RSS {figures['peak_rss_mb']} MB; target < 60 s: "
        f"{'met' if figures['wall_s'] < 60 else 'NOT met'}"
    )
    if path is not None and not args.keep:
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
