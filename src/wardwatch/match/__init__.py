"""Matchers: read devices and advisories, produce findings, each attributed to its matcher.

Separate from :mod:`wardwatch.feeds` (which only reads files) and from triage (which records decisions).
"""
