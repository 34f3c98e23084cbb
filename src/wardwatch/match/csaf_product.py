"""Matcher ``csaf_product``: a device against the products of a CSAF advisory (vendor, product name,
model numbers, version or version range), per vulnerability and its product_status.

Product names are compared as word sets after removing the vendor's words and filler words: the
device model must contain all of the product's words, or the product name all of the model's
(``Alaris 8015 PC Unit`` is an ``Alaris PC Unit``; an ``Alaris Gateway Workstation`` is not).
A model number listed by the advisory is the strongest evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wardwatch.match.names import canonical_vendor, normalize_vendor, words
from wardwatch.match.versions import RangeError, comparable, parse_range, tokens
from wardwatch.model.advisory import Advisory, AffectedProduct, FindingStatus, ProductStatus

MATCHER = "csaf_product"

_FILLER = frozenset(
    [
        "all",
        "versions",
        "version",
        "prior",
        "to",
        "and",
        "or",
        "the",
        "of",
        "for",
        "with",
        "without",
        "series",
        "family",
        "model",
        "models",
        "system",
        "systems",
        "software",
        "firmware",
        "device",
        "devices",
        "product",
        "products",
        "medical",
        "unit",
    ]
)
_MAJOR_X = re.compile(r"^\s*v?(\d+)\.x\b", re.I)
_ALL = re.compile(r"^\s*(vers:[a-z]+/\*|\*|all|all versions)\s*$", re.I)


@dataclass(frozen=True, slots=True)
class Identity:
    """What the CSAF matcher compares: one device identity (resolved attributes)."""

    vendor: str | None
    model: str | None
    model_number: str | None
    firmware: str | None
    os_version: str | None = None


def _significant(name: str, vendor_words: set[str]) -> set[str]:
    return {w for w in words(name) if w not in vendor_words and w not in _FILLER}


@dataclass(frozen=True, slots=True)
class ProductHit:
    """How a device matched one product (before versions)."""

    product: AffectedProduct
    confidence: float
    how: str


def product_hit(ident: Identity, p: AffectedProduct) -> ProductHit | None:
    """Whether the device is this product (ignoring versions)."""
    if canonical_vendor(ident.vendor) != canonical_vendor(p.vendor):
        return None
    numbers = {n.lower() for n in p.model_numbers}
    for value in (ident.model_number, ident.model):
        if value and value.lower() in numbers:
            return ProductHit(p, 0.95, f"model number {value!r} listed by the advisory")
    if not ident.model:
        return None
    vendor_words = set(normalize_vendor(ident.vendor or "").split()) | set(normalize_vendor(p.vendor).split())
    dev = _significant(ident.model, vendor_words)
    prod = _significant(p.product or p.name, vendor_words)
    if not dev or not prod:
        return None
    if dev == prod:
        return ProductHit(p, 0.9, f"model {ident.model!r} is product {p.product!r}")
    if prod <= dev:
        return ProductHit(p, 0.75, f"model {ident.model!r} contains every word of product {p.product!r}")
    if dev <= prod and len(dev) >= 2:
        return ProductHit(p, 0.7, f"product {p.product!r} contains every word of model {ident.model!r}")
    return _family_hit(p, dev, prod, ident.model)


_FAMILY = re.compile(r"\b([a-z]+)(\d+)\s*-\s*(?:[a-z]+)?(\d+)\b")
_MODEL_NO = re.compile(r"^([a-z]+)(\d+)$")


def _family_hit(p: AffectedProduct, dev: set[str], prod: set[str], model: str) -> ProductHit | None:
    """A model inside a numbered family range the product names (``MX450`` in ``MX (MX400-550)``),
    the model's other words all in the product name."""
    for prefix, low, high in _FAMILY.findall((p.product or p.name).lower()):
        for word in dev:
            m = _MODEL_NO.match(word)
            if (
                m
                and m.group(1) == prefix
                and int(low) <= int(m.group(2)) <= int(high)
                and dev - {word} <= prod
            ):
                return ProductHit(
                    p, 0.7, f"model {model!r} is within the range {prefix}{low}-{high} of {p.product!r}"
                )
    return None


def version_verdict(version_text: str | None, device_version: str | None) -> tuple[bool, str]:
    """(in range, reason when not decidable). ``(False, "")`` means decidedly outside the range."""
    if version_text is None or _ALL.match(version_text):
        return True, ""
    major = _MAJOR_X.match(version_text)
    if major is not None and device_version is not None and comparable(device_version):
        # "8.x model 35700BAX2": every version with that major number.
        return (tokens(device_version)[:1] == (int(major.group(1)),), "")
    try:
        rng = parse_range(version_text)
    except RangeError:
        return True, f"advisory version text {version_text!r} is not machine-readable"
    if device_version is None:
        return True, "device firmware version unknown"
    if not comparable(device_version):
        return True, f"device firmware {device_version!r} is not a comparable version"
    return (rng.contains(device_version), "")


@dataclass(frozen=True, slots=True)
class CsafVerdict:
    """One vulnerability of the advisory that applies to the device."""

    vulnerability: str
    status: FindingStatus
    confidence: float
    evidence: dict[str, object]
    reason: str


def _rank(v: CsafVerdict) -> tuple[bool, float]:
    # A decided "affected" beats any "possibly affected"; then the stronger product match.
    return (v.status is FindingStatus.AFFECTED, v.confidence)


def match_advisory(adv: Advisory, ident: Identity) -> list[CsafVerdict]:
    """Every vulnerability of a CSAF advisory that applies to the device identity."""
    hits = {p.product_id: h for p in adv.products if (h := product_hit(ident, p)) is not None}
    if not hits:
        return []
    version = ident.firmware or ident.os_version
    out: list[CsafVerdict] = []
    for i, vuln in enumerate(adv.vulnerabilities):
        vid = vuln.cve or f"{adv.id}#{i}"
        # A fixed / not-affected product that the device is (with its version in range) wins.
        cleared = False
        for group in (ProductStatus.FIXED.value, ProductStatus.NOT_AFFECTED.value):
            for pid in vuln.status.get(group, ()):
                h = hits.get(pid)
                if h is None or h.product.versions is None:
                    continue
                inside, why = version_verdict(h.product.versions, version)
                if inside and not why:
                    cleared = True
        if cleared:
            continue
        best: CsafVerdict | None = None
        for pid in vuln.status.get(ProductStatus.AFFECTED.value, ()):
            h = hits.get(pid)
            if h is None:
                continue
            inside, why = version_verdict(h.product.versions, version)
            if not inside:
                continue
            status = FindingStatus.POSSIBLY_AFFECTED if why else FindingStatus.AFFECTED
            conf = round(h.confidence * (0.6 if why else 1.0), 3)
            verdict = CsafVerdict(
                vulnerability=vid,
                status=status,
                confidence=conf,
                evidence={
                    "advisory": adv.id,
                    "product_id": pid,
                    "product": h.product.product,
                    "product_name": h.product.name,
                    "vendor": h.product.vendor,
                    "versions": h.product.versions,
                    "device_version": version,
                    "how": h.how,
                },
                reason=why,
            )
            if best is None or _rank(verdict) > _rank(best):
                best = verdict
        if best is not None:
            out.append(best)
    return out
