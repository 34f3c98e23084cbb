"""DICOM UID knowledge: Implementation Class UID roots and the SOP class / transfer syntax table.

Both tables are data shipped in ``identify/knowledge`` (``dicom-uid-roots.json`` and
``dicom-sop-classes.json``, each entry with its source), read once and cached. The DICOM
dissector uses them to name what it saw (an abstract syntax UID becomes "CT Image Storage", an
Implementation Class UID under 1.2.840.113619 becomes GE HealthCare); the observation rules in
``rules.d/dicom.json`` turn those names into device evidence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any


class RootKind(StrEnum):
    """What owning a UID root says about a device."""

    VENDOR = "vendor"
    """The maker of the device or product."""
    TOOLKIT = "toolkit"
    """A DICOM library inside many products: names the software stack, not the maker."""


@dataclass(frozen=True, slots=True)
class UidRoot:
    """One organisation's UID root from dicom-uid-roots.json."""

    root: str
    organisation: str
    kind: RootKind
    source: str


@dataclass(frozen=True, slots=True)
class SopClass:
    """One SOP class (abstract syntax) from dicom-sop-classes.json."""

    uid: str
    name: str
    service: str
    """verification, storage, storage-commitment, query, retrieve, worklist, mpps, print or other."""
    modality: str | None
    """For single-modality image storage classes, the PS3.3 Modality term (CT, MR, US, ...)."""


@dataclass(frozen=True, slots=True)
class DicomTables:
    """The loaded tables."""

    roots: tuple[UidRoot, ...]
    sop_classes: dict[str, SopClass]
    transfer_syntaxes: dict[str, str]

    def implementation_root(self, uid: str) -> UidRoot | None:
        """The longest registered root that ``uid`` lies under (arc boundaries respected), or None."""
        best: UidRoot | None = None
        for entry in self.roots:
            if (uid == entry.root or uid.startswith(entry.root + ".")) and (
                best is None or len(entry.root) > len(best.root)
            ):
                best = entry
        return best

    def sop_class(self, uid: str) -> SopClass | None:
        """The SOP class of an abstract syntax UID, or None when it is not in the table."""
        return self.sop_classes.get(uid)

    def sop_class_name(self, uid: str) -> str:
        """The PS3.6 name of a SOP class, or the UID itself when unknown (private classes)."""
        known = self.sop_classes.get(uid)
        return known.name if known else uid

    def transfer_syntax_name(self, uid: str) -> str:
        """The PS3.6 name of a transfer syntax, or the UID itself when unknown."""
        return self.transfer_syntaxes.get(uid, uid)


def _load(name: str) -> dict[str, Any]:
    raw = resources.files("wardwatch.identify").joinpath(f"knowledge/{name}").read_bytes()
    data: dict[str, Any] = json.loads(raw)
    return data


@lru_cache(maxsize=1)
def dicom_tables() -> DicomTables:
    """The bundled DICOM tables (loaded once)."""
    roots_doc = _load("dicom-uid-roots.json")
    sop_doc = _load("dicom-sop-classes.json")
    roots = tuple(
        UidRoot(root=r["root"], organisation=r["organisation"], kind=RootKind(r["kind"]), source=r["source"])
        for r in roots_doc["roots"]
    )
    classes = {
        c["uid"]: SopClass(uid=c["uid"], name=c["name"], service=c["service"], modality=c.get("modality"))
        for c in sop_doc["sop_classes"]
    }
    syntaxes = {t["uid"]: t["name"] for t in sop_doc["transfer_syntaxes"]}
    return DicomTables(roots=roots, sop_classes=classes, transfer_syntaxes=syntaxes)
