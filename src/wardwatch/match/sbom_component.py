"""Matcher ``sbom_component``: the components of a device model's SBOM against advisories, by purl
(CSAF products that name one) and by CPE (NVD configurations).

An SBOM applies to the devices of the (vendor, model) its ``metadata.component`` names. A
component's version comes from the SBOM (or from its CPE when the SBOM leaves it empty); no
version gives "possibly affected", as for devices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wardwatch.match import nvd_cpe
from wardwatch.match.cpe import ANY, NA, CpeError, parse_cpe
from wardwatch.match.csaf_product import version_verdict
from wardwatch.match.names import Candidate
from wardwatch.model.advisory import Advisory, FindingStatus, ProductStatus

MATCHER = "sbom_component"


def purl_base(purl: str) -> str:
    """``pkg:type/ns/name@version?q#s`` -> ``pkg:type/ns/name`` (lower case), "" when not a purl."""
    if not purl.startswith("pkg:"):
        return ""
    return purl.split("#", 1)[0].split("?", 1)[0].split("@", 1)[0].lower()


def purl_version(purl: str) -> str | None:
    """The version part of a purl, or None."""
    head = purl.split("#", 1)[0].split("?", 1)[0]
    return head.split("@", 1)[1] if "@" in head else None


@dataclass(frozen=True, slots=True)
class SbomVerdict:
    """One vulnerability that applies through one component."""

    vulnerability: str
    advisory_id: str
    status: FindingStatus
    confidence: float
    evidence: dict[str, object]
    reason: str


def component_candidate(component: dict[str, Any]) -> Candidate | None:
    """The CPE candidate of an SBOM component (None without a CPE)."""
    try:
        cpe = parse_cpe(component["cpe"]) if component.get("cpe") else None
    except CpeError:
        return None
    if cpe is None:
        return None
    version = component.get("version") or (cpe.version if cpe.version not in (ANY, NA) else None)
    return Candidate(
        cpe.part,
        cpe.vendor,
        cpe.product,
        version or None,
        "component version",
        "sbom",
        f"SBOM {component.get('document', '')} component {component.get('name', '')!r}",
    )


def match_cpe(adv: Advisory, component: dict[str, Any]) -> SbomVerdict | None:
    """An NVD advisory against one component's CPE."""
    cand = component_candidate(component)
    if cand is None:
        return None
    v = nvd_cpe.match_advisory(adv, [cand])
    if v is None:
        return None
    evidence = {**v.evidence, "sbom": component.get("document"), "component": component.get("name")}
    return SbomVerdict(adv.id, adv.id, v.status, v.confidence, evidence, v.reason)


def match_purl(adv: Advisory, component: dict[str, Any]) -> list[SbomVerdict]:
    """A CSAF advisory's products that name this component's purl."""
    base = purl_base(component.get("purl") or "")
    if not base:
        return []
    version = component.get("version") or purl_version(component["purl"])
    products = {p.product_id: p for p in adv.products if p.purl and purl_base(p.purl) == base}
    out: list[SbomVerdict] = []
    for i, vuln in enumerate(adv.vulnerabilities):
        for pid in vuln.status.get(ProductStatus.AFFECTED.value, ()):
            p = products.get(pid)
            if p is None:
                continue
            inside, why = version_verdict(p.versions or purl_version(p.purl or ""), version)
            if not inside:
                continue
            out.append(
                SbomVerdict(
                    vuln.cve or f"{adv.id}#{i}",
                    adv.id,
                    FindingStatus.POSSIBLY_AFFECTED if why else FindingStatus.AFFECTED,
                    0.57 if why else 0.95,
                    {
                        "sbom": component.get("document"),
                        "component": component.get("name"),
                        "purl": p.purl,
                        "versions": p.versions,
                        "component_version": version,
                    },
                    why,
                )
            )
            break
    return out
