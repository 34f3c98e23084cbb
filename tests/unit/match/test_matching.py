"""Matchers on real advisories: NVD CPE configurations, CSAF products, and the labelled ICSMA set."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from wardwatch.feeds.csaf import read_csaf
from wardwatch.feeds.nvd import read_nvd
from wardwatch.match import csaf_product, nvd_cpe
from wardwatch.match.names import candidates, canonical_vendor
from wardwatch.model.advisory import FindingStatus

ROOT = Path(__file__).parents[3]
FEEDS = ROOT / "tests" / "data" / "feeds"


def _nvd(cve: str):  # type: ignore[no-untyped-def]
    [adv] = list(read_nvd(FEEDS / "nvd" / f"{cve}.json"))
    return adv


def _cands(**kw: str | None):  # type: ignore[no-untyped-def]
    base: dict[str, str | None] = {
        "vendor": None,
        "model": None,
        "model_number": None,
        "firmware": None,
        "os": None,
        "os_version": None,
    }
    base.update(kw)
    return candidates(**base)  # type: ignore[arg-type]


def test_vendor_aliases() -> None:
    assert canonical_vendor("Becton, Dickinson  and Company") == "bd"
    assert canonical_vendor("Becton, Dickinson and Company (BD)") == "bd"
    assert canonical_vendor("General Electric (GE)") == canonical_vendor("GE Healthcare") == "ge"
    assert canonical_vendor("Acme Widgets, Inc.") == "acme"


def test_and_configuration_firmware_on_hardware() -> None:
    adv = _nvd("CVE-2019-10964")
    v = nvd_cpe.match_advisory(adv, _cands(vendor="Medtronic", model="MiniMed 508", firmware="2.4a"))
    assert v is not None and v.status is FindingStatus.AFFECTED
    matched = v.evidence["matched"]
    assert isinstance(matched, list) and matched[0]["criteria"].startswith(
        "cpe:2.3:o:medtronic:minimed_508_firmware"
    )
    # A different model of the same vendor is not matched.
    assert nvd_cpe.match_advisory(adv, _cands(vendor="Medtronic", model="MiniMed 670G")) is None


def test_version_range_and_unknown_version() -> None:
    adv = _nvd("CVE-2020-12040")  # sigma_spectrum firmware 6.0 .. 6.05 and 8.0
    inside = nvd_cpe.match_advisory(adv, _cands(vendor="Baxter", model="Sigma Spectrum", firmware="6.02"))
    assert inside is not None and inside.status is FindingStatus.AFFECTED
    assert (
        nvd_cpe.match_advisory(adv, _cands(vendor="Baxter", model="Sigma Spectrum", firmware="7.0")) is None
    )
    unknown = nvd_cpe.match_advisory(adv, _cands(vendor="Baxter", model="Sigma Spectrum"))
    assert unknown is not None and unknown.status is FindingStatus.POSSIBLY_AFFECTED
    assert "firmware unknown" in unknown.reason and unknown.confidence < inside.confidence


def test_running_on_platform_not_identified_is_possible() -> None:
    adv = _nvd("CVE-2021-33882")
    v = nvd_cpe.match_advisory(adv, _cands(vendor="B. Braun", model="SpaceCom2", firmware="012u000061"))
    assert v is not None and v.status is FindingStatus.POSSIBLY_AFFECTED and "running-on" in v.reason
    assert (
        nvd_cpe.match_advisory(adv, _cands(vendor="B. Braun", model="SpaceCom2", firmware="012u000062"))
        is None
    )


def test_bluekeep_by_os() -> None:
    adv = _nvd("CVE-2019-0708")
    v = nvd_cpe.match_advisory(adv, _cands(os="Windows", os_version="NT 6.1"))
    assert v is not None and v.status is FindingStatus.AFFECTED
    assert nvd_cpe.match_advisory(adv, _cands(os="Windows 10")) is None


def test_csaf_products_versions_and_fixed() -> None:
    adv = read_csaf(FEEDS / "csaf" / "icsma-21-196-01.json")
    hit = csaf_product.match_advisory(adv, csaf_product.Identity("Ypsomed", "mylife App", None, "1.7.4"))
    assert {h.vulnerability for h in hit} == {
        "CVE-2021-27491",
        "CVE-2021-27495",
        "CVE-2021-27499",
        "CVE-2021-27503",
    }
    assert all(h.status is FindingStatus.AFFECTED for h in hit)
    assert (
        csaf_product.match_advisory(adv, csaf_product.Identity("Ypsomed", "mylife App", None, "1.7.5")) == []
    )
    unknown = csaf_product.match_advisory(adv, csaf_product.Identity("Ypsomed", "mylife App", None, None))
    assert unknown and all(h.status is FindingStatus.POSSIBLY_AFFECTED for h in unknown)
    assert unknown[0].reason == "device firmware version unknown"
    other = csaf_product.match_advisory(adv, csaf_product.Identity("Roche", "mylife App", None, "1.0"))
    assert other == []


def test_csaf_unreadable_version_text_is_possible_with_reason() -> None:
    adv = read_csaf(FEEDS / "csaf" / "icsma-19-164-01.json")
    hits = csaf_product.match_advisory(
        adv, csaf_product.Identity("BD", "Alaris Gateway Workstation", None, "2.0")
    )
    assert hits and any("not machine-readable" in h.reason for h in hits)


def test_labelled_icsma_precision_recall() -> None:
    spec = importlib.util.spec_from_file_location("vuln_eval", ROOT / "tools" / "vuln_eval.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    labelled = json.loads((FEEDS / "icsma-labelled.json").read_text())
    r = mod.evaluate(labelled, mod.load_advisories(FEEDS))
    # Reached on 2026-11-23: precision 1.000, recall 1.000 on 25 identities (44 true findings); must not regress.
    assert r["precision"] >= 0.99 and r["recall"] >= 0.99, r["errors"]


def test_purl_parts() -> None:
    from wardwatch.match.sbom_component import purl_base, purl_version

    assert purl_base("pkg:npm/%40angular/core@12.0.0?x=1#sub") == "pkg:npm/%40angular/core"
    assert purl_version("pkg:pypi/django@4.2.1") == "4.2.1"
    assert purl_base("not a purl") == "" and purl_version("pkg:generic/x") is None


def test_triage_current_decision_rule() -> None:
    from wardwatch.triage.decisions import current_analysis, model_key

    assert model_key("Becton, Dickinson and Company", "Alaris 8015 PC Unit") == model_key(
        "BD", "alaris 8015 pc unit"
    )
    mk = model_key("Sysmex", "XN-1000")
    hist = [
        {"scope": "model", "target": mk, "state": "in_triage"},
        {"scope": "device", "target": "7", "state": "exploitable"},
        {"scope": "model", "target": mk, "state": "not_affected"},
    ]
    assert current_analysis(hist, 7, mk)["state"] == "exploitable"  # type: ignore[index]
    assert current_analysis(hist, 8, mk)["state"] == "not_affected"  # type: ignore[index]
    assert current_analysis(hist, 8, "other|x") is None


def test_csaf_model_family_range() -> None:
    adv = read_csaf(FEEDS / "csaf" / "icsma-18-156-01.json")
    hits = csaf_product.match_advisory(
        adv, csaf_product.Identity("Philips", "IntelliVue MX450", None, "K.10.40")
    )
    assert {h.vulnerability for h in hits} == {"CVE-2018-10597", "CVE-2018-10599", "CVE-2018-10601"}
    assert all("within the range mx400-550" in str(h.evidence["how"]) for h in hits)
    # "Rev J-M" is not a machine-readable version: possibly affected, with that reason.
    assert all(
        h.status is FindingStatus.POSSIBLY_AFFECTED and "not machine-readable" in h.reason for h in hits
    )
    assert (
        csaf_product.match_advisory(adv, csaf_product.Identity("Philips", "IntelliVue MX40", None, "B.06"))
        == []
    )
