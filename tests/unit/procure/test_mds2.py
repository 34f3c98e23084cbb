"""MDS2 (HN 1-2019) forms in the three layouts; only Mds2Error escapes."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import DATA

from wardwatch.procure import mds2

PROC = DATA / "procure"


def test_json_form() -> None:
    form = mds2.read_mds2(PROC / "mds2-candidate-a.json")
    assert (form.manufacturer, form.model) == ("Example Medical (fictional)", "Pump A 100")
    assert form.answer("AUTH-1") == "No" and form.notes["AUTH-1"].startswith("Service menu")
    assert form.handles_phi
    assert [q.id for q in form.gaps()] == [
        "MPII-1",
        "ALOF-1",
        "AUTH-1",
        "CSUP-1",
        "MLDP-2",
        "NAUT-1",
        "RMOT-1",
        "STCF-1",
        "TXCF-2",
    ]


def test_csv_form() -> None:
    form = mds2.read_mds2(PROC / "mds2-candidate-b.csv")
    assert form.model == "Pump B 200"
    assert form.answer("MLDP-2") == "See Note" and form.notes["NAUT-1"] == "Mutual TLS with the pump server"
    assert [q.id for q in form.gaps()] == ["MPII-1", "CSUP-1"]


def test_xlsx_form(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Manufacturer Disclosure Statement for Medical Device Security -- MDS2"])
    ws.append(["Question ID", "Question", "See note", "Answer", "Note"])
    ws.append(["DOC-1", "Manufacturer Name", "Example Medical (fictional)"])
    ws.append(["DOC-3", "Device Model", "Pump A 100"])
    ws.append(["MPII-1", "Can this device display, transmit, store, or modify PII?", None, "Yes", "ePHI"])
    ws.append(["AUTH-1", "Does the device prevent access to unauthorized users?", None, "no"])
    ws.append(["not an id", "ignored", "Yes"])
    path = tmp_path / "form.xlsx"
    wb.save(path)
    form = mds2.read_mds2(path)
    assert form.manufacturer == "Example Medical (fictional)" and form.model == "Pump A 100"
    assert form.answers["MPII-1"] == "Yes" and form.notes["MPII-1"] == "ePHI"
    assert form.answers["AUTH-1"] == "No"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.json", "{", "document: not JSON"),
        ("bad.json", '{"XX-1": "Yes"}', "not an HN 1-2019 question ID"),
        ("bad.json", '{"AUTH-1": "Perhaps"}', "AUTH-1: answer 'Perhaps'"),
        ("bad.json", "{}", "form: no question IDs found"),
        ("bad.csv", "id,answer\nAUTH-1,Maybe\n", "line 2 (AUTH-1): answer 'Maybe'"),
        ("bad.csv", "question,answer\n", "line 1: header"),
        ("bad.csv", "id,answer\nAUTH-1\n", "line 2: needs an id and an answer"),
        ("bad.txt", "x", "read from .xlsx, .json or .csv"),
        ("bad.xlsx", "not a zip", "workbook: cannot open"),
    ],
)
def test_errors_name_file_and_record(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(mds2.Mds2Error) as info:
        mds2.read_mds2(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value)


@given(st.text(max_size=300))
def test_fuzz_json_and_csv(text: str) -> None:
    for parse in (mds2.parse_json, mds2.parse_csv):
        try:
            form = parse(text)
        except mds2.Mds2Error:
            continue
        assert form.answers


@given(st.binary(max_size=300))
def test_fuzz_xlsx(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("x") / "f.xlsx"
    path.write_bytes(data)
    with contextlib.suppress(mds2.Mds2Error):
        mds2.read_mds2(path)
