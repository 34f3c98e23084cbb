"""Advisories, findings and their triage: the vulnerability side of the domain model.

Standard library only. The words are the ones on the data path
(Device -> Advisory -> Finding (+ matcher) -> Analysis):

* an :class:`Advisory` is one record of one feed: an NVD CVE, a CSAF document (ICSMA/ICSA or a
  vendor's), with its scores, configurations (NVD) or affected products (CSAF), and aliases kept as
  ``(source, id)`` pairs, never merged into one id;
* a :class:`Finding` says that one matcher believes one vulnerability applies to one device, with
  the evidence and a confidence; findings are never deleted, they go inactive with a reason;
* an :class:`Analysis` is what a person (or a manufacturer's VEX document) decided about a
  finding, per device or per model, in CycloneDX VEX vocabulary; every decision is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class AdvisorySource(StrEnum):
    """The feed an advisory came from."""

    NVD = "nvd"
    CSAF = "csaf"


class FeedFormat(StrEnum):
    """The file formats ``feeds import`` understands (one importer each)."""

    NVD = "nvd"
    KEV = "kev"
    EPSS = "epss"
    CSAF = "csaf"
    CYCLONEDX = "cyclonedx"
    SPDX = "spdx"
    OPENVEX = "openvex"
    VULNRICHMENT = "vulnrichment"


@dataclass(frozen=True, slots=True)
class CvssScore:
    """One CVSS score as published, with who published it (``source``) and NVD's Primary/Secondary."""

    version: str  # "2.0", "3.0", "3.1", "4.0"
    vector: str
    base_score: float
    severity: str  # as published ("HIGH"); CVSS v2 records carry it beside cvssData
    source: str
    type: str = "Primary"  # "Primary" | "Secondary" (NVD); CSAF scores are "Primary"


@dataclass(frozen=True, slots=True)
class CpeMatch:
    """One ``cpeMatch`` of an NVD configuration node: a CPE 2.3 name, maybe with a version range."""

    criteria: str
    vulnerable: bool
    version_start_including: str | None = None
    version_start_excluding: str | None = None
    version_end_including: str | None = None
    version_end_excluding: str | None = None


@dataclass(frozen=True, slots=True)
class ConfigNode:
    """A node: its CPE matches combined with ``operator`` (OR/AND), optionally negated."""

    operator: str
    negate: bool
    matches: tuple[CpeMatch, ...]


@dataclass(frozen=True, slots=True)
class Configuration:
    """An NVD configuration: nodes combined with ``operator`` (AND means "running on")."""

    operator: str
    negate: bool
    nodes: tuple[ConfigNode, ...]


class ProductStatus(StrEnum):
    """CSAF product_status groups, reduced to what matching needs."""

    AFFECTED = "affected"  # known_affected, first_affected, last_affected
    NOT_AFFECTED = "not_affected"  # known_not_affected
    FIXED = "fixed"  # fixed, first_fixed
    UNDER_INVESTIGATION = "under_investigation"


