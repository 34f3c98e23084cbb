"""Every capture's observations and inventory equal its reviewed golden file (tests/golden)."""

from __future__ import annotations

import json

import pytest
from tests.golden.golden import CASES, REGENERATE, golden_for, golden_path


@pytest.mark.parametrize("name", sorted(CASES))
def test_capture_matches_golden(name: str) -> None:
    target = golden_path(name)
    assert target.exists(), f"no golden file {target}; create it with: {REGENERATE}"
    expected = json.loads(target.read_text())
    actual = json.loads(json.dumps(golden_for(CASES[name])))
    assert actual["observations"] == expected["observations"], (
        f"observations changed; if intended: {REGENERATE}"
    )
    assert actual["devices"] == expected["devices"], f"inventory changed; if intended: {REGENERATE}"
