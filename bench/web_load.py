"""Web load benchmark: p50/p95/p99 latency of the inventory page, the device page and the device
search API with 100,000 devices in a SQLite store, measured over real HTTP on loopback.

Usage::

    .venv/bin/python bench/web_load.py [--devices 100000] [--requests 300] [--concurrency 4] [--workers 1] [--db PATH]

The store is built once (devices written with bulk inserts of the same rows ``save_device``
writes: device, resolved attributes, IPs; cached in ``--db``, default
``/tmp/wardwatch-bench/web-100000.sqlite``). The server is ``uvicorn wardwatch.web.asgi:app``
(one worker) on 127.0.0.1; the load generator is an asyncio client (httpx, keep-alive) with
``--concurrency`` requests in flight, authenticated with an API token. Target: p95 < 100 ms.
Results are printed and written to ``bench/results/web_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from wardwatch.auth.service import AuthService
from wardwatch.store import schema as s
from wardwatch.store.sql import open_store

VENDORS = [
    ("B. Braun", "Infusomat Space", "infusion_pump", "therapeutic"),
    ("Baxter", "Spectrum IQ", "infusion_pump", "therapeutic"),
    ("Philips", "IntelliVue MX450", "patient_monitor", "life-sustaining"),
    ("GE Healthcare", "CARESCAPE B450", "patient_monitor", "life-sustaining"),
    ("Siemens Healthineers", "SOMATOM go.Up", "ct_scanner", "diagnostic"),
    ("HP", "LaserJet Pro M404dn", "printer", "non-clinical"),
    ("Cisco", "CP-8845", "ip_phone", "non-clinical"),
    ("Dell", "OptiPlex 7090", "workstation", "clinical support"),
]
NS = 1_000_000_000
T0 = 1_767_225_600 * NS  # 2026-01-01


def build(path: Path, n: int) -> list[str]:
    """Create the store with ``n`` devices; return their serial numbers."""
    rng = random.Random(7)
    serials = [f"SN{i:08d}{rng.randrange(1000):03d}" for i in range(n)]
    if path.exists():
        return serials
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    store = open_store(f"sqlite:///{tmp}")
    chunk = 5000
    for start in range(0, n, chunk):
        devices, attributes, ips = [], [], []
        for i in range(start, min(n, start + chunk)):
            vendor, model, device_type, category = VENDORS[i % len(VENDORS)]
            mac = ":".join(f"{b:02x}" for b in (0x00, 0x1B, (i >> 16) & 255, (i >> 8) & 255, i & 255, 0x42))
            first = T0 + rng.randrange(30 * 86_400) * NS
            values = {
                "vendor": vendor,
                "model": model,
                "serial": serials[i],
                "hostname": f"{device_type.upper()}-{i:06d}",
                "device_type": device_type,
                "clinical_category": category,
            }
            devices.append(
                {
                    "id": i + 1,
                    "key": f"mac:{mac}",
                    "mac": mac,
                    "mac_randomized": False,
                    "first_ns": first,
                    "last_ns": first + rng.randrange(86_400) * NS,
                    "updated_at": first,
                    **{name: values.get(name) for name in s.DENORMALISED},
                }
            )
            for name, value in values.items():
                attributes.append(
                    {
                        "device_id": i + 1,
                        "attribute": name,
                        "value": value,
                        "confidence": 0.9,
                        "chosen_by": "only",
                        "conflict_count": 0,
                    }
                )
            ips.append(
                {
                    "device_id": i + 1,
                    "ip": f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
                    "first_ns": first,
                    "last_ns": first,
                    "source": "dhcp",
                }
            )
        with store.transaction() as tx:
            tx.conn.execute(insert(s.device), devices)
            tx.conn.execute(insert(s.device_attribute), attributes)
            tx.conn.execute(insert(s.device_ip), ips)
    with store.transaction() as tx:
        tx.conn.exec_driver_sql("ANALYZE")
    store.close()
    os.replace(tmp, path)
    return serials


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to report server cost per request
    independently of how loaded the shared machine is."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(base: str, token: str, paths: list[str], concurrency: int, pid: int) -> dict[str, float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = list(paths)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=30
    ) as client:
        for warm in paths[:5]:
            await client.get(warm)

        async def worker() -> None:
            while queue:
                path = queue.pop()
                started = time.perf_counter()
                response = await client.get(path)
                await response.aread()
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        cpu_before = _cpu_seconds(pid)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu = _cpu_seconds(pid) - cpu_before
        wall = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1)

    return {
        "requests": len(latencies),
        "ok": statuses.get(200, 0),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(latencies), 1),
        "req_per_s": round(len(latencies) / wall, 1),
        "server_cpu_ms_per_req": round(cpu * 1000 / len(latencies), 1),
    }


def main() -> None:
    """Build the store, start the server, load it, print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args()
    db = args.db or Path(f"/tmp/wardwatch-bench/web-{args.devices}.sqlite")
    started = time.perf_counter()
    serials = build(db, args.devices)
    print(f"store: {db} ({args.devices:,} devices, ready in {time.perf_counter() - started:.1f} s)")

    store = open_store(f"sqlite:///{db}")
    auth = AuthService(store)
    if auth.user("bench") is None:
        auth.add_user(name="bench", password="bench password", role="viewer", actor="bench")
    token, _ = auth.create_token(user_name="bench", name="web_load", actor="bench")
    store.close()

    port = _free_port()
    env = {**os.environ, "WARDWATCH_DB": f"sqlite:///{db}"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "wardwatch.web.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        rng = random.Random(11)
        n = args.requests
        scenarios: dict[str, list[str]] = {
            "inventory page": [
                f"/inventory?offset={rng.randrange(0, 2000) * 50}&sort={rng.choice(['id', 'vendor', '-last_ns'])}"
                for _ in range(n)
            ],
            "device page": [f"/devices/{rng.randrange(1, args.devices + 1)}" for _ in range(n)],
            "device search API (serial)": [f"/api/v1/devices?search={rng.choice(serials)}" for _ in range(n)],
        }
        results: dict[str, Any] = {}
        for name, paths in scenarios.items():
            results[name] = asyncio.run(_measure(base, token, paths, args.concurrency, server.pid))
            r = results[name]
            print(
                f"{name:30} p50 {r['p50_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms"
                f"  {r['req_per_s']:6.1f} req/s  server CPU {r['server_cpu_ms_per_req']:5.1f} ms/req"
                f"  ({r['ok']}/{r['requests']} ok)"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
    out = Path(__file__).parent / "results" / "web_load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps({"devices": args.devices, "concurrency": args.concurrency, "results": results}, indent=2)
        + "\n"
    )
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; written to {out}")


if __name__ == "__main__":
    main()
