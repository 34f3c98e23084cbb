"""Feed readers on real samples (tests/data/feeds, see SOURCES.md) and on malformed input."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.feeds.base import FeedError, JsonStreamError, iter_json, sniff
from wardwatch.feeds.csaf import read_csaf
from wardwatch.feeds.cyclonedx import read_cyclonedx
from wardwatch.feeds.epss import read_epss
from wardwatch.feeds.kev import read_kev
from wardwatch.feeds.nvd import read_nvd
from wardwatch.feeds.openvex import parse_openvex
from wardwatch.feeds.spdx import read_spdx
from wardwatch.feeds.vulnrichment import read_vulnrichment
from wardwatch.model.advisory import FeedFormat, primary_score

FEEDS = Path(__file__).parents[2] / "data" / "feeds"


def test_nvd_bare_record_configurations_and_scores() -> None:
    [adv] = list(read_nvd(FEEDS / "nvd" / "CVE-2019-10964.json"))
    assert adv.id == "CVE-2019-10964" and adv.status == "Modified"
    assert adv.revision == "2025-05-22T19:15:22.413"
    assert {s.version for s in adv.scores} == {"3.1", "3.0", "2.0"}
    # Newest version first; here the CNA's 3.1 (Secondary) is the only 3.1 score.
    best = primary_score(adv.scores)
    assert best is not None and (best.version, best.base_score) == ("3.1", 7.1)
    conf = adv.configurations[0]
    assert conf.operator == "AND" and len(conf.nodes) == 2
    assert conf.nodes[1].matches[0].vulnerable is False
    assert "CWE-284" in adv.cwes


def test_nvd_escaped_cpe_and_bluekeep() -> None:
    [bk] = list(read_nvd(FEEDS / "nvd" / "CVE-2019-0708.json"))
    crit = [m.criteria for c in bk.configurations for n in c.nodes for m in n.matches]
    assert any("windows_7" in c for c in crit) and any("huawei" in c for c in crit)


def test_nvd_envelope_streams_and_gzip() -> None:
    page = list(read_nvd(FEEDS / "nvd" / "vunnel-full-page-2023-10-18.json"))
    assert len(page) == 38 and all(a.id.startswith("CVE-") for a in page)
    gz = list(read_nvd(FEEDS / "nvd" / "nvd-go-cves-CVE-2023-0001.json.gz"))
    assert [a.id for a in gz] == ["CVE-2023-0001"]


def test_nvd_bad_record_names_file_and_record(tmp_path: Path) -> None:
    good = json.loads((FEEDS / "nvd" / "CVE-2022-2121.json").read_text())
    bad = dict(good)
    del bad["lastModified"]
    p = tmp_path / "page.json"
    p.write_text(json.dumps({"format": "NVD_CVE", "vulnerabilities": [{"cve": good}, {"cve": bad}]}))
    with pytest.raises(FeedError) as e:
        list(read_nvd(p))
    assert str(p) in str(e.value) and "record 1 (CVE-2022-2121)" in str(e.value)
    assert "lastModified" in str(e.value)


def test_truncated_json_gives_offset(tmp_path: Path) -> None:
    p = tmp_path / "cut.json.gz"
    text = (FEEDS / "nvd" / "vunnel-full-page-2023-10-18.json").read_text()
    p.write_bytes(gzip.compress(text[: len(text) // 2].encode()))
    with pytest.raises(FeedError) as e:
        list(read_nvd(p))
    assert "offset" in str(e.value)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_iter_json_fuzz_only_stream_error(text: str) -> None:
    with contextlib.suppress(JsonStreamError):
        list(iter_json(io.StringIO(text), frozenset({"vulnerabilities"})))


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.integers() | st.text(max_size=5), lambda c: st.lists(c, max_size=3), max_leaves=8
    )
)
def test_iter_json_round_trips_arrays(items: object) -> None:
    doc = {"a": 1, "vulnerabilities": items if isinstance(items, list) else [items], "z": "end"}
    entries = list(iter_json(io.StringIO(json.dumps(doc)), frozenset({"vulnerabilities"})))
    streamed = [e.value for e in entries if e.item]
    assert streamed == doc["vulnerabilities"]
    assert [e.key for e in entries if not e.item] == ["a", "z"]


def test_csaf_products_and_status() -> None:
    adv = read_csaf(FEEDS / "csaf" / "icsma-21-196-01.json")
    assert adv.id == "ICSMA-21-196-01" and ("cve", "CVE-2021-27491") in adv.aliases
    app = next(p for p in adv.products if p.product_id == "CSAFPID-0001")
    assert (app.vendor, app.product, app.versions, app.version_is_range) == (
        "Ypsomed",
        "Ypsomed mylife App",
        "< 1.7.5",
        True,
    )
    assert adv.vulnerabilities[0].status["affected"] == ("CSAFPID-0001", "CSAFPID-0002")
    assert primary_score(adv.scores) is not None


def test_csaf_malformed(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"document": {"csaf_version": "2.0", "tracking": {}}}))
    with pytest.raises(FeedError, match="missing field 'id'"):
        read_csaf(p)


def test_kev_epss_vulnrichment() -> None:
    kev = list(read_kev(FEEDS / "kev" / "kev-trimmed.json"))
    assert len(kev) == 5 and {k.catalog_version for k in kev} == {"2025.08.25"}
    assert any(k.cve == "CVE-2019-0708" for k in kev)
    epss = list(read_epss(FEEDS / "epss" / "epss-handwritten.csv"))
    assert epss[0].model_version == "v2023.03.01" and epss[0].score_date.startswith("2024-10-24")
    ssvc = read_vulnrichment(FEEDS / "vulnrichment" / "CVE-2022-2121.json")
    assert ssvc is not None and (ssvc.exploitation, ssvc.automatable, ssvc.technical_impact) == (
        "none",
        "no",
        "total",
    )


def test_epss_bad_line(tmp_path: Path) -> None:
    p = tmp_path / "e.csv"
    p.write_text(
        "#model_version:v1,score_date:2024-01-01\ncve,epss,percentile\nCVE-2020-0001,0.5,0.5\nCVE-2020-0002,x,0.1\n"
    )
    with pytest.raises(FeedError, match="line 4 \\(CVE-2020-0002\\)"):
        list(read_epss(p))


def test_sbom_and_vex_readers() -> None:
    sb = read_cyclonedx(FEEDS / "sbom" / "medical-narrow.cdx.json")
    assert sb.spec_version == "1.4" and len(sb.components) > 5
    assert any(c.cpe.startswith("cpe:2.3:") for c in sb.components)
    vex = read_cyclonedx(FEEDS / "sbom" / "cisa-case1-vex-not_affected.cdx.json")
    [st_] = vex.statements
    assert (st_.vulnerability, st_.state, st_.justification, st_.model) == (
        "CVE-2021-44228",
        "not_affected",
        "code_not_present",
        "ABC",
    )
    spdx = read_spdx(FEEDS / "sbom" / "spdx23-sbom-with-source.json")
    assert spdx.spec_version == "SPDX-2.3" and spdx.components
    ov = parse_openvex(
        {
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": "https://example.org/vex-1",
            "author": "Example Medical",
            "timestamp": "2024-01-01T00:00:00Z",
            "statements": [
                {
                    "vulnerability": {"name": "CVE-2019-0708"},
                    "products": [{"@id": "Pump 9"}],
                    "status": "not_affected",
                    "justification": "vulnerable_code_not_in_execute_path",
                }
            ],
        }
    )
    assert ov.statements[0].state == "not_affected" and ov.statements[0].justification == "code_not_reachable"


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("nvd/CVE-2019-0708.json", FeedFormat.NVD),
        ("nvd/vunnel-full-page-2023-10-18.json", FeedFormat.NVD),
        ("nvd/nvd-go-cves-CVE-2023-0001.json.gz", FeedFormat.NVD),
        ("csaf/icsma-21-196-01.json", FeedFormat.CSAF),
        ("kev/kev-trimmed.json", FeedFormat.KEV),
        ("epss/epss-handwritten.csv", FeedFormat.EPSS),
        ("vulnrichment/CVE-2022-2121.json", FeedFormat.VULNRICHMENT),
        ("sbom/medical-narrow.cdx.json", FeedFormat.CYCLONEDX),
        ("sbom/spdx23-sbom-with-source.json", FeedFormat.SPDX),
    ],
)
def test_sniff(path: str, fmt: FeedFormat) -> None:
    assert sniff(FEEDS / path) is fmt


def test_sniff_unknown(tmp_path: Path) -> None:
    p = tmp_path / "x.json"
    p.write_text('{"hello": 1}')
    with pytest.raises(FeedError, match="unknown feed format"):
        sniff(p)
