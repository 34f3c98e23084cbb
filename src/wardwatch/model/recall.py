"""FDA recalls, the identifiers in them, matches to devices, CMMS assets, reconciliation and alerts.

Standard library only: these are the words the recall, asset, lifecycle and alert code share with
the store and the CLI. Every match, reconciliation and alert carries the evidence that produced
it, so any number shown to a user (a confidence) can explain itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class RecallSource(StrEnum):
    """Which openFDA endpoint a record came from."""

    RECALL = "device/recall"
    ENFORCEMENT = "device/enforcement"


class RecallStatus(StrEnum):
    """openFDA status, normalised (``Open, Classified`` and ``Ongoing`` are both open)."""

    OPEN = "open"
    PENDING = "pending"
    COMPLETED = "completed"
    TERMINATED = "terminated"
    UNKNOWN = "unknown"

    @property
    def is_open(self) -> bool:
        """Still in force: the hospital has something to do."""
        return self in (RecallStatus.OPEN, RecallStatus.PENDING, RecallStatus.UNKNOWN)


class IdentifierKind(StrEnum):
    """What a string found in a recall's free text identifies."""

    MODEL = "model"
    CATALOG = "catalog"  # catalog, REF, item, part number
    LOT = "lot"
    SERIAL = "serial"
    UDI_DI = "udi_di"  # GS1 GTIN-14 with a valid check digit
    HIBCC = "hibcc"  # HIBC LIC primary data (labeler + product + unit of measure), check char valid

    @property
    def is_unit(self) -> bool:
        """Narrows a recall to some units of a model rather than all of them."""
        return self in (IdentifierKind.LOT, IdentifierKind.SERIAL)


@dataclass(frozen=True, slots=True)
class Identifier:
    """One identifier read from a recall's text, with where it was read (for evidence).

    ``value`` is as written; ``low``/``high`` are set for a range ("12345 through 12399").
    """

    kind: IdentifierKind
    value: str
    source_field: str  # "code_info" or "product_description"
    context: str  # the words around it
    low: str | None = None
    high: str | None = None


@dataclass(frozen=True, slots=True)
class Recall:
    """One recalled product (an FDA recall number, Z-nnnn-yyyy), merged from both endpoints."""

    uid: str  # the recall number, or "event:<id>:<digest>" when a record carries none
    number: str | None
    event_id: str | None
    sources: tuple[RecallSource, ...]
    recalling_firm: str
    product_code: str | None
    k_numbers: tuple[str, ...]
    pma_numbers: tuple[str, ...]
    classification: str | None  # "Class I" / "Class II" / "Class III" (enforcement only)
    status: RecallStatus
    status_text: str
    initiated: str | None  # ISO dates
    posted: str | None
    terminated: str | None
    reason: str
    root_cause: str | None
    product_description: str
    code_info: str
    identifiers: tuple[Identifier, ...] = ()
    device_name: str | None = None  # openfda.device_name

    def of_kind(self, kind: IdentifierKind) -> tuple[Identifier, ...]:
        """The identifiers of one kind."""
        return tuple(i for i in self.identifiers if i.kind == kind)


class MatchLevel(StrEnum):
    """How far a recall reaches a device. Only ``affected`` means "this unit is in the recall"."""

    AFFECTED = "affected"  # the unit's serial/lot/UDI is listed, or the recall covers every unit of the model
    POSSIBLE = "possible"  # the model matches, the unit identifier the recall is limited by is unknown
    NOT_AFFECTED = "not_affected"  # the model matches, the unit's serial/lot is known and not listed
    PRODUCT_LINE = "product_line"  # same firm and device category, model not established


@dataclass(frozen=True, slots=True)
class MatchEvidence:
    """One criterion checked between a recall and a device, and what each side said."""

    criterion: str  # "firm", "product_code", "model", "catalog", "lot", "serial", "udi"
    outcome: str  # "match", "mismatch", "unknown"
    device_value: str | None
    recall_value: str | None
    source: str  # where the device value came from: "device:vendor", "asset:A-1001 (cmms.csv row 3)"
    weight: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RecallMatch:
    """A recall applied to one device (or CMMS asset), with the evidence for the level."""

    recall_uid: str
    device_id: int | None
    asset_tag: str | None
    level: MatchLevel
    confidence: float
    evidence: tuple[MatchEvidence, ...]


@dataclass(frozen=True, slots=True)
class Asset:
    """One row of a CMMS / clinical-engineering asset list."""

    tag: str
    serial: str | None = None
    model: str | None = None
    manufacturer: str | None = None
    department: str | None = None
    location: str | None = None
    product_code: str | None = None
    udi: str | None = None
    lot: str | None = None
    mac: str | None = None
    ip: str | None = None
    hostname: str | None = None
    device_type: str | None = None
    purchase_date: str | None = None
    end_of_support: str | None = None
    source: str = ""  # "cmms.csv row 3"
    extra: dict[str, str] = field(default_factory=dict)


class ReconState(StrEnum):
    """Where an asset or device stands after reconciliation."""

    MATCHED = "matched"
    NETWORK_ONLY = "network_only"  # unmanaged: on the network, not in the CMMS
    CMMS_ONLY = "cmms_only"  # missing or offline: in the CMMS, not seen on the network


@dataclass(frozen=True, slots=True)
class MergedValue:
    """An attribute after merging both sides, with where each value came from."""

    attribute: str
    value: str | None
    provenance: str  # "network", "cmms", "both"
    network_value: str | None
    cmms_value: str | None
    conflict: bool


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """One row of the reconciliation: a matched pair, a network-only device or a CMMS-only asset."""

    state: ReconState
    device_id: int | None
    asset_tag: str | None
    matched_by: str | None  # "mac", "serial", "hostname", "ip"
    merged: tuple[MergedValue, ...] = ()

    @property
    def conflicts(self) -> tuple[MergedValue, ...]:
        """Attributes where the CMMS and the network disagree (shown, never silently resolved)."""
        return tuple(m for m in self.merged if m.conflict)


class AlertKind(StrEnum):
    """What an alert is about."""

    RECALL = "recall"
    MISSING = "missing"
    MOVED = "moved"
    NEW = "new"


class AlertState(StrEnum):
    """An alert's workflow state."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Alert:
    """A stored alert. ``dedup_key`` makes raising the same condition again update, not duplicate."""

    kind: AlertKind
    dedup_key: str
    title: str
    state: AlertState
    first_ns: int
    last_ns: int
    device_id: int | None = None
    asset_tag: str | None = None
    evidence: dict[str, object] = field(default_factory=dict)
    count: int = 1
    id: int | None = None
