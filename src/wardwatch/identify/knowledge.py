"""Loads the identification knowledge files (see knowledge/SOURCES.md) into typed, compiled form."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

_LEGAL_SUFFIX = re.compile(
    r"[,.]?\s+(inc|incorporated|corp|corporation|co|company|ltd|limited|llc|gmbh|ag|sa|s\.a|bv|b\.v|ab|"
    r"as|a/s|oy|plc|pty|kg|spa|s\.p\.a|srl|nv|kk|co\.,? ?ltd)\.?$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Rule:
    """An observation rule from rules.json."""

    id: str
    field: str
    pattern: re.Pattern[str]
    set: tuple[tuple[str, str], ...]
    confidence: float
    source: str


@dataclass(frozen=True, slots=True)
class Family:
    """A product family from models.json."""

    pattern: re.Pattern[str]
    vendor: str | None
    device_type: str


@dataclass(frozen=True, slots=True)
class VendorEntry:
    """A canonical maker from vendors.json."""

    name: str
    pattern: re.Pattern[str]
    medical: bool
    types: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class DeviceTypeInfo:
    """A device type of the taxonomy."""

    name: str
    label: str
    domain: str
    clinical_category: str


@dataclass(frozen=True, slots=True)
class Knowledge:
    """All identification knowledge, with a version string that changes when any file changes."""

    rules: tuple[Rule, ...]
    families: tuple[Family, ...]
    vendors: tuple[VendorEntry, ...]
    types: dict[str, DeviceTypeInfo]
    version: str
    by_field: dict[str, tuple[Rule, ...]] = field(default_factory=dict, compare=False, repr=False)
    """Rules by the field they read (built in ``__post_init__``: looked up once per observation field)."""

    any_family: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    """All family patterns in one alternation: one search tells whether any family can match."""
    family_cache: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def family_for(self, text: str) -> Family | None:
        """The first (most specific) product family whose pattern occurs in ``text``, if any."""
        cached = self.family_cache.get(text)
        if cached is None:
            cached = -1
            if self.any_family is None or self.any_family.search(text) is not None:
                cached = next((i for i, f in enumerate(self.families) if f.pattern.search(text)), -1)
            if len(self.family_cache) < 100_000:  # bounded: texts carry serials, so they vary
                self.family_cache[text] = cached
        return self.families[cached] if cached >= 0 else None

    def __post_init__(self) -> None:
        if self.any_family is None and self.families:
            combined = "|".join(f"(?:{f.pattern.pattern})" for f in self.families)
            object.__setattr__(self, "any_family", re.compile(combined, re.IGNORECASE))
        if not self.by_field:
            index: dict[str, list[Rule]] = {}
            for rule in self.rules:
                index.setdefault(rule.field, []).append(rule)
            self.by_field.update({k: tuple(v) for k, v in index.items()})

    @classmethod
    def bundled(cls) -> Knowledge:
        """The knowledge shipped with this version of wardwatch."""
        return _bundled()

    def canonical_vendor(self, raw: str) -> str:
        """A maker's canonical name: the vendors.json entry that matches, else the cleaned string."""
        text = " ".join(raw.split())
        for vendor in self.vendors:
            if vendor.pattern.search(text):
                return vendor.name
        previous = None
        while previous != text:
            previous = text
            text = _LEGAL_SUFFIX.sub("", text).strip(" ,.")
        return text or raw.strip()

    def rules_for(self, field: str) -> tuple[Rule, ...]:
        """The rules that read one observation field, in file order."""
        return self.by_field.get(field, ())

    def vendor(self, name: str) -> VendorEntry | None:
        """The vendors.json entry of a canonical name."""
        for vendor in self.vendors:
            if vendor.name == name:
                return vendor
        return None


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _load_json(name: str) -> tuple[dict[str, Any], bytes]:
    raw = resources.files("wardwatch.identify").joinpath(f"knowledge/{name}").read_bytes()
    data: dict[str, Any] = json.loads(raw)
    return data, raw


def _rule_files() -> list[str]:
    """``rules.json`` then every ``rules.d/*.json`` in name order.

    Rules are split by protocol family (``rules.d/dicom.json``, ``rules.d/hl7.json`` ...) so each
    file stays small and reviewable; the order only matters for the knowledge version digest.
    """
    folder = resources.files("wardwatch.identify").joinpath("knowledge/rules.d")
    extra = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json")) if folder.is_dir() else []
    return ["rules.json", *(f"rules.d/{name}" for name in extra)]


@lru_cache(maxsize=1)
def _bundled() -> Knowledge:
    digest = hashlib.sha256()
    rule_docs: list[dict[str, Any]] = []
    for name in _rule_files():
        doc, raw = _load_json(name)
        digest.update(raw)
        rule_docs.append(doc)
    models_doc, raw = _load_json("models.json")
    digest.update(raw)
    vendors_doc, raw = _load_json("vendors.json")
    digest.update(raw)
    taxonomy_doc, raw = _load_json("taxonomy.json")
    digest.update(raw)
    rules = tuple(
        Rule(
            id=r["id"],
            field=r["field"],
            pattern=_compile(r.get("match", r"^(.+)$")),
            set=tuple(r["set"].items()),
            confidence=float(r["confidence"]),
            source=r["source"],
        )
        for doc in rule_docs
        for r in doc["rules"]
    )
    families = tuple(
        Family(pattern=_compile(f["match"]), vendor=f.get("vendor"), device_type=f["type"])
        for f in models_doc["families"]
    )
    vendors = tuple(
        VendorEntry(
            name=v["name"],
            pattern=_compile(v["match"]),
            medical=bool(v["medical"]),
            types=tuple((k, float(c)) for k, c in v["types"].items()),
        )
        for v in vendors_doc["vendors"]
    )
    types = {
        name: DeviceTypeInfo(
            name=name, label=t["label"], domain=t["domain"], clinical_category=t["clinical_category"]
        )
        for name, t in taxonomy_doc["types"].items()
    }
    return Knowledge(
        rules=rules, families=families, vendors=vendors, types=types, version=digest.hexdigest()[:12]
    )
