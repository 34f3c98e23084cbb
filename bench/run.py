"""The reproducible sensor benchmark: wardwatch against its peers on the same three captures.

Usage::

    .venv/bin/python bench/run.py [--cache DIR] [--captures a,b,c] [--tools LIST] [--quick]

Captures (generated once into ``--cache``, default ``/tmp/wardwatch-bench``; never committed):

* ``a``: ``wardwatch simulate``, 5,000 devices, about 5.2 M packets (a hospital hour);
* ``b``: few long flows: 8 DICOM C-STORE-like imaging transfers (full 1514-byte frames), 1 M packets;
* ``c``: many short flows: a TCP SYN scan of 1 M (address, port) pairs (SYN, then RST-ACK or
  SYN-ACK + RST), 2.05 M packets, 1 M flows (the "peak RSS at 1 M flows" figure).

Tools, each run as its own process, one at a time, whole process measured (wall time, CPU time
of the process tree from ``getrusage(RUSAGE_CHILDREN)``, peak RSS of the largest process):

* ``wardwatch`` / ``wardwatch-w2``: ``wardwatch discover`` into a fresh SQLite store (full
  identification: dissectors, store writes, inventory rebuild), 1 and 2 workers;
* ``nfstream``: NFStream with DPI on (``n_dissections=20``), one meter;
* ``dpkt``: a plain dpkt loop (decode Ethernet/IP/TCP/UDP, count bidirectional 5-tuple flows);
* ``tshark``: ``tshark -q -z conv,tcp -r FILE``;
* ``ndpiReader``: ``ndpiReader -q -i FILE`` (nDPI's C reader), where installed.

Packets/s and Mbit/s (wire bytes) are given per wall second and per CPU second: the machine is
shared, and CPU time is what one core of ours delivers. The ratio column is CPU-packets/s over
NFStream's on the same capture. The table is printed and written to ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
WARDWATCH = str(Path(PY).with_name("wardwatch"))

NFSTREAM_CODE = """
import sys
from nfstream import NFStreamer
s = NFStreamer(source=sys.argv[1], n_dissections=20, statistical_analysis=False, n_meters=int(sys.argv[2]))
flows = packets = 0
for f in s:
    flows += 1
    packets += f.bidirectional_packets
print(flows, packets)
"""

DPKT_CODE = """
import sys
import dpkt
flows = {}
n = 0
with open(sys.argv[1], "rb") as fh:
    for ts, buf in dpkt.pcap.Reader(fh):
        n += 1
        try:
            eth = dpkt.ethernet.Ethernet(buf)
        except dpkt.UnpackError:
            continue
        ip = eth.data
        if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
            l4 = ip.data
            if isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)):
                a, b = (ip.src, l4.sport), (ip.dst, l4.dport)
            else:
                a, b = (ip.src, 0), (ip.dst, 0)
            key = (ip.p, a, b) if a <= b else (ip.p, b, a)
        else:
            key = (eth.type, eth.src)
        v = flows.get(key)
        if v is None:
            flows[key] = [1, len(buf)]
        else:
            v[0] += 1
            v[1] += len(buf)
