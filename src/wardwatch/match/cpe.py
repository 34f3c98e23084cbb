"""CPE 2.3 formatted-string names: parsing (with the spec's backslash quoting) and attribute matching.

``cpe:2.3:part:vendor:product:version:update:edition:language:sw_edition:target_sw:target_hw:other``.
``*`` is ANY, ``-`` is NA (not applicable). Values are kept unquoted (``\\/`` becomes ``/``) and
lower-cased, because NVD writes ``intellivue\\/avalon`` and device names have no escapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ANY = "*"
NA = "-"
FIELDS = (
    "part",
    "vendor",
    "product",
    "version",
    "update",
    "edition",
    "language",
    "sw_edition",
    "target_sw",
    "target_hw",
    "other",
)


class CpeError(ValueError):
    """Text that is not a CPE 2.3 formatted string."""


@dataclass(frozen=True, slots=True)
class Cpe:
    """A parsed CPE 2.3 name (unquoted, lower-case values; ``*`` ANY, ``-`` NA)."""

    part: str
    vendor: str
    product: str
    version: str = ANY
    update: str = ANY
    edition: str = ANY
    language: str = ANY
    sw_edition: str = ANY
    target_sw: str = ANY
    target_hw: str = ANY
    other: str = ANY

    def key(self) -> str:
        """``vendor:product``: what the index of advisories by CPE is keyed on."""
        return f"{self.vendor}:{self.product}"

    def __str__(self) -> str:
        return "cpe:2.3:" + ":".join(_quote(getattr(self, f)) for f in FIELDS)


def _split(body: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            if i + 1 >= len(body):
                raise CpeError("dangling backslash")
            cur.append(body[i + 1])
            i += 2
            continue
        if c == ":":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur))
    return out


def _quote(value: str) -> str:
    if value in (ANY, NA):
        return value
    return re.sub(r"([^A-Za-z0-9_.\-*?])", r"\\\1", value)


def parse_cpe(text: str) -> Cpe:
    """Parse a CPE 2.3 formatted string; raise :class:`CpeError` when it is not one."""
    if not isinstance(text, str) or not text.startswith("cpe:2.3:"):
        raise CpeError(f"not a CPE 2.3 name: {text!r}")
    body = text[len("cpe:2.3:") :]
    # Most names have no escapes: the plain split is ten times faster than the quoting-aware one.
    values = body.split(":") if "\\" not in body else _split(body)
    if len(values) != len(FIELDS):
        raise CpeError(f"CPE 2.3 name needs {len(FIELDS)} fields, got {len(values)}: {text!r}")
    values = [v.lower() if v else ANY for v in values]
    if values[0] not in ("a", "o", "h", ANY):
        raise CpeError(f"CPE part must be a, o or h: {text!r}")
    return Cpe(*values)


def value_matches(pattern: str, value: str | None) -> bool:
    """CPE attribute comparison: ANY matches everything; NA only NA/unknown; else equality."""
    if pattern == ANY:
        return True
    if pattern == NA:
        return value in (None, NA, ANY)
    return value is not None and pattern == value.lower()


_SLUG = re.compile(r"[^a-z0-9.+]+")


def slug(text: str) -> str:
    """A device name in CPE style: lower case, runs of other characters as one ``_``."""
    return _SLUG.sub("_", text.lower()).strip("_")
