"""Placeholder: the intellivue dissector is being written (issue 3)."""

from __future__ import annotations

from wardwatch.sensor.dissect.base import Dissector

DISSECTORS: tuple[Dissector, ...] = ()
FIELDS: dict[str, str] = {}
