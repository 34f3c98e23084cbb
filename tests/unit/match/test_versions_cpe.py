"""Firmware-style version comparison, version ranges, and CPE 2.3 names."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wardwatch.match.cpe import CpeError, parse_cpe, value_matches
from wardwatch.match.versions import RangeError, compare, in_nvd_bounds, parse_range


@pytest.mark.parametrize(
    ("a", "b", "sign"),
    [
        ("2.4a", "2.4", 1),
        ("2.4", "2.4a", -1),
        ("2.4.1", "2.4a", 1),
        ("7.01.00", "7.1", 0),
        ("V3.2 SP1", "3.2", 1),
        ("V3.2 SP1", "V3.2 SP2", -1),
        ("R2.1.3", "2.1.3", 0),
        ("1.0rc1", "1.0", -1),
        ("10.0", "9.9", 1),
        ("012u000062", "012u000061", 1),
        ("M.00.03", "N.00.02", -1),
        ("6.05", "6.5", 0),
    ],
)
def test_compare_firmware_versions(a: str, b: str, sign: int) -> None:
    assert compare(a, b) == sign
    assert compare(b, a) == -sign


@given(st.text(max_size=20), st.text(max_size=20))
def test_compare_is_total_and_antisymmetric(a: str, b: str) -> None:
    assert compare(a, b) == -compare(b, a)
    assert compare(a, a) == 0


def test_nvd_bounds() -> None:
    assert in_nvd_bounds("6.02", start_including="6.0", end_including="6.05")
    assert not in_nvd_bounds("6.06", start_including="6.0", end_including="6.05")
    assert not in_nvd_bounds("012u000062", end_excluding="012u000062")
    assert in_nvd_bounds("012u000061", end_excluding="012u000062")
    assert in_nvd_bounds("2.4a", end_including="2.4a")


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("< 1.7.5", ["1.7.4", "1.0"], ["1.7.5", "2.0"]),
        (">= 5.01 | <= 6.4.0", ["5.01", "6.0"], ["5.0", "6.4.1"]),
        ("9.13 | 9.19 | 9.33 | 12.1", ["9.19", "12.1.0"], ["12.1.2", "9.14"]),
        ("vers:generic/>=1.0|<2.0|!=1.5", ["1.0", "1.9"], ["1.5", "2.0", "0.9"]),
        ("<= U61 |<= L81", ["U61", "U60"], ["U62"]),
        ("vers:all/*", ["anything1"], []),
    ],
)
def test_ranges(text: str, inside: list[str], outside: list[str]) -> None:
    rng = parse_range(text)
    for v in inside:
        assert rng.contains(v), (text, v)
    for v in outside:
        assert not rng.contains(v), (text, v)


@pytest.mark.parametrize("text", ["Rev J-M", "2.3.6 and  below", "<  november 29 2017", "vers:x/", ""])
def test_unreadable_ranges_raise_range_error(text: str) -> None:
    with pytest.raises(RangeError):
        parse_range(text)


@given(st.text(max_size=60))
def test_parse_range_fuzz_only_range_error_escapes(text: str) -> None:
    try:
        rng = parse_range(text)
    except RangeError:
        return
    rng.contains("1.0")


def test_cpe_parse_unquotes_and_lowercases() -> None:
    c = parse_cpe("cpe:2.3:h:philips:avalon_fetal\\/maternal_monitors_fm20:-:*:*:*:*:*:*:*")
    assert (c.part, c.vendor, c.product, c.version) == (
        "h",
        "philips",
        "avalon_fetal/maternal_monitors_fm20",
        "-",
    )
    assert c.key() == "philips:avalon_fetal/maternal_monitors_fm20"
    assert parse_cpe(str(c)) == c
    assert value_matches("*", "x") and value_matches("-", None) and not value_matches("-", "1.0")


@pytest.mark.parametrize(
    "text", ["cpe:/o:microsoft:windows_7", "cpe:2.3:x:a:b:*:*:*:*:*:*:*:*", "cpe:2.3:a:b", "cpe:2.3:a:b:c:\\"]
)
def test_cpe_errors(text: str) -> None:
    with pytest.raises(CpeError):
        parse_cpe(text)


@given(st.text(max_size=80))
def test_cpe_fuzz_only_cpe_error_escapes(text: str) -> None:
    with contextlib.suppress(CpeError):
        parse_cpe("cpe:2.3:" + text)


@given(
    st.lists(st.integers(0, 999), min_size=1, max_size=5),
    st.lists(st.integers(0, 999), min_size=1, max_size=5),
)
def test_numeric_versions_compare_like_zero_padded_tuples(a: list[int], b: list[int]) -> None:
    n = max(len(a), len(b))
    pa, pb = a + [0] * (n - len(a)), b + [0] * (n - len(b))
    expected = (pa > pb) - (pa < pb)
    assert compare(".".join(map(str, a)), ".".join(map(str, b))) == expected
