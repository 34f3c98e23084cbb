"""Predicting and comparing two candidate devices from SBOM + MDS2 + placement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import DATA

from wardwatch.procure.model import ProcureError, comparison, predict, read_candidates
from wardwatch.services import vulns
from wardwatch.store.sql import open_store

PROC = DATA / "procure"


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = open_store(f"sqlite:///{tmp_path / 'p.sqlite'}")
    assert [r.status for r in vulns.import_feeds(s, paths=[str(PROC / "nvd-synthetic-wolfssl.json")])] == [
        "ok"
    ]
    yield s
    s.close()


def test_two_candidates_side_by_side(store) -> None:  # type: ignore[no-untyped-def]
    specs = read_candidates(PROC / "candidates.json")
    with store.transaction() as tx:
        a, b = (predict(tx, s) for s in specs)
    # Both SBOMs list wolfSSL 4.8.1, inside the synthetic record's "< 5.5.0" range.
    assert [f.vulnerability for f in a.facts] == ["CVE-2099-0001"] == [f.vulnerability for f in b.facts]
    assert a.sources["CVE-2099-0001"] == "sbom: WolfSSL"
    assert a.facts[0].fixed_version == "5.5.0"
    # The advisory names an HTTPS web server: the planned tcp/443 is the exposed vulnerable service.
    assert a.facts[0].services[1].port == 443
    # A: internet-reachable, MDS2 gaps; B: segmented, one peer. Same impact class, A more likely.
    assert a.score.likelihood > b.score.likelihood and a.score.risk > b.score.risk
    assert a.context.handles_phi and b.context.handles_phi  # MPII-1 Yes on both forms
    rows = comparison([a, b])
    assert [r["candidate"] for r in rows] == ["Pump A 100", "Pump B 200"]
    assert rows[0]["mds2_flags"] and "AUTH-1" in rows[0]["mds2_flags"]
    assert rows[1]["mds2_flags"] == ["MPII-1", "CSUP-1"]
    assert (
        rows[0]["best_option"] == "upgrade to 5.5.0 (fixes CVE-2099-0001)"
        and rows[0]["residual_after_best"] == 0.0
    )
    recs = "\n".join(a.recommendations)
    assert "do not expose it to the internet" in recs and "disable Telnet (tcp/23)" in recs
    assert "MDS2 RMOT-1 Yes" in recs and "allow 10.20.0.5 -> this:tcp/443" in recs


def test_bad_candidates_file(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    for text, message in [
        ("[]", "expected"),
        ('{"candidates": [{"name": "x", "placement": {"services": ["tcp/70000"]}}]}', "placement.services"),
        ('{"candidates": [{}]}', "needs a name"),
    ]:
        bad.write_text(text)
        with pytest.raises(ProcureError, match=message):
            read_candidates(bad)
    bad.write_text(json.dumps({"candidates": [{"name": "x", "mds2": "missing.json"}]}))
    (spec,) = read_candidates(bad)
    with pytest.raises(ProcureError, match=r"missing\.json"):
        predict(None, spec)


@given(st.text(max_size=200))
def test_fuzz_candidates_file(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("c") / "c.json"
    path.write_text(text)
    try:
        specs = read_candidates(path)
    except ProcureError:
        return
    assert specs and all(s.name for s in specs)
