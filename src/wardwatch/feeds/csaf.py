"""CSAF 2.0 advisories (CISA ICSMA/ICSA, vendors') and CSAF VEX documents.

The product tree is flattened into :class:`AffectedProduct` leaves, each remembering the branch
path it sat on (vendor, product name, version or version range) and its
``product_identification_helper`` (cpe, purl, model_numbers, serial_numbers). ``product_status``,
scores and remediations are kept per vulnerability.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wardwatch.feeds.base import FeedError, load_json, text_of
from wardwatch.feeds.sbom import VexStatement
from wardwatch.model.advisory import (
    Advisory,
    AdvisorySource,
    AdvisoryVulnerability,
    AffectedProduct,
    CvssScore,
    ProductStatus,
)

_STATUS = {
    "known_affected": ProductStatus.AFFECTED,
    "first_affected": ProductStatus.AFFECTED,
    "last_affected": ProductStatus.AFFECTED,
    "known_not_affected": ProductStatus.NOT_AFFECTED,
    "fixed": ProductStatus.FIXED,
    "first_fixed": ProductStatus.FIXED,
    "under_investigation": ProductStatus.UNDER_INVESTIGATION,
}


def _helper(product: dict[str, Any]) -> dict[str, Any]:
    h = product.get("product_identification_helper")
    return h if isinstance(h, dict) else {}


def _leaf(product: dict[str, Any], path: dict[str, str], version_is_range: bool) -> AffectedProduct:
    h = _helper(product)
    cpe = h.get("cpe")
    purl = h.get("purl")
    return AffectedProduct(
        product_id=str(product["product_id"]),
        name=text_of(product.get("name")),
        vendor=path.get("vendor", ""),
        product=path.get("product_name", "") or path.get("product_family", ""),
        versions=path.get("version"),
        version_is_range=version_is_range,
        cpe=cpe if isinstance(cpe, str) else None,
        purl=purl if isinstance(purl, str) else None,
        model_numbers=tuple(str(x) for x in h.get("model_numbers") or ()),
        serial_numbers=tuple(str(x) for x in h.get("serial_numbers") or ()),
    )


def _walk(branches: list[Any], path: dict[str, str], out: list[AffectedProduct], is_range: bool) -> None:
    for b in branches:
        category = str(b["category"])
        name = str(b["name"])
        here = dict(path)
        rng = is_range
        if category in ("product_version", "product_version_range"):
            here["version"] = name
            rng = category == "product_version_range"
        elif category in ("vendor", "product_name", "product_family"):
            # The first vendor/product name on the path wins; deeper ones (sub-families) are appended.
            here[category] = f"{path[category]} {name}" if category in path and category != "vendor" else name
        if isinstance(b.get("product"), dict):
            out.append(_leaf(b["product"], here, rng))
        _walk(b.get("branches") or [], here, out, rng)


def products_of(tree: dict[str, Any]) -> list[AffectedProduct]:
    """All products of a CSAF product tree: branch leaves and ``full_product_names``."""
    out: list[AffectedProduct] = []
    _walk(tree.get("branches") or [], {}, out, False)
    for fpn in tree.get("full_product_names") or ():
        out.append(_leaf(fpn, {"product_name": text_of(fpn.get("name"))}, False))
    return out


def _scores(v: dict[str, Any]) -> tuple[CvssScore, ...]:
    out: list[CvssScore] = []
    for s in v.get("scores") or ():
        for key in ("cvss_v4", "cvss_v3", "cvss_v2"):
            c = s.get(key)
            if isinstance(c, dict) and "baseScore" in c:
                out.append(
                    CvssScore(
                        version=str(c.get("version", key[-1] + ".0")),
                        vector=text_of(c.get("vectorString")),
                        base_score=float(c["baseScore"]),
                        severity=text_of(c.get("baseSeverity")),
                        source="csaf",
                        type="Primary",
                    )
                )
    return tuple(out)


def parse_csaf(doc: dict[str, Any]) -> Advisory:
    """A CSAF document as an :class:`Advisory` (raises KeyError/TypeError/ValueError when malformed)."""
    d = doc["document"]
    tracking = d["tracking"]
    doc_id = str(tracking["id"])
    vulns: list[AdvisoryVulnerability] = []
    aliases: list[tuple[str, str]] = [("csaf", doc_id)]
    for alias in tracking.get("aliases") or ():
        aliases.append(("alias", str(alias)))
    cwes: list[str] = []
    for i, v in enumerate(doc.get("vulnerabilities") or ()):
        cve = v.get("cve")
        if cve is not None and not isinstance(cve, str):
            raise ValueError(f"vulnerabilities[{i}].cve is not a string")
        if cve and ("cve", cve) not in aliases:
            aliases.append(("cve", cve))
        cwe = v.get("cwe", {}).get("id") if isinstance(v.get("cwe"), dict) else None
        if cwe and cwe not in cwes:
            cwes.append(str(cwe))
        status: dict[str, tuple[str, ...]] = {}
        for key, ids in (v.get("product_status") or {}).items():
            group = _STATUS.get(key)
            if group is not None:
                status[group.value] = status.get(group.value, ()) + tuple(str(x) for x in ids)
        vulns.append(
            AdvisoryVulnerability(
                cve=cve,
                title=text_of(v.get("title")),
                cwe=cwe,
                status=status,
                scores=_scores(v),
                remediations=tuple(text_of(r.get("details")) for r in v.get("remediations") or ()),
            )
        )
    summary = next(
        (
            text_of(n.get("text"))
            for n in d.get("notes") or ()
            if n.get("category") in ("summary", "description")
        ),
        "",
    )
    scores = tuple(s for v in vulns for s in v.scores)
    return Advisory(
        id=doc_id,
        source=AdvisorySource.CSAF,
        title=text_of(d.get("title")),
        description=summary,
        published=text_of(tracking.get("initial_release_date")) or None,
        revision=str(tracking["current_release_date"]),
        status=text_of(tracking.get("status")),
        cwes=tuple(cwes),
        references=tuple(text_of(r.get("url")) for r in d.get("references") or () if isinstance(r, dict)),
        scores=scores,
        aliases=tuple(aliases),
        products=tuple(products_of(doc.get("product_tree") or {})),
        vulnerabilities=tuple(vulns),
    )


def read_csaf(path: str | Path) -> Advisory:
    """One CSAF file; raises :class:`FeedError` naming the file and the part that is wrong."""
    doc = load_json(path)
    try:
        if not isinstance(doc, dict):
            raise TypeError("top level is not an object")
        return parse_csaf(doc)
    except KeyError as e:
        raise FeedError(str(path), "document", f"malformed CSAF: missing field {e}") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise FeedError(str(path), "document", f"malformed CSAF: {e}") from None


def is_vex(doc: Advisory) -> bool:
    """Whether a CSAF document carries not-affected statements (a CSAF VEX, or any not_affected)."""
    return any(ProductStatus.NOT_AFFECTED.value in v.status for v in doc.vulnerabilities)


# CSAF VEX flag labels -> the nearest CycloneDX justifications.
_FLAG_JUSTIFICATION = {
    "component_not_present": "code_not_present",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "vulnerable_code_cannot_be_controlled_by_adversary": "requires_environment",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
}


def vex_statements(path: str | Path) -> tuple[str, str, list[VexStatement]]:
    """(document id, publisher, statements) of a CSAF VEX document (category ``csaf_vex``): its
    ``known_not_affected`` and ``fixed`` products; other CSAF documents give no statements."""
    doc = load_json(path)
    try:
        d = doc["document"]
        if d.get("category") != "csaf_vex":
            return str(d["tracking"]["id"]), "", []
        adv = parse_csaf(doc)
        publisher = text_of(d.get("publisher", {}).get("name"))
        products = {p.product_id: p for p in adv.products}
        out: list[VexStatement] = []
        for raw, vuln in zip(doc.get("vulnerabilities") or (), adv.vulnerabilities, strict=False):
            flags: dict[str, str] = {}
            for f in raw.get("flags") or ():
                for pid in f.get("product_ids") or ():
                    flags[str(pid)] = _FLAG_JUSTIFICATION.get(text_of(f.get("label")), "")
            impacts: dict[str, str] = {}
            for t in raw.get("threats") or ():
                if t.get("category") == "impact":
                    for pid in t.get("product_ids") or ():
                        impacts[str(pid)] = text_of(t.get("details"))
            for group, state in (
                (ProductStatus.NOT_AFFECTED.value, "not_affected"),
                (ProductStatus.FIXED.value, "resolved"),
            ):
                for pid in vuln.status.get(group, ()):
                    p = products.get(pid)
                    if p is None or not vuln.cve:
                        continue
                    out.append(
                        VexStatement(
                            vulnerability=vuln.cve,
                            product=p.purl or p.cpe or p.name,
                            vendor=p.vendor or publisher,
                            model=p.product or p.name,
                            state=state,
                            justification=flags.get(pid) or None,
                            responses=(),
                            detail=impacts.get(pid, ""),
                        )
                    )
        return adv.id, publisher, out
    except KeyError as e:
        raise FeedError(str(path), "document", f"malformed CSAF VEX: missing field {e}") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise FeedError(str(path), "document", f"malformed CSAF VEX: {e}") from None
