"""wardwatch: passive discovery, identification and risk management for connected medical devices."""

import os

# NumPy's OpenBLAS starts a thread per core when NumPy is imported, and those threads spin for a
# while: ~0.06 s of CPU per process here (half of NumPy's import), in every command and every
# --workers process. wardwatch does no linear algebra (NumPy serves the packet path's
# element-wise work), so one BLAS thread is all it could use. Set only when the user has not
# chosen, and before any wardwatch module imports NumPy; no effect if NumPy is already imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

# Some modules are compiled by mypyc at install time (setup.py, ADR 013). Their Python source
# runs instead when WARDWATCH_PURE_PYTHON is set at start-up (the tests run it too) or when the
# compiled build is not of the present sources; decided here, before any of them is imported.
from pathlib import Path as _Path

from wardwatch._pure import configure as _configure

_configure(_Path(__file__).parent)