print(len(flows), n)
"""


@dataclass(frozen=True, slots=True)
class Capture:
    """A benchmark capture and its size."""

    name: str
    title: str
    path: str
    packets: int
    wire_bytes: int


@dataclass(frozen=True, slots=True)
class Result:
    """One tool on one capture."""

    capture: str
    tool: str
    workers: int
    ok: bool
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    packets_per_s_wall: float
    packets_per_s_cpu: float
    mbit_per_s_wall: float
    mbit_per_s_cpu: float
    load_before: float
    note: str
    cpu_s_runs: list[float] = field(default_factory=list)
    """CPU seconds of every run (``--repeat``); the row shows the run with the least."""


# --- capture generation ----------------------------------------------------------------------------
def _pcap_header() -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def _eth_ip_tcp(
    src: int, dst: int, sp: int, dp: int, seq: int, ack: int, flags: int, payload: bytes
) -> bytes:
    smac = (0x001B21000000 | (src & 0xFFFFFF)).to_bytes(6, "big")
    dmac = (0x001B21000000 | (dst & 0xFFFFFF)).to_bytes(6, "big")
    tcp = struct.pack("!HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 64240, 0, 0)
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
    return dmac + smac + b"\x08\x00" + ip + tcp + payload


def _write(path: Path, records: list[tuple[int, bytes]]) -> tuple[int, int]:
    tmp = path.with_suffix(".part")
    wire = 0
    with tmp.open("wb") as fh:
        fh.write(_pcap_header())
        for ts_us, frame in records:
            wire += len(frame)
            fh.write(struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000, len(frame), len(frame)))
            fh.write(frame)
    tmp.rename(path)
    return len(records), wire


def make_imaging(path: Path, packets: int = 1_000_000, flows: int = 8) -> None:
    """Few long flows: DICOM associations (port 104) each moving a large study, full frames."""
    base = 1_700_000_000_000_000
    per = packets // flows
    streams = []
    for k in range(flows):
        cli, srv = 0x0A140000 + 10 + k, 0x0A1E0005
        sp = 40000 + k
        recs: list[tuple[int, bytes]] = []
        t = base + k * 1000
        c_seq, s_seq = 1000 + k, 900_000 + k
        recs.append((t, _eth_ip_tcp(cli, srv, sp, 104, c_seq, 0, 0x02, b"")))
        recs.append((t + 200, _eth_ip_tcp(srv, cli, 104, sp, s_seq, c_seq + 1, 0x12, b"")))
        c_seq += 1
        s_seq += 1
        assoc = b"\x01\x00" + struct.pack("!I", 200) + b"\x00\x01\x00\x00" + b"STORESCP".ljust(16)
        assoc += b"MODALITY-CT-01".ljust(16) + bytes(32) + b"\x10\x00\x00\x15" + b"1.2.840.10008.3.1.1.1"
        recs.append((t + 400, _eth_ip_tcp(cli, srv, sp, 104, c_seq, s_seq, 0x18, assoc)))
        c_seq += len(assoc)
        chunk = bytes(1460)
        t += 600
        for i in range(per - 5):
            t += 12  # about 1 Gbit/s per transfer
            if i % 16 == 15:
                recs.append((t, _eth_ip_tcp(srv, cli, 104, sp, s_seq, c_seq, 0x10, b"")))
            else:
                recs.append((t, _eth_ip_tcp(cli, srv, sp, 104, c_seq, s_seq, 0x10, chunk)))
                c_seq += 1460
        recs.append((t + 50, _eth_ip_tcp(cli, srv, sp, 104, c_seq, s_seq, 0x11, b"")))
        recs.append((t + 100, _eth_ip_tcp(srv, cli, 104, sp, s_seq, c_seq + 1, 0x11, b"")))
        streams.append(recs)
    merged = sorted((r for s in streams for r in s), key=lambda r: r[0])
    _write(path, merged)


def make_scan(path: Path, flows: int = 1_000_000) -> None:
    """Many short flows: a SYN scan of 1,000 hosts x 1,000 ports; 5% open (SYN-ACK then RST)."""
    rng = np.random.default_rng(4)
    base = 1_700_000_000_000_000
    scanner = 0x0A000063
    opened = rng.random(flows) < 0.05
    recs: list[tuple[int, bytes]] = []
    t = base
    for i in range(flows):
        t += 20  # 50 k probes/s
        dst, dp, sp = 0x0A010001 + i % 1000, 1 + (i // 1000) % 65535, 40000 + (i // 1000) % 20000
        recs.append((t, _eth_ip_tcp(scanner, dst, sp, dp, 7777, 0, 0x02, b"")))
        if opened[i]:
            recs.append((t + 300, _eth_ip_tcp(dst, scanner, dp, sp, 5555, 7778, 0x12, b"")))
            recs.append((t + 400, _eth_ip_tcp(scanner, dst, sp, dp, 7778, 0, 0x04, b"")))
        else:
            recs.append((t + 300, _eth_ip_tcp(dst, scanner, dp, sp, 0, 7778, 0x14, b"")))
    recs.sort(key=lambda r: r[0])
    _write(path, recs)


def count(path: Path) -> tuple[int, int]:
    """Packets and wire bytes of a classic pcap (from the record headers only)."""
    packets = wire = 0
    with path.open("rb") as fh:
        fh.read(24)
        while True:
            hdr = fh.read(16)
            if len(hdr) < 16:
                break
            _, _, incl, orig = struct.unpack("<IIII", hdr)
            fh.seek(incl, os.SEEK_CUR)
            packets += 1
            wire += orig
    return packets, wire


def ensure_captures(cache: Path, names: list[str], quick: bool) -> list[Capture]:
    """Generate missing captures into ``cache`` and return them with their sizes."""
    cache.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if quick else ""
    specs = {
        "a": ("simulate, 5,000 devices, 1 h", f"a-sim5000{suffix}.pcap"),
        "b": ("8 long imaging flows", f"b-imaging{suffix}.pcap"),
        "c": ("SYN scan, 1,000 hosts x 1,000 ports", f"c-scan{suffix}.pcap"),
    }
    result = []
    for name in names:
        title, file = specs[name]
        path = cache / file
        meta = path.with_suffix(".json")
        if not path.exists():
            print(f"generating {path} ...", file=sys.stderr, flush=True)
            if name == "a":
                ppd = "100" if quick else "1050"
                subprocess.run(
                    [PY, "-m", "wardwatch.simulate", "--devices", "5000", "--duration", "3600",
                     "--packets-per-device", ppd, "-o", str(path)],
                    check=True,
                )  # fmt: skip
            elif name == "b":
                make_imaging(path, packets=100_000 if quick else 1_000_000)
            else:
                make_scan(path, flows=100_000 if quick else 1_000_000)
            meta.unlink(missing_ok=True)
        if not meta.exists():
            packets, wire = count(path)
            meta.write_text(json.dumps({"packets": packets, "wire_bytes": wire}))
        m = json.loads(meta.read_text())
        result.append(Capture(name, title, str(path), m["packets"], m["wire_bytes"]))
    return result


# --- tools -----------------------------------------------------------------------------------------
def _has_workers() -> bool:
    proc = subprocess.run([WARDWATCH, "discover", "--help"], capture_output=True, text=True, check=False)
    return "--workers" in proc.stdout


def tool_commands(tools: list[str], tmp: Path, cap: Capture) -> list[tuple[str, int, list[str] | None, str]]:
    """(tool, workers, argv or None when unavailable, note) for each requested tool."""
    workers_ok = _has_workers()
    cmds: list[tuple[str, int, list[str] | None, str]] = []
    for tool in tools:
        if tool.startswith("wardwatch"):
            w = 2 if tool.endswith("-w2") else 1
            db = f"sqlite:///{tmp / f'{cap.name}-{tool}.sqlite'}"
            argv = [WARDWATCH, "--db", db, "discover", "--format", "json", cap.path]
            if w > 1:
                argv = [*argv[:-1], "--workers", str(w), cap.path] if workers_ok else None  # type: ignore[list-item]
            cmds.append((tool, w, argv, "full identification, fresh SQLite store"))
        elif tool == "nfstream":
            cmds.append(
                (tool, 1, [PY, "-c", NFSTREAM_CODE, cap.path, "1"], "DPI on (n_dissections=20), 1 meter")
            )
        elif tool == "dpkt":
            cmds.append((tool, 1, [PY, "-c", DPKT_CODE, cap.path], "plain loop, 5-tuple flow counts"))
        elif tool == "tshark":
            exe = shutil.which("tshark")
            cmds.append(
                (tool, 1, [exe, "-q", "-z", "conv,tcp", "-r", cap.path] if exe else None, "-q -z conv,tcp")
            )
        elif tool == "ndpiReader":
            exe = shutil.which("ndpiReader")
            cmds.append((tool, 1, [exe, "-q", "-i", cap.path] if exe else None, "nDPI C reader"))
    return cmds


def measure(argv: list[str], log: Path) -> tuple[bool, float, float, float]:
    """Run ``argv``; returns (ok, wall s, CPU s of the process tree, peak RSS MB of any process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with log.open("wb") as fh:
        proc = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, check=False, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss of RUSAGE_CHILDREN is the largest waited-for descendant so far (KiB on Linux),
    # so each measurement runs in a fresh helper process (see _measured).
    return proc.returncode == 0, wall, cpu, after.ru_maxrss / 1024


def _measured(argv: list[str], log: Path) -> tuple[bool, float, float, float]:
    """``measure`` in a fresh Python process, so peak RSS belongs to this run only."""
    code = (
        f"import json,sys,pathlib;sys.path.insert(0,{str(HERE)!r});import run;"
        "print(json.dumps(run.measure(json.loads(sys.argv[1]),pathlib.Path(sys.argv[2]))))"
    )
    proc = subprocess.run(
        [PY, "-c", code, json.dumps(argv), str(log)], capture_output=True, text=True, check=True
    )
    ok, wall, cpu, rss = json.loads(proc.stdout.strip().splitlines()[-1])
    return bool(ok), float(wall), float(cpu), float(rss)


def _warm(path: Path) -> None:
    """Read ``path`` once (not measured) so every tool starts with it in the page cache.

    The machine reclaims cold page cache on its own (a 5 GB capture is partly gone a minute
    later), so without this the first tool to run after a pause pays the disk and the others
    do not; with it, every tool pays only its own work.
    """
    with path.open("rb", buffering=0) as f:
        buf = bytearray(16 << 20)
        while f.readinto(buf):
            pass


def run_all(captures: list[Capture], tools: list[str], log_dir: Path, repeat: int = 1) -> list[Result]:
    """Every tool on every capture, one at a time, ``repeat`` rounds; per row the least-CPU run.

    Rounds go over all tools before the next round, so a slow spell of the machine (this is a
    shared VM: the same run varies by 20-40 % between spells) hits every tool alike, and the
    best of each tool's runs is its figure with the least interference.
    """
    best: dict[tuple[str, str], Result] = {}
    order: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="ww-bench-") as tmpdir:
        tmp = Path(tmpdir)
        for round_ in range(repeat):
            for cap in captures:
                for tool, workers, argv, note in tool_commands(tools, tmp, cap):
                    if argv is None:
                        if round_ == 0:
                            print(f"{cap.name} {tool}: not available, skipped", file=sys.stderr)
                        continue
                    r = _run_one(cap, tool, workers, argv, note, log_dir)
                    key = (cap.name, tool)
                    old = best.get(key)
                    if old is None:
                        order.append(key)
                        best[key] = r
                    else:
                        runs = [*old.cpu_s_runs, *r.cpu_s_runs]
                        keep = r if r.ok and (not old.ok or r.cpu_s < old.cpu_s) else old
                        best[key] = replace(keep, cpu_s_runs=runs)
    return [best[k] for k in order]


