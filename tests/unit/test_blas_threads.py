"""wardwatch keeps NumPy's OpenBLAS to one thread unless the user chose otherwise.

The packet path does no linear algebra; OpenBLAS's per-core threads only cost CPU at start-up
(measured in bench/README.md). A fresh interpreter is needed: the setting works only before NumPy
is imported, and the test process has imported it long ago.
"""

from __future__ import annotations

import os
import subprocess
import sys

CODE = "import wardwatch, numpy, os; print(os.environ['OPENBLAS_NUM_THREADS'])"


def _run(env: dict[str, str]) -> str:
    proc = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def test_one_blas_thread_by_default() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert _run(env) == "1"


def test_the_users_choice_stands() -> None:
    assert _run({**os.environ, "OPENBLAS_NUM_THREADS": "3"}) == "3"
