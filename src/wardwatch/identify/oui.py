"""MAC address vendor lookup in the IEEE registries (MA-L, MA-M, MA-S, IAB), longest prefix first."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import cast


@dataclass(frozen=True, slots=True)
class OuiMatch:
    """The registry assignment covering a MAC address."""

    prefix: str  # hex digits, upper case: 6 (MA-L), 7 (MA-M) or 9 (MA-S / IAB)
    registry: str  # "MA-L", "MA-M", "MA-S", "IAB"
    organization: str


def normalize_mac(text: str) -> str | None:
    """Any common MAC notation to lower-case colon form, or None when it is not a MAC."""
    digits = "".join(ch for ch in text if ch not in ":-. ").lower()
    if len(digits) != 12 or any(ch not in "0123456789abcdef" for ch in digits):
        return None
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def is_locally_administered(mac: str) -> bool:
    """True for locally administered addresses (U/L bit set): randomized or assigned by software."""
    return bool(int(mac[0:2], 16) & 0x02)


def is_multicast(mac: str) -> bool:
    """True for group addresses (I/G bit set), including broadcast."""
    return bool(int(mac[0:2], 16) & 0x01)


class OuiRegistry:
    """The IEEE registry, loaded once from the bundled table."""

    def __init__(self, rows: dict[str, tuple[str, str]]) -> None:
        # A value is (registry, organization), or, for the bundled table, the text
        # "registry<TAB>organization" split on lookup: building 46,000 tuples cost every run
        # that identifies anything ~25 ms, for the few prefixes a site has.
        self._rows: dict[str, tuple[str, str] | str] = dict(rows)

    @classmethod
    def bundled(cls) -> OuiRegistry:
        """The registry shipped in ``knowledge/ieee-registry.tsv.gz`` (see knowledge/SOURCES.md)."""
        return _bundled()

    def __len__(self) -> int:
        return len(self._rows)

    def lookup(self, mac: str) -> OuiMatch | None:
        """The most specific assignment covering ``mac`` (36-bit before 28-bit before 24-bit).

        Locally administered addresses have no registry owner and give None.
        """
        norm = normalize_mac(mac)
        if norm is None or is_locally_administered(norm):
            return None
        digits = norm.replace(":", "").upper()
        for length in (9, 7, 6):
            row = self._rows.get(digits[:length])
            if row is not None:
                if isinstance(row, str):
                    registry, _, organization = row.partition("\t")
                else:
                    registry, organization = row
                return OuiMatch(prefix=digits[:length], registry=registry, organization=organization)
        return None


@lru_cache(maxsize=1)
def _bundled() -> OuiRegistry:
    data = resources.files("wardwatch.identify").joinpath("knowledge/ieee-registry.tsv.gz").read_bytes()
    registry = OuiRegistry({})
    # "prefix<TAB>registry<TAB>organization" per line: the prefix is the key, the rest is split
    # when looked up (see __init__).
    lines = gzip.decompress(data).decode("utf-8").splitlines()
    registry._rows = cast("dict[str, tuple[str, str] | str]", dict(line.split("\t", 1) for line in lines))
    return registry
