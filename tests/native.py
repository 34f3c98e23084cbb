"""Run a directory's tests twice: with the sensor's C extension and with its NumPy fallback.

ADR 010: the packet decode and the pcap record walk have two implementations, and the tests must
also run the pure-Python one. ``WARDWATCH_PURE_PYTHON`` selects it at every call, so setting the
variable per test is enough. A directory opts in with an autouse fixture, parametrised by
:data:`PATHS`, that calls :func:`use`; where the extension is not built the "native" run skips.
"""

from __future__ import annotations

import pytest

from wardwatch.sensor.capture import _common

PATHS = ["native", "pure"]


def use(path: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Select ``path`` ("native": the C extension, "pure": NumPy) for the current test."""
    if path == "pure":
        monkeypatch.setenv("WARDWATCH_PURE_PYTHON", "1")
    else:
        if _common._NATIVE is None:
            pytest.skip("the C extension wardwatch.sensor._native is not built")
        monkeypatch.delenv("WARDWATCH_PURE_PYTHON", raising=False)
    return path