@dataclass(frozen=True, slots=True)
class AffectedProduct:
    """A CSAF product (a leaf of the product tree) with what identifies it.

    ``versions`` is the version text of the leaf (``< 1.7.5``, ``9.13 | 9.19``, ``vers:all/*``),
    verbatim; the matcher parses it and says so when it cannot.
    """

    product_id: str
    name: str
    vendor: str
    product: str
    versions: str | None = None
    version_is_range: bool = False
    cpe: str | None = None
    purl: str | None = None
    model_numbers: tuple[str, ...] = ()
    serial_numbers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AdvisoryVulnerability:
    """One vulnerability of a CSAF document: its CVE and which products are in which status."""

    cve: str | None
    title: str
    cwe: str | None
    status: dict[str, tuple[str, ...]]  # ProductStatus value -> product ids
    scores: tuple[CvssScore, ...] = ()
    remediations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Advisory:
    """One record of a feed: an NVD CVE or a CSAF document.

    ``revision`` orders updates of the same record (NVD ``lastModified``, CSAF
    ``tracking.current_release_date``): importing an older or equal revision changes nothing.
    ``aliases`` are ``(source, id)`` pairs, e.g. ``("cve", "CVE-2021-27491")`` on a CSAF document.
    """

    id: str
    source: AdvisorySource
    title: str
    description: str
    published: str | None
    revision: str
    status: str  # NVD vulnStatus, or CSAF tracking.status
    cwes: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    scores: tuple[CvssScore, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()
    configurations: tuple[Configuration, ...] = ()
    products: tuple[AffectedProduct, ...] = ()
    vulnerabilities: tuple[AdvisoryVulnerability, ...] = ()


class FindingStatus(StrEnum):
    """How sure a matcher is: the version satisfies the rule, or could not be checked."""

    AFFECTED = "affected"
    POSSIBLY_AFFECTED = "possibly_affected"  # with a reason: version unknown or not comparable


@dataclass(frozen=True, slots=True)
class Finding:
    """One matcher's claim that a vulnerability applies to a device, with why.

    ``evidence`` is a small JSON-able dict: the device values compared and the advisory rule
    (CPE criteria and range, CSAF product and version text ...). ``reason`` explains a
    ``possibly_affected`` status (e.g. "device firmware version unknown").
    """

    device_id: int
    vulnerability: str  # CVE id, or the advisory id when the advisory names no CVE
    advisory_id: str
    matcher: str
    status: FindingStatus
    confidence: float
    evidence: dict[str, object] = field(default_factory=dict)
    reason: str = ""


class AnalysisState(StrEnum):
    """CycloneDX VEX ``analysis.state``."""

    EXPLOITABLE = "exploitable"
    IN_TRIAGE = "in_triage"
    FALSE_POSITIVE = "false_positive"
    NOT_AFFECTED = "not_affected"
    RESOLVED = "resolved"


class Justification(StrEnum):
    """CycloneDX VEX ``analysis.justification`` (why not affected)."""

    CODE_NOT_PRESENT = "code_not_present"
    CODE_NOT_REACHABLE = "code_not_reachable"
    REQUIRES_CONFIGURATION = "requires_configuration"
    REQUIRES_DEPENDENCY = "requires_dependency"
    REQUIRES_ENVIRONMENT = "requires_environment"
    PROTECTED_BY_COMPILER = "protected_by_compiler"
    PROTECTED_AT_RUNTIME = "protected_at_runtime"
    PROTECTED_AT_PERIMETER = "protected_at_perimeter"
    PROTECTED_BY_MITIGATING_CONTROL = "protected_by_mitigating_control"


class Response(StrEnum):
    """CycloneDX VEX ``analysis.response``."""

    CAN_NOT_FIX = "can_not_fix"
    WILL_NOT_FIX = "will_not_fix"
    UPDATE = "update"
    ROLLBACK = "rollback"
    WORKAROUND_AVAILABLE = "workaround_available"


class AnalysisScope(StrEnum):
    """What a decision covers: one device, or every device of one (vendor, model)."""

    DEVICE = "device"
    MODEL = "model"


@dataclass(frozen=True, slots=True)
class Analysis:
    """A triage decision. ``target`` is the device id (as text) or ``vendor|model``.

    ``source`` is ``manual`` for a person, or ``vex:<document id>`` when a manufacturer's VEX
    document was applied automatically (``author`` then names the document's author).
    """

    vulnerability: str
    scope: AnalysisScope
    target: str
    state: AnalysisState
    author: str
    created_ns: int
    justification: Justification | None = None
    responses: tuple[Response, ...] = ()
    detail: str = ""
    source: str = "manual"


_VERSION_ORDER = {"4.0": 4, "3.1": 3, "3.0": 2, "2.0": 1}


def primary_score(scores: tuple[CvssScore, ...] | list[CvssScore]) -> CvssScore | None:
    """The one score shown and filtered on (all are kept). The rule (ADR 005): the newest CVSS
    version present; within it NVD's ``Primary`` before a CNA's ``Secondary``; then the higher score
    (when two sources disagree, show the worse case)."""
    if not scores:
        return None
    return max(
        scores,
        key=lambda s: (_VERSION_ORDER.get(s.version, 0), s.type == "Primary", s.base_score),
    )
