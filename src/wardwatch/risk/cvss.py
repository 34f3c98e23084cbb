"""CVSS vectors: parse v2.0, v3.0, v3.1 and v4.0; compute v2 base and v3.x base/temporal/environmental.

Formulas and constants are the FIRST specifications:

* CVSS v3.1 Specification Document, section 7 (https://www.first.org/cvss/v3.1/specification-document),
  including Appendix A's ``Roundup`` that avoids floating-point surprises;
* CVSS v3.0 Specification Document, section 8 (https://www.first.org/cvss/v3.0/specification-document):
  the same formulas except ``Roundup`` (plain ceiling to one decimal) and the modified-impact
  exponent for a changed scope;
* CVSS v2 Complete Guide, section 3.2 (https://www.first.org/cvss/v2/guide).

CVSS v4.0 scores come from a lookup of 270 macro-vectors plus an interpolation; we parse v4.0
vectors (so their metrics can be explained and adjusted) but use the *published* base score rather
than re-deriving it, see ADR 009.

Only :class:`CvssError` escapes the parsers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "Cvss2",
    "Cvss3",
    "Cvss4",
    "CvssError",
    "parse",
    "parse_v2",
    "parse_v3",
    "parse_v4",
    "roundup",
    "severity",
]


class CvssError(ValueError):
    """A vector that is not a valid CVSS vector of the version it claims."""


# --- v3.x -------------------------------------------------------------------------------------

_V3_BASE = ("AV", "AC", "PR", "UI", "S", "C", "I", "A")
_V3_ALLOWED: dict[str, tuple[str, ...]] = {
    "AV": ("N", "A", "L", "P"),
    "AC": ("L", "H"),
    "PR": ("N", "L", "H"),
    "UI": ("N", "R"),
    "S": ("U", "C"),
    "C": ("H", "L", "N"),
    "I": ("H", "L", "N"),
    "A": ("H", "L", "N"),
    "E": ("X", "H", "F", "P", "U"),
    "RL": ("X", "U", "W", "T", "O"),
    "RC": ("X", "C", "R", "U"),
    "CR": ("X", "H", "M", "L"),
    "IR": ("X", "H", "M", "L"),
    "AR": ("X", "H", "M", "L"),
    "MAV": ("X", "N", "A", "L", "P"),
    "MAC": ("X", "L", "H"),
    "MPR": ("X", "N", "L", "H"),
    "MUI": ("X", "N", "R"),
    "MS": ("X", "U", "C"),
    "MC": ("X", "H", "L", "N"),
    "MI": ("X", "H", "L", "N"),
    "MA": ("X", "H", "L", "N"),
}
_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC = {"L": 0.77, "H": 0.44}
_PR_UNCHANGED = {"N": 0.85, "L": 0.62, "H": 0.27}
_PR_CHANGED = {"N": 0.85, "L": 0.68, "H": 0.5}
_UI = {"N": 0.85, "R": 0.62}
_CIA = {"H": 0.56, "L": 0.22, "N": 0.0}
_E = {"X": 1.0, "H": 1.0, "F": 0.97, "P": 0.94, "U": 0.91}
_RL = {"X": 1.0, "U": 1.0, "W": 0.97, "T": 0.96, "O": 0.95}
_RC = {"X": 1.0, "C": 1.0, "R": 0.96, "U": 0.92}
_REQ = {"X": 1.0, "H": 1.5, "M": 1.0, "L": 0.5}


def roundup(value: float, version: str = "3.1") -> float:
    """The smallest number with one decimal that is >= ``value``.

    v3.1 (Appendix A) works on integers so that 4.000000000000001 rounds to 4.0, not 4.1; v3.0 is
    the plain ceiling, which is what v3.0 calculators produce.
    """
    if version == "3.0":
        return math.ceil(value * 10) / 10
    int_input = round(value * 100000)
    if int_input % 10000 == 0:
        return int_input / 100000.0
    return (math.floor(int_input / 10000) + 1) / 10.0


def severity(score: float) -> str:
    """Qualitative rating of a v3/v4 score (v3.1 spec, table 14)."""
    if score == 0:
        return "NONE"
    if score < 4.0:
        return "LOW"
    if score < 7.0:
        return "MEDIUM"
    if score < 9.0:
        return "HIGH"
    return "CRITICAL"


def _metrics(
    body: str, vector: str, allowed: Mapping[str, Sequence[str]], required: Iterable[str]
) -> dict[str, str]:
    """The metrics of a vector body: known metrics only, each once, with a valid value; every
    ``required`` metric present. Raises :class:`CvssError` naming the vector and the metric."""
    metrics: dict[str, str] = {}
    for key, value in _split(body, vector):
        values = allowed.get(key)
        if values is None:
            raise CvssError(f"unknown metric {key!r} in {vector!r}")
        if key in metrics:
            raise CvssError(f"metric {key} given twice in {vector!r}")
        if value not in values:
            raise CvssError(f"invalid value {key}:{value} in {vector!r}")
        metrics[key] = value
    missing = [k for k in required if k not in metrics]
    if missing:
        raise CvssError(f"missing base metric(s) {', '.join(missing)} in {vector!r}")
    return metrics


def _split(body: str, vector: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for part in body.split("/"):
        key, sep, value = part.partition(":")
        if not sep or not key or not value:
            raise CvssError(f"malformed metric {part!r} in {vector!r}")
        pairs.append((key, value))
    return pairs


@dataclass(frozen=True, slots=True)
class Cvss3:
    """A parsed CVSS v3.0/v3.1 vector. ``metrics`` holds every metric, absent ones as ``X``."""

    version: str
    metrics: dict[str, str]

    def get(self, key: str) -> str:
        """The metric's value (``X`` when not defined)."""
        return self.metrics.get(key, "X")

    def modified(self, key: str) -> str:
        """The environmental value of a base metric: ``M<key>`` unless it is ``X``, then the base."""
        value = self.get("M" + key)
        return self.metrics[key] if value == "X" else value

    @property
    def vector(self) -> str:
        """Canonical vector string: base metrics, then every defined non-base metric in spec order."""
        parts = [f"{k}:{self.metrics[k]}" for k in _V3_BASE]
        parts += [f"{k}:{self.metrics[k]}" for k in _V3_ALLOWED if k not in _V3_BASE and self.get(k) != "X"]
        return f"CVSS:{self.version}/" + "/".join(parts)

    def with_metrics(self, **changes: str) -> Cvss3:
        """A copy with some metrics set (e.g. ``MAV="L"``); values are checked like the parser does."""
        merged = dict(self.metrics)
        for key, value in changes.items():
            if key not in _V3_ALLOWED or value not in _V3_ALLOWED[key]:
                raise CvssError(f"invalid metric {key}:{value}")
            merged[key] = value
        return Cvss3(self.version, merged)

    # base
    def iss(self) -> float:
        """Impact sub-score (ISS = 1 - (1-C)(1-I)(1-A))."""
        m = self.metrics
        return 1 - (1 - _CIA[m["C"]]) * (1 - _CIA[m["I"]]) * (1 - _CIA[m["A"]])

    def impact(self) -> float:
        """Base impact (may be negative: then the base score is 0)."""
        iss = self.iss()
        if self.metrics["S"] == "U":
            return 6.42 * iss
        return 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15

    def exploitability(self) -> float:
        """8.22 x AV x AC x PR x UI (0.12 .. 3.887)."""
        m = self.metrics
        pr = (_PR_CHANGED if m["S"] == "C" else _PR_UNCHANGED)[m["PR"]]
        return 8.22 * _AV[m["AV"]] * _AC[m["AC"]] * pr * _UI[m["UI"]]

    def base_score(self) -> float:
        """The base score (spec section 7.1)."""
        impact = self.impact()
        if impact <= 0:
            return 0.0
        total = impact + self.exploitability()
        if self.metrics["S"] == "C":
            total *= 1.08
        return roundup(min(total, 10.0), self.version)

    def _temporal_factor(self) -> float:
        return _E[self.get("E")] * _RL[self.get("RL")] * _RC[self.get("RC")]

    def temporal_score(self) -> float:
        """Roundup(base x E x RL x RC) (spec section 7.2)."""
        return roundup(self.base_score() * self._temporal_factor(), self.version)

    # environmental
    def modified_impact(self) -> float:
        """Modified impact from MISS and the modified scope (spec section 7.3)."""
        cr, ir, ar = _REQ[self.get("CR")], _REQ[self.get("IR")], _REQ[self.get("AR")]
        miss = min(
            1
            - (1 - cr * _CIA[self.modified("C")])
            * (1 - ir * _CIA[self.modified("I")])
            * (1 - ar * _CIA[self.modified("A")]),
            0.915,
        )
        if self.modified("S") == "U":
            return 6.42 * miss
        if self.version == "3.0":
            return 7.52 * (miss - 0.029) - 3.25 * (miss - 0.02) ** 15
        return 7.52 * (miss - 0.029) - 3.25 * (miss * 0.9731 - 0.02) ** 13

    def modified_exploitability(self) -> float:
        """8.22 x MAV x MAC x MPR x MUI (MPR weighted by the modified scope)."""
        pr = (_PR_CHANGED if self.modified("S") == "C" else _PR_UNCHANGED)[self.modified("PR")]
        return 8.22 * _AV[self.modified("AV")] * _AC[self.modified("AC")] * pr * _UI[self.modified("UI")]

    def environmental_score(self) -> float:
        """The environmental score (spec section 7.3); equals the temporal score when nothing is set."""
        impact = self.modified_impact()
        if impact <= 0:
            return 0.0
        total = impact + self.modified_exploitability()
        if self.modified("S") == "C":
            total *= 1.08
        v = self.version
        return roundup(roundup(min(total, 10.0), v) * self._temporal_factor(), v)


