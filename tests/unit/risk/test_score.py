"""The scoring function: edge cases against hand-computed expectations (computation in comments)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wardwatch.risk.score import (
    SCORING_VERSION,
    DeviceContext,
    FindingFacts,
    ObservedService,
    PublishedCvss,
    ServiceRef,
    score,
)
from wardwatch.risk.ssvc import Decision

CRIT = PublishedCvss("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8)
SMB = ServiceRef("tcp", 445, "smb")

PUMP = DeviceContext(
    device_id=1,
    clinical_category="therapeutic",
    services=(ObservedService("tcp", 445, "smb", clients=3),),
    peers=3,
    subnets=("10.0.1.0/24", "10.0.2.0/24"),
    dependents=3,
)
KEV_SMB = FindingFacts("CVE-2017-0144", cvss=(CRIT,), kev=True, services=(SMB,), fixed_version="2.0")


def test_kev_smb_on_a_flat_network_by_hand() -> None:
    # Environment: CR:M (no PHI), IR:H and AR:H (therapeutic), MAV:A (no internet host, no path).
    # exploitability = 8.22 x 0.62 x 0.77 x 0.85 x 0.85 / 3.88704 = 2.83525 / 3.88704 = 0.72941
    # threat = 1.0 (KEV); exposure = 1.0 (tcp/445 in use) x 0.6 (flat: 2 subnets) = 0.6
    # likelihood = 10 x (0.30 x 0.72941 + 0.35 x 1.0 + 0.35 x 0.6) = 7.788 -> 7.8
    # MISS = min(1 - 0.44 x 0.16 x 0.16, 0.915) = 0.915 -> technical = 5.8743 / 5.8743 = 1.0
    # impact = 10 x (0.45 x 1.0 + 0.30 x 0.8 + 0.15 x 0 + 0.10 x 0.3) = 7.2
    # risk = sqrt(7.788 x 7.2) = 7.488 -> 7.5; SSVC active/yes/total/high -> Act
    result = score([KEV_SMB], PUMP)
    assert result.version == SCORING_VERSION
    assert (result.likelihood, result.impact, result.risk) == (7.8, 7.2, 7.5)
    assert result.decision is Decision.ACT
    f = result.findings[0]
    assert f.cvss_base == 9.8
    assert f.cvss_environmental_vector is not None and "CR:M/IR:H/AR:H/MAV:A" in f.cvss_environmental_vector
    assert f.ssvc.vector == "E:active/A:yes/T:total/M:high"
    # The explanation names every factor with its weight.
    text = "\n".join(result.explanation)
    for name, weight in [
        ("exploitability", 0.3),
        ("threat", 0.35),
        ("exposure", 0.35),
        ("technical impact", 0.45),
        ("clinical category", 0.3),
        ("PHI", 0.15),
        ("dependents", 0.1),
    ]:
        assert f"{name}: weight {weight} x value" in text
    assert "in CISA KEV" in text and "tcp/445 (3 clients)" in text


def test_blocking_the_vulnerable_service_by_hand() -> None:
    # MAV:L -> exploitability = 8.22 x 0.55 x 0.77 x 0.85 x 0.85 / 3.88704 = 0.64707; exposure = 0
    # likelihood = 10 x (0.30 x 0.64707 + 0.35 x 1.0 + 0) = 5.441 -> 5.4; impact 7.2
    # risk = sqrt(5.441 x 7.2) = 6.259 -> 6.3; the finding is mitigated in context -> Track
    result = score([KEV_SMB], replace(PUMP, blocked=frozenset({("tcp", 445)})))
    assert (result.likelihood, result.impact, result.risk) == (5.4, 7.2, 6.3)
    assert result.decision is Decision.TRACK
    assert any("blocked" in r for r in result.findings[0].ssvc_reasons)


def test_patched_means_no_likelihood_and_no_risk() -> None:
    result = score([replace(KEV_SMB, patched=True)], PUMP)
    assert (result.likelihood, result.risk) == (0.0, 0.0)
    assert result.impact == 7.2  # harm if it were exploited is unchanged
    assert result.decision is Decision.TRACK


def test_no_findings_scores_zero_and_says_why() -> None:
    result = score([], PUMP)
    assert (result.risk, result.likelihood, result.impact, result.decision) == (0.0, 0.0, 0.0, None)
    assert result.explanation == ("no active findings: risk 0",)


def test_unknown_everything_uses_documented_defaults() -> None:
    # exploitability 0.5 (no vector), threat 0.1 (floor), exposure 0.4 (no service) x 0.3 (no peers) = 0.12
    # likelihood = 10 x (0.15 + 0.035 + 0.042) = 2.27 -> 2.3
    # impact = 10 x (0.45 x 0.5 + 0.30 x 0.5 + 0 + 0) = 3.75; risk = sqrt(2.27 x 3.75) = 2.918 -> 2.9
    # SSVC none/no/partial/medium (category unknown) -> Track
    result = score([FindingFacts("CVE-0000-0001")], DeviceContext(device_id=2))
    assert result.likelihood == 2.3
    assert result.impact == pytest.approx(3.75, abs=0.051)
    assert result.risk == 2.9
    assert result.decision is Decision.TRACK


def test_internet_exposure_raises_likelihood_over_segmented() -> None:
    facts = [FindingFacts("CVE-1", cvss=(CRIT,))]
    base = DeviceContext(device_id=3, clinical_category="diagnostic", peers=1, subnets=("10.0.0.0/24",))
    internet = score(facts, replace(base, internet_peers=("8.8.8.8",)))
    path = score(facts, replace(base, attack_path=("203.0.113.5", "10.0.0.9", "10.0.0.7")))
    local = score(facts, base)
    segmented = score(facts, replace(base, internet_peers=("8.8.8.8",), segmented=True))
    assert internet.likelihood > path.likelihood > local.likelihood
    assert segmented.likelihood < internet.likelihood
    assert "203.0.113.5 -> 10.0.0.9 -> 10.0.0.7" in "\n".join(path.explanation)


def test_clinical_category_orders_impact() -> None:
    facts = [FindingFacts("CVE-1", cvss=(CRIT,))]
    impacts = [
        score(facts, DeviceContext(device_id=1, clinical_category=c)).impact
        for c in ("life-sustaining", "therapeutic", "diagnostic", "clinical support", "non-clinical")
    ]
    assert impacts == sorted(impacts, reverse=True) and len(set(impacts)) == 5


def test_phi_sets_confidentiality_requirement_high() -> None:
    facts = [
        FindingFacts(
            "CVE-1", cvss=(PublishedCvss("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 7.5),)
        )
    ]
    plain = score(facts, DeviceContext(device_id=1)).findings[0]
    phi = score(
        facts, DeviceContext(device_id=1, handles_phi=True, phi_evidence=("HL7 traffic observed",))
    ).findings[0]
    assert plain.cvss_environmental_vector is not None and "CR:M" in plain.cvss_environmental_vector
    assert phi.cvss_environmental_vector is not None and "CR:H" in phi.cvss_environmental_vector
    assert phi.impact > plain.impact


def test_vulnrichment_wins_over_kev_and_cvss_heuristics() -> None:
    facts = FindingFacts(
        "CVE-1",
        cvss=(CRIT,),
        kev=True,
        ssvc_exploitation="poc",
        ssvc_automatable="no",
        ssvc_technical_impact="partial",
    )
    f = score([facts], DeviceContext(device_id=1, clinical_category="life-sustaining")).findings[0]
    assert f.ssvc.vector == "E:poc/A:no/T:partial/M:high"
    assert f.decision is Decision.TRACK_STAR


def test_v4_and_v2_and_broken_vectors() -> None:
    v4 = PublishedCvss("4.0", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3)
    f = score([FindingFacts("CVE-4", cvss=(v4,))], DeviceContext(device_id=1)).findings[0]
    assert (f.cvss_version, f.cvss_base) == ("4.0", 9.3)
    assert f.ssvc.automatable == "yes" and f.ssvc.technical_impact == "total"
    v2 = PublishedCvss("2.0", "AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0)
    broken = PublishedCvss("3.1", "CVSS:3.1/AV:N", 9.0)
    g = score([FindingFacts("CVE-2", cvss=(broken, v2))], DeviceContext(device_id=1)).findings[0]
    assert (g.cvss_version, g.cvss_base) == ("2.0", 10.0)


def test_device_takes_its_worst_finding() -> None:
    low = FindingFacts(
        "CVE-LOW", cvss=(PublishedCvss("3.1", "CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),)
    )
    result = score([low, KEV_SMB], PUMP)
    assert result.top == "CVE-2017-0144"
    assert result.risk == max(f.risk for f in result.findings)
    assert [f.vulnerability for f in result.findings] == ["CVE-2017-0144", "CVE-LOW"]
    assert result.decisions()["Act"] == 1


def test_score_is_pure() -> None:
    assert score([KEV_SMB], PUMP) == score([KEV_SMB], PUMP)


_facts = st.builds(
    FindingFacts,
    vulnerability=st.sampled_from(["CVE-1", "CVE-2", "CVE-3"]),
    cvss=st.lists(st.sampled_from([CRIT, PublishedCvss("3.1", "junk", 1.0)]), max_size=2).map(tuple),
    kev=st.booleans(),
    epss=st.none() | st.floats(0, 1),
    epss_percentile=st.none() | st.floats(0, 1),
    ssvc_exploitation=st.none() | st.sampled_from(["none", "poc", "active", "??"]),
    services=st.lists(st.sampled_from([SMB, ServiceRef("tcp", 80)]), max_size=2).map(tuple),
    patched=st.booleans(),
    workaround=st.booleans(),
)
_ctx = st.builds(
    DeviceContext,
    device_id=st.just(1),
    clinical_category=st.none() | st.sampled_from(["life-sustaining", "non-clinical", "weird"]),
    handles_phi=st.booleans(),
    internet_peers=st.lists(st.just("8.8.8.8"), max_size=1).map(tuple),
    dependents=st.integers(0, 100),
    blocked=st.sets(st.sampled_from([("tcp", 445), ("tcp", 80)])).map(frozenset),
    segmented=st.booleans(),
    allowlisted=st.booleans(),
    rubric_metrics=st.dictionaries(
        st.sampled_from(["CR", "AR", "MAV"]), st.sampled_from(["H", "L", "Q"]), max_size=2
    ),
)


@given(st.lists(_facts, max_size=4), _ctx)
def test_scores_stay_in_range_and_follow_the_formula(facts: list[FindingFacts], ctx: DeviceContext) -> None:
    result = score(facts, ctx)
    for f in result.findings:
        assert 0 <= f.likelihood <= 10 and 0 <= f.impact <= 10 and 0 <= f.risk <= 10
        # risk = sqrt(likelihood x impact) before the three are rounded to 0.1 each: the shown
        # likelihood and impact may each be 0.05 off the ones the risk came from, the risk too
        low = math.sqrt(max(f.likelihood - 0.05, 0.0) * max(f.impact - 0.05, 0.0)) - 0.05
        high = math.sqrt((f.likelihood + 0.05) * (f.impact + 0.05)) + 0.05
        assert low - 1e-9 <= f.risk <= high + 1e-9
    assert result.risk == (max(f.risk for f in result.findings) if result.findings else 0.0)
