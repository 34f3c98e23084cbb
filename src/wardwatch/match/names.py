"""Device identity -> names advisories use: canonical vendor keys (for CSAF), CPE candidates (for NVD).

The knowledge is data (``aliases.json`` beside this module, each entry with its source); the rules
here are only how to apply it:

* vendor text is normalised (lower case, punctuation to spaces, company suffixes dropped) and looked
  up in the alias groups; otherwise its first significant word is the canonical key;
* CPE candidates come from alias entries (model regex -> CPE names) and, always, from the slugged
  model (``IntelliVue MX450`` -> ``intellivue_mx450`` and ``intellivue_mx450_firmware``) under each
  CPE vendor name of the canonical vendor, and from the OS table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from wardwatch.match.cpe import slug

_SUFFIXES = frozenset(
    [
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "company",
        "ltd",
        "limited",
        "llc",
        "plc",
        "gmbh",
        "ag",
        "sa",
        "as",
        "bv",
        "nv",
        "kk",
        "se",
        "spa",
        "the",
        "and",
        "of",
        "group",
        "holdings",
        "international",
        "intl",
        "sector",
    ]
)
_WORD = re.compile(r"[a-z0-9]+")


def normalize_vendor(text: str) -> str:
    """``Becton, Dickinson  and Company`` -> ``becton dickinson``; ``B.Braun Melsungen AG`` -> ``b braun melsungen``."""
    words = [w for w in _WORD.findall(text.lower().replace("(", " ").replace(")", " ")) if w not in _SUFFIXES]
    return " ".join(words)


def words(text: str) -> list[str]:
    """Lower-case alphanumeric words of a name."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True, slots=True)
class VendorAlias:
    """One alias group of ``aliases.json``."""

    names: tuple[str, ...]
    canonical: str
    cpe: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class ProductAlias:
    """A model pattern of one vendor -> CPE names (``{m}`` is the pattern's last group)."""

    vendor: str
    model: re.Pattern[str]
    cpe: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class Aliases:
    """The parsed alias table."""

    vendors: tuple[VendorAlias, ...]
    products: tuple[ProductAlias, ...]
    os: tuple[tuple[re.Pattern[str], tuple[str, ...], str], ...]
    by_name: dict[str, VendorAlias] = field(default_factory=dict)


def parse_aliases(data: dict[str, Any]) -> Aliases:
    """Build the table from its JSON form (raises KeyError/re.error on a malformed table)."""
    vendors = tuple(
        VendorAlias(tuple(v["names"]), v["canonical"], tuple(v["cpe"]), v["source"]) for v in data["vendors"]
    )
    by_name = {n: v for v in vendors for n in v.names}
    products = tuple(
        ProductAlias(p["vendor"], re.compile(p["model"], re.I), tuple(p["cpe"]), p["source"])
        for p in data["products"]
    )
    oses = tuple((re.compile(o["pattern"], re.I), tuple(o["cpe"]), o["source"]) for o in data["os"])
    return Aliases(vendors, products, oses, by_name)


@cache
def aliases() -> Aliases:
    """The packaged alias table (read once)."""
    text = resources.files("wardwatch.match").joinpath("aliases.json").read_text(encoding="utf-8")
    return parse_aliases(json.loads(text))


def vendor_alias(vendor: str | None, table: Aliases | None = None) -> VendorAlias | None:
    """The alias group a vendor text belongs to: the longest leading run of its words that names one."""
    if not vendor:
        return None
    t = table or aliases()
    ws = normalize_vendor(vendor).split()
    for n in range(len(ws), 0, -1):
        hit = t.by_name.get(" ".join(ws[:n]))
        if hit is not None:
            return hit
    joined = "".join(ws)
    return t.by_name.get(joined)


def canonical_vendor(vendor: str | None, table: Aliases | None = None) -> str | None:
    """The key CSAF advisories are indexed by: the alias group's canonical name, else the first word."""
    if not vendor:
        return None
    hit = vendor_alias(vendor, table)
    if hit is not None:
        return hit.canonical
    ws = normalize_vendor(vendor).split()
    return ws[0] if ws else None


def cpe_vendors(vendor: str | None, table: Aliases | None = None) -> tuple[str, ...]:
    """CPE vendor names to try for a device vendor."""
    if not vendor:
        return ()
    hit = vendor_alias(vendor, table)
    if hit is not None:
        return hit.cpe
    ws = normalize_vendor(vendor).split()
    if not ws:
        return ()
    return tuple(dict.fromkeys([ws[0], "_".join(ws), "".join(ws)]))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A CPE (part, vendor, product) a device may be, which version to compare, and why we think so."""

    part: str
    vendor: str
    product: str
    version: str | None  # the device value compared with the CPE version/range; None = unknown
    version_from: str  # "firmware", "os_version", "" (hardware: no version)
    rule: str  # "alias", "model", "os"
    detail: str

    def key(self) -> str:
        """``vendor:product`` (the advisory index key)."""
        return f"{self.vendor}:{self.product}"


def _model_names(vendor: str | None, model: str) -> list[str]:
    names = [slug(model)]
    vws = set(normalize_vendor(vendor or "").split())
    trimmed = [w for w in words(model) if w not in vws]
    if trimmed and len(trimmed) < len(words(model)):
        names.append("_".join(trimmed))
    return [n for n in dict.fromkeys(names) if n]


def candidates(
    *,
    vendor: str | None,
    model: str | None,
    model_number: str | None,
    firmware: str | None,
    os: str | None,
    os_version: str | None,
    table: Aliases | None = None,
) -> list[Candidate]:
    """CPE candidates of one device identity (deduplicated, alias entries first)."""
    t = table or aliases()
    out: list[Candidate] = []
    canon = canonical_vendor(vendor, t)
    models = [m for m in (model, model_number) if m]
    for pa in t.products:
        if pa.vendor != canon:
            continue
        for m in models:
            hit = pa.model.search(" ".join(words(m)))
            if hit is None:
                continue
            number = hit.group(hit.lastindex or 0) if hit.lastindex else hit.group(0)
            for c in pa.cpe:
                part, cv, cp = c.split(":", 2)
                product = cp.replace("{m}", slug(number))
                hw = part == "h"
                out.append(
                    Candidate(
                        part,
                        cv,
                        product,
                        None if hw else firmware,
                        "" if hw else "firmware",
                        "alias",
                        pa.source,
                    )
                )
    for m in models:
        for name in _model_names(vendor, m):
            for cv in cpe_vendors(vendor, t):
                src = f"model {m!r} as CPE product {name!r}"
                out.append(Candidate("o", cv, f"{name}_firmware", firmware, "firmware", "model", src))
                out.append(Candidate("h", cv, name, None, "", "model", src))
                out.append(Candidate("a", cv, name, firmware, "firmware", "model", src))
    if os:
        text = " ".join(words(f"{os} {os_version or ''}"))
        for pattern, cpes, source in t.os:
            hit = pattern.search(text)
            if hit is None:
                continue
            for c in cpes:
                part, cv, cp = c.split(":", 2)
                product = cp.replace("{1}", hit.group(1) if hit.lastindex else "")
                out.append(
                    Candidate(part, cv, product, os_version, "os_version", "os", f"OS {os!r}: {source}")
                )
            break
    seen: set[tuple[str, str, str]] = set()
    unique: list[Candidate] = []
    for cand in out:
        k = (cand.part, cand.vendor, cand.product)
        if k not in seen:
            seen.add(k)
            unique.append(cand)
    return unique