def parse_v3(vector: str) -> Cvss3:
    """Parse ``CVSS:3.0/...`` or ``CVSS:3.1/...``: every base metric once, known metrics only."""
    if not isinstance(vector, str):
        raise CvssError("CVSS vector is not text")
    head, sep, body = vector.strip().partition("/")
    if head not in ("CVSS:3.0", "CVSS:3.1") or not sep:
        raise CvssError(f"not a CVSS v3 vector: {vector!r}")
    return Cvss3(head[5:], _metrics(body, vector, _V3_ALLOWED, _V3_BASE))


# --- v2 ---------------------------------------------------------------------------------------

_V2_ALLOWED: dict[str, tuple[str, ...]] = {
    "AV": ("L", "A", "N"),
    "AC": ("H", "M", "L"),
    "Au": ("M", "S", "N"),
    "C": ("N", "P", "C"),
    "I": ("N", "P", "C"),
    "A": ("N", "P", "C"),
}
_V2_OPTIONAL: dict[str, tuple[str, ...]] = {
    "E": ("U", "POC", "F", "H", "ND"),
    "RL": ("OF", "TF", "W", "U", "ND"),
    "RC": ("UC", "UR", "C", "ND"),
    "CDP": ("N", "L", "LM", "MH", "H", "ND"),
    "TD": ("N", "L", "M", "H", "ND"),
    "CR": ("L", "M", "H", "ND"),
    "IR": ("L", "M", "H", "ND"),
    "AR": ("L", "M", "H", "ND"),
}
_V2_AV = {"L": 0.395, "A": 0.646, "N": 1.0}
_V2_AC = {"H": 0.35, "M": 0.61, "L": 0.71}
_V2_AU = {"M": 0.45, "S": 0.56, "N": 0.704}
_V2_CIA = {"N": 0.0, "P": 0.275, "C": 0.660}


