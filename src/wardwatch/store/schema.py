"""The relational schema (SQLAlchemy Core) and the small query vocabulary shared by the adapters.

Tables are named with the domain words, singular (``flow``, ``observation``, ``device`` ...).
Conventions, the same on SQLite and PostgreSQL:

* timestamps are integer nanoseconds since the Unix epoch (``BIGINT``), never SQL datetimes:
  the sensor counts in nanoseconds, and integers compare and sort identically everywhere;
* optional parts of a natural key (``sighting.mac``, ``conversation.client_ip`` ...) are stored
  as the empty string :data:`NONE`, not NULL, because NULLs never collide in a unique index and
  ``ON CONFLICT`` would then insert duplicates instead of merging;
* JSON columns use :class:`sqlalchemy.JSON` (TEXT on SQLite, ``json`` on PostgreSQL);
* the text columns a device listing sorts on use binary ("C") collation on PostgreSQL so that
  ordering is byte order on both engines (and in the in-memory fake), whatever the server locale.

This module is the *current* shape of the schema; migrations under
``wardwatch/store/migrations/versions`` are the history that builds it, and a unit test checks
that upgrading an empty database to head yields exactly these tables.
"""

from __future__ import annotations

import re

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from wardwatch.model.device import Attribute

#: Constraint names are explicit so later migrations can drop or alter them on both engines.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: Stored in place of None in natural-key columns (see the module docstring).
NONE = ""


def _id_type() -> TypeEngine[int]:
    # BIGINT on PostgreSQL (upserts consume sequence values even when they update), but SQLite
    # only auto-increments a column declared exactly INTEGER PRIMARY KEY (the rowid).
    return BigInteger().with_variant(Integer(), "sqlite")


def _sort_text() -> TypeEngine[str]:
    return Text().with_variant(Text(collation="C"), "postgresql")


def _ns(name: str, nullable: bool = False) -> Column[int]:
    return Column(name, BigInteger, nullable=nullable)


