"""Offline feed importers, one per file format, each a streaming reader of records (no database here).

The store side (upserts, watermarks, the import record) is :mod:`wardwatch.store.repo_vuln`; the use
case that ties them together is :mod:`wardwatch.services.vulns`.
"""
