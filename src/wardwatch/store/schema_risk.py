"""Tables of one subsystem: risk scores, per-finding decisions and medical rubric answers (issue 6).

They are declared on the shared :data:`wardwatch.store.schema.metadata` (so the contract tests'
schema check and table reset see them) and built by their own migration under
``migrations/versions``. Follow the conventions in :mod:`wardwatch.store.schema`.

* ``risk_score``: the latest score of each device, with the scoring version that produced it and
  its full explanation (so a stored number can always explain itself, even after the scoring
  function changes);
* ``risk_finding``: each finding's score and SSVC decision in context (what fleet-wide what-ifs and
  the "how many Act" counts read), also with its version;
* ``risk_rubric``: a person's answers to the MITRE medical-device CVSS rubric for one device model
  and the environmental metrics they give.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, ForeignKey, Index, PrimaryKeyConstraint, Table, Text

from wardwatch.store.schema import _id_type, metadata

risk_score = Table(
    "risk_score",
    metadata,
    Column("device_id", _id_type(), ForeignKey("device.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Text, nullable=False),
    Column("risk", Float, nullable=False),
    Column("likelihood", Float, nullable=False),
    Column("impact", Float, nullable=False),
    Column("decision", Text),  # the most urgent SSVC decision of its findings, None without findings
    Column("top_vulnerability", Text),
    Column("findings", BigInteger, nullable=False),
    Column("explanation", JSON, nullable=False),  # list of plain-language lines
    Column("context", JSON, nullable=False),  # the exposure the score saw (services, peers, path ...)
    Column("computed_ns", BigInteger, nullable=False),
    Index(None, "risk"),
)

risk_finding = Table(
    "risk_finding",
    metadata,
    Column("device_id", _id_type(), ForeignKey("device.id", ondelete="CASCADE"), nullable=False),
    Column("vulnerability", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("risk", Float, nullable=False),
    Column("likelihood", Float, nullable=False),
    Column("impact", Float, nullable=False),
    Column("decision", Text, nullable=False),
    Column("ssvc", Text, nullable=False),  # E:active/A:yes/T:total/M:high
    Column("cvss_environmental", Float),
    Column("factors", JSON, nullable=False),  # [{part, name, weight, value, detail}]
    Column("computed_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("device_id", "vulnerability"),
    Index(None, "decision"),
)

risk_rubric = Table(
    "risk_rubric",
    metadata,
    Column("vendor", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("answers", JSON, nullable=False),  # question id -> answer id
    Column("metrics", JSON, nullable=False),  # CVSS metric -> value the answers give
    Column("author", Text, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("vendor", "model"),
)
