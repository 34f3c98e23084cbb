"""How well identification does against a ground truth: right, wrong and unknown per attribute.

Usage::

    .venv/bin/python tools/identification_accuracy.py [CAPTURE TRUTH.json] [--json]

Without arguments it measures the bundled demo capture against ``hospital-demo.truth.json``.
A truth file is the ``wardwatch simulate --truth`` format: ``{"devices": [{"mac", "vendor",
"kind", "model", "serial", "firmware", "hostname", "os"}, ...]}``. A value counts as *right* when
it equals the truth after case-folding (vendors through the canonical vendor names, model when
either contains the other, since a truth "IntelliVue MX800" and an observed "MX800" name the
same product), *wrong* when it differs, *unknown* when wardwatch gives none. A wrong answer is
worse than an unknown one, so both are reported.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from wardwatch.identify.knowledge import Knowledge  # noqa: E402
from wardwatch.services.discovery import discover  # noqa: E402
from wardwatch.services.present import device_json  # noqa: E402
from wardwatch.store.sql import open_store  # noqa: E402

DEMO = ROOT / "src" / "wardwatch" / "demo"
ATTRIBUTES = {
    "vendor": "vendor",
    "model": "model",
    "kind": "device_type",
    "firmware": "firmware",
    "serial": "serial",
    "hostname": "hostname",
    "os": "os",
}


def _same(attribute: str, truth: str, found: str, knowledge: Knowledge) -> bool:
    if attribute == "vendor":
        return knowledge.canonical_vendor(truth).casefold() == knowledge.canonical_vendor(found).casefold()
    t, f = truth.casefold().strip(), found.casefold().strip()
    if attribute == "model":
        return t == f or t in f or f in t
    if attribute == "os":
        return t == f or t.startswith(f)  # "Windows 10" truth, "Windows" found: right, less precise
    return t == f


def measure(capture: Path, truth_path: Path) -> dict[str, Any]:
    """Discover ``capture`` into a scratch store and compare with the truth file."""
    truth = json.loads(truth_path.read_text())
    knowledge = Knowledge.bundled()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/accuracy.sqlite")
        discover(store, [str(capture)])
        with store.transaction() as tx:
            found = {d.mac: device_json(d) for d in tx.list_devices() if d.mac}
        store.close()
    result: dict[str, Any] = {"capture": capture.name, "devices": len(truth["devices"]), "attributes": {}}
    for attribute, column in ATTRIBUTES.items():
        right = wrong = unknown = 0
        wrong_cases: list[dict[str, Any]] = []
        for t in truth["devices"]:
            expected = t.get(attribute)
            if not expected:
                continue
            got = found.get(t["mac"], {}).get(column)
            if got is None:
                unknown += 1
            elif _same(attribute, str(expected), str(got), knowledge):
                right += 1
            else:
                wrong += 1
                wrong_cases.append({"mac": t["mac"], "truth": expected, "found": got})
        total = right + wrong + unknown
        result["attributes"][attribute] = {
            "with_truth": total,
            "right": right,
            "wrong": wrong,
            "unknown": unknown,
            "right_share": round(right / total, 3) if total else None,
            "wrong_share": round(wrong / total, 3) if total else None,
            "wrong_cases": wrong_cases,
        }
    return result


def main(argv: list[str]) -> int:
    """Print the table (or JSON with --json)."""
    as_json = "--json" in argv
    args = [a for a in argv if a != "--json"]
    if len(args) == 2:
        capture, truth = Path(args[0]), Path(args[1])
    elif not args:
        capture, truth = DEMO / "hospital-demo.pcap.gz", DEMO / "hospital-demo.truth.json"
    else:
        print(__doc__, file=sys.stderr)
        return 2
    result = measure(capture, truth)
    if as_json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['capture']}: {result['devices']} devices with ground truth")
    print(
        f"{'attribute':<10} {'known':>6} {'right':>6} {'wrong':>6} {'unknown':>8} {'right%':>7} {'wrong%':>7}"
    )
    for name, r in result["attributes"].items():
        if not r["with_truth"]:
            continue
        print(
            f"{name:<10} {r['with_truth']:>6} {r['right']:>6} {r['wrong']:>6} {r['unknown']:>8} "
            f"{100 * r['right_share']:>6.1f}% {100 * r['wrong_share']:>6.1f}%"
        )
        for case in r["wrong_cases"][:5]:
            print(f"    wrong: {case['mac']} truth {case['truth']!r}, found {case['found']!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
