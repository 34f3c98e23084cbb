"""FIRST EPSS scores CSV: ``#model_version:v2023.03.01,score_date:2024-01-01T00:00:00+0000`` then
``cve,epss,percentile`` rows (the daily file from epss.cyentia.com, gzip accepted)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wardwatch.feeds.base import READ_ERRORS, FeedError, open_text

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")


_ERRORS: tuple[type[BaseException], ...] = (*READ_ERRORS, csv.Error)


@dataclass(frozen=True, slots=True)
class EpssScore:
    """One CVE's exploit prediction: probability and percentile, with the model and date."""

    cve: str
    epss: float
    percentile: float
    model_version: str
    score_date: str


def _meta(line: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in line.lstrip("#").strip().split(","):
        key, sep, value = part.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def read_epss(path: str | Path) -> Iterator[EpssScore]:
    """Every row, with the model version and score date of the comment line; raises
    :class:`FeedError` naming the line."""
    p = str(path)
    try:
        with open_text(path) as f:
            first = f.readline()
            meta = _meta(first) if first.startswith("#") else {}
            header_line = f.readline() if first.startswith("#") else first
            lineno = 2 if first.startswith("#") else 1
            header = [h.strip() for h in header_line.strip().split(",")]
            if header[:3] != ["cve", "epss", "percentile"]:
                raise FeedError(p, f"line {lineno}", "expected the header cve,epss,percentile")
            model, date = meta.get("model_version", ""), meta.get("score_date", "")
            for row in csv.reader(f):
                lineno += 1
                if not row:
                    continue
                if len(row) < 3 or not _CVE.match(row[0].strip()):
                    raise FeedError(
                        p, f"line {lineno}", f"not a cve,epss,percentile row: {','.join(row)[:80]!r}"
                    )
                try:
                    epss, pct = float(row[1]), float(row[2])
                except ValueError:
                    raise FeedError(
                        p, f"line {lineno} ({row[0]})", "epss/percentile is not a number"
                    ) from None
                if not (0.0 <= epss <= 1.0 and 0.0 <= pct <= 1.0):
                    raise FeedError(p, f"line {lineno} ({row[0]})", "epss/percentile outside 0..1")
                yield EpssScore(row[0].strip(), epss, pct, model, date)
    except _ERRORS as e:
        raise FeedError(p, "", f"cannot read: {e}") from None
