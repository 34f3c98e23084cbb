"""Identifiers in a recall's free text: model, catalog/REF, lot and serial numbers, UDI-DIs.

FDA's ``code_info`` and ``product_description`` are written by people, in many shapes::

    Lot/Batch Numbers: 13F18C0374, 13F18H0580, ...
    Lot 007A1037, Ref 010-55-25.
    Model 8015; Serial Numbers 12345678 through 12345999
    UDI-DI (01)00885403123456; Catalog No. AK-25502

The reader is a small state machine over word tokens: a *label* ("Lot", "Serial Numbers", "REF",
"Model", "Cat. No." ...) sets the kind; identifier-like tokens (containing a digit) that follow are
emitted with that kind; connectors ("and", ",", "Numbers", ":", "#") keep the kind; any other
word ends the list. An identifier with no label before it is not emitted: a number in prose
("6.5 mm", "2019") is not a lot. UDI-DIs are read separately: GS1 GTIN-14 after ``(01)`` or a
UDI/GTIN/DI label, kept only with a valid check digit; HIBCC primary data (``+`` LIC ...) kept
only with a valid modulo-43 check character.

Never raises on any text (see the Hypothesis tests).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from wardwatch.model.recall import Identifier, IdentifierKind

_LABELS: dict[str, IdentifierKind] = {
    "lot": IdentifierKind.LOT,
    "lots": IdentifierKind.LOT,
    "batch": IdentifierKind.LOT,
    "batches": IdentifierKind.LOT,
    "serial": IdentifierKind.SERIAL,
    "serials": IdentifierKind.SERIAL,
    "s/n": IdentifierKind.SERIAL,
    "sn": IdentifierKind.SERIAL,
    "sns": IdentifierKind.SERIAL,
    "model": IdentifierKind.MODEL,
    "models": IdentifierKind.MODEL,
    "catalog": IdentifierKind.CATALOG,
    "catalogue": IdentifierKind.CATALOG,
    "cat": IdentifierKind.CATALOG,
    "ref": IdentifierKind.CATALOG,
    "reference": IdentifierKind.CATALOG,
    "item": IdentifierKind.CATALOG,
    "part": IdentifierKind.CATALOG,
    "p/n": IdentifierKind.CATALOG,
    "pn": IdentifierKind.CATALOG,
    "sku": IdentifierKind.CATALOG,
}

# Words that sit between a label and its values, or between values, without ending the list.
_CONNECTORS = frozenset(
    {
        "number",
        "numbers",
        "no",
        "nos",
        "num",
        "code",
        "codes",
        "and",
        "or",
        "&",
        ",",
        ":",
        "#",
        "(s)",
        "s",
        "id",
        "ids",
        "/",
    }
)
_RANGE_WORDS = frozenset({"through", "thru", "to"})

_TOKEN = re.compile(r"\(s\)|[A-Za-z0-9#][A-Za-z0-9\-./_#]*|[,:;&/\n]")
_IDENT_CHARS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-./_]*$")
_NOT_ALNUM = re.compile(r"[\W_]+")
_DATE = re.compile(r"^\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}$")

_GS1_PAREN = re.compile(r"\(01\)\s?(\d{14})(?!\d)")
_GS1_LABELLED = re.compile(
    r"(?i)\b(?:udi(?:-di)?|gtin(?:-14)?|di)\b\s*(?:#|:|no\.?|number)?\s*(?:\(01\))?\s?(\d{14})(?!\d)"
)
_HIBCC = re.compile(r"\+([A-Z][A-Z0-9]{3})([A-Z0-9]{1,18})([0-9])([A-Z0-9\-. $/+%])")
_HIBC_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"


def gtin_check_digit(body: str) -> int:
    """The GS1 check digit for the digits before it (weights 3,1,3,... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def valid_gtin14(text: str) -> bool:
    """A 14-digit GTIN whose last digit is the right GS1 check digit."""
    return len(text) == 14 and text.isdigit() and gtin_check_digit(text[:13]) == int(text[13])


def hibcc_check_char(data: str) -> str:
    """The HIBC modulo-43 check character of ``data`` (which starts with ``+``)."""
    total = 0
    for ch in data:
        index = _HIBC_CHARSET.find(ch)
        if index < 0:
            raise ValueError(f"{ch!r} is not in the HIBC character set")
        total += index
    return _HIBC_CHARSET[total % 43]


def _context(text: str, start: int, end: int, width: int = 30) -> str:
    return " ".join(text[max(0, start - width) : end + width].split())


def _labelled(text: str, label: tuple[int, int], start: int, end: int) -> str:
    """The value in its words, starting at its label so the evidence shows why it is a lot or a serial."""
    if start - label[0] <= 60:
        return " ".join(text[label[0] : end + 20].split())
    return " ".join(text[label[0] : label[1]].split()) + " ... " + _context(text, start, end, 20)


def _udis(text: str, source_field: str) -> Iterator[Identifier]:
    seen: set[str] = set()
    for pattern in (_GS1_PAREN, _GS1_LABELLED):
        for m in pattern.finditer(text):
            gtin = m.group(1)
            if gtin not in seen and valid_gtin14(gtin):
                seen.add(gtin)
                yield Identifier(
                    IdentifierKind.UDI_DI, gtin, source_field, _context(text, m.start(), m.end())
                )
    for m in _HIBCC.finditer(text):
        lic, pcn, uom, check = m.groups()
        primary = f"+{lic}{pcn}{uom}"
        if hibcc_check_char(primary) == check and primary not in seen:
            seen.add(primary)
            yield Identifier(
                IdentifierKind.HIBCC, f"{lic}{pcn}{uom}", source_field, _context(text, m.start(), m.end())
            )


def _is_identifier(token: str) -> bool:
    return (
        2 <= len(token) <= 40
        and any(c.isdigit() for c in token)
        and _IDENT_CHARS.match(token) is not None
        and _DATE.match(token) is None
    )


def _label(token: str) -> IdentifierKind | None:
    low = token.lower().rstrip(".:#")
    if low in _LABELS:
        return _LABELS[low]
    # "Lot/Batch", "Catalog/REF", "Model/Catalog": the first part decides.
    if "/" in low and low not in ("s/n", "p/n"):
        first = low.split("/", 1)[0]
        return _LABELS.get(first)
    return None


def _clean(token: str) -> str:
    return token.rstrip(".-/_")


def extract(text: str, source_field: str = "code_info") -> tuple[Identifier, ...]:
    """Every identifier found in ``text``, in order of appearance, without duplicates."""
    if not isinstance(text, str) or not text:
        return ()
    found: list[Identifier] = list(_udis(text, source_field))
    udi_values = {i.value for i in found}
    kind: IdentifierKind | None = None
    label_at = (0, 0)
    label_open = False  # still reading the label's own words ("Lot/Batch Numbers:")
    tokens = list(_TOKEN.finditer(text))
    i = 0
    while i < len(tokens):
        m = tokens[i]
        token = m.group(0)
        low = token.lower()
        label = _label(token)
        if label is not None:
            kind = label
            label_at = (m.start(), m.end())
            label_open = True
        elif token in (";", "\n") or (kind is None):
            kind = None if token in (";", "\n") else kind
        elif low in _CONNECTORS or low.rstrip(".:#") in _CONNECTORS:
            if label_open:
                label_at = (label_at[0], m.end())
        elif _is_identifier(token) and _clean(token) not in udi_values:
            label_open = False
            value = _clean(token)
            # "12345 through 12399": a range of serials or lots.
            if (
                i + 2 < len(tokens)
                and tokens[i + 1].group(0).lower() in _RANGE_WORDS
                and _is_identifier(tokens[i + 2].group(0))
            ):
                high = _clean(tokens[i + 2].group(0))
                found.append(
                    Identifier(
                        kind,
                        f"{value}..{high}",
                        source_field,
                        _labelled(text, label_at, m.start(), tokens[i + 2].end()),
                        low=value,
                        high=high,
                    )
                )
                i += 3
                continue
            found.append(Identifier(kind, value, source_field, _labelled(text, label_at, m.start(), m.end())))
        else:
            kind = None
        i += 1
    unique: dict[tuple[IdentifierKind, str], Identifier] = {}
    for ident in found:
        unique.setdefault((ident.kind, ident.value), ident)
    return tuple(unique.values())


@lru_cache(maxsize=1 << 16)
def normalize(value: str) -> str:
    """Compare identifiers ignoring case, spaces and punctuation ("AK-25502" == "ak 25502")."""
    return _NOT_ALNUM.sub("", value).upper()


def in_range(value: str, low: str, high: str) -> bool:
    """``value`` lies within [low, high]: same non-digit prefix, numeric tail compared as numbers."""
    v, lo, hi = normalize(value), normalize(low), normalize(high)

    def split(s: str) -> tuple[str, int] | None:
        m = re.match(r"^(.*?)(\d+)$", s)
        return (m.group(1), int(m.group(2))) if m else None

    sv, slo, shi = split(v), split(lo), split(hi)
    if sv is None or slo is None or shi is None or not (sv[0] == slo[0] == shi[0]):
        return False
    return slo[1] <= sv[1] <= shi[1]
