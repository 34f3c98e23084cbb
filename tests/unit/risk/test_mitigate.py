"""Mitigation options re-score the hypothetical state; the fleet what-if counts decision changes."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from wardwatch.risk.mitigate import Change, Kind, apply, options, what_if
from wardwatch.risk.score import (
    DeviceContext,
    FindingFacts,
    ObservedService,
    PublishedCvss,
    ServiceRef,
    score,
)
from wardwatch.services.risk import RiskError, parse_service

CRIT = PublishedCvss("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8)
SMB = ServiceRef("tcp", 445, "smb")
CTX = DeviceContext(
    device_id=7,
    clinical_category="diagnostic",
    handles_phi=True,
    phi_evidence=("DICOM traffic observed",),
    services=(ObservedService("tcp", 445, "smb", clients=2), ObservedService("tcp", 104, "dicom", clients=4)),
    peers=6,
    internet_peers=("198.51.100.7",),
    subnets=("10.0.1.0/24", "10.0.2.0/24"),
    dependents=4,
)
SMB_VULN = FindingFacts("CVE-2017-0144", cvss=(CRIT,), kev=True, services=(SMB,))
FIXABLE = FindingFacts(
    "CVE-2020-0001", cvss=(CRIT,), epss_percentile=0.5, fixed_version="5.2", remediations=("Update to 5.2",)
)


def test_options_are_ranked_by_residual_risk_and_rescored() -> None:
    opts = options([SMB_VULN, FIXABLE], CTX, ("allow 10.0.1.2 -> this:tcp/104", "deny everything else"))
    assert [o.rank for o in opts] == list(range(1, len(opts) + 1))
    residuals = [o.after.risk for o in opts]
    assert residuals == sorted(residuals)
    kinds = {o.kind for o in opts}
    assert kinds == {Kind.PATCH, Kind.BLOCK, Kind.WORKAROUND, Kind.ALLOWLIST, Kind.SEGMENT}
    block = next(o for o in opts if o.kind is Kind.BLOCK)
    assert block.title == "block or disable TCP/445 (smb)"
    assert "2 client(s)" in block.detail[0]
    assert ("CVE-2017-0144", "Act", "Track") in block.transitions
    # The residual is exactly the score of the changed inputs.
    facts, ctx = apply(Change(Kind.BLOCK, block=(SMB,)), [SMB_VULN, FIXABLE], CTX)
    assert block.after == score(facts, ctx)
    assert ctx.blocked == frozenset({("tcp", 445)}) and CTX.blocked == frozenset()
    allow = next(o for o in opts if o.kind is Kind.ALLOWLIST)
    assert allow.detail == ("allow 10.0.1.2 -> this:tcp/104", "deny everything else")


def test_patching_the_only_finding_leaves_no_risk() -> None:
    opts = options([FIXABLE], CTX)
    patch = next(o for o in opts if o.kind is Kind.PATCH)
    assert patch.after.risk == 0.0 and patch.rank == 1
    assert patch.title == "upgrade to 5.2 (fixes CVE-2020-0001)"


def test_no_findings_no_options() -> None:
    assert options([], CTX) == []


def test_fleet_what_if_counts_findings_and_devices() -> None:
    fleet = [
        ([SMB_VULN], CTX),
        ([SMB_VULN, FIXABLE], replace(CTX, device_id=8)),
        ([FIXABLE], replace(CTX, device_id=9)),
    ]
    result = what_if(Change(Kind.BLOCK, block=(SMB,)), fleet, "block SMB")
    assert result.devices == 3
    assert result.transitions == {"Act->Track": (2, 2)}
    assert result.findings_changed == 2 and result.devices_changed == 2
    assert result.risk_after < result.risk_before
    assert result.summary() == "block SMB: 2 finding(s) on 2 device(s) go from Act to Track"
    nothing = what_if(Change(Kind.BLOCK, block=(ServiceRef("tcp", 23),)), fleet, "block telnet")
    assert nothing.transitions == {} and "no SSVC decision changes" in nothing.summary()


@given(st.text(max_size=30))
def test_fuzz_service_parser(text: str) -> None:
    try:
        service = parse_service(text)
    except RiskError:
        return
    assert service.transport in ("tcp", "udp") and 0 < service.port < 65536


def test_service_parser_forms() -> None:
    assert parse_service("tcp/445") == ServiceRef("tcp", 445, "smb")
    assert parse_service("161/udp") == ServiceRef("udp", 161, "snmp")
    assert parse_service("SMBv1").key == ("tcp", 445)
    assert parse_service("rdp").key == ("tcp", 3389)
