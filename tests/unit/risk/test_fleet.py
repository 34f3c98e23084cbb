"""The fleet fast path's pieces: the context signature, device_score, the JSON writer, subnet_of."""

from __future__ import annotations

import ipaddress
import json
import math
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from wardwatch.risk.exposure import subnet_of
from wardwatch.risk.fleet import json_dumps
from wardwatch.risk.score import (
    DeviceContext,
    FindingFacts,
    ObservedService,
    PublishedCvss,
    ServiceRef,
    context_signature,
    device_parts,
    device_score,
    score,
    score_finding,
)

CRIT = PublishedCvss("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8)
V2 = PublishedCvss("2.0", "AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5)
SMB = ServiceRef("tcp", 445, "smb")

_facts = st.builds(
    FindingFacts,
    vulnerability=st.sampled_from(["CVE-1", "CVE-2", "CVE-3"]),
    cvss=st.lists(st.sampled_from([CRIT, V2, PublishedCvss("3.1", "junk", 1.0)]), max_size=2).map(tuple),
    kev=st.booleans(),
    kev_ransomware=st.booleans(),
    epss=st.none() | st.floats(0, 1),
    epss_percentile=st.none() | st.floats(0, 1),
    ssvc_exploitation=st.none() | st.sampled_from(["none", "poc", "active"]),
    services=st.lists(st.sampled_from([SMB, ServiceRef("tcp", 80)]), max_size=2).map(tuple),
    fixed_version=st.none() | st.just("2.0"),
    patched=st.booleans(),
    workaround=st.booleans(),
)
_ips = st.lists(st.sampled_from(["10.0.0.1", "10.0.1.1", "10.0.2.7", "8.8.8.8"]), max_size=3).map(tuple)
_ctx = st.builds(
    DeviceContext,
    device_id=st.integers(1, 10**6),
    label=st.text(max_size=5),
    device_type=st.none() | st.sampled_from(["ct", "infusion_pump"]),
    clinical_category=st.none() | st.sampled_from(["life-sustaining", "diagnostic", "non-clinical"]),
    handles_phi=st.booleans(),
    phi_evidence=st.lists(st.sampled_from(["HL7 traffic observed", "serves tcp/104"]), max_size=2).map(tuple),
    services=st.lists(
        st.builds(ObservedService, st.just("tcp"), st.sampled_from([80, 445]), clients=st.integers(0, 3)),
        max_size=2,
    ).map(tuple),
    peers=st.integers(0, 5),
    internet_peers=st.lists(st.just("8.8.8.8"), max_size=1).map(tuple),
    subnets=st.lists(st.sampled_from(["10.0.0.0/24", "10.0.1.0/24"]), max_size=2).map(tuple),
    attack_path=_ips,
    dependents=st.integers(0, 20),
    rubric_metrics=st.dictionaries(
        st.sampled_from(["CR", "AR", "MAV"]), st.sampled_from(["H", "L"]), max_size=2
    ),
    blocked=st.sets(st.sampled_from([("tcp", 445), ("tcp", 80)])).map(frozenset),
    segmented=st.booleans(),
    allowlisted=st.booleans(),
)


@given(_facts, _ctx, st.integers(1, 10**6), st.text(max_size=5), st.sampled_from(["10.9.9.0/24", "x"]))
def test_contexts_with_equal_signatures_score_a_finding_alike(
    facts: FindingFacts, ctx: DeviceContext, other_id: int, other_label: str, subnet: str
) -> None:
    # Everything outside the signature changed (subnets keep their count): the score must not move.
    other = replace(
        ctx,
        device_id=other_id,
        label=other_label,
        device_type="printer",
        subnets=tuple(subnet for _ in ctx.subnets),
        vlans=(7,),
    )
    assert context_signature(other) == context_signature(ctx)
    assert score_finding(facts, other, device_parts(other)) == score_finding(facts, ctx)


@given(_ctx)
def test_signature_separates_contexts_that_score_differently(ctx: DeviceContext) -> None:
    facts = FindingFacts("CVE-1", cvss=(CRIT,), services=(SMB,))
    for changed in (
        replace(ctx, peers=ctx.peers + 1),
        replace(ctx, segmented=not ctx.segmented),
        replace(ctx, subnets=(*ctx.subnets, "10.3.0.0/24")),
    ):
        if score_finding(facts, changed) != score_finding(facts, ctx):
            assert context_signature(changed) != context_signature(ctx)


@given(st.lists(_facts, max_size=5), _ctx)
def test_device_score_of_scored_findings_is_score(facts: list[FindingFacts], ctx: DeviceContext) -> None:
    parts = device_parts(ctx)
    assert device_score([score_finding(f, ctx, parts) for f in facts], ctx) == score(facts, ctx)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@given(_json)
def test_json_dumps_writes_exactly_what_json_dumps_writes(value: object) -> None:
    assert json_dumps()(value) == json.dumps(value)


def test_json_dumps_special_floats_and_unicode() -> None:
    dumps = json_dumps()
    value = {"a": [math.nan, math.inf, -0.0, 0.1 + 0.2], "é": "PHI-free ✓"}
    assert dumps(value) == json.dumps(value)


@given(
    st.lists(
        st.integers(0, 300).map(str) | st.sampled_from(["01", "00", "", "x", "١"]), min_size=1, max_size=5
    ).map(".".join)
    | st.ip_addresses().map(str)
)
def test_subnet_of_fast_path_agrees_with_ipaddress(ip: str) -> None:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        expected = ip
    else:
        prefix = 24 if addr.version == 4 else 64
        expected = str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
    assert subnet_of(ip) == expected
