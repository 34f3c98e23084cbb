"""Loads the identification knowledge files (see knowledge/SOURCES.md) into typed, compiled form."""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

_LEGAL_SUFFIX = re.compile(
    r"[,.]?\s+(inc|incorporated|corp|corporation|co|company|ltd|limited|llc|gmbh|ag|sa|s\.a|bv|b\.v|ab|"
    r"as|a/s|oy|plc|pty|kg|spa|s\.p\.a|srl|nv|kk|co\.,? ?ltd)\.?$",
    re.IGNORECASE,
)

#: Entries each memo of :class:`Knowledge` keeps at most: values carry serials and hostnames, so
#: a long-running sensor would otherwise grow them without bound; past it, misses are computed.
CACHE_LIMIT = 100_000

#: A pattern that matches exactly one string of digits (``^1234$``): the 1,445 BACnet vendor-id
#: rules. ``re.search`` finds such a pattern in a text only when the text is those digits, or
#: those digits and one final newline (``$`` also matches before a trailing newline).
_DIGITS_ONLY = re.compile(r"\^([0-9]+)\$")


class LazyPattern:
    """A case-insensitive regular expression compiled on first use.

    Most rules are never tried in a given run (a capture without BACnet never reads the 1,445
    vendor-id rules), and compiling all 1,600 patterns cost about 0.1 s at every start.
    """

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern (compiled now if it was not yet; a bad pattern raises re.error)."""
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, re.IGNORECASE)
        return self._compiled

    @property
    def flags(self) -> int:
        """The compiled pattern's flags."""
        return self.compiled.flags

    def search(self, text: str) -> re.Match[str] | None:
        """``re.Pattern.search``."""
        return self.compiled.search(text)

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LazyPattern) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)


