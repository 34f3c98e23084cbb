"""Benchmark: import an NVD-sized feed streaming, then match 100,000 devices against it.

Usage: ``python bench/vuln_match.py [--cves 300000] [--devices 100000] [--identities 5000] [--workdir /tmp/wardwatch-bench]``

Only ~450 real NVD records exist locally, so the script *synthesizes* an NVD API 2.0 envelope with
``--cves`` records from the real ones' shapes (their configurations, scores, references), renaming
each record and spreading its CPE vendor/product names over a synthetic catalogue so the index looks
like the real NVD's (many products, few CVEs each). The file is written under ``--workdir`` (never
committed). Devices are inserted directly (bulk SQL) with identities drawn from the same catalogue,
the real medical names, and Windows versions. Prints wall time and peak RSS of each phase.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import insert  # noqa: E402

from wardwatch.services import vulns as svc  # noqa: E402
from wardwatch.store import schema  # noqa: E402
from wardwatch.store.sql import open_store  # noqa: E402

TEMPLATES = ROOT / "tests" / "data" / "feeds" / "nvd"


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def templates() -> list[dict[str, Any]]:
    """The real NVD records shipped with the tests, as bare cve objects."""
    from wardwatch.feeds.base import iter_json, open_text

    out: list[dict[str, Any]] = []
    for p in sorted(TEMPLATES.iterdir()):
        with open_text(p) as f:
            for e in iter_json(f, frozenset({"vulnerabilities"})):
                if e.item:
                    out.append(e.value["cve"])
        if p.name.startswith("CVE-"):
            out.append(json.loads(p.read_text()))
    return out


def _rename(cve: dict[str, Any], n: int, product: str) -> dict[str, Any]:
    c: dict[str, Any] = json.loads(json.dumps(cve))
    c["id"] = f"CVE-2099-{n:07d}"
    for conf in c.get("configurations") or ():
        for node in conf.get("nodes") or ():
            for m in node.get("cpeMatch") or ():
                parts = m["criteria"].split(":")
                if len(parts) == 13 and parts[2] in ("a", "o") and m.get("vulnerable", True):
                    vendor, prod = product.split(":")
                    parts[3], parts[4] = vendor, prod
                    m["criteria"] = ":".join(parts)
    return c


def synthesize(path: Path, count: int, catalogue: list[str], seed: int = 7) -> None:
    """Write an NVD API 2.0 envelope with ``count`` records (gzip level 1)."""
    rng = random.Random(seed)
    base = templates()
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as f:
        f.write(
            f'{{"resultsPerPage": {count}, "startIndex": 0, "totalResults": {count}, "format": "NVD_CVE", '
        )
        f.write('"version": "2.0", "timestamp": "2026-11-23T00:00:00.000", "vulnerabilities": [\n')
        for i in range(count):
            t = base[i % len(base)]
            # 2% keep their real names (medical, Windows ...); the rest spread over the catalogue.
            c = t if i < len(base) else _rename(t, i, rng.choice(catalogue))
            if i >= len(base):
                c["lastModified"] = t["lastModified"]
            f.write(("," if i else "") + json.dumps({"cve": c}, separators=(",", ":")) + "\n")
        f.write("]}\n")


def devices(store: Any, count: int, identities: list[dict[str, str]]) -> None:
    """Bulk-insert devices with resolved attributes (identification is not what is measured)."""
    rng = random.Random(11)
    with store.transaction() as tx:
        conn = tx.conn
        rows, attrs = [], []
        for i in range(1, count + 1):
            ident = rng.choice(identities)
            rows.append(
                {
                    "id": i,
                    "key": f"mac:{i:012x}",
                    "mac": f"{i:012x}",
                    "mac_randomized": False,
                    "first_ns": 1,
                    "last_ns": 2,
                    "updated_at": 2,
                    **{k: ident.get(k) for k in schema.DENORMALISED},
                }
            )
            for k, v in ident.items():
                attrs.append(
                    {
                        "device_id": i,
                        "attribute": k,
                        "value": v,
                        "confidence": 0.9,
                        "chosen_by": "only",
                        "conflict_count": 0,
                    }
                )
            if len(rows) >= 5000:
                conn.execute(insert(schema.device), rows)
                conn.execute(insert(schema.device_attribute), attrs)
                rows, attrs = [], []
        if rows:
            conn.execute(insert(schema.device), rows)
            conn.execute(insert(schema.device_attribute), attrs)


def catalogue_and_identities(n_products: int, n_identities: int) -> tuple[list[str], list[dict[str, str]]]:
    """A synthetic CPE catalogue and device identities (a third of them inside the catalogue)."""
    rng = random.Random(3)
    products = [f"vendor{v}:product{p}" for v in range(n_products // 10) for p in range(10)]
    idents: list[dict[str, str]] = []
    real = [
        {"vendor": "Philips", "model": "IntelliVue MX450", "firmware": "M.00.03"},
        {"vendor": "Baxter", "model": "Sigma Spectrum", "firmware": "6.02"},
        {"vendor": "Medtronic", "model": "MiniMed 508"},
        {"os": "Windows", "os_version": "NT 6.1"},
        {"os": "Windows", "os_version": "NT 10.0"},
        {"vendor": "B. Braun", "model": "SpaceCom2", "firmware": "012u000061"},
    ]
    idents.extend(real)
    while len(idents) < n_identities:
        vendor, product = rng.choice(products).split(":")
        if rng.random() < 0.34:
            idents.append(
                {"vendor": vendor, "model": product, "firmware": f"{rng.randint(0, 12)}.{rng.randint(0, 9)}"}
            )
        else:
            idents.append({"vendor": f"other{rng.randint(0, 9999)}", "model": f"m{rng.randint(0, 99999)}"})
    return products, idents


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description="NVD-sized import and 100k-device matching benchmark")
    ap.add_argument("--cves", type=int, default=300_000)
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--identities", type=int, default=5_000)
    ap.add_argument("--products", type=int, default=60_000)
    ap.add_argument("--workdir", default="/tmp/wardwatch-bench")
    args = ap.parse_args(argv)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    feed = work / f"nvd-synthetic-{args.cves}.json.gz"
    db = work / "bench.sqlite"
    products, idents = catalogue_and_identities(args.products, args.identities)
    if not feed.exists():
        t = time.perf_counter()
        synthesize(feed, args.cves, products)
        print(
            f"synthesized {args.cves:,} CVEs -> {feed} ({feed.stat().st_size / 1e6:.0f} MB gz) in {time.perf_counter() - t:.1f}s"
        )
    db.unlink(missing_ok=True)
    store = open_store(f"sqlite:///{db}")
    try:
        t = time.perf_counter()
        [r] = svc.import_feeds(store, paths=[str(feed)])
        dt = time.perf_counter() - t
        print(
            f"import: {r.status} {r.records:,} records in {dt:.1f}s ({r.records / dt:,.0f}/s), peak RSS {peak_rss_mb():.0f} MiB"
        )
        if r.status != "ok":
            print(r.error)
            return 1
        t = time.perf_counter()
        devices(store, args.devices, idents)
        print(f"devices: {args.devices:,} inserted in {time.perf_counter() - t:.1f}s")
        t = time.perf_counter()
        s = svc.match_all(store)
        dt = time.perf_counter() - t
        print(
            f"match: {s.devices:,} devices, {s.identities:,} identities, {s.advisories:,} candidate advisories, "
            f"{s.active:,} findings in {dt:.1f}s (target < 60 s), peak RSS {peak_rss_mb():.0f} MiB"
        )
        t = time.perf_counter()
        s2 = svc.match_all(store)
        print(
            f"re-match (no changes): {s2.opened} new, {s2.changed} changed in {time.perf_counter() - t:.1f}s"
        )
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
