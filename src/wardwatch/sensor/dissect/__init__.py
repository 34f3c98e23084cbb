"""Dissectors: identity-bearing payloads in, observations out (sans-IO, no state across calls).

Each dissector module defines one :class:`~wardwatch.sensor.dissect.base.Dissector` and registers
it in :data:`wardwatch.sensor.dissect.registry.DISSECTORS`.
"""
