"""CISA Known Exploited Vulnerabilities catalog (JSON): one entry per CVE, streamed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wardwatch.feeds.base import READ_ERRORS, FeedError, JsonStreamError, iter_json, open_text, text_of

_HEADER_ERRORS: tuple[type[BaseException], ...] = (*READ_ERRORS, JsonStreamError)


@dataclass(frozen=True, slots=True)
class KevEntry:
    """One KEV catalog entry, with the catalog version it came from."""

    cve: str
    vendor_project: str
    product: str
    name: str
    date_added: str
    due_date: str
    required_action: str
    ransomware: str  # "Known" | "Unknown"
    catalog_version: str


def read_kev(path: str | Path) -> Iterator[KevEntry]:
    """Every entry of a KEV catalog file; ``catalogVersion`` must come before ``vulnerabilities``
    (as CISA writes it). Raises :class:`FeedError` naming the entry."""
    p = str(path)
    version = ""
    try:
        with open_text(path) as f:
            for entry in iter_json(f, frozenset({"vulnerabilities"})):
                if not entry.item:
                    if entry.key == "catalogVersion":
                        version = text_of(entry.value)
                    continue
                v = entry.value
                cve = v.get("cveID") if isinstance(v, dict) else None
                if not isinstance(v, dict) or not isinstance(cve, str) or not cve.startswith("CVE-"):
                    raise FeedError(p, f"entry {entry.index}", "entry without a cveID")
                if not isinstance(v.get("dateAdded"), str):
                    raise FeedError(p, f"entry {entry.index} ({cve})", "entry without a dateAdded")
                yield KevEntry(
                    cve=cve,
                    vendor_project=text_of(v.get("vendorProject")),
                    product=text_of(v.get("product")),
                    name=text_of(v.get("vulnerabilityName")),
                    date_added=v["dateAdded"],
                    due_date=text_of(v.get("dueDate")),
                    required_action=text_of(v.get("requiredAction")),
                    ransomware=text_of(v.get("knownRansomwareCampaignUse")),
                    catalog_version=version,
                )
    except JsonStreamError as e:
        raise FeedError(p, f"offset {e.offset}", str(e).partition(": ")[2]) from None
    except READ_ERRORS as e:
        raise FeedError(p, "", f"cannot read: {e}") from None


def catalog_version(path: str | Path) -> str:
    """The ``catalogVersion`` of a KEV file (read from its header only), "" when absent."""
    try:
        with open_text(path) as f:
            for entry in iter_json(f, frozenset({"vulnerabilities"})):
                if entry.item:
                    return ""
                if entry.key == "catalogVersion":
                    return text_of(entry.value)
    except _HEADER_ERRORS:
        return ""
    return ""
