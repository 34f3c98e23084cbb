"""openFDA importer: API envelope, bulk zip/gz, both endpoints merged, clear errors, fuzzing."""

from __future__ import annotations

import contextlib
import gzip
import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.recall import RecallSource, RecallStatus
from wardwatch.recalls.openfda import FeedError, merge, parse_bytes, parse_date, parse_status, read_file

DATA = Path(__file__).parents[2] / "data" / "fda"


def test_real_recall_response() -> None:
    feed = read_file(DATA / "real" / "device-recall-response-example.json")
    assert feed.last_updated == "2017-12-02" and feed.license == "https://open.fda.gov/license/"
    (r,) = feed.recalls
    assert r.uid == r.number == "Z-0053-2020"
    assert r.event_id == "82984"
    assert r.sources == (RecallSource.RECALL,)
    assert r.recalling_firm == "Arrow International Inc"
    assert r.product_code == "FOZ" and r.k_numbers == ("K900263",)
    assert r.status is RecallStatus.TERMINATED and r.terminated == "2020-09-24"
    assert r.initiated == "2019-05-17" and r.root_cause == "Employee error"
    assert len(r.of_kind(r.identifiers[0].kind)) == 9  # nine lots


def test_real_enforcement_without_recall_number() -> None:
    (r,) = read_file(DATA / "real" / "device-enforcement-response-example.json").recalls
    assert r.number is None and r.uid.startswith("event:62561:")
    assert r.classification == "Class II" and r.status is RecallStatus.OPEN  # "Ongoing"
    assert r.initiated == "2012-07-16" and r.posted == "2012-08-15"
    # The uid is stable: re-reading gives the same one (import is idempotent).
    assert read_file(DATA / "real" / "device-enforcement-response-example.json").recalls[0].uid == r.uid


def test_documentation_example_single_record() -> None:
    doc = json.loads((DATA / "real" / "device-recall-_examples.json").read_text())
    (r,) = parse_bytes(json.dumps({"results": [doc["record"]]}).encode(), "record").recalls
    assert r.uid == "Z-0359-2013" and r.product_code == "NKB"
    assert r.device_name == "Orthosis, Spinal Pedicle Fixation, For Degenerative Disc Disease"
    (a,) = parse_bytes(json.dumps(doc["anatomy"]).encode(), "anatomy").recalls
    assert a.uid == "Z-0053-2020"


def test_recall_and_enforcement_records_merge() -> None:
    recall = {r.uid: r for r in read_file(DATA / "written" / "device-recall-written.json").recalls}
    enforcement = {r.uid: r for r in read_file(DATA / "written" / "device-enforcement-written.json").recalls}
    merged = merge(recall["Z-9001-2026"], enforcement["Z-9001-2026"])
    assert merged.sources == (RecallSource.RECALL, RecallSource.ENFORCEMENT)
    assert merged.classification == "Class I"  # only the enforcement report says it
    assert merged.product_code == "FRN" and merged.k_numbers == ("K999001",)  # only the recall says these
    assert merge(merged, enforcement["Z-9001-2026"]) == merged


def test_status_update() -> None:
    old = {r.uid: r for r in read_file(DATA / "written" / "device-recall-written.json").recalls}[
        "Z-9002-2026"
    ]
    (new,) = read_file(DATA / "written" / "device-recall-update.json").recalls
    merged = merge(old, new)
    assert old.status is RecallStatus.OPEN and merged.status is RecallStatus.TERMINATED
    assert merged.terminated == "2026-11-21"


def test_bulk_zip_and_gzip(tmp_path: Path) -> None:
    raw = (DATA / "written" / "device-recall-written.json").read_bytes()
    bulk = tmp_path / "device-recall-0001-of-0001.json.zip"
    with zipfile.ZipFile(bulk, "w") as zf:
        zf.writestr("device-recall-0001-of-0001.json", raw)
    gz = tmp_path / "device-recall.json.gz"
    gz.write_bytes(gzip.compress(raw))
    assert [r.uid for r in read_file(bulk).recalls] == [r.uid for r in read_file(gz).recalls]
    assert len(read_file(bulk).recalls) == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"results": [', "not JSON at offset 13"),
        (b'{"meta": {}}', "not an openFDA file"),
        (
            b'{"results": [{"recall_number": "Z-1-2020", "recalling_firm": [5]}]}',
            "record 0: field 'recalling_firm' should be text",
        ),
        (b'{"results": [{"recalling_firm": "x"}]}', "record 0: neither a device recall"),
        (
            b'{"results": [{"recall_number": "Z-1", "recalling_firm": "x"}, {"recall_number": "Z-2", '
            b'"recalling_firm": "x", "k_numbers": 5}]}',
            "record 1: field 'k_numbers' should be a list",
        ),
        (b"\xff\xfe", "not UTF-8 JSON"),
    ],
)
def test_errors_name_the_file_and_the_record(content: bytes, message: str) -> None:
    with pytest.raises(FeedError) as info:
        parse_bytes(content, "feed.json")
    text = str(info.value)
    assert text.startswith("feed.json: ") and message in text and "\n" not in text


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="cannot read"):
        read_file(tmp_path / "missing.json")
    bad_zip = tmp_path / "x.zip"
    bad_zip.write_bytes(b"not a zip")
    with pytest.raises(FeedError, match=r"x\.zip: cannot read"):
        read_file(bad_zip)


def test_status_and_dates() -> None:
    assert parse_status("Open, Classified") is RecallStatus.OPEN
    assert parse_status("Completed") is RecallStatus.COMPLETED
    assert parse_status("something new") is RecallStatus.UNKNOWN and RecallStatus.UNKNOWN.is_open
    assert parse_date("20120716") == "2012-07-16" and parse_date("2019-05-17") == "2019-05-17"
    assert parse_date("2019-13-01") is None and parse_date(None) is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
_FIELDS = st.sampled_from(
    [
        "recall_number",
        "product_res_number",
        "event_id",
        "recalling_firm",
        "status",
        "code_info",
        "product_description",
        "k_numbers",
        "openfda",
        "recall_status",
        "product_code",
        "classification",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(_FIELDS, _JSON, max_size=8) | _JSON, max_size=5))
def test_fuzz_records_only_feed_error_escapes(records: list[object]) -> None:
    try:
        parse_bytes(json.dumps({"results": records}).encode(), "fuzz.json")
    except FeedError as exc:
        assert str(exc).startswith("fuzz.json: ") and "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_bytes_only_feed_error_escapes(data: bytes) -> None:
    with contextlib.suppress(FeedError):
        parse_bytes(data, "fuzz.json")
