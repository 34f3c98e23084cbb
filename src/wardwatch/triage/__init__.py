"""Triage: what people and manufacturers' VEX documents decided about findings (CycloneDX VEX states)."""
