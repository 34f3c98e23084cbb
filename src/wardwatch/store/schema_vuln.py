"""Tables of one subsystem: Vulnerability intelligence: feeds, advisories, SBOMs, findings, triage (issue 5).

They are declared on the shared :data:`wardwatch.store.schema.metadata` (so the contract tests'
schema check and table reset see them) and built by their own migration under
``migrations/versions``. Follow the conventions in :mod:`wardwatch.store.schema`.

* ``feed_import``: one row per file import attempt (what, when, from which file, the outcome);
* ``advisory`` (+ ``advisory_alias`` as ``(source, alias)`` rows, + ``advisory_key``: the index the
  matchers look advisories up by, e.g. ``("cpe", "medtronic:minimed_508_firmware")``);
* ``kev``, ``epss``, ``ssvc``: per-CVE facts from CISA KEV, FIRST EPSS, CISA vulnrichment;
* ``sbom`` + ``sbom_component``; ``vex_statement`` (manufacturers' VEX, applied by triage);
* ``finding`` (never deleted: ``active`` false with ``inactive_reason``) + ``finding_event`` (its history);
* ``analysis``: every triage decision, append-only (the latest per target is the current one).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
)

from wardwatch.store.schema import _id_type, metadata

feed_import = Table(
    "feed_import",
    metadata,
    Column("id", _id_type(), primary_key=True, autoincrement=True),
    Column("path", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("format", Text, nullable=False),
    Column("started_ns", BigInteger, nullable=False),
    Column("finished_ns", BigInteger, nullable=False),
    Column("status", Text, nullable=False),  # ok | unchanged | error
    Column("records", BigInteger, nullable=False),
    Column("inserted", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("skipped", BigInteger, nullable=False),
    Column("watermark", Text, nullable=False),  # newest revision / catalog version / score date seen
    Column("error", Text),
    Index(None, "sha256"),
)

advisory = Table(
    "advisory",
    metadata,
    Column("id", Text, primary_key=True),
    Column("source", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("published", Text),
    Column("revision", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("cvss_score", Float),
    Column("cvss_version", Text),
    Column("cvss_vector", Text),
    Column("data", JSON, nullable=False),
    Column("import_id", BigInteger, nullable=False),
)

advisory_alias = Table(
    "advisory_alias",
    metadata,
    Column("advisory_id", Text, ForeignKey("advisory.id", ondelete="CASCADE"), nullable=False),
    Column("source", Text, nullable=False),
    Column("alias", Text, nullable=False),
    PrimaryKeyConstraint("advisory_id", "source", "alias"),
    Index(None, "alias"),
)

advisory_key = Table(
    "advisory_key",
    metadata,
    Column("kind", Text, nullable=False),  # cpe | csaf_vendor | purl
    Column("key", Text, nullable=False),
    Column("advisory_id", Text, ForeignKey("advisory.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("kind", "key", "advisory_id"),
    Index(None, "advisory_id"),
)

kev = Table(
    "kev",
    metadata,
    Column("cve", Text, primary_key=True),
    Column("vendor_project", Text, nullable=False),
    Column("product", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("date_added", Text, nullable=False),
    Column("due_date", Text, nullable=False),
    Column("required_action", Text, nullable=False),
    Column("ransomware", Text, nullable=False),
    Column("catalog_version", Text, nullable=False),
    Column("import_id", BigInteger, nullable=False),
)

epss = Table(
    "epss",
    metadata,
    Column("cve", Text, primary_key=True),
    Column("epss", Float, nullable=False),
    Column("percentile", Float, nullable=False),
    Column("model_version", Text, nullable=False),
    Column("score_date", Text, nullable=False),
    Column("import_id", BigInteger, nullable=False),
)

ssvc = Table(
    "ssvc",
    metadata,
    Column("cve", Text, primary_key=True),
    Column("exploitation", Text, nullable=False),
    Column("automatable", Text, nullable=False),
    Column("technical_impact", Text, nullable=False),
    Column("timestamp", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("import_id", BigInteger, nullable=False),
)

sbom = Table(
    "sbom",
    metadata,
    Column("id", _id_type(), primary_key=True, autoincrement=True),
    Column("document", Text, nullable=False, unique=True),  # serialNumber / documentNamespace / path hash
    Column("format", Text, nullable=False),
    Column("spec_version", Text, nullable=False),
    Column("vendor", Text, nullable=False),  # the device model it describes (scope), "" when unknown
    Column("model", Text, nullable=False),
    Column("revision", Text, nullable=False),
    Column("import_id", BigInteger, nullable=False),
)

sbom_component = Table(
    "sbom_component",
    metadata,
    Column("sbom_id", _id_type(), ForeignKey("sbom.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("purl", Text, nullable=False),
    Column("cpe", Text, nullable=False),
    Column("supplier", Text, nullable=False),
    PrimaryKeyConstraint("sbom_id", "seq"),
)

vex_statement = Table(
    "vex_statement",
    metadata,
    Column("id", _id_type(), primary_key=True, autoincrement=True),
    Column("document", Text, nullable=False),
    Column("format", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("vulnerability", Text, nullable=False),
    Column("product", Text, nullable=False),  # purl, cpe or product name as the document wrote it
    Column("vendor", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("justification", Text),
    Column("responses", JSON, nullable=False),
    Column("detail", Text, nullable=False),
    Column("timestamp", Text, nullable=False),
    Column("import_id", BigInteger, nullable=False),
    UniqueConstraint("document", "vulnerability", "product"),
    Index(None, "vulnerability"),
)

finding = Table(
    "finding",
    metadata,
    Column("id", _id_type(), primary_key=True, autoincrement=True),
    Column("device_id", _id_type(), ForeignKey("device.id", ondelete="CASCADE"), nullable=False),
    Column("vulnerability", Text, nullable=False),
    Column("matcher", Text, nullable=False),
    Column("advisory_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("reason", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("inactive_reason", Text, nullable=False),
    Column("first_ns", BigInteger, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
    UniqueConstraint("device_id", "vulnerability", "matcher"),
    Index(None, "vulnerability"),
    Index(None, "matcher", "active"),
)

finding_event = Table(
    "finding_event",
    metadata,
    Column("finding_id", _id_type(), ForeignKey("finding.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at_ns", BigInteger, nullable=False),
    Column("event", Text, nullable=False),  # opened | changed | inactive | reactivated
    Column("detail", Text, nullable=False),
    PrimaryKeyConstraint("finding_id", "seq"),
)

analysis = Table(
    "analysis",
    metadata,
    Column("id", _id_type(), primary_key=True, autoincrement=True),
    Column("vulnerability", Text, nullable=False),
    Column("scope", Text, nullable=False),  # device | model
    Column("target", Text, nullable=False),  # device id, or "vendor|model"
    Column("state", Text, nullable=False),
    Column("justification", Text),
    Column("responses", JSON, nullable=False),
    Column("detail", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("source", Text, nullable=False),  # manual | vex:<document>
    Column("created_ns", BigInteger, nullable=False),
    Index(None, "vulnerability", "scope", "target"),
)