def _run_one(cap: Capture, tool: str, workers: int, argv: list[str], note: str, log_dir: Path) -> Result:
    _warm(Path(cap.path))
    load = os.getloadavg()[0]
    log = log_dir / f"log-{cap.name}-{tool}.txt"
    ok, wall, cpu, rss = _measured(argv, log)
    r = Result(
        capture=cap.name,
        tool=tool,
        workers=workers,
        ok=ok,
        wall_s=round(wall, 2),
        cpu_s=round(cpu, 2),
        peak_rss_mb=round(rss, 1),
        packets_per_s_wall=round(cap.packets / wall),
        packets_per_s_cpu=round(cap.packets / max(cpu, 1e-9)),
        mbit_per_s_wall=round(cap.wire_bytes * 8 / wall / 1e6, 1),
        mbit_per_s_cpu=round(cap.wire_bytes * 8 / max(cpu, 1e-9) / 1e6, 1),
        load_before=round(load, 2),
        note=note if ok else f"FAILED (see {log.name})",
        cpu_s_runs=[round(cpu, 2)],
    )
    print(
        f"{cap.name} {tool:<13} {r.wall_s:8.1f}s wall {r.cpu_s:8.1f}s cpu "
        f"{r.packets_per_s_cpu:>10,}/cpu-s {r.peak_rss_mb:8.0f} MB load {load:.1f}",
        file=sys.stderr,
        flush=True,
    )
    return r


