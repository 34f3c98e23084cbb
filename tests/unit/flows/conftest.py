"""Run every test of this directory twice: with the C extension and with the NumPy fallback.

The packet decode (and the pcap record walk under it) has two implementations; the issue that
added the C one demands that the tests also run the pure-Python path. ``WARDWATCH_PURE_PYTHON``
selects it at every call, so setting the variable per test is enough. Where the extension is
not built the "native" run skips, saying so.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wardwatch.sensor.capture import _common


@pytest.fixture(autouse=True, params=["native", "pure"])
def decode_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The implementation this run of the test uses: "native" (C) or "pure" (NumPy)."""
    if request.param == "pure":
        monkeypatch.setenv("WARDWATCH_PURE_PYTHON", "1")
    else:
        if _common._NATIVE is None:
            pytest.skip("the C extension wardwatch.sensor._native is not built")
        monkeypatch.delenv("WARDWATCH_PURE_PYTHON", raising=False)
    yield str(request.param)
