"""Read a CMMS asset list (CSV or XLSX) through a column mapping.

Every CMMS exports different headers, so the reader maps them to :class:`~wardwatch.model.recall.Asset`
fields: explicitly (``tag=Asset Tag``, ``serial=Serial No.``) or, for fields not mapped, by the
common header names in :data:`SYNONYMS`. Columns nobody mapped are kept in ``Asset.extra``.

Errors: :class:`AssetFileError`, one line naming the file and the row (spreadsheet row numbers,
the header is row 1). The whole file is checked before anything is returned.
"""

from __future__ import annotations

import csv
import importlib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from wardwatch.model.recall import Asset
from wardwatch.store.schema import normalize_mac

#: Asset fields a mapping may name (``tag`` is required).
FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Asset) if f.name not in ("source", "extra"))

#: Header names (lower case, spaces/punctuation collapsed) recognised without a mapping.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "tag": ("asset tag", "asset", "asset id", "asset number", "tag", "equipment id", "control number"),
    "serial": ("serial", "serial number", "serial no", "sn", "s n"),
    "model": ("model", "model number", "model no", "catalog number"),
    "manufacturer": ("manufacturer", "make", "vendor", "mfr"),
    "department": ("department", "dept", "cost center"),
    "location": ("location", "room", "site"),
    "product_code": ("product code", "fda product code"),
    "udi": ("udi", "udi di", "gtin"),
    "lot": ("lot", "lot number", "batch"),
    "mac": ("mac", "mac address"),
    "ip": ("ip", "ip address"),
    "hostname": ("hostname", "host name", "device name"),
    "device_type": ("device type", "type", "equipment type"),
    "purchase_date": ("purchase date", "acquired", "acquisition date"),
    "end_of_support": ("end of support", "eos", "end of life", "eol"),
}

MAX_ROWS = 1_000_000


class AssetFileError(Exception):
    """An asset list that cannot be read (the message is one line naming file and row)."""


def _key(header: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", header.lower()).split())


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """``["tag=Asset Tag", "serial=Serial No"]`` (or one item with commas) -> {field: header}."""
    mapping: dict[str, str] = {}
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            name, sep, header = part.partition("=")
            name = name.strip()
            if not sep or not header.strip():
                raise ValueError(f"--map {part.strip()!r}: expected FIELD=Column header")
            if name not in FIELDS:
                raise ValueError(f"--map {name!r}: unknown field; use one of {', '.join(FIELDS)}")
            mapping[name] = header.strip()
    return mapping


def _read_rows(path: Path) -> list[list[str]]:
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            return _xlsx_rows(path)
        data = path.read_bytes()
    except OSError as exc:
        raise AssetFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        return [row for row in csv.reader(io.StringIO(text), dialect)]
    except csv.Error as exc:
        raise AssetFileError(f"{path}: not a readable CSV: {exc}") from None


def _xlsx_rows(path: Path) -> list[list[str]]:
    try:
        # Imported by name: openpyxl has no type stubs, and only XLSX import needs it.
        openpyxl: Any = importlib.import_module("openpyxl")
    except ImportError:  # pragma: no cover - openpyxl is a dependency of XLSX import only
        raise AssetFileError(f"{path}: reading .xlsx needs the openpyxl package") from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise AssetFileError(f"{path}: not a readable XLSX workbook: {type(exc).__name__}: {exc}") from None
    try:
        sheet = book.worksheets[0]
        rows: list[list[str]] = []
        for values in sheet.iter_rows(values_only=True):
            rows.append(["" if v is None else _cell(v) for v in values])
            if len(rows) > MAX_ROWS:
                break
        return rows
    finally:
        book.close()


def _cell(value: Any) -> str:
    if hasattr(value, "isoformat"):
        return str(value.isoformat())[:10]  # dates: the day is what a CMMS means
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # serials typed as numbers
    return str(value).strip()


def read_assets(path: str | Path, mapping: Mapping[str, str] | None = None) -> list[Asset]:
    """The assets of one CSV/XLSX file. ``mapping`` is {field: column header}."""
    p = Path(path)
    rows = _read_rows(p)
    if len(rows) > MAX_ROWS:
        raise AssetFileError(f"{p}: more than {MAX_ROWS:,} rows")
    if not rows or not any(c.strip() for c in rows[0]):
        raise AssetFileError(f"{p}: empty, or no header row")
    header = [h.strip() for h in rows[0]]
    by_key = {_key(h): i for i, h in enumerate(header) if h}
    columns: dict[str, int] = {}
    for name, wanted in (mapping or {}).items():
        index = by_key.get(_key(wanted))
        if index is None:
            raise AssetFileError(
                f"{p}: row 1: no column {wanted!r} (mapped to {name}); columns: {', '.join(header)}"
            )
        columns[name] = index
    for name, synonyms in SYNONYMS.items():
        if name in columns:
            continue
        for s in synonyms:
            if s in by_key and by_key[s] not in columns.values():
                columns[name] = by_key[s]
                break
    if "tag" not in columns:
        raise AssetFileError(f"{p}: row 1: no asset tag column (map one with --map tag=HEADER)")
    used = set(columns.values())
    assets: list[Asset] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        values = {name: (row[i].strip() if i < len(row) else "") for name, i in columns.items()}
        tag = values.pop("tag")
        if not tag:
            raise AssetFileError(f"{p}: row {number}: empty asset tag")
        if tag in seen:
            raise AssetFileError(f"{p}: row {number}: asset tag {tag!r} already on row {seen[tag]}")
        seen[tag] = number
        if values.get("mac"):
            mac = normalize_mac(values["mac"])
            if mac is None:
                raise AssetFileError(f"{p}: row {number}: {values['mac']!r} is not a MAC address")
            values["mac"] = mac
        extra = {
            header[i]: row[i].strip()
            for i in range(min(len(row), len(header)))
            if i not in used and row[i].strip()
        }
        assets.append(
            Asset(
                tag=tag,
                source=f"{p.name} row {number}",
                extra=extra,
                **{k: (v or None) for k, v in values.items()},
            )
        )
    return assets


def read_many(paths: Sequence[str | Path], mapping: Mapping[str, str] | None = None) -> list[Asset]:
    """Assets of several files (tags must be unique across them)."""
    out: list[Asset] = []
    for path in paths:
        out.extend(read_assets(path, mapping))
    return out
