"""What the SBOM and VEX readers (CycloneDX, SPDX, OpenVEX) produce: components of one device model
and manufacturers' VEX statements, independent of the file format."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Component:
    """One SBOM component: what it is and how to look it up (purl, CPE)."""

    name: str
    version: str
    purl: str
    cpe: str
    supplier: str


@dataclass(frozen=True, slots=True)
class VexStatement:
    """A manufacturer's statement about one vulnerability in one product (CycloneDX VEX vocabulary)."""

    vulnerability: str
    product: str  # purl, CPE or name as written
    vendor: str
    model: str
    state: str  # exploitable | in_triage | false_positive | not_affected | resolved
    justification: str | None
    responses: tuple[str, ...]
    detail: str


@dataclass(frozen=True, slots=True)
class Document:
    """An SBOM and/or VEX document. ``vendor``/``model`` name the device model it describes."""

    document: str  # serialNumber / documentNamespace / @id, else the file's SHA-256
    format: str
    spec_version: str
    vendor: str
    model: str
    author: str
    timestamp: str
    components: tuple[Component, ...] = ()
    statements: tuple[VexStatement, ...] = ()