capture = Table(
    "capture",
    metadata,
    Column("id", _id_type(), primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("sha256", Text),
    Column("packets", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    _ns("first_ns", nullable=True),
    _ns("last_ns", nullable=True),
    Column("started_at", Text, nullable=False),
    Column("finished_at", Text, nullable=False),
    Column("stats", JSON, nullable=False),
    Column("error", Text),
)

flow = Table(
    "flow",
    metadata,
    Column("uid", Text, primary_key=True),
    Column("transport", Text, nullable=False),
    Column("a_mac", Text),
    Column("a_ip", Text),
    Column("a_port", Integer, nullable=False),
    Column("b_mac", Text),
    Column("b_ip", Text),
    Column("b_port", Integer, nullable=False),
    Column("vlan", Integer),
    Column("ethertype", Integer, nullable=False),
    _ns("first_ns"),
    _ns("last_ns"),
    Column("packets_ab", BigInteger, nullable=False),
    Column("packets_ba", BigInteger, nullable=False),
    Column("bytes_ab", BigInteger, nullable=False),
    Column("bytes_ba", BigInteger, nullable=False),
    Column("server", Text),
    Column("ended_by", Text, nullable=False),
)

observation = Table(
    "observation",
    metadata,
    Column("uid", Text, primary_key=True),
    Column("protocol", Text, nullable=False),
    Column("mac", Text),
    Column("ip", Text),
    Column("fields", JSON, nullable=False),
    _ns("first_ns"),
    _ns("last_ns"),
    Column("first_flow_uid", Text, nullable=False),
    Column("last_flow_uid", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    Index(None, "mac"),
    Index(None, "ip"),
)

sighting = Table(
    "sighting",
    metadata,
    Column("mac", Text, nullable=False),  # NONE when the traffic had no Ethernet header
    Column("ip", Text, nullable=False),
    _ns("first_ns"),
    _ns("last_ns"),
    Column("packets", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("ttl", Integer, nullable=False),
    # A natural primary key rather than a surrogate id: upserts then never burn sequence values.
    PrimaryKeyConstraint("mac", "ip"),
    Index(None, "ip"),
)

conversation = Table(
    "conversation",
    metadata,
    Column("client_ip", Text, nullable=False),
    Column("client_mac", Text, nullable=False),
    Column("server_ip", Text, nullable=False),
    Column("server_mac", Text, nullable=False),
    Column("transport", Text, nullable=False),
    Column("server_port", Integer, nullable=False),
    _ns("first_ns"),
    _ns("last_ns"),
    Column("flows", BigInteger, nullable=False),
    Column("packets", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    PrimaryKeyConstraint("client_ip", "client_mac", "server_ip", "server_mac", "transport", "server_port"),
    Index(None, "server_ip"),
)

#: Resolved attributes copied onto the device row, for listing, sorting and searching without joins.
DENORMALISED: tuple[str, ...] = (
    Attribute.VENDOR.value,
    Attribute.MODEL.value,
    Attribute.SERIAL.value,
    Attribute.HOSTNAME.value,
    Attribute.OS.value,
    Attribute.OS_VERSION.value,
    Attribute.FIRMWARE.value,
    Attribute.DEVICE_TYPE.value,
    Attribute.CLINICAL_CATEGORY.value,
)

#: What ``list_devices(sort=...)`` accepts; each has an index ending in ``id`` (the tie-break).
SORT_COLUMNS: tuple[str, ...] = ("id", "key", "mac", "first_ns", "last_ns", *DENORMALISED)

#: Columns a device search matches as case-insensitive substrings (IPs match by prefix instead).
SEARCH_COLUMNS: tuple[str, ...] = ("mac", "hostname", "vendor", "model", "serial")
#: Resolved attributes (not denormalised columns) that a device search also matches.
SEARCH_ATTRIBUTES: tuple[str, ...] = ("ae_title", "hl7_application")

device = Table(
    "device",
    metadata,
    Column("id", _id_type(), primary_key=True, autoincrement=True),
    Column("key", _sort_text(), nullable=False, unique=True),
    Column("mac", _sort_text()),
    Column("mac_randomized", Boolean, nullable=False),
    _ns("first_ns"),
    _ns("last_ns"),
    *(Column(name, _sort_text()) for name in DENORMALISED),
    _ns("updated_at"),
    # SQLite appends the rowid (= id) to every index by itself; PostgreSQL needs it spelled out
    # for ``ORDER BY x, id LIMIT n`` to be an index scan.
    *(Index(None, name, "id") for name in ("mac", "first_ns", "last_ns", *DENORMALISED)),
)

device_ip = Table(
    "device_ip",
    metadata,
    Column("device_id", _id_type(), ForeignKey("device.id", ondelete="CASCADE"), nullable=False),
    Column("ip", Text, nullable=False),
    _ns("first_ns"),
    _ns("last_ns"),
    Column("source", Text, nullable=False),
    PrimaryKeyConstraint("device_id", "ip"),
    Index(None, "ip"),
)

device_attribute = Table(
    "device_attribute",
    metadata,
    Column("device_id", _id_type(), ForeignKey("device.id", ondelete="CASCADE"), nullable=False),
    Column("attribute", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("chosen_by", Text, nullable=False),
    Column("conflict_count", Integer, nullable=False),
    PrimaryKeyConstraint("device_id", "attribute"),
)

evidence = Table(
    "evidence",
    metadata,
    Column("device_id", _id_type(), ForeignKey("device.id", ondelete="CASCADE"), nullable=False),
    # Position within the device's evidence list: keeps the order save_device was given, and
    # (unlike a surrogate id) does not grow forever as evidence is replaced on every re-identification.
    Column("seq", Integer, nullable=False),
    Column("attribute", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("rule", Text, nullable=False),
    # No foreign key: evidence may cite an observation that a later retention job removed.
    Column("observation_uid", Text),
    _ns("first_ns"),
    _ns("last_ns"),
    Column("detail", Text, nullable=False),
    PrimaryKeyConstraint("device_id", "seq"),
    Index(None, "observation_uid"),
)


# --- vocabulary shared by the SQL adapter and the in-memory fake, so they cannot disagree ---

_MAC_COLON = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")
_MAC_DOTTED = re.compile(r"^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$")
_MAC_BARE = re.compile(r"^[0-9a-f]{12}$")
_MAC_FRAGMENT = re.compile(r"^[0-9a-f]{1,2}([:-][0-9a-f]{1,2})+[:-]?$")


def normalize_mac(text: str) -> str | None:
    """A MAC in any common notation (``00-11-22-33-44-55``, ``0011.2233.4455``, ``001122334455``,
    any case) as lower-case colon form, or None when ``text`` is not a MAC."""
    t = text.strip().lower()
    if _MAC_COLON.match(t) or _MAC_DOTTED.match(t) or _MAC_BARE.match(t):
        digits = re.sub(r"[^0-9a-f]", "", t)
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    return None


def parse_sort(sort: str) -> tuple[str, bool]:
    """``"vendor"`` → ("vendor", False); ``"-last_ns"`` → ("last_ns", True). Unknown names raise ValueError."""
    name = sort.strip()
    descending = name.startswith("-")
    name = name.lstrip("-+")
    if name not in SORT_COLUMNS:
        raise ValueError(f"cannot sort devices by {sort!r}; use one of {', '.join(SORT_COLUMNS)}")
    return name, descending


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only: what SQL ``lower()`` does on SQLite and under the "C" collation
    on PostgreSQL, so searches match the same rows on both engines and in the fake."""
    return text.translate(_ASCII_LOWER)


def search_terms(search: str | None) -> tuple[str, str] | None:
    """The (ASCII) lower-cased term, and the term to match MACs with (dashes become colons, a full MAC in
    any notation is normalised), or None when there is nothing to search for."""
    if search is None or not search.strip():
        return None
    term = ascii_lower(search.strip())
    mac_term = normalize_mac(term)
    if mac_term is None:
        mac_term = term.replace("-", ":") if _MAC_FRAGMENT.match(term) else term
    return term, mac_term


# Subsystem tables live in their own modules on the same metadata; importing them here makes
# ``schema.metadata`` complete for migrations checks and table resets. (At the end: they import
# ``metadata`` from this module.)
from wardwatch.store import schema_ident, schema_recall, schema_risk, schema_vuln, schema_web  # noqa: E402, F401