@dataclass(frozen=True, slots=True)
class Cvss2:
    """A parsed CVSS v2 vector (``AV:N/AC:L/Au:N/C:P/I:P/A:P``, optionally ``(...)``-wrapped)."""

    metrics: dict[str, str]
    version: str = "2.0"

    def impact(self) -> float:
        """10.41 x (1 - (1-C)(1-I)(1-A))."""
        m = self.metrics
        return 10.41 * (1 - (1 - _V2_CIA[m["C"]]) * (1 - _V2_CIA[m["I"]]) * (1 - _V2_CIA[m["A"]]))

    def exploitability(self) -> float:
        """20 x AV x AC x Au (max 10.0)."""
        m = self.metrics
        return 20 * _V2_AV[m["AV"]] * _V2_AC[m["AC"]] * _V2_AU[m["Au"]]

    def base_score(self) -> float:
        """round_to_1_decimal(((0.6 x Impact) + (0.4 x Exploitability) - 1.5) x f(Impact))."""
        impact = self.impact()
        f = 0.0 if impact == 0 else 1.176
        raw = ((0.6 * impact) + (0.4 * self.exploitability()) - 1.5) * f
        # Round half up, as the guide's examples do (Python's round() is banker's rounding).
        return math.floor(raw * 10 + 0.5 + 1e-9) / 10


