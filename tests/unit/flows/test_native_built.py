"""Where a C compiler and the Python headers exist, the install must have built the extension.

The extension is optional (a machine without a compiler runs the NumPy path), so a failed build
would only show as skipped "native" runs; this test makes it a failure instead.
"""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

import pytest

from wardwatch.sensor.capture import _common


def test_a_compiler_machine_builds_it() -> None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not (compiler and headers.exists()):
        pytest.skip("no C compiler or Python headers here: the NumPy path is what runs")
    assert _common._NATIVE is not None, "pip install did not build wardwatch.sensor._native (see setup.py)"
