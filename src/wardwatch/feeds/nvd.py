"""NVD CVE API 2.0 JSON: the paged envelope (``{"vulnerabilities": [{"cve": ...}]}``, streamed) and the
bare ``cve`` objects of the per-CVE mirror layout (one CVE per file), and ``{"cve": {...}}``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wardwatch.feeds.base import (
    READ_ERRORS,
    FeedError,
    JsonStreamError,
    iter_json,
    load_json,
    open_text,
    text_of,
)
from wardwatch.model.advisory import (
    Advisory,
    AdvisorySource,
    ConfigNode,
    Configuration,
    CpeMatch,
    CvssScore,
)

_METRIC_KEYS = {
    "cvssMetricV40": "4.0",
    "cvssMetricV31": "3.1",
    "cvssMetricV30": "3.0",
    "cvssMetricV2": "2.0",
}


def _scores(metrics: dict[str, Any]) -> tuple[CvssScore, ...]:
    out: list[CvssScore] = []
    for key, version in _METRIC_KEYS.items():
        for m in metrics.get(key) or ():
            data = m["cvssData"]
            severity = data.get("baseSeverity") or m.get("baseSeverity") or ""
            out.append(
                CvssScore(
                    version=str(data.get("version") or version),
                    vector=str(data["vectorString"]),
                    base_score=float(data["baseScore"]),
                    severity=str(severity),
                    source=text_of(m.get("source")),
                    type=text_of(m.get("type")) or "Primary",
                )
            )
    return tuple(out)


def _match(m: dict[str, Any]) -> CpeMatch:
    return CpeMatch(
        criteria=str(m["criteria"]),
        vulnerable=bool(m.get("vulnerable", True)),
        version_start_including=m.get("versionStartIncluding"),
        version_start_excluding=m.get("versionStartExcluding"),
        version_end_including=m.get("versionEndIncluding"),
        version_end_excluding=m.get("versionEndExcluding"),
    )


def _configurations(configs: list[dict[str, Any]]) -> tuple[Configuration, ...]:
    out: list[Configuration] = []
    for c in configs:
        nodes = tuple(
            ConfigNode(
                operator=str(n.get("operator") or "OR"),
                negate=bool(n.get("negate", False)),
                matches=tuple(_match(m) for m in n.get("cpeMatch") or ()),
            )
            for n in c.get("nodes") or ()
        )
        # A configuration with no operator and several nodes (seen on CVE-2019-0708) is read as OR:
        # NVD's own UI shows those nodes as alternatives.
        out.append(
            Configuration(operator=str(c.get("operator") or "OR"), negate=bool(c.get("negate")), nodes=nodes)
        )
    return tuple(out)


def parse_cve(cve: dict[str, Any]) -> Advisory:
    """One NVD ``cve`` object as an :class:`Advisory`; raises KeyError/TypeError/ValueError when malformed."""
    cve_id = cve["id"]
    if not isinstance(cve_id, str) or not cve_id.startswith("CVE-"):
        raise ValueError(f"id is not a CVE id: {cve_id!r}")
    descriptions = cve.get("descriptions") or []
    description = next((d["value"] for d in descriptions if d.get("lang") == "en"), "")
    cwes: list[str] = []
    for w in cve.get("weaknesses") or ():
        for d in w.get("description") or ():
            v = d.get("value")
            if isinstance(v, str) and v.startswith("CWE-") and v not in cwes:
                cwes.append(v)
    refs = tuple(str(r["url"]) for r in cve.get("references") or () if isinstance(r, dict) and "url" in r)
    return Advisory(
        id=cve_id,
        source=AdvisorySource.NVD,
        title=cve_id,
        description=str(description),
        published=text_of(cve.get("published")) or None,
        revision=str(cve["lastModified"]),
        status=text_of(cve.get("vulnStatus")),
        cwes=tuple(cwes),
        references=refs,
        scores=_scores(cve.get("metrics") or {}),
        aliases=(("cve", cve_id),),
        configurations=_configurations(cve.get("configurations") or []),
    )


def _parsed(path: str, where: str, cve: Any) -> Advisory:
    try:
        if not isinstance(cve, dict):
            raise TypeError("not an object")
        return parse_cve(cve)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        ident = cve.get("id") if isinstance(cve, dict) else None
        label = f"{where} ({ident})" if isinstance(ident, str) else where
        detail = f"missing field {e}" if isinstance(e, KeyError) else str(e)
        raise FeedError(path, label, f"malformed CVE record: {detail}") from None


def read_nvd(path: str | Path) -> Iterator[Advisory]:
    """Every CVE of an NVD 2.0 file, streamed; raises :class:`FeedError` naming the record."""
    p = str(path)
    try:
        with open_text(path) as f:
            for entry in iter_json(f, frozenset({"vulnerabilities"})):
                if entry.item:
                    item = entry.value
                    cve = item.get("cve") if isinstance(item, dict) else None
                    yield _parsed(p, f"record {entry.index}", cve)
                elif entry.key == "cve":  # one wrapped record: {"cve": {...}}
                    yield _parsed(p, "record 0", entry.value)
                elif entry.key == "id":
                    break  # a bare cve object (per-CVE layout): small, read it whole below
            else:
                return
    except JsonStreamError as e:
        raise FeedError(p, f"offset {e.offset}", str(e).partition(": ")[2]) from None
    except READ_ERRORS as e:
        raise FeedError(p, "", f"cannot read: {e}") from None
    yield _parsed(p, "record 0", load_json(path))
