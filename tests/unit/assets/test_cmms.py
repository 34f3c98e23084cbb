"""CMMS asset list import: CSV and XLSX, column mapping, one-line errors, fuzzing."""

from __future__ import annotations

from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.assets.cmms import AssetFileError, parse_mapping, read_assets

DEMO_CMMS = Path(__file__).parents[3] / "src" / "wardwatch" / "demo" / "cmms.csv"


def test_demo_csv_by_header_synonyms() -> None:
    assets = read_assets(DEMO_CMMS)
    assert len(assets) == 22
    first = assets[0]
    assert (first.tag, first.manufacturer, first.model, first.serial) == (
        "BME-1001",
        "Becton Dickinson",
        "8015",
        "36630626",
    )
    assert first.mac == "9c:c8:ae:2a:9c:6a"  # normalised from 9C-C8-AE-2A-9C-6A
    assert first.department == "ICU" and first.location == "ICU-2 Bed 4" and first.product_code == "FRN"
    assert first.purchase_date == "2019-04-11" and first.end_of_support == "2029-12-31"
    assert first.source == "cmms.csv row 2"
    assert assets[4].mac is None  # empty cell: unknown, not ""


def test_explicit_mapping_semicolons_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "Equip No;Hersteller;Typ;SN;Kostenstelle;Note\nE-1;Baxter;35700BAX2;SIQ1;Station 3;spare\n"
    )
    mapping = parse_mapping(
        ["tag=Equip No,manufacturer=Hersteller", "model=Typ", "serial=SN", "department=Kostenstelle"]
    )
    (asset,) = read_assets(path, mapping)
    assert (asset.tag, asset.manufacturer, asset.model, asset.serial, asset.department) == (
        "E-1",
        "Baxter",
        "35700BAX2",
        "SIQ1",
        "Station 3",
    )
    assert asset.extra == {"Note": "spare"}


def test_xlsx(tmp_path: Path) -> None:
    import datetime

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Asset Tag", "Serial Number", "Model", "Purchase Date"])
    sheet.append(["X-1", 123456, "8015", datetime.datetime(2020, 1, 2)])
    sheet.append([None, None, None, None])
    sheet.append(["X-2", "AB12", "8100", None])
    path = tmp_path / "assets.xlsx"
    book.save(path)
    assets = read_assets(path)
    assert [(a.tag, a.serial, a.purchase_date) for a in assets] == [
        ("X-1", "123456", "2020-01-02"),
        ("X-2", "AB12", None),
    ]
    assert assets[1].source == "assets.xlsx row 4"


@pytest.mark.parametrize(
    ("content", "mapping", "message"),
    [
        ("Serial\n1\n", {}, "row 1: no asset tag column"),
        ("Asset Tag,Serial\nA,1\n,2\n", {}, "row 3: empty asset tag"),
        ("Asset Tag,Serial\nA,1\nA,2\n", {}, "row 3: asset tag 'A' already on row 2"),
        ("Asset Tag,MAC\nA,zz:zz\n", {}, "row 2: 'zz:zz' is not a MAC address"),
        ("Asset Tag\nA\n", {"serial": "Serial No"}, "row 1: no column 'Serial No' (mapped to serial)"),
        ("", {}, "empty, or no header row"),
    ],
)
def test_errors_name_file_and_row(
    tmp_path: Path, content: str, mapping: dict[str, str], message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(AssetFileError) as info:
        read_assets(path, mapping)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_broken_xlsx_and_bad_mapping(tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(AssetFileError, match="not a readable XLSX workbook"):
        read_assets(path)
    with pytest.raises(ValueError, match="unknown field"):
        parse_mapping(["colour=Farbe"])
    with pytest.raises(ValueError, match="expected FIELD=Column header"):
        parse_mapping(["tag"])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_csv_only_asset_file_error_escapes(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fuzz.csv"
        path.write_bytes(b"Asset Tag,Serial,MAC\n" + data)
        try:
            for asset in read_assets(path):
                assert asset.tag
        except AssetFileError as exc:
            assert "\n" not in str(exc)
