"""Make the hand-written capture writers importable by the tests next to them.

pytest runs with ``--import-mode=importlib``, which does not put test directories on
``sys.path``; the writers are plain helpers, not fixtures, so the tests import them by name.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
