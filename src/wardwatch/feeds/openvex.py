"""OpenVEX 0.2 JSON: ``statements`` of a vulnerability's status in products."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wardwatch.feeds.base import FeedError, load_json, text_of
from wardwatch.feeds.sbom import Document, VexStatement

# OpenVEX status -> CycloneDX analysis state (the vocabulary wardwatch stores).
_STATE = {
    "not_affected": "not_affected",
    "affected": "exploitable",
    "fixed": "resolved",
    "under_investigation": "in_triage",
}
# OpenVEX justifications -> the nearest CycloneDX ones.
_JUST = {
    "component_not_present": "code_not_present",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "vulnerable_code_cannot_be_controlled_by_adversary": "requires_environment",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
}


def parse_openvex(doc: dict[str, Any]) -> Document:
    """An OpenVEX document (raises KeyError/TypeError/ValueError when malformed)."""
    author = text_of(doc.get("author"))
    out: list[VexStatement] = []
    for i, s in enumerate(doc["statements"]):
        status = str(s["status"])
        if status not in _STATE:
            raise ValueError(f"statements[{i}]: unknown status {status!r}")
        vuln = s["vulnerability"]
        vid = str(vuln.get("name") if isinstance(vuln, dict) else vuln)
        for p in s.get("products") or ():
            pid = text_of(p.get("@id")) if isinstance(p, dict) else text_of(p)
            out.append(
                VexStatement(
                    vulnerability=vid,
                    product=pid,
                    vendor=author,
                    model=pid,
                    state=_STATE[status],
                    justification=_JUST.get(text_of(s.get("justification"))) or None,
                    responses=(),
                    detail=text_of(s.get("impact_statement")) or text_of(s.get("action_statement")),
                )
            )
    return Document(
        document=str(doc["@id"]),
        format="openvex",
        spec_version=text_of(doc.get("@context")),
        vendor=author,
        model="",
        author=author,
        timestamp=text_of(doc.get("timestamp")),
        statements=tuple(out),
    )


def read_openvex(path: str | Path) -> Document:
    """One OpenVEX file; raises :class:`FeedError` naming the file and the problem."""
    doc = load_json(path)
    try:
        if not isinstance(doc, dict):
            raise TypeError("top level is not an object")
        return parse_openvex(doc)
    except KeyError as e:
        raise FeedError(str(path), "document", f"malformed OpenVEX: missing field {e}") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise FeedError(str(path), "document", f"malformed OpenVEX: {e}") from None
