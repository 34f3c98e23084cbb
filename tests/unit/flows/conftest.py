"""Run every test of this directory twice: with the C extension and with the NumPy fallback.

The packet decode (and the pcap record walk under it) has two implementations; the issue that
added the C one demands that the tests also run the pure-Python path. ``WARDWATCH_PURE_PYTHON``
selects it at every call, so setting the variable per test is enough. Where the extension is
not built the "native" run skips, saying so.
"""

from __future__ import annotations

import pytest
from tests.native import PATHS, use


@pytest.fixture(autouse=True, params=PATHS)
def decode_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The implementation this run of the test uses: "native" (C) or "pure" (NumPy)."""
    return use(str(request.param), monkeypatch)
