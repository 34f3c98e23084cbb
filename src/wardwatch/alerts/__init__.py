"""Stored, deduplicated alerts with a workflow state (open, acknowledged, closed)."""
