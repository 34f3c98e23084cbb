"""Version comparison for device firmware and software, and version ranges (NVD bounds, vers, CSAF text).

Firmware versions are not semver: ``2.4a``, ``7.01.00``, ``V3.2 SP1``, ``R2.1.3``, ``012u000062``,
``M.00.03``. The rule (see docs/adr/005-vulnerability-matching.md):

* a leading ``v``/``V``/``r``/``R`` directly before a digit is a label, not part of the version;
* the text splits into numeric and alphabetic tokens; ``.``, ``-``, ``_``, spaces are separators;
* numeric tokens compare as integers (``01`` == ``1``); alphabetic ones case-insensitively;
* at the same position a number sorts after letters (``2.4.1`` > ``2.4a``);
* when one version is a prefix of the other, missing numeric parts count as 0 (``7.1`` == ``7.01.00``);
  an extra alphabetic token sorts *after* (``2.4a`` > ``2.4``, ``3.2 SP1`` > ``3.2``) unless it is a
  pre-release word (``alpha``, ``beta``, ``rc``, ``pre``, ``dev``), which sorts before; a single letter
  (``2.4a``) is a revision, not a pre-release.

Comparison never fails; :func:`parse_range` raises :class:`RangeError` for text it cannot read,
so a caller can report "advisory version expression not machine-readable" instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cmp_to_key

_TOKEN = re.compile(r"\d+|[A-Za-z]+")
_LABEL = re.compile(r"^[vVrR](?=\d)")
_PRE = frozenset({"alpha", "beta", "rc", "pre", "preview", "dev", "snapshot"})

Token = int | str


class RangeError(ValueError):
    """A version range expression that cannot be read."""


def tokens(version: str) -> tuple[Token, ...]:
    """The comparison tokens of a version string."""
    text = _LABEL.sub("", version.strip())
    return tuple(int(t) if t.isdigit() else t.lower() for t in _TOKEN.findall(text))


def _cmp_tail(rest: tuple[Token, ...]) -> int:
    """Sign of the leftover tokens of the longer version against nothing."""
    for t in rest:
        if isinstance(t, int):
            if t != 0:
                return 1
            continue
        return -1 if t in _PRE else 1
    return 0


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as firmware version ``a`` sorts before, equal to, or after ``b``."""
    ta, tb = tokens(a), tokens(b)
    for x, y in zip(ta, tb, strict=False):
        if x == y:
            continue
        if isinstance(x, int) and isinstance(y, int):
            return -1 if x < y else 1
        if isinstance(x, str) and isinstance(y, str):
            return -1 if x < y else 1
        return 1 if isinstance(x, int) else -1
    n = min(len(ta), len(tb))
    if len(ta) > n:
        return _cmp_tail(ta[n:])
    if len(tb) > n:
        return -_cmp_tail(tb[n:])
    return 0


version_key = cmp_to_key(compare)


def comparable(version: str | None) -> bool:
    """True when the text has at least one digit (else it is not a version we can order)."""
    return version is not None and any(c.isdigit() for c in version)


@dataclass(frozen=True, slots=True)
class Constraint:
    """One ``<op><version>`` of a range; ``op`` is one of = != < <= > >= or * (any)."""

    op: str
    version: str

    def satisfied(self, version: str) -> bool:
        """Whether ``version`` meets this single constraint."""
        if self.op == "*":
            return True
        c = compare(version, self.version)
        return {
            "=": c == 0,
            "!=": c != 0,
            "<": c < 0,
            "<=": c <= 0,
            ">": c > 0,
            ">=": c >= 0,
        }[self.op]


@dataclass(frozen=True, slots=True)
class VersionRange:
    """A set of versions: the vers model (a list of constraints joined by ``|``)."""

    constraints: tuple[Constraint, ...]

    def contains(self, version: str) -> bool:
        """Whether ``version`` is in the range (the vers algorithm: equalities, then intervals)."""
        cs = self.constraints
        if any(c.op == "*" for c in cs):
            return True
        if any(c.op == "=" and c.satisfied(version) for c in cs):
            return True
        if any(c.op == "!=" and not c.satisfied(version) for c in cs):
            return False
        bounds = sorted(
            (c for c in cs if c.op in ("<", "<=", ">", ">=")), key=lambda c: version_key(c.version)
        )
        if not bounds:
            return False
        # Walk the sorted bounds pairing each lower bound with the next upper bound; an upper bound
        # with no lower bound before it is open below, a lower bound with no upper after it open above.
        i = 0
        while i < len(bounds):
            c = bounds[i]
            if c.op in (">", ">="):
                nxt = bounds[i + 1] if i + 1 < len(bounds) else None
                if nxt is not None and nxt.op in ("<", "<="):
                    if c.satisfied(version) and nxt.satisfied(version):
                        return True
                    i += 2
                    continue
                if c.satisfied(version):
                    return True
            elif c.satisfied(version):
                return True
            i += 1
        return False


_CONSTRAINT = re.compile(r"^(<=|>=|!=|<|>|=)?\s*(.+)$")


def parse_range(text: str) -> VersionRange:
    """Parse ``vers:<scheme>/<c>|<c>``, or the CSAF free-text form ``>= 5.01 | <= 6.4.0``, ``< 1.7.5``,
    ``9.13 | 9.19``; raise :class:`RangeError` when any part is not a comparable version."""
    raw = text.strip()
    if raw.lower().startswith("vers:"):
        _, _, raw = raw.partition("/")
        if not raw:
            raise RangeError(f"vers range without constraints: {text!r}")
    parts = [p.strip() for p in raw.split("|")]
    constraints: list[Constraint] = []
    for part in parts:
        if part == "*":
            constraints.append(Constraint("*", ""))
            continue
        m = _CONSTRAINT.match(part)
        if not m:
            raise RangeError(f"empty constraint in {text!r}")
        op, version = m.group(1) or "=", m.group(2).strip()
        if not _plain_version(version):
            raise RangeError(f"not a version: {version!r} in {text!r}")
        constraints.append(Constraint(op, version))
    return VersionRange(tuple(constraints))


def _plain_version(text: str) -> bool:
    """A version-looking token: starts with a digit or a v/r label, no spaces, a digit somewhere."""
    if not comparable(text) or len(text) > 64:
        return False
    t = _LABEL.sub("", text)
    return bool(re.fullmatch(r"[0-9][0-9A-Za-z.\-_+~]*|[A-Za-z]{1,2}[.\-_]?[0-9][0-9A-Za-z.\-_+~]*", t))


def in_nvd_bounds(
    version: str,
    *,
    start_including: str | None = None,
    start_excluding: str | None = None,
    end_including: str | None = None,
    end_excluding: str | None = None,
) -> bool:
    """Whether ``version`` satisfies an NVD cpeMatch's version bounds (absent bounds are open)."""
    if start_including is not None and compare(version, start_including) < 0:
        return False
    if start_excluding is not None and compare(version, start_excluding) <= 0:
        return False
    if end_including is not None and compare(version, end_including) > 0:
        return False
    return not (end_excluding is not None and compare(version, end_excluding) >= 0)
