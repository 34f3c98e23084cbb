"""The engine's conversations: ended flows aggregated by (client, server, transport, server port).

Two implementations with one behaviour, call by call:

* :class:`PyConversationTable`: an ``OrderedDict`` of lists. The reference (and what runs without
  the C extension).
* :class:`NativeConversationTable`: the same in C (``ConversationTable`` of
  ``wardwatch.sensor._native``, see ``_conversations.c``), with no Python object per entry.

What both do: each ended flow is added to its conversation, keyed by (client IP, client MAC,
server IP, server MAC, transport code, server port); IPs are the flow's text (None for frames
without addresses), MACs integers (0: none). A conversation keeps the earliest first and latest
last timestamp and sums flows, packets and bytes. An added key becomes the most recently updated;
a new key when the table holds ``cap`` first evicts the least recently updated, which ``add``
returns as a row (the caller must emit it, :func:`conversation_of`: the store max-merges, so
nothing is lost). Keys added since the
last report are *dirty*, in the order they first became dirty; a report gives them (or every
entry, in LRU order) as :class:`Conversation` objects and clears the set.

On a scan a million flows end, each a new conversation: the Python table's dicts of tuples and
lists cost about a fifth of the scan's engine CPU (bench/README.md), the C table a few per cent.
:func:`new_conversation_table` picks the C table when the extension is there and
``WARDWATCH_PURE_PYTHON`` is not set.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, cast

from wardwatch.model._build import builder
from wardwatch.model.flow import Conversation
from wardwatch.sensor.capture._common import native
from wardwatch.sensor.flows._tables import BoundedTable, CTable, CTableType, NativeTable, check_cap
from wardwatch.sensor.flows.decode import T_L2, format_mac
from wardwatch.sensor.flows.meter import TRANSPORTS, FlowMethods

Key = tuple[str | None, int, str | None, int, int, int]
"""(client IP, client MAC, server IP, server MAC, transport code, server port)."""
Row = tuple[str | None, int, str | None, int, int, int, int, int, int, int, int]
"""A key and its (first_ns, last_ns, flows, packets, bytes): what the C table gives."""

_new_conversation = builder(Conversation)  # the object Conversation(...) makes, 3x cheaper


AddFlow = Callable[[str | None, int, str | None, int, int, int, int, int, int, int], Row | None]
"""``add(client_ip, client_mac, server_ip, server_mac, tcode, port, first_ns, last_ns, packets,
bytes)``: add one ended flow; returns the entry evicted to make room (turn it into a
:class:`Conversation` with :func:`conversation_of`), or None."""


class ConversationTable(BoundedTable, Protocol):
    """What the engine uses of a conversations table (both implementations); evicted entries are
    returned by ``add``."""

    @property
    def add(self) -> AddFlow:
        """See :data:`AddFlow`."""
        ...

    def report(self, all_: bool) -> list[Conversation]:
        """Every entry in LRU order (``all_``) or the dirty ones in dirty order; then none is dirty."""
        ...


def conversation_args(
    f: FlowMethods,
) -> tuple[str | None, int, str | None, int, int, int, int, int, int, int]:
    """The arguments of :data:`AddFlow` for an ended flow: the same grouping as its
    :class:`Flow` record (client, server, transport, server port) without building the record.
    The MACs stay integers (``format_mac`` is one-to-one) until the table reports. The C flow
    table computes the same in C (``_flowtable.c``: add_conversation)."""
    side = f.server_side()
    a_is_lo = f.a_is_lo
    lo_mac, hi_mac = (f.a_mac, f.b_mac) if a_is_lo else (f.b_mac, f.a_mac)
    packets, nbytes = f.pk_lo + f.pk_hi, f.by_lo + f.by_hi
    # The server is the known side, else (as in the record, where it is then "b") the side that
    # did not send the first packet.
    if (side == 0) if side >= 0 else not a_is_lo:
        port = f.ethertype if f.tcode == T_L2 else f.lo_port
        return f.hi_ip, hi_mac, f.lo_ip, lo_mac, f.tcode, port, f.first_ns, f.last_ns, packets, nbytes
    port = f.ethertype if f.tcode == T_L2 else f.hi_port
    return f.lo_ip, lo_mac, f.hi_ip, hi_mac, f.tcode, port, f.first_ns, f.last_ns, packets, nbytes


def _check_cap(cap: int) -> int:
    return check_cap(cap, "conversations")


def conversation_of(row: Row) -> Conversation:
    """One row (an evicted entry) as a :class:`Conversation`."""
    return _conversations([row])[0]


def _conversations(rows: list[Row]) -> list[Conversation]:
    """Rows to :class:`Conversation` objects (MAC text made once per MAC of the list)."""
    macs: dict[int, str | None] = {}
    out: list[Conversation] = []
    append, new, transports = out.append, _new_conversation, TRANSPORTS
    for cip, cmac, sip, smac, tcode, port, first, last, flows, packets, nbytes in rows:
        ctext = macs.get(cmac, "")
        if ctext == "":
            ctext = macs[cmac] = format_mac(cmac)
        stext = macs.get(smac, "")
        if stext == "":
            stext = macs[smac] = format_mac(smac)
        append(new(cip, ctext, sip, stext, transports[tcode], port, first, last, flows, packets, nbytes))
    return out


class PyConversationTable:
    """The reference :class:`ConversationTable`: an ``OrderedDict`` in LRU order."""

    def __init__(self, cap: int) -> None:
        self.cap = _check_cap(cap)
        self.evicted = 0
        self._table: OrderedDict[Key, list[int]] = OrderedDict()
        # a dict as an insertion-ordered set, so reports come out in a deterministic order
        self._dirty: dict[Key, None] = {}

    def __len__(self) -> int:
        return len(self._table)

    def add(
        self,
        client_ip: str | None,
        client_mac: int,
        server_ip: str | None,
        server_mac: int,
        tcode: int,
        port: int,
        first_ns: int,
        last_ns: int,
        packets: int,
        nbytes: int,
        /,
    ) -> Row | None:
        """Add one ended flow (see the module docstring); returns the evicted entry, or None."""
        key = (client_ip, client_mac, server_ip, server_mac, tcode, port)
        table = self._table
        agg = table.get(key)
        evicted: Row | None = None
        if agg is None:
            if len(table) >= self.cap:
                old, vals = table.popitem(last=False)
                self.evicted += 1
                evicted = (*old, *vals)  # type: ignore[assignment]
                self._dirty.pop(old, None)
            table[key] = [first_ns, last_ns, 1, packets, nbytes]
        else:
            if first_ns < agg[0]:
                agg[0] = first_ns
            if last_ns > agg[1]:
                agg[1] = last_ns
            agg[2] += 1
            agg[3] += packets
            agg[4] += nbytes
            table.move_to_end(key)
        self._dirty[key] = None
        return evicted

    def report(self, all_: bool) -> list[Conversation]:
        """Every entry in LRU order (``all_``) or the dirty ones in dirty order; then none is dirty."""
        table = self._table
        keys = list(table if all_ else self._dirty)
        found = _conversations([(*k, *table[k]) for k in keys])  # type: ignore[misc]
        self._dirty.clear()
        return found

    def clear(self) -> None:
        """Forget every entry (``evicted`` stays)."""
        self._table.clear()
        self._dirty.clear()


class _CTable(CTable, Protocol):
    """``wardwatch.sensor._native.ConversationTable`` (see ``_conversations.c``)."""

    add: AddFlow

    def report(self, all_: bool, /) -> list[Row]: ...


def _native_type() -> CTableType[_CTable] | None:
    """The C table type, or None (no extension, ``WARDWATCH_PURE_PYTHON``, or an older build)."""
    return cast("CTableType[_CTable] | None", getattr(native(), "ConversationTable", None))


class NativeConversationTable(NativeTable[_CTable]):
    """A :class:`ConversationTable` whose entries live in C (same behaviour as
    :class:`PyConversationTable`); only the output objects are made in Python."""

    def __init__(self, cap: int, table_type: CTableType[_CTable] | None = None) -> None:
        kind = table_type or _native_type()
        if kind is None:
            raise RuntimeError(
                "the C extension wardwatch.sensor._native (ConversationTable) is not available"
            )
        super().__init__("conversations", cap, kind)
        # The C method itself: no Python frame per ended flow (a million on a scan).
        self.add: AddFlow = self._t.add

    def report(self, all_: bool) -> list[Conversation]:
        """Every entry in LRU order (``all_``) or the dirty ones in dirty order; then none is dirty."""
        return _conversations(self._t.report(all_))


def new_conversation_table(cap: int) -> ConversationTable:
    """The C table when the extension has it and ``WARDWATCH_PURE_PYTHON`` is not set, else Python."""
    kind = _native_type()
    return NativeConversationTable(cap, kind) if kind is not None else PyConversationTable(cap)


__all__ = [
    "ConversationTable",
    "NativeConversationTable",
    "PyConversationTable",
    "conversation_of",
    "new_conversation_table",
]
