"""CISA vulnrichment: CVE JSON 5 records whose ``CISA-ADP`` container holds SSVC decision points
(Exploitation, Automatable, Technical Impact)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wardwatch.feeds.base import FeedError, load_json, text_of


@dataclass(frozen=True, slots=True)
class SsvcPoints:
    """The SSVC decision points CISA recorded for one CVE (``""`` when a point is absent)."""

    cve: str
    exploitation: str
    automatable: str
    technical_impact: str
    timestamp: str
    role: str


def read_vulnrichment(path: str | Path) -> SsvcPoints | None:
    """The SSVC points of one CVE 5 record, or None when it has no CISA SSVC metric."""
    p = str(path)
    doc = load_json(path)
    try:
        meta = doc["cveMetadata"]
        cve = meta["cveId"]
        adps: list[Any] = doc.get("containers", {}).get("adp") or []
        for adp in adps:
            for metric in adp.get("metrics") or ():
                other = metric.get("other") if isinstance(metric, dict) else None
                if not isinstance(other, dict) or other.get("type") != "ssvc":
                    continue
                content = other["content"]
                points: dict[str, str] = {}
                for option in content.get("options") or ():
                    for k, v in option.items():
                        points[str(k)] = str(v)
                return SsvcPoints(
                    cve=str(cve),
                    exploitation=points.get("Exploitation", ""),
                    automatable=points.get("Automatable", ""),
                    technical_impact=points.get("Technical Impact", ""),
                    timestamp=text_of(content.get("timestamp")),
                    role=text_of(content.get("role")),
                )
    except (KeyError, TypeError, AttributeError) as e:
        raise FeedError(p, "cveMetadata/containers", f"malformed CVE 5 record: {e}") from None
    return None
