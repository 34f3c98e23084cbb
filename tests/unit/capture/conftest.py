"""Make the hand-written capture writers importable by the tests next to them, and run every
test of this directory twice: with the C record walk and with the NumPy/plain-loop fallback.

pytest runs with ``--import-mode=importlib``, which does not put test directories on
``sys.path``; the writers are plain helpers, not fixtures, so the tests import them by name.
``WARDWATCH_PURE_PYTHON`` selects the fallback when a file is opened, so setting it per test is
enough; where the extension is not built the "native" run skips, saying so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests.native import PATHS, use

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture(autouse=True, params=PATHS)
def walk_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The implementation this run of the test uses: "native" (C) or "pure" (NumPy/plain loop)."""
    return use(str(request.param), monkeypatch)
