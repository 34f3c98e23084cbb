"""Recall matching: maker aliases, model/catalog, down to the unit, with evidence and confidence."""

from __future__ import annotations

from pathlib import Path

from wardwatch.model.device import Attribute, Device, ResolvedAttribute
from wardwatch.model.recall import Asset, MatchLevel, Recall
from wardwatch.recalls.match import match, normalize_firm, same_maker, unit_of
from wardwatch.recalls.openfda import read_file

DATA = Path(__file__).parents[2] / "data" / "fda"


def _recall(name: str, uid: str | None = None) -> Recall:
    recalls = read_file(DATA / name).recalls
    return next(r for r in recalls if uid is None or r.uid == uid)


def _device(id: int, **attrs: str) -> Device:
    return Device(
        id=id,
        key=f"mac:00:00:00:00:00:{id:02x}",
        mac=f"00:00:00:00:00:{id:02x}",
        first_ns=0,
        last_ns=1,
        attributes={k: ResolvedAttribute(Attribute(k), v, 0.9, "only", ()) for k, v in attrs.items()},
    )


ARROW = "real/device-recall-response-example.json"


def test_firm_names() -> None:
    assert normalize_firm("B. Braun Medical, Inc.") == "b braun medical"
    assert same_maker("Philips", "Philips North America Llc")
    assert same_maker("Teleflex", "Arrow International Inc")  # an alias, with its source
    assert "firm-aliases.json" in (same_maker("BD", "CareFusion 303, Inc.") or "")
    assert same_maker("Baxter", "Mindray DS USA, Inc.") is None
    assert same_maker("", "Anything") is None


def test_real_recall_down_to_the_lot() -> None:
    recall = _recall(ARROW)
    base = {"vendor": "Teleflex", "model_number": "AK-25502"}
    listed = match(
        recall, unit_of(_device(1, **base), Asset(tag="A1", lot="13F18G0480", source="cmms.csv row 2"))
    )
    other = match(
        recall, unit_of(_device(2, **base), Asset(tag="A2", lot="13F18Z9999", source="cmms.csv row 3"))
    )
    unknown = match(recall, unit_of(_device(3, **base)))
    assert listed and other and unknown
    assert listed.level is MatchLevel.AFFECTED
    assert other.level is MatchLevel.NOT_AFFECTED
    assert unknown.level is MatchLevel.POSSIBLE  # model matches, lot unknown: not "affected"
    lot = next(e for e in listed.evidence if e.criterion == "lot")
    assert (lot.outcome, lot.device_value, lot.recall_value) == ("match", "13F18G0480", "13F18G0480")
    assert lot.source == "asset A1 (cmms.csv row 2): lot"
    assert "Lot/Batch Numbers" in lot.detail
    assert any(
        e.criterion == "lot" and e.outcome == "unknown" and "lot unknown" in e.detail
        for e in unknown.evidence
    )
    # The confidence is the sum of the supporting evidence's weights.
    assert listed.confidence == round(sum(e.weight for e in listed.evidence), 2)
    assert listed.confidence > unknown.confidence


def test_other_maker_or_model() -> None:
    recall = _recall(ARROW)
    assert match(recall, unit_of(_device(1, vendor="Baxter", model_number="AK-25502"))) is None
    # Same maker, another model, no product code: nothing to say.
    assert match(recall, unit_of(_device(2, vendor="Teleflex", model_number="AK-99999"))) is None


def test_whole_model_recall_and_description_match() -> None:
    whole = _recall("written/device-recall-written.json", "Z-9003-2026")
    hit = match(whole, unit_of(_device(1, vendor="Baxter"), Asset(tag="B1", model="3570009")))
    miss = match(whole, unit_of(_device(2, vendor="Baxter"), Asset(tag="B2", model="35700BAX2")))
    assert hit and hit.level is MatchLevel.AFFECTED
    assert any("every unit of the model" in e.detail for e in hit.evidence)
    # Another model of the same maker and product category: at most a product-line match.
    assert miss is None or miss.level is MatchLevel.PRODUCT_LINE
    mindray = _recall("written/device-enforcement-written.json", "Z-9004-2026")
    m = match(mindray, unit_of(_device(3, vendor="Mindray", model="BeneVision N12")))
    assert m and m.level is MatchLevel.AFFECTED
    assert any("named in the recall's product description" in e.detail for e in m.evidence)


