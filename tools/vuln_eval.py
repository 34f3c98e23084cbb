"""Precision and recall of device-to-vulnerability matching on the labelled ICSMA set.

Usage: ``python tools/vuln_eval.py [--labelled tests/data/feeds/icsma-labelled.json] [--feeds tests/data/feeds]``

Every feed file under ``--feeds`` is parsed (no database); each labelled identity is matched by all
matchers; a reported vulnerability is a true positive when listed in ``expect``, a false positive
when it is in ``must_not`` or not expected at all. ``possibly_affected`` findings count as reported.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from wardwatch.feeds.base import sniff
from wardwatch.feeds.csaf import read_csaf
from wardwatch.feeds.nvd import read_nvd
from wardwatch.model.advisory import Advisory, FeedFormat
from wardwatch.services.vulns import DeviceIdentity, expand_paths, index_keys, match_identity

ROOT = Path(__file__).resolve().parents[1]


def load_advisories(feeds: Path) -> list[Advisory]:
    """Every NVD and CSAF advisory under a directory."""
    out: list[Advisory] = []
    for p in expand_paths([str(feeds / "nvd"), str(feeds / "csaf")]):
        fmt = sniff(p)
        if fmt is FeedFormat.NVD:
            out.extend(read_nvd(p))
        elif fmt is FeedFormat.CSAF:
            out.append(read_csaf(p))
    return out


def evaluate(labelled: dict[str, Any], advisories: list[Advisory]) -> dict[str, Any]:
    """Counts, precision, recall and per-device errors."""
    index: dict[tuple[str, str], list[Advisory]] = {}
    for a in advisories:
        for k in index_keys(a):
            index.setdefault(k, []).append(a)

    def nvd(keys: list[str]) -> list[Advisory]:
        seen: dict[str, Advisory] = {}
        for k in keys:
            for a in index.get(("cpe", k), []):
                seen[a.id] = a
        return list(seen.values())

    def csaf(canon: str) -> list[Advisory]:
        return index.get(("csaf_vendor", canon), [])

    tp = fp = fn = 0
    errors: list[str] = []
    for d in labelled["devices"]:
        ident = DeviceIdentity(
            vendor=d.get("vendor"),
            model=d.get("model"),
            model_number=d.get("model_number"),
            firmware=d.get("firmware"),
            os=d.get("os"),
            os_version=d.get("os_version"),
        )
        got = {v for v, _, _, _ in match_identity(ident, nvd, csaf)}
        expect = set(d["expect"])
        tp += len(got & expect)
        wrong = got - expect
        missed = expect - got
        fp += len(wrong)
        fn += len(missed)
        if wrong or missed:
            errors.append(f"{d['name']}: false {sorted(wrong)} missed {sorted(missed)}")
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "errors": errors}


def main(argv: list[str] | None = None) -> int:
    """Print precision and recall; exit 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labelled", default=str(ROOT / "tests/data/feeds/icsma-labelled.json"))
    ap.add_argument("--feeds", default=str(ROOT / "tests/data/feeds"))
    args = ap.parse_args(argv)
    labelled = json.loads(Path(args.labelled).read_text())
    r = evaluate(labelled, load_advisories(Path(args.feeds)))
    print(f"devices {len(labelled['devices'])}  TP {r['tp']}  FP {r['fp']}  FN {r['fn']}")
    print(f"precision {r['precision']:.3f}  recall {r['recall']:.3f}")
    for e in r["errors"]:
        print("  " + e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
