"""CycloneDX 1.4–1.6 JSON: components (SBOM) and ``vulnerabilities[].analysis`` (VEX)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wardwatch.feeds.base import FeedError, load_json, sha256_of, text_of
from wardwatch.feeds.sbom import Component, Document, VexStatement
from wardwatch.model.advisory import AnalysisState

# CycloneDX 1.4 VEX examples also use the CSAF-style words; map them to analysis states.
_STATE_ALIASES = {"affected": "exploitable", "fixed": "resolved", "under_investigation": "in_triage"}


def _org(value: Any) -> str:
    return text_of(value.get("name")) if isinstance(value, dict) else text_of(value)


def _components(items: list[Any], out: list[Component]) -> None:
    for c in items:
        if not isinstance(c, dict):
            raise TypeError("component is not an object")
        out.append(
            Component(
                name=text_of(c.get("name")),
                version=text_of(c.get("version")),
                purl=text_of(c.get("purl")),
                cpe=text_of(c.get("cpe")),
                supplier=_org(c.get("supplier"))
                or text_of(c.get("publisher"))
                or _org(c.get("manufacturer")),
            )
        )
        _components(c.get("components") or [], out)


def parse_cyclonedx(doc: dict[str, Any], fallback_id: str) -> Document:
    """A CycloneDX JSON document (raises KeyError/TypeError/ValueError when malformed)."""
    if doc.get("bomFormat") != "CycloneDX":
        raise ValueError("bomFormat is not CycloneDX")
    spec = str(doc.get("specVersion", ""))
    meta = doc.get("metadata") or {}
    main = meta.get("component") or {}
    vendor = _org(main.get("manufacturer")) or _org(main.get("supplier")) or _org(meta.get("manufacture"))
    vendor = vendor or _org(meta.get("supplier")) or text_of(main.get("publisher"))
    model = text_of(main.get("name"))
    authors = meta.get("authors") or []
    author = _org(authors[0]) if authors else vendor
    comps: list[Component] = []
    _components(doc.get("components") or [], comps)
    by_ref = {text_of(c.get("bom-ref")): c for c in doc.get("components") or [] if isinstance(c, dict)}
    statements: list[VexStatement] = []
    for i, v in enumerate(doc.get("vulnerabilities") or ()):
        analysis = v.get("analysis")
        if not isinstance(analysis, dict) or "state" not in analysis:
            continue
        state = _STATE_ALIASES.get(str(analysis["state"]), str(analysis["state"]))
        try:
            AnalysisState(state)
        except ValueError:
            raise ValueError(f"vulnerabilities[{i}]: unknown analysis state {analysis['state']!r}") from None
        for a in v.get("affects") or [{"ref": text_of(main.get("bom-ref"))}]:
            ref = text_of(a.get("ref"))
            comp = by_ref.get(ref, main if ref == text_of(main.get("bom-ref")) else {})
            statements.append(
                VexStatement(
                    vulnerability=str(v["id"]),
                    product=text_of(comp.get("purl")) or text_of(comp.get("name")) or ref,
                    vendor=vendor,
                    model=model if comp is main or not comp else text_of(comp.get("name")),
                    state=state,
                    justification=text_of(analysis.get("justification")) or None,
                    responses=tuple(str(r) for r in analysis.get("response") or ()),
                    detail=text_of(analysis.get("detail")),
                )
            )
    return Document(
        document=text_of(doc.get("serialNumber")) or fallback_id,
        format="cyclonedx",
        spec_version=spec,
        vendor=vendor,
        model=model,
        author=author,
        timestamp=text_of(meta.get("timestamp")),
        components=tuple(comps),
        statements=tuple(statements),
    )


def read_cyclonedx(path: str | Path) -> Document:
    """One CycloneDX JSON file; raises :class:`FeedError` naming the file and the problem."""
    doc = load_json(path)
    try:
        if not isinstance(doc, dict):
            raise TypeError("top level is not an object")
        return parse_cyclonedx(doc, f"sha256:{sha256_of(path)}")
    except KeyError as e:
        raise FeedError(str(path), "document", f"malformed CycloneDX: missing field {e}") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise FeedError(str(path), "document", f"malformed CycloneDX: {e}") from None
