"""Hypothesis fuzzing of every feed reader: whatever the file holds, only FeedError may escape."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wardwatch.feeds.base import FeedError
from wardwatch.feeds.csaf import read_csaf
from wardwatch.feeds.cyclonedx import read_cyclonedx
from wardwatch.feeds.epss import read_epss
from wardwatch.feeds.kev import read_kev
from wardwatch.feeds.nvd import read_nvd
from wardwatch.feeds.openvex import read_openvex
from wardwatch.feeds.spdx import read_spdx
from wardwatch.feeds.vulnrichment import read_vulnrichment

KEYS = [
    "document",
    "tracking",
    "id",
    "current_release_date",
    "vulnerabilities",
    "cve",
    "product_tree",
    "branches",
    "category",
    "name",
    "product",
    "product_id",
    "product_status",
    "known_affected",
    "scores",
    "cvss_v3",
    "baseScore",
    "bomFormat",
    "CycloneDX",
    "components",
    "analysis",
    "state",
    "affects",
    "ref",
    "spdxVersion",
    "SPDX-2.3",
    "packages",
    "externalRefs",
    "statements",
    "status",
    "products",
    "@id",
    "cveMetadata",
    "cveId",
    "containers",
    "adp",
    "metrics",
    "other",
    "type",
    "content",
    "options",
    "lastModified",
    "configurations",
    "nodes",
    "cpeMatch",
    "criteria",
    "cveID",
    "dateAdded",
    "catalogVersion",
    "metadata",
    "component",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.sampled_from(KEYS)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(KEYS), children, max_size=6)
    ),
    max_leaves=25,
)

READERS: dict[str, Callable[[Path], Any]] = {
    "nvd": lambda p: list(read_nvd(p)),
    "kev": lambda p: list(read_kev(p)),
    "csaf": read_csaf,
    "cyclonedx": read_cyclonedx,
    "spdx": read_spdx,
    "openvex": read_openvex,
    "vulnrichment": read_vulnrichment,
}


@pytest.mark.parametrize("name", sorted(READERS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6))
def test_json_readers_only_feed_error(name: str, doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "f.json"
        p.write_text(json.dumps(doc))
        try:
            READERS[name](p)
        except FeedError as e:
            assert str(p) in str(e)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_bytes_only_feed_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "f.json"
        p.write_bytes(data)
        for reader in [*READERS.values(), lambda q: list(read_epss(q))]:
            with contextlib.suppress(FeedError):
                reader(p)
