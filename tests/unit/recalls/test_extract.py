"""Identifier extraction from recall text: the real openFDA records, UDI checks, and fuzzing."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.recall import IdentifierKind
from wardwatch.recalls.extract import (
    extract,
    gtin_check_digit,
    hibcc_check_char,
    in_range,
    normalize,
    valid_gtin14,
)

REAL = Path(__file__).parents[2] / "data" / "fda" / "real"


def _real(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((REAL / name).read_text())["results"][0]  # type: ignore[no-any-return]


def _pairs(text: str, field: str = "code_info") -> list[tuple[str, str]]:
    return [(i.kind.value, i.value) for i in extract(text, field)]


def test_real_recall_lot_list_and_ref() -> None:
    record = _real("device-recall-response-example.json")
    lots = [v for k, v in _pairs(record["code_info"]) if k == "lot"]
    assert lots == [
        "13F18C0374",
        "13F18H0580",
        "13F18D0504",
        "13F18L0507",
        "13F18E0380",
        "13F18L0714",
        "13F18G0180",
        "13F18L0936",
        "13F18G0480",
    ]
    # "ARROWg+ard" has a '+' but is no HIBCC code; "(< 30 days)" is no identifier.
    assert _pairs(record["product_description"], "product_description") == [("catalog", "AK-25502")]


def test_real_enforcement_lot_and_ref() -> None:
    record = _real("device-enforcement-response-example.json")
    assert _pairs(record["code_info"]) == [("lot", "007A1037"), ("catalog", "010-55-25")]
    # "6.5 mm, Sz 25mm": numbers in prose are not identifiers.
    assert _pairs(record["product_description"], "product_description") == []
    ident = extract(record["code_info"])[0]
    assert ident.source_field == "code_info" and "Lot 007A1037" in ident.context


def test_labels_ranges_and_resets() -> None:
    text = "Model 8015; Serial Numbers: 12345678 through 12345999 and 22000001. Manufactured 2019 to 2020"
    assert _pairs(text) == [("model", "8015"), ("serial", "12345678..12345999"), ("serial", "22000001")]
    found = extract(text)[1]
    assert (found.low, found.high) == ("12345678", "12345999")
    assert _pairs("Cat. No. AB-100, S/N: X1234 & X1235") == [
        ("catalog", "AB-100"),
        ("serial", "X1234"),
        ("serial", "X1235"),
    ]
    assert _pairs("Part Number 55-1020-02; Lot codes 21A, 21B") == [
        ("catalog", "55-1020-02"),
        ("lot", "21A"),
        ("lot", "21B"),
    ]
    assert _pairs("All lots manufactured before 2019-05-01") == []


def test_gs1_udi_di_needs_a_valid_check_digit() -> None:
    body = "1088540380150"
    good = body + str(gtin_check_digit(body))
    bad = body + str((gtin_check_digit(body) + 1) % 10)
    assert valid_gtin14(good) and not valid_gtin14(bad)
    assert _pairs(f"UDI-DI (01){good}") == [("udi_di", good)]
    assert _pairs(f"GTIN: {good}") == [("udi_di", good)]
    assert [k for k, _ in _pairs(f"(01){bad}")] == []
    # A bare 14-digit number with no UDI label is not taken for one.
    assert ("udi_di", good) not in _pairs(f"Lot {good}")


def test_gs1_check_digit_known_value() -> None:
    # GS1's own worked example: GTIN-13 629104150021 + check digit 3.
    assert gtin_check_digit("629104150021") == 3


def test_hibcc_check_character() -> None:
    primary = "+H757301050"
    check = hibcc_check_char(primary)
    assert check == "0"
    assert _pairs(f"UDI {primary}{check}") == [("hibcc", "H757301050")]
    assert _pairs(f"UDI {primary}9") == []


def test_normalize_and_ranges() -> None:
    assert normalize("ak-25502") == normalize("AK 25502") == "AK25502"
    assert in_range("SN-00150", "SN-00100", "SN-00199")
    assert not in_range("SN-00250", "SN-00100", "SN-00199")
    assert not in_range("XX-00150", "SN-00100", "SN-00199")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_fuzz_extract_never_raises(text: str) -> None:
    for ident in extract(text):
        assert ident.kind in IdentifierKind
        assert ident.value


_LOT = st.from_regex(r"[0-9]{2}[A-Z][0-9A-Z]{1,8}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(_LOT, min_size=1, max_size=8, unique=True), st.sampled_from([", ", " and ", ",  ", " & "]))
def test_fuzz_lot_lists_round_trip(lots: list[str], sep: str) -> None:
    text = "Lot Numbers: " + sep.join(lots) + "."
    assert [v for k, v in _pairs(text) if k == "lot"] == lots
