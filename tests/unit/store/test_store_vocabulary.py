"""The query vocabulary shared by the SQL adapter and the fake: MAC forms, sort names, search terms."""

from __future__ import annotations

import pytest

from wardwatch.store.schema import SORT_COLUMNS, ascii_lower, normalize_mac, parse_sort, search_terms


@pytest.mark.parametrize(
    "text",
    ["00:11:22:aa:bb:cc", "00-11-22-AA-BB-CC", "0011.22aa.bbcc", "001122AABBCC", " 00:11:22:AA:bb:cc "],
)
def test_normalize_mac_accepts_common_notations(text: str) -> None:
    assert normalize_mac(text) == "00:11:22:aa:bb:cc"


@pytest.mark.parametrize(
    "text", ["", "00:11:22:33:44", "00:11-22:33:44:55", "0011.2233.445", "00112233445g", "10.0.0.1", "pump"]
)
def test_normalize_mac_rejects_the_rest(text: str) -> None:
    assert normalize_mac(text) is None


def test_parse_sort() -> None:
    assert parse_sort("vendor") == ("vendor", False)
    assert parse_sort("-last_ns") == ("last_ns", True)
    assert all(parse_sort(name)[0] == name for name in SORT_COLUMNS)
    with pytest.raises(ValueError, match="cannot sort devices by 'colour'"):
        parse_sort("colour")
    with pytest.raises(ValueError):
        parse_sort("description")  # an attribute, but not denormalised onto the device row


def test_search_terms() -> None:
    assert search_terms(None) is None
    assert search_terms("   ") is None
    assert search_terms(" PUMP ") == ("pump", "pump")
    assert search_terms("00-11-22") == ("00-11-22", "00:11:22")
    assert search_terms("0011.2233.4455") == ("0011.2233.4455", "00:11:22:33:44:55")
    assert search_terms("ÉCHO") == ("Écho", "Écho")  # ASCII-only, like SQL lower() on both engines


def test_ascii_lower() -> None:
    assert ascii_lower("AbC-É") == "abc-É"
