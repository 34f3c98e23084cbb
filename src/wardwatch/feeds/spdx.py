"""SPDX 2.3 JSON: packages (name, versionInfo, supplier, purl/CPE external references)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wardwatch.feeds.base import FeedError, load_json, text_of
from wardwatch.feeds.sbom import Component, Document


def _supplier(text: str) -> str:
    # "Organization: Acme Inc (contact@acme)" -> "Acme Inc"
    name = text.partition(":")[2].strip() if ":" in text else text
    return name.split("(")[0].strip()


def parse_spdx(doc: dict[str, Any]) -> Document:
    """An SPDX 2.x JSON document (raises KeyError/TypeError/ValueError when malformed)."""
    version = str(doc["spdxVersion"])
    if not version.startswith("SPDX-2"):
        raise ValueError(f"unsupported {version} (SPDX 2.2/2.3 JSON only)")
    comps: list[Component] = []
    described = set(doc.get("documentDescribes") or ())
    main: dict[str, Any] = {}
    for p in doc.get("packages") or ():
        purl = cpe = ""
        for ref in p.get("externalRefs") or ():
            t = ref.get("referenceType")
            if t == "purl" and not purl:
                purl = text_of(ref.get("referenceLocator"))
            elif t in ("cpe23Type", "cpe22Type") and not cpe:
                cpe = text_of(ref.get("referenceLocator"))
        if p.get("SPDXID") in described and not main:
            main = p
        comps.append(
            Component(
                name=text_of(p.get("name")),
                version=text_of(p.get("versionInfo")),
                purl=purl,
                cpe=cpe,
                supplier=_supplier(text_of(p.get("supplier"))),
            )
        )
    creation = doc.get("creationInfo") or {}
    creators = [c for c in creation.get("creators") or () if isinstance(c, str)]
    return Document(
        document=text_of(doc.get("documentNamespace")) or text_of(doc.get("name")),
        format="spdx",
        spec_version=version,
        vendor=_supplier(text_of(main.get("supplier"))),
        model=text_of(main.get("name")),
        author=_supplier(creators[0]) if creators else "",
        timestamp=text_of(creation.get("created")),
        components=tuple(comps),
    )


def read_spdx(path: str | Path) -> Document:
    """One SPDX JSON file; raises :class:`FeedError` naming the file and the problem."""
    doc = load_json(path)
    try:
        if not isinstance(doc, dict):
            raise TypeError("top level is not an object")
        return parse_spdx(doc)
    except KeyError as e:
        raise FeedError(str(path), "document", f"malformed SPDX: missing field {e}") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise FeedError(str(path), "document", f"malformed SPDX: {e}") from None
