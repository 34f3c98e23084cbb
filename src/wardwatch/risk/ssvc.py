"""The CISA SSVC decision tree: Exploitation, Automatable, Technical Impact, Mission & Well-being.

Source: CISA, "Stakeholder-Specific Vulnerability Categorization Guide" (November 2022),
https://www.cisa.gov/stakeholder-specific-vulnerability-categorization-ssvc , and the same tree as
published in CERT/CC's SSVC repository (``data/csv/cisa-coordinator`` decision table). The tree is
kept below as data, one row per leaf in the published order (36 rows), so it can be read and
reviewed against the source line by line; :func:`decide` only looks a row up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

SOURCE = (
    "CISA SSVC Guide (Nov 2022), https://www.cisa.gov/stakeholder-specific-vulnerability-categorization-ssvc"
)


class Exploitation(StrEnum):
    """Present state of exploitation (not a prediction)."""

    NONE = "none"
    POC = "poc"
    ACTIVE = "active"


class Automatable(StrEnum):
    """Can an attacker automate reconnaissance, weaponisation, delivery and exploitation?"""

    NO = "no"
    YES = "yes"


class TechnicalImpact(StrEnum):
    """Partial or total control of the vulnerable component."""

    PARTIAL = "partial"
    TOTAL = "total"


class MissionWellbeing(StrEnum):
    """Impact on the organisation's mission and on public (here: patient) well-being."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Decision(StrEnum):
    """CISA's four outcomes, least to most urgent."""

    TRACK = "Track"
    TRACK_STAR = "Track*"
    ATTEND = "Attend"
    ACT = "Act"

    @property
    def rank(self) -> int:
        """0 (Track) .. 3 (Act), for sorting and comparing."""
        # Looked up by the member itself (a str equal to its value): skips the enum ``value``
        # descriptor, which a fleet recompute would otherwise call over a million times.
        return _RANK[self]


_RANK = {"Track": 0, "Track*": 1, "Attend": 2, "Act": 3}

# exploitation, automatable, technical impact, mission & well-being -> decision (published order).
TREE: tuple[tuple[str, str, str, str, str], ...] = (
    ("none", "no", "partial", "low", "Track"),
    ("none", "no", "partial", "medium", "Track"),
    ("none", "no", "partial", "high", "Track"),
    ("none", "no", "total", "low", "Track"),
    ("none", "no", "total", "medium", "Track"),
    ("none", "no", "total", "high", "Track*"),
    ("none", "yes", "partial", "low", "Track"),
    ("none", "yes", "partial", "medium", "Track"),
    ("none", "yes", "partial", "high", "Attend"),
    ("none", "yes", "total", "low", "Track"),
    ("none", "yes", "total", "medium", "Track"),
    ("none", "yes", "total", "high", "Attend"),
    ("poc", "no", "partial", "low", "Track"),
    ("poc", "no", "partial", "medium", "Track"),
    ("poc", "no", "partial", "high", "Track*"),
    ("poc", "no", "total", "low", "Track"),
    ("poc", "no", "total", "medium", "Track*"),
    ("poc", "no", "total", "high", "Attend"),
    ("poc", "yes", "partial", "low", "Track"),
    ("poc", "yes", "partial", "medium", "Track"),
    ("poc", "yes", "partial", "high", "Attend"),
    ("poc", "yes", "total", "low", "Track"),
    ("poc", "yes", "total", "medium", "Track*"),
    ("poc", "yes", "total", "high", "Attend"),
    ("active", "no", "partial", "low", "Track"),
    ("active", "no", "partial", "medium", "Track"),
    ("active", "no", "partial", "high", "Attend"),
    ("active", "no", "total", "low", "Track"),
    ("active", "no", "total", "medium", "Attend"),
    ("active", "no", "total", "high", "Act"),
    ("active", "yes", "partial", "low", "Attend"),
    ("active", "yes", "partial", "medium", "Attend"),
    ("active", "yes", "partial", "high", "Act"),
    ("active", "yes", "total", "low", "Attend"),
    ("active", "yes", "total", "medium", "Act"),
    ("active", "yes", "total", "high", "Act"),
)

_INDEX: dict[tuple[str, str, str, str], Decision] = {row[:4]: Decision(row[4]) for row in TREE}


@dataclass(frozen=True, slots=True)
class SsvcInputs:
    """The four decision points of one finding on one device."""

    exploitation: Exploitation
    automatable: Automatable
    technical_impact: TechnicalImpact
    mission_wellbeing: MissionWellbeing

    @property
    def vector(self) -> str:
        """Compact form for display and storage, e.g. ``E:active/A:yes/T:total/M:high``."""
        return (
            f"E:{self.exploitation}/A:{self.automatable}/T:{self.technical_impact}/M:{self.mission_wellbeing}"
        )


def decide(inputs: SsvcInputs) -> Decision:
    """The tree's leaf for these decision points."""
    return _INDEX[
        (
            str(inputs.exploitation),
            str(inputs.automatable),
            str(inputs.technical_impact),
            str(inputs.mission_wellbeing),
        )
    ]


def parse_exploitation(value: str | None) -> Exploitation | None:
    """CISA vulnrichment writes ``none``/``poc``/``active`` (some records say ``public poc``)."""
    if value is None:
        return None
    text = value.strip().lower().replace("public ", "")
    try:
        return Exploitation(text)
    except ValueError:
        return None


def parse_automatable(value: str | None) -> Automatable | None:
    """``yes``/``no`` as vulnrichment writes it, else None."""
    if value is None:
        return None
    try:
        return Automatable(value.strip().lower())
    except ValueError:
        return None


def parse_technical_impact(value: str | None) -> TechnicalImpact | None:
    """``partial``/``total`` as vulnrichment writes it, else None."""
    if value is None:
        return None
    try:
        return TechnicalImpact(value.strip().lower())
    except ValueError:
        return None
