"""The CISA SSVC tree as data: complete, unique, and the published leaves."""

from __future__ import annotations

from itertools import product

import pytest

from wardwatch.risk import ssvc
from wardwatch.risk.ssvc import (
    Automatable,
    Decision,
    Exploitation,
    MissionWellbeing,
    SsvcInputs,
    TechnicalImpact,
)


def test_tree_has_every_combination_once() -> None:
    keys = [row[:4] for row in ssvc.TREE]
    assert len(keys) == 36 == len(set(keys))
    assert set(keys) == set(
        product(["none", "poc", "active"], ["no", "yes"], ["partial", "total"], ["low", "medium", "high"])
    )


@pytest.mark.parametrize(
    ("e", "a", "t", "m", "expected"),
    [
        # Leaves checked one by one against the CISA guide's tree figure.
        ("none", "no", "partial", "low", "Track"),
        ("none", "no", "total", "high", "Track*"),
        ("none", "yes", "partial", "high", "Attend"),
        ("poc", "no", "total", "medium", "Track*"),
        ("poc", "yes", "total", "high", "Attend"),
        ("active", "no", "total", "medium", "Attend"),
        ("active", "no", "total", "high", "Act"),
        ("active", "yes", "partial", "low", "Attend"),
        ("active", "yes", "total", "medium", "Act"),
        ("active", "yes", "total", "high", "Act"),
    ],
)
def test_published_leaves(e: str, a: str, t: str, m: str, expected: str) -> None:
    inputs = SsvcInputs(Exploitation(e), Automatable(a), TechnicalImpact(t), MissionWellbeing(m))
    assert ssvc.decide(inputs) == Decision(expected)


def test_more_exploitation_never_lowers_the_decision() -> None:
    for a, t, m in product(Automatable, TechnicalImpact, MissionWellbeing):
        ranks = [ssvc.decide(SsvcInputs(e, a, t, m)).rank for e in Exploitation]
        assert ranks == sorted(ranks)


def test_parsers_accept_vulnrichment_spelling_and_refuse_junk() -> None:
    assert ssvc.parse_exploitation("Public PoC") is Exploitation.POC
    assert ssvc.parse_exploitation("ACTIVE") is Exploitation.ACTIVE
    assert ssvc.parse_exploitation("maybe") is None
    assert ssvc.parse_automatable("Yes") is Automatable.YES
    assert ssvc.parse_technical_impact("") is None
    assert SsvcInputs(
        Exploitation.NONE, Automatable.NO, TechnicalImpact.TOTAL, MissionWellbeing.LOW
    ).vector == ("E:none/A:no/T:total/M:low")
