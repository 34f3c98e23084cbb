"""CVSS parsing and scoring against FIRST's published examples and hand computations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wardwatch.risk import cvss as cv

# FIRST "CVSS v3.1 Examples" (https://www.first.org/cvss/v3.1/examples) base scores.
FIRST_V31_EXAMPLES = [
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5),  # CVE-2014-0160 Heartbleed
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),  # CVE-2014-6271 Shellshock
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),  # CVE-2013-1937 phpMyAdmin XSS
    ("CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 6.8),  # CVE-2014-2005 Sophos disk encryption
    ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),  # CVE-2012-1516 VMware guest -> host
    ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.1),  # CVE-2016-5195-like AC:H network
    ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),  # local privilege escalation
]


@pytest.mark.parametrize(("vector", "expected"), FIRST_V31_EXAMPLES)
def test_v31_base_matches_first_examples(vector: str, expected: float) -> None:
    assert cv.parse_v3(vector).base_score() == expected


def test_heartbleed_by_hand() -> None:
    # ISS = 1 - (1-0.56)(1-0)(1-0) = 0.56; Impact = 6.42 x 0.56 = 3.5952
    # Exploitability = 8.22 x 0.85 x 0.77 x 0.85 x 0.85 = 3.8870; sum 7.4822 -> Roundup 7.5
    c = cv.parse_v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N")
    assert c.impact() == pytest.approx(3.5952)
    assert c.exploitability() == pytest.approx(3.88704, abs=1e-5)
    assert c.base_score() == 7.5
    assert cv.severity(7.5) == "HIGH"


def test_no_impact_means_zero() -> None:
    # C:N/I:N/A:N -> ISS 0 -> Impact 0 -> base 0 whatever the exploitability.
    assert cv.parse_v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N").base_score() == 0.0
    assert cv.severity(0.0) == "NONE"


def test_roundup_v31_avoids_float_error_but_v30_does_not() -> None:
    # Appendix A: 4.000000000000001 must round to 4.0 in v3.1; v3.0's ceiling gives 4.1.
    assert cv.roundup(4.000000000000001, "3.1") == 4.0
    assert cv.roundup(4.000000000000001, "3.0") == 4.1
    assert cv.roundup(4.02, "3.1") == 4.1
    assert cv.roundup(4.0, "3.1") == 4.0


def test_temporal_v30_by_hand() -> None:
    # 9.8 x E:P 0.94 x RL:O 0.95 x RC:C 1.0 = 8.7514 -> ceil 8.8
    c = cv.parse_v3("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C")
    assert c.base_score() == 9.8
    assert c.temporal_score() == 8.8
    assert c.environmental_score() == 8.8


def test_environmental_requirements_and_modified_attack_vector_by_hand() -> None:
    # CR/IR/AR:H -> each 1.5 x 0.56 = 0.84; MISS = min(1 - 0.16^3, 0.915) = 0.915 (capped)
    # ModifiedImpact = 6.42 x 0.915 = 5.8743
    # MAV:A -> 8.22 x 0.62 x 0.77 x 0.85 x 0.85 = 2.8353; sum 8.7096 -> Roundup 8.8
    c = cv.parse_v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/CR:H/IR:H/AR:H/MAV:A")
    assert c.modified_impact() == pytest.approx(5.8743)
    assert c.modified_exploitability() == pytest.approx(2.83525, abs=1e-4)
    assert c.environmental_score() == 8.8


def test_environmental_low_requirements_by_hand() -> None:
    # Heartbleed with CR:L: MISS = 1 - (1 - 0.5 x 0.56) = 0.28; MI = 6.42 x 0.28 = 1.7976
    # + 3.8870 = 5.6846 -> Roundup 5.7
    c = cv.parse_v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N/CR:L")
    assert c.environmental_score() == 5.7


def test_environmental_scope_changed_uses_v31_formula() -> None:
    # v3.1 modified impact for MS:C: 7.52 (MISS - 0.029) - 3.25 (MISS x 0.9731 - 0.02)^13.
    # CVE-2012-1516: MISS = 1 - 0.44^3 = 0.914816
    # MI = 7.52 x 0.885816 - 3.25 x 0.870207^13 = 6.66134 - 0.53327 = 6.12807
    # ME = 8.22 x 0.85 x 0.77 x 0.68 x 0.85 = 3.10223; (6.12807 + 3.10223) x 1.08 = 9.9687 -> 10.0
    # (the v3.1 environmental formula differs from the base one for a changed scope, so the
    # environmental score with no environmental metric set is 10.0 while the base is 9.9.)
    c = cv.parse_v3("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H")
    assert c.modified_impact() == pytest.approx(6.12807, abs=1e-4)
    assert c.environmental_score() == 10.0
    # Modified scope unchanged: MPR:L -> 0.62, 6.42 x 0.914816 = 5.87312 + 2.82843 = 8.7016 -> 8.8
    assert c.with_metrics(MS="U").environmental_score() == 8.8


def test_v2_examples_from_the_guide() -> None:
    # CVSS v2 guide 3.3.1 CVE-2002-0392: AV:N/AC:L/Au:N/C:N/I:N/A:C -> 7.8
    # Impact = 10.41 x (1 - 0.34) = 6.8706; Expl = 20 x 1 x 0.71 x 0.704 = 9.9968
    # (0.6 x 6.8706 + 0.4 x 9.9968 - 1.5) x 1.176 = 7.8474 -> 7.8
    assert cv.parse_v2("AV:N/AC:L/Au:N/C:N/I:N/A:C").base_score() == 7.8
    # 3.3.3 CVE-2003-0062: AV:L/AC:H/Au:N/C:C/I:C/A:C -> 6.2
    assert cv.parse_v2("AV:L/AC:H/Au:N/C:C/I:C/A:C").base_score() == 6.2
    assert cv.parse_v2("(AV:N/AC:L/Au:N/C:C/I:C/A:C)").base_score() == 10.0
    assert cv.parse_v2("AV:N/AC:L/Au:N/C:P/I:P/A:P").base_score() == 7.5
    assert cv.parse_v2("AV:N/AC:L/Au:N/C:N/I:N/A:N").base_score() == 0.0


def test_v4_parses_and_keeps_metrics() -> None:
    c = cv.parse_v4("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:A")
    assert c.get("E") == "A"
    assert c.get("CR") == "X"
    assert isinstance(cv.parse("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"), cv.Cvss4)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "CVSS:3.1/",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N",  # A missing
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",  # base metric cannot be X
        "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",  # twice
        "CVSS:3.2/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N/ZZ:1",
        "AV:N/AC:L/Au:N/C:P/I:P",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",
    ],
)
def test_invalid_vectors_are_refused(bad: str) -> None:
    with pytest.raises(cv.CvssError):
        cv.parse(bad)


def test_with_metrics_checks_values() -> None:
    c = cv.parse_v3("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N")
    with pytest.raises(cv.CvssError):
        c.with_metrics(MAV="Q")
    assert c.with_metrics(CR="H").vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N/CR:H"


@given(st.text(max_size=120))
def test_fuzz_parse_only_raises_cvss_error(text: str) -> None:
    for prefix in ("", "CVSS:3.1/", "CVSS:4.0/", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N/"):
        try:
            parsed = cv.parse(prefix + text)
        except cv.CvssError:
            continue
        if isinstance(parsed, (cv.Cvss2, cv.Cvss3)):
            assert 0.0 <= parsed.base_score() <= 10.0


_V3_CHOICES = {
    "AV": "NALP",
    "AC": "LH",
    "PR": "NLH",
    "UI": "NR",
    "S": "UC",
    "C": "HLN",
    "I": "HLN",
    "A": "HLN",
    "CR": "XHML",
    "IR": "XHML",
    "AR": "XHML",
    "MAV": "XNALP",
    "MS": "XUC",
    "E": "XHFPU",
}


@given(st.fixed_dictionaries({k: st.sampled_from(list(v)) for k, v in _V3_CHOICES.items()}))
def test_every_v3_vector_scores_within_range(metrics: dict[str, str]) -> None:
    vector = "CVSS:3.1/" + "/".join(f"{k}:{v}" for k, v in metrics.items())
    c = cv.parse_v3(vector)
    for value in (c.base_score(), c.temporal_score(), c.environmental_score()):
        assert 0.0 <= value <= 10.0
        assert round(value, 1) == value
    assert c.temporal_score() <= c.base_score()
