"""Which triage decision is current for a finding, and how a model-scope decision names its model.

Decisions (``analysis`` rows) are append-only; this module only reads them. Rules (ADR 005): a
decision about the device wins over one about its model; within a scope the latest wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wardwatch.match.names import canonical_vendor, words


def model_key(vendor: str | None, model: str | None) -> str:
    """How a model-scope decision names a model: ``<canonical vendor>|<model words>``, so that
    ``Becton, Dickinson and Company|Alaris 8015 PC Unit`` and ``BD|alaris 8015 pc unit`` agree."""
    return f"{canonical_vendor(vendor) or ''}|{' '.join(words(model or ''))}"


def current_analysis(history: Sequence[dict[str, Any]], device_id: int, mkey: str) -> dict[str, Any] | None:
    """The decision in force for one device, from a vulnerability's history (oldest first)."""
    dev = [a for a in history if a["scope"] == "device" and a["target"] == str(device_id)]
    if dev:
        return dev[-1]
    mod = [a for a in history if a["scope"] == "model" and a["target"] == mkey]
    return mod[-1] if mod else None
