"""Tables of one subsystem: risk scores, exposure and mitigation plans (issue 6).

They are declared on the shared :data:`wardwatch.store.schema.metadata` (so the contract tests'
schema check and table reset see them) and built by their own migration under
``migrations/versions``. Follow the conventions in :mod:`wardwatch.store.schema`.
"""

from __future__ import annotations

from wardwatch.store.schema import metadata  # noqa: F401  (tables are declared on it)
