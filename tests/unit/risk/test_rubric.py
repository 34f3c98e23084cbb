"""The MITRE medical rubric flow: answers -> base metrics and environmental requirements."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wardwatch.risk import rubric


def test_infusion_pump_answers() -> None:
    result = rubric.evaluate(
        {"XAVN": "yes", "XPRL": "yes", "XPRZ": "yes", "XIT": "H", "XAT": "H", "XCP": "H", "XCPM": "one"}
    )
    # Routed network -> AV:N; login needed but credentials are hard-coded -> PR:N;
    # therapy integrity/availability H; one patient's PHI -> C:L.
    assert result.vector == "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:H/A:H"
    assert result.environmental == {"CR": "M", "IR": "H", "AR": "H"}
    assert any("XIT" in r for r in result.reasons)


def test_unanswered_takes_the_worst_attack_vector_and_no_impact() -> None:
    result = rubric.evaluate({})
    assert result.base["AV"] == "N" and result.base["C"] == "N"
    assert result.environmental == {"CR": "L", "IR": "L", "AR": "L"}


def test_bluetooth_only_and_admin_privileges() -> None:
    result = rubric.evaluate(
        {"XAVN": "no", "XAVW": "yes", "XPRL": "yes", "XPRS": "yes", "XUI": "yes", "XS": "yes"}
    )
    assert (result.base["AV"], result.base["PR"], result.base["UI"], result.base["S"]) == ("A", "H", "R", "C")


@pytest.mark.parametrize("answers", [{"XNOPE": "yes"}, {"XAVN": "maybe"}, {"XIT": "yes"}])
def test_bad_answers_are_refused(answers: dict[str, str]) -> None:
    with pytest.raises(rubric.RubricError):
        rubric.evaluate(answers)


@given(st.dictionaries(st.sampled_from([q.id for q in rubric.QUESTIONS] + ["X"]), st.text(max_size=5)))
def test_fuzz_only_rubric_error_escapes(answers: dict[str, str]) -> None:
    try:
        result = rubric.evaluate(answers)
    except rubric.RubricError:
        return
    assert set(result.environmental.values()) <= {"H", "M", "L"}