def parse_v2(vector: str) -> Cvss2:
    """Parse a CVSS v2 vector; the six base metrics are required, the rest optional."""
    if not isinstance(vector, str):
        raise CvssError("CVSS vector is not text")
    body = vector.strip()
    if body.startswith("(") and body.endswith(")"):
        body = body[1:-1]
    if body.startswith("CVSS:2.0/"):
        body = body[len("CVSS:2.0/") :]
    if not body:
        raise CvssError(f"not a CVSS v2 vector: {vector!r}")
    return Cvss2(_metrics(body, vector, {**_V2_OPTIONAL, **_V2_ALLOWED}, _V2_ALLOWED))


# --- v4.0 -------------------------------------------------------------------------------------

_V4_BASE: dict[str, tuple[str, ...]] = {
    "AV": ("N", "A", "L", "P"),
    "AC": ("L", "H"),
    "AT": ("N", "P"),
    "PR": ("N", "L", "H"),
    "UI": ("N", "P", "A"),
    "VC": ("H", "L", "N"),
    "VI": ("H", "L", "N"),
    "VA": ("H", "L", "N"),
    "SC": ("H", "L", "N"),
    "SI": ("H", "L", "N"),
    "SA": ("H", "L", "N"),
}
_V4_OTHER: dict[str, tuple[str, ...]] = {
    "E": ("X", "A", "P", "U"),
    "CR": ("X", "H", "M", "L"),
    "IR": ("X", "H", "M", "L"),
    "AR": ("X", "H", "M", "L"),
    "MAV": ("X", "N", "A", "L", "P"),
    "MAC": ("X", "L", "H"),
    "MAT": ("X", "N", "P"),
    "MPR": ("X", "N", "L", "H"),
    "MUI": ("X", "N", "P", "A"),
    "MVC": ("X", "H", "L", "N"),
    "MVI": ("X", "H", "L", "N"),
    "MVA": ("X", "H", "L", "N"),
    "MSC": ("X", "H", "L", "N"),
    "MSI": ("X", "S", "H", "L", "N"),
    "MSA": ("X", "S", "H", "L", "N"),
    "S": ("X", "N", "P"),
    "AU": ("X", "N", "Y"),
    "R": ("X", "A", "U", "I"),
    "V": ("X", "D", "C"),
    "RE": ("X", "L", "M", "H"),
    "U": ("X", "Clear", "Green", "Amber", "Red"),
}


@dataclass(frozen=True, slots=True)
class Cvss4:
    """A parsed CVSS v4.0 vector. No score is computed here (see the module docstring)."""

    metrics: dict[str, str]
    version: str = "4.0"

    def get(self, key: str) -> str:
        """The metric's value (``X`` when not defined)."""
        return self.metrics.get(key, "X")


def parse_v4(vector: str) -> Cvss4:
    """Parse ``CVSS:4.0/...``: the eleven base metrics required, in any order, each once."""
    if not isinstance(vector, str):
        raise CvssError("CVSS vector is not text")
    head, sep, body = vector.strip().partition("/")
    if head != "CVSS:4.0" or not sep:
        raise CvssError(f"not a CVSS v4.0 vector: {vector!r}")
    return Cvss4(_metrics(body, vector, {**_V4_OTHER, **_V4_BASE}, _V4_BASE))


def parse(vector: str, version: str | None = None) -> Cvss2 | Cvss3 | Cvss4:
    """Parse any supported vector; ``version`` ("2.0", "3.0", "3.1", "4.0") when the text does not say."""
    text = vector.strip() if isinstance(vector, str) else vector
    if not isinstance(text, str):
        raise CvssError("CVSS vector is not text")
    if text.startswith("CVSS:4.0/"):
        return parse_v4(text)
    if text.startswith("CVSS:3."):
        return parse_v3(text)
    if version in (None, "2.0", "2"):
        return parse_v2(text)
    raise CvssError(f"vector {vector!r} does not match CVSS version {version}")