@dataclass(frozen=True, slots=True)
class Rule:
    """An observation rule from rules.json."""

    id: str
    field: str
    pattern: LazyPattern | re.Pattern[str]
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
    rule_cache: dict[tuple[str, object], tuple[Any, ...]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    """What the rules of one field conclude from one value, memoised by the identification engine
    (``engine.observation_evidence``): many devices report the same values, and a field such as
    ``bacnet.vendor_id`` has over a thousand rules. Not an ``__init__`` argument, so
    ``dataclasses.replace`` with other rules starts with an empty cache."""
    field_plans: dict[tuple[str, ...], Any] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    """How the engine reads observations with a given set of field names (``engine._plan``)."""
    vendor_cache: dict[str, str] = field(default_factory=dict, init=False, compare=False, repr=False)
    """:meth:`canonical_vendor` results (each miss tries every vendors.json pattern)."""
    vendor_index: dict[str, VendorEntry] = field(default_factory=dict, init=False, compare=False, repr=False)
    """vendors.json entries by canonical name (the first entry of a name, as a linear search finds)."""
    literal_index: dict[int, tuple[tuple[Rule, ...], dict[str, tuple[int, ...]], tuple[int, ...]]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )
    """:meth:`candidate_rules`' index of a rules tuple (by its id; the tuple is held, so the id
    stays its own): positions of exact-digits rules by their digits, and of all other rules."""
    family_needles: _FamilyNeedles | None = field(default=None, init=False, compare=False, repr=False)
    """Which families an ASCII text can match at all, from literal text their patterns require
    (see :func:`_family_needles`); None when the patterns do not allow that shortcut."""

    def family_for(self, text: str) -> Family | None:
        """The first (most specific) product family whose pattern occurs in ``text``, if any."""
        cached = self.family_cache.get(text)
        if cached is None:
            cached = self._first_family(text)
            if len(self.family_cache) < CACHE_LIMIT:  # bounded: texts carry serials, so they vary
                self.family_cache[text] = cached
        return self.families[cached] if cached >= 0 else None

    def _first_family(self, text: str) -> int:
        needles = self.family_needles
        if needles is not None and text.isascii():
            # Only families whose required text occurs are searched, in file order. The answer is
            # the same as below: the first family that matches (the alternation only says whether
            # one does), but a miss no longer costs a search of every pattern.
            lowered = text.lower()
            candidates = set(needles.unfiltered)
            for needle, owners in needles.single:
                if needle in lowered:
                    candidates.update(owners)
            # Longer needles are looked up by their first two characters: only those that start
            # with a pair the text contains can occur in it.
            by_pair = needles.by_pair
            for pair in {lowered[i : i + 2] for i in range(len(lowered) - 1)}:
                for needle, owners in by_pair.get(pair, ()):
                    if needle in lowered:
                        candidates.update(owners)
            families = self.families
            return next((i for i in sorted(candidates) if families[i].pattern.search(text)), -1)
        if self.any_family is None or self.any_family.search(text) is not None:
            return next((i for i, f in enumerate(self.families) if f.pattern.search(text)), -1)
        return -1

    def __post_init__(self) -> None:
        if self.any_family is None and self.families:
            combined = "|".join(f"(?:{f.pattern.pattern})" for f in self.families)
            object.__setattr__(self, "any_family", re.compile(combined, re.IGNORECASE))
        if not self.by_field:
            index: dict[str, list[Rule]] = {}
            for rule in self.rules:
                index.setdefault(rule.field, []).append(rule)
            self.by_field.update({k: tuple(v) for k, v in index.items()})
        for vendor in self.vendors:
            self.vendor_index.setdefault(vendor.name, vendor)
        object.__setattr__(self, "family_needles", _family_needles(self.families))

    @classmethod
    def bundled(cls) -> Knowledge:
        """The knowledge shipped with this version of wardwatch."""
        return _bundled()

    def canonical_vendor(self, raw: str) -> str:
        """A maker's canonical name: the vendors.json entry that matches, else the cleaned string."""
        cached = self.vendor_cache.get(raw)
        if cached is None:
            cached = self._canonical_vendor(raw)
            if len(self.vendor_cache) < CACHE_LIMIT:
                self.vendor_cache[raw] = cached
        return cached

    def _canonical_vendor(self, raw: str) -> str:
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

    def candidate_rules(self, rules: tuple[Rule, ...], texts: Sequence[str]) -> tuple[Rule, ...]:
        """The rules of ``rules`` (in their order) that can match one of ``texts``: those whose
        pattern is one exact string of digits (``^1234$``) only when a text is that string (with
        at most a final newline, which ``$`` allows); every other rule always. A prefilter, so
        a value is tried against its own vendor-id rule, not against all 1,445 of them."""
        index = self.literal_index.get(id(rules))
        if index is None or index[0] is not rules:
            index = (rules, *_literal_index(rules))
            if len(self.literal_index) >= 1024:
                self.literal_index.clear()
            self.literal_index[id(rules)] = index
        _, by_literal, others = index
        if not by_literal:
            return rules
        positions = set(others)
        for text in texts:
            positions.update(by_literal.get(text[:-1] if text.endswith("\n") else text, ()))
        return tuple(rules[i] for i in sorted(positions))

    def vendor(self, name: str) -> VendorEntry | None:
        """The vendors.json entry of a canonical name."""
        return self.vendor_index.get(name)


def _literal_index(rules: tuple[Rule, ...]) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    """Positions of the exact-digits rules by their digits, and positions of the others."""
    by_literal: dict[str, list[int]] = {}
    others: list[int] = []
    for i, rule in enumerate(rules):
        exact = _DIGITS_ONLY.fullmatch(rule.pattern.pattern)
        if exact is None:
            others.append(i)
        else:
            by_literal.setdefault(exact.group(1), []).append(i)
    return {k: tuple(v) for k, v in by_literal.items()}, tuple(others)


@dataclass(frozen=True, slots=True)
class _FamilyNeedles:
    """Needles with the families that require them (or another of their needles): one-character
    needles in ``single``, longer ones in ``by_pair`` by their first two characters;
    ``unfiltered``: families without needles, always searched."""

    single: tuple[tuple[str, tuple[int, ...]], ...]
    by_pair: dict[str, tuple[tuple[str, tuple[int, ...]], ...]]
    unfiltered: tuple[int, ...]


# The parser behind re.compile: reading a pattern's structure is the only way to know which
# literal text every match contains.
_PARSER: Any = importlib.import_module("re._parser")
_OPS: Any = importlib.import_module("re._constants")
_REPEATS = frozenset(
    getattr(_OPS, name) for name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") if hasattr(_OPS, name)
)
_PLAIN_FLAGS = re.IGNORECASE | re.UNICODE


def _family_needles(families: Sequence[Family]) -> _FamilyNeedles | None:
    """For each family, lower-case ASCII strings one of which every match in an ASCII text contains.

    Why this is exact for ASCII text: under IGNORECASE an ASCII letter of the pattern matches
    only its two ASCII cases there, so a required literal run, lower-cased, occurs in the
    lower-cased text whenever the pattern matches (non-ASCII literals and every other construct
    just end a run). Families without a required run are always searched. None (no shortcut)
    when a pattern has flags or back-references that the alternation in ``any_family`` would
    read differently, because ``family_for`` must keep answering -1 exactly when it does.
    """
    index: dict[str, list[int]] = {}
    unfiltered: list[int] = []
    for i, family in enumerate(families):
        if family.pattern.flags & ~_PLAIN_FLAGS:
            return None
        try:
            tree = _PARSER.parse(family.pattern.pattern, family.pattern.flags)
        except Exception:  # a parser of another Python version: do without the shortcut
            return None
        if _has_reference(tree):
            return None
        needles = _required(list(tree))
        if not needles:
            unfiltered.append(i)
            continue
        for needle in needles:
            index.setdefault(needle, []).append(i)
    by_pair: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
    single: list[tuple[str, tuple[int, ...]]] = []
    for needle, owners in sorted(index.items()):
        if len(needle) == 1:
            single.append((needle, tuple(owners)))
        else:
            by_pair.setdefault(needle[:2], []).append((needle, tuple(owners)))
    return _FamilyNeedles(
        single=tuple(single),
        by_pair={pair: tuple(entries) for pair, entries in by_pair.items()},
        unfiltered=tuple(unfiltered),
    )


def _has_reference(tree: Any) -> bool:
    """Whether a parsed pattern refers to a group anywhere (``\\1``, ``(?P=name)``, ``(?(1)...)``)."""
    for op, av in tree:
        if op in (_OPS.GROUPREF, _OPS.GROUPREF_EXISTS):
            return True
        # Nested patterns sit in the argument itself (atomic groups), in a tuple (groups,
        # repeats, look-arounds) or in a list of them (alternatives).
        items = [av] if isinstance(av, _PARSER.SubPattern) else av if isinstance(av, tuple | list) else ()
        for item in items:
            nested = item if isinstance(item, list) else [item]
            if any(isinstance(n, _PARSER.SubPattern) and _has_reference(n) for n in nested):
                return True
    return False


def _required(items: list[Any]) -> frozenset[str] | None:
    """Needles of a sequence of parsed items: of every set that one of them must occur in, the one
    whose shortest needle is longest (the most selective); None when there is no such set."""
    options: list[frozenset[str]] = []
    run: list[str] = []
    for op, av in items:
        if op is _OPS.LITERAL and av < 128:
            run.append(chr(av).lower())
            continue
        if run:
            options.append(frozenset(("".join(run),)))
            run = []
        sub: frozenset[str] | None = None
        if op is _OPS.SUBPATTERN:
            sub = _required(list(av[-1]))
        elif op is _OPS.BRANCH:
            parts = [_required(list(branch)) for branch in av[1]]
            if parts and all(parts):
                sub = frozenset().union(*(p for p in parts if p))
        elif op in _REPEATS and av[0] >= 1:
            sub = _required(list(av[2]))
        if sub:
            options.append(sub)
    if run:
        options.append(frozenset(("".join(run),)))
    if not options:
        return None
    return max(options, key=lambda option: min(len(n) for n in option))


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
            pattern=LazyPattern(r.get("match", r"^(.+)$")),
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