def table(captures: list[Capture], results: list[Result]) -> str:
    """The Markdown table (ratio = CPU packets/s over NFStream's on the same capture)."""
    lines = [
        "| capture | tool | workers | k packets/s (wall) | k packets/s (CPU) | Mbit/s (CPU) | peak RSS MB | x NFStream |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for cap in captures:
        rows = [r for r in results if r.capture == cap.name]
        nf = next((r for r in rows if r.tool == "nfstream" and r.ok), None)
        for r in rows:
            ratio = f"{r.packets_per_s_cpu / nf.packets_per_s_cpu:.2f}" if nf and r.ok else "-"
            lines.append(
                f"| {cap.name} | {r.tool}{'' if r.ok else ' (failed)'} | {r.workers} | "
                f"{r.packets_per_s_wall / 1000:,.0f} | {r.packets_per_s_cpu / 1000:,.0f} | "
                f"{r.mbit_per_s_cpu:,.0f} | {r.peak_rss_mb:,.0f} | {ratio} |"
            )
    heads = [
        f"* {c.name}: {c.title}: {c.packets:,} packets, {c.wire_bytes / 1e6:,.0f} MB on the wire"
        for c in captures
    ]
    return "\n".join([*heads, "", *lines])


TOOL_ORDER = ["wardwatch", "wardwatch-w2", "nfstream", "dpkt", "tshark", "ndpiReader"]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, generate captures, run the tools, print and save the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default=os.environ.get("WARDWATCH_BENCH_CACHE", "/tmp/wardwatch-bench"))
    ap.add_argument("--captures", default="a,b,c")
    ap.add_argument("--tools", default=",".join(TOOL_ORDER))
    ap.add_argument("--quick", action="store_true", help="10x smaller captures (a smoke test)")
    ap.add_argument("--out", default=str(HERE / "results" / "latest.json"))
    ap.add_argument("--merge", action="store_true", help="keep other rows of --out, replace re-measured ones")
    ap.add_argument(
        "--repeat", type=int, default=1, help="rounds over all tools; each row keeps its least-CPU run"
    )
    args = ap.parse_args(argv)
    captures = ensure_captures(Path(args.cache), args.captures.split(","), args.quick)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    log_dir = Path(args.cache) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    # Measure wardwatch as installed, with its modules compiled: an editable install has no
    # bytecode until a first import writes it, and where PYTHONDONTWRITEBYTECODE is set (as on
    # the bench machine) every run would compile the sources again (0.5-0.8 s of each start).
    subprocess.run([PY, "-m", "compileall", "-q", str(HERE.parent / "src")], check=False)
    results = run_all(captures, args.tools.split(","), log_dir, repeat=max(1, args.repeat))
    if args.merge and out.exists():
        previous = json.loads(out.read_text())
        done = {(r.capture, r.tool) for r in results}
        old = [Result(**r) for r in previous["results"] if (r["capture"], r["tool"]) not in done]
        results = sorted([*old, *results], key=lambda r: (r.capture, TOOL_ORDER.index(r.tool)))
        have = {c.name for c in captures}
        captures = sorted(
            [*captures, *(Capture(**c) for c in previous["captures"] if c["name"] not in have)],
            key=lambda c: c.name,
        )
    text = table(captures, results)
    print(text)
    payload = {
        "schema": "wardwatch.bench/1",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "quick": args.quick,
        "captures": [asdict(c) for c in captures],
        "results": [asdict(r) for r in results],
        "table": text,
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
