"""Build the bundled IEEE registry table from the IEEE RA CSV files (developer tool, not run by the product).

Usage: python tools/build_oui.py DIR_WITH_oui.csv_mam.csv_oui36.csv_iab.csv
Writes src/wardwatch/identify/knowledge/ieee-registry.tsv.gz: one line per assignment,
``<hex prefix>\t<registry>\t<organization>``, sorted, so the product loads it without a CSV parser
for addresses it does not need. Source and licence: see knowledge/SOURCES.md.
"""

from __future__ import annotations

import csv
import gzip
import sys
from pathlib import Path

FILES = {"oui.csv": "MA-L", "mam.csv": "MA-M", "oui36.csv": "MA-S", "iab.csv": "IAB"}


def main(src: Path) -> None:
    rows: set[tuple[str, str, str]] = set()
    for name, registry in FILES.items():
        with (src / name).open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                prefix = row["Assignment"].strip().upper()
                org = " ".join(row["Organization Name"].split())
                if prefix and org:
                    rows.add((prefix, registry, org))
    out = Path(__file__).resolve().parents[1] / "src/wardwatch/identify/knowledge/ieee-registry.tsv.gz"
    with gzip.GzipFile(out, "wb", mtime=0) as handle:
        for prefix, registry, org in sorted(rows):
            handle.write(f"{prefix}\t{registry}\t{org}\n".encode())
    print(f"{len(rows)} assignments -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