def test_serial_ranges_and_udi() -> None:
    recall = _recall("written/device-recall-written.json", "Z-9001-2026")
    in_range = match(
        recall,
        unit_of(None, Asset(tag="P5", manufacturer="Becton Dickinson", model="8015", serial="12000500")),
    )
    assert in_range and in_range.level is MatchLevel.AFFECTED and in_range.device_id is None
    by_udi = match(
        recall, unit_of(None, Asset(tag="P6", udi="(01)10885403801501(21)36630626", serial="36630626"))
    )
    assert by_udi and by_udi.level is MatchLevel.AFFECTED  # the UDI-DI names labeler and model
    assert any(e.criterion == "udi" and e.outcome == "match" for e in by_udi.evidence)


def test_product_line_only_by_device_type() -> None:
    recall = _recall("written/device-recall-written.json", "Z-9001-2026")
    m = match(recall, unit_of(_device(9, vendor="BD", device_type="infusion_pump")))
    assert m and m.level is MatchLevel.PRODUCT_LINE
    code = next(e for e in m.evidence if e.criterion == "product_code")
    assert "FRN" in code.detail and code.source == "device 9: device_type"


def test_listed_serial_without_the_model() -> None:
    recall = _recall("written/device-recall-written.json", "Z-9002-2026")
    no_model = match(recall, unit_of(_device(1, vendor="Philips", serial="DE98296572")))
    assert no_model and no_model.level is MatchLevel.AFFECTED
    other_model = match(recall, unit_of(_device(2, vendor="Philips", model="X1", serial="DE98296572")))
    assert other_model and other_model.level is MatchLevel.POSSIBLE  # a collision is possible: check by hand
    # A serial that is not listed, of another model, with no product code known: no match at all.
    assert match(recall, unit_of(_device(3, vendor="Philips", model="X1", serial="DE00000001"))) is None


def test_indexed_matching_equals_evaluating_every_pair() -> None:
    from wardwatch.recalls.match import match_all

    recalls = (
        read_file(DATA / "written" / "device-recall-written.json").recalls
        + read_file(DATA / "written" / "device-enforcement-written.json").recalls
        + read_file(DATA / ARROW).recalls
    )
    units = [
        unit_of(
            _device(i, vendor=vendor, model=model, serial=serial),
            Asset(tag=f"A{i}", lot=lot) if lot else None,
        )
        for i, (vendor, model, serial, lot) in enumerate(
            [
                ("BD", "8015", "36630626", None),
                ("BD", "Alaris 8015", "12000777", None),
                ("BD", "8100", "55", None),
                ("Philips", "IntelliVue MX450", "DE98296572", None),
                ("Philips", "MX800", "DE98296572", None),
                ("Mindray", "BeneVision N12", "X1", None),
                ("Teleflex", "AK-25502", "S1", "13F18G0480"),
                ("Teleflex", "AK-25502", "S2", "NOPE"),
                ("Baxter", "3570009", "S3", None),
                ("ICU Medical", "Plum 360 30010", "S4", "4411235"),
                ("Dell", "OptiPlex 7010", "S5", None),
            ]
        )
    ]
    brute = [
        m
        for r in recalls
        for u in units
        if (m := match(r, u)) is not None and m.level is not MatchLevel.PRODUCT_LINE
    ]
    fast = match_all(recalls, units, product_line=False)
    assert sorted(map(repr, fast)) == sorted(map(repr, brute))
    assert {(m.recall_uid, m.level) for m in fast} >= {
        ("Z-9001-2026", MatchLevel.AFFECTED),
        ("Z-0053-2020", MatchLevel.NOT_AFFECTED),
    }
    full = [m for r in recalls for u in units if (m := match(r, u)) is not None]
    assert sorted(map(repr, match_all(recalls, units))) == sorted(map(repr, full))
