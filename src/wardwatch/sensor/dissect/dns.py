"""DNS, multicast DNS / DNS-SD and LLMNR: one wire-format parser, three dissectors.

References:

* RFC 1035 §4 (message format, §4.1.4 name compression), RFC 3596 (AAAA), RFC 2782 (SRV).
* RFC 6762 (Multicast DNS): port 5353, group 224.0.0.251 / ff02::fb; the top bit of a record's
  class is the *cache-flush* bit and the top bit of a question's class the *unicast-response*
  bit (§10.2, §5.4), so classes are masked with 0x7fff. Queries carry known answers in the
  answer section (about *other* hosts) and probes carry the proposed records in the authority
  section (§8.2), which are about the sender.
* RFC 6763 (DNS-Based Service Discovery): ``_services._dns-sd._udp.local`` enumeration, service
  instance PTR/SRV/TXT records, TXT ``key=value`` strings (§6).
* RFC 4795 (LLMNR): port 5355, DNS header with C/TC/T bits; a responder answers only for names
  it owns, so a response names its sender.

What each dissector reports (all policy-neutral, no device guessing):

* ``dns`` (udp 53): for queries, one observation about the querying client per question
  (``dns.query``, ``dns.qtype``; at most :data:`MAX_QUESTIONS`). For responses nothing about
  third parties *except* PTR answers for private / link-local / ULA addresses
  (``w.z.y.x.in-addr.arpa`` or ``ip6.arpa`` nibble names): the answer names a local host, so an
  observation is emitted whose subject is the address in the PTR owner name (mac None) with
  ``dns.ptr_name``. Reverse lookups of public addresses say nothing about the local inventory and
  are dropped.
* ``mdns`` (udp 5353 or a ``.local`` name): one observation about the sender of announcements,
  responses and probes (hostnames, DNS-SD service types, instance names, TXT pairs, SRV ports)
  and, for queries, the names it asks about (``mdns.queries``).
* ``llmnr`` (udp 5355): ``llmnr.query`` for queries and ``llmnr.name`` for responses, about the
  sender.

The parser is bounded: at most :data:`MAX_RECORDS` records, names of at most 255 bytes and 128
labels, and compression pointers must point strictly backwards (which makes loops impossible)
with at most :data:`MAX_POINTER_HOPS` hops.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext, ipv4_text, ipv6_text, obs, observation, safe_text

MAX_QUESTIONS = 8
MAX_RECORDS = 64
MAX_POINTER_HOPS = 16
MAX_NAME_BYTES = 255
MAX_LABELS = 128
MAX_TXT_STRINGS = 32
MAX_LIST = 32
"""Bound on every tuple field (names, services, TXT pairs ...)."""

TYPE_A = 1
TYPE_PTR = 12
TYPE_TXT = 16
TYPE_AAAA = 28
TYPE_SRV = 33

QTYPE_NAMES: dict[int, str] = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    13: "HINFO",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    33: "SRV",
    35: "NAPTR",
    41: "OPT",
    43: "DS",
    47: "NSEC",
    64: "SVCB",
    65: "HTTPS",
    255: "ANY",
}

_SERVICES_ENUM = ("_services", "_dns-sd", "_udp", "local")


@dataclass(frozen=True, slots=True)
class Question:
    """One question: owner labels (case preserved), type and class (unicast bit masked off)."""

    labels: tuple[str, ...]
    qtype: int
    qclass: int
    unicast_response: bool

    @property
    def name(self) -> str:
        """Dotted text form without the trailing dot."""
        return join_name(self.labels)


@dataclass(frozen=True, slots=True)
class Record:
    """One resource record; ``rdata`` is the raw rdata, ``target``/``txt`` decoded when relevant."""

    labels: tuple[str, ...]
    rtype: int
    rclass: int
    cache_flush: bool
    ttl: int
    rdata: bytes
    target: tuple[str, ...] | None = None
    """Decoded domain name for PTR (the pointed-to name) and SRV (the target host)."""
    port: int | None = None
    """SRV port."""
    txt: tuple[bytes, ...] = ()

    @property
    def name(self) -> str:
        """Dotted text form of the owner name."""
        return join_name(self.labels)

    @property
    def address(self) -> str | None:
        """Text form of an A / AAAA record's address, else None."""
        if self.rtype == TYPE_A and len(self.rdata) == 4:
            return ipv4_text(self.rdata)
        if self.rtype == TYPE_AAAA and len(self.rdata) == 16:
            return ipv6_text(self.rdata)
        return None


@dataclass(slots=True)
class Message:
    """A parsed message. ``complete`` is False when parsing stopped at damage or at a bound."""

    ident: int
    flags: int
    questions: list[Question] = field(default_factory=list)
    answers: list[Record] = field(default_factory=list)
    authority: list[Record] = field(default_factory=list)
    additional: list[Record] = field(default_factory=list)
    complete: bool = True

    @property
    def is_response(self) -> bool:
        """The QR bit."""
        return bool(self.flags & 0x8000)

    @property
    def opcode(self) -> int:
        """The 4-bit opcode (0 = standard query)."""
        return (self.flags >> 11) & 0xF


def join_name(labels: tuple[str, ...]) -> str:
    """Labels to dotted text (a label's own dots are kept as-is: fine for display)."""
    return ".".join(labels)


def read_name(buf: bytes, offset: int) -> tuple[tuple[str, ...], int] | None:
    """Decode a possibly compressed domain name at ``offset``.

    Returns the labels and the offset just after the name *in the original position*, or None on
    damage. Every pointer must point strictly before the position it was read from, so a chain
    of pointers always makes progress towards the start of the message and cannot loop; the hop
    count is capped on top of that.
    """
    labels: list[str] = []
    total = 0
    hops = 0
    pos = offset
    end_after: int | None = None
    n = len(buf)
    while True:
        if pos >= n:
            return None
        length = buf[pos]
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= n:
                return None
            target = ((length & 0x3F) << 8) | buf[pos + 1]
            if end_after is None:
                end_after = pos + 2
            if target >= pos or hops >= MAX_POINTER_HOPS:
                return None
            hops += 1
            pos = target
            continue
        if kind != 0:
            return None  # 0x40 / 0x80: obsolete extended label types
        if length == 0:
            if end_after is None:
                end_after = pos + 1
            return tuple(labels), end_after
        if pos + 1 + length > n:
            return None
        total += length + 1
        if total > MAX_NAME_BYTES or len(labels) >= MAX_LABELS:
            return None
        labels.append(buf[pos + 1 : pos + 1 + length].decode("utf-8", errors="replace"))
        pos += 1 + length


def _read_record(buf: bytes, offset: int) -> tuple[Record, int] | None:
    parsed = read_name(buf, offset)
    if parsed is None:
        return None
    labels, pos = parsed
    if pos + 10 > len(buf):
        return None
    rtype, rclass, ttl, rdlength = struct.unpack_from("!HHIH", buf, pos)
    pos += 10
    if pos + rdlength > len(buf):
        return None
    rdata = buf[pos : pos + rdlength]
    target: tuple[str, ...] | None = None
    port: int | None = None
    txt: tuple[bytes, ...] = ()
    if rtype == TYPE_PTR:
        # Decoded against the whole message: PTR rdata may use compression pointers.
        got = read_name(buf, pos)
        if got is not None and got[1] <= pos + rdlength:
            target = got[0]
    elif rtype == TYPE_SRV and rdlength >= 7:
        port = struct.unpack_from("!H", buf, pos + 4)[0]
        got = read_name(buf, pos + 6)
        if got is not None and got[1] <= pos + rdlength:
            target = got[0]
    elif rtype == TYPE_TXT:
        txt = _split_txt(rdata)
    record = Record(
        labels=labels,
        rtype=rtype,
        rclass=rclass & 0x7FFF,
        cache_flush=bool(rclass & 0x8000),
        ttl=ttl,
        rdata=rdata,
        target=target,
        port=port,
        txt=txt,
    )
    return record, pos + rdlength


def _split_txt(rdata: bytes) -> tuple[bytes, ...]:
    """TXT rdata is a sequence of <length><bytes> strings; stop at damage or the bound."""
    out: list[bytes] = []
    pos = 0
    while pos < len(rdata) and len(out) < MAX_TXT_STRINGS:
        length = rdata[pos]
        chunk = rdata[pos + 1 : pos + 1 + length]
        if len(chunk) != length:
            break
        if chunk:
            out.append(chunk)
        pos += 1 + length
    return tuple(out)


def parse_message(buf: bytes) -> Message | None:
    """Parse a DNS-format message; None when even the header is unusable.

    Sections are parsed in order and parsing stops at the first damaged record or at
    :data:`MAX_RECORDS` records in total, keeping what came before (``complete`` False).
    """
    if len(buf) < 12:
        return None
    ident, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", buf, 0)
    msg = Message(ident=ident, flags=flags)
    pos = 12
    for _ in range(min(qd, MAX_QUESTIONS)):
        parsed = read_name(buf, pos)
        if parsed is None or parsed[1] + 4 > len(buf):
            msg.complete = False
            return msg
        labels, pos = parsed
        qtype, qclass = struct.unpack_from("!HH", buf, pos)
        pos += 4
        msg.questions.append(Question(labels, qtype, qclass & 0x7FFF, bool(qclass & 0x8000)))
    if qd > MAX_QUESTIONS:
        msg.complete = False
        return msg
    budget = MAX_RECORDS
    for count, section in ((an, msg.answers), (ns, msg.authority), (ar, msg.additional)):
        for _ in range(count):
            if budget <= 0:
                msg.complete = False
                return msg
            got = _read_record(buf, pos)
            if got is None:
                msg.complete = False
                return msg
            record, pos = got
            section.append(record)
            budget -= 1
    return msg


def looks_like_dns(payload: bytes) -> bool:
    """Cheap plausibility check of a DNS header: some question or record, sane counts, opcode."""
    if len(payload) < 12:
        return False
    _, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", payload, 0)
    if (flags >> 11) & 0xF not in (0, 4, 5):
        return False
    total = qd + an + ns + ar
    return bool(0 < total <= 512 and qd <= 64)


def ptr_name_to_address(labels: tuple[str, ...]) -> str | None:
    """``4.3.2.1.in-addr.arpa`` -> ``1.2.3.4``; ip6.arpa nibble names -> IPv6 text; else None."""
    lower = tuple(label.lower() for label in labels)
    try:
        if len(lower) == 6 and lower[4:] == ("in-addr", "arpa"):
            octets = [int(label, 10) for label in lower[:4]]
            if all(0 <= o <= 255 and label.isdigit() for o, label in zip(octets, lower[:4], strict=True)):
                return str(ipaddress.IPv4Address(bytes(reversed(octets))))
            return None
        if len(lower) == 34 and lower[32:] == ("ip6", "arpa"):
            nibbles = lower[:32]
            if all(len(n) == 1 and n in "0123456789abcdef" for n in nibbles):
                return str(ipaddress.IPv6Address(int("".join(reversed(nibbles)), 16)))
    except ValueError:
        return None
    return None


def _is_local_address(text: str) -> bool:
    addr = ipaddress.ip_address(text)
    return (addr.is_private or addr.is_link_local) and not addr.is_loopback and not addr.is_unspecified


def _qtype_name(qtype: int) -> str:
    return QTYPE_NAMES.get(qtype, str(qtype))


def _text(labels: tuple[str, ...]) -> str:
    return safe_text(join_name(labels).encode("utf-8", errors="replace"))


def _add(items: list[str], value: str) -> None:
    """Append to a bounded, order-preserving, de-duplicated list."""
    if value and value not in items and len(items) < MAX_LIST:
        items.append(value)


class DnsDissector:
    """Unicast DNS on udp 53 (see module docstring for what is and is not reported)."""

    name = "dns"
    transports = frozenset({Transport.UDP})
    udp_ports = frozenset({53})
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()
    context_fields = ("src_mac", "src_ip")
    """Queries are about the sender, answers about the addresses they name: nothing else of the
    context matters, so a client asking the same name again is not parsed again."""
    cache_skip = 2
    """The transaction id (bytes 0-1) changes with every query and is never reported."""

    def probe(self, payload: bytes) -> bool:
        """No content probe: a DNS header is too easy to mistake; port 53 is reliable enough."""
        return False

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Queries -> dns.query/dns.qtype about the client; responses -> local PTR answers only."""
        try:
            return self._dissect(ctx, payload)
        except Exception:  # the contract: never raise on hostile input
            return []

    def _dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        msg = parse_message(payload)
        if msg is None or msg.opcode != 0:
            return []
        out: list[Observation] = []
        if not msg.is_response:
            for q in msg.questions:
                out.append(obs(ctx, self.name, dns__query=_text(q.labels), dns__qtype=_qtype_name(q.qtype)))
            return out
        seen: set[tuple[str, str]] = set()
        for rec in msg.answers:
            if rec.rtype != TYPE_PTR or rec.target is None or rec.rclass != 1:
                continue
            address = ptr_name_to_address(rec.labels)
            if address is None or not _is_local_address(address):
                continue
            target = _text(rec.target)
            if not target or (address, target) in seen:
                continue
            seen.add((address, target))
            out.append(
                observation(
                    ts_ns=ctx.ts_ns,
                    flow_uid=ctx.flow_uid,
                    protocol=self.name,
                    mac=None,
                    ip=address,
                    fields={"dns.ptr_name": target},
                )
            )
        return out


class MdnsDissector:
    """Multicast DNS / DNS-SD (RFC 6762/6763) about the sender."""

    name = "mdns"
    transports = frozenset({Transport.UDP})
    udp_ports = frozenset({5353})
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """A plausible DNS header and a ``local`` label somewhere.

        The multicast destination (224.0.0.251 / ff02::fb) cannot be checked here because
        ``probe`` sees only the payload; port 5353 covers the usual case.
        """
        try:
            return b"\x05local\x00" in payload[:1500].lower() and looks_like_dns(payload)
        except Exception:
            return False

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """One observation about the sender (see module docstring)."""
        try:
            return self._dissect(ctx, payload)
        except Exception:
            return []

    def _dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        msg = parse_message(payload)
        if msg is None or msg.opcode != 0:
            return []
        queries: list[str] = []
        if msg.is_response:
            records = msg.answers + msg.additional
        else:
            # Known answers in a query are what the asker already has about *others*; the
            # authority section of a probe holds the records it is about to claim (RFC 6762 §8.2).
            records = list(msg.authority)
            for q in msg.questions:
                _add(queries, _text(q.labels))
        hostnames_own: list[str] = []
        hostnames_all: list[str] = []
        services: list[str] = []
        instances: list[str] = []
        txt: list[str] = []
        ports: list[int] = []
        targets: list[str] = []
        for rec in records:
            lower = tuple(label.lower() for label in rec.labels)
            if rec.rtype in (TYPE_A, TYPE_AAAA) and lower and lower[-1] == "local":
                name = _text(rec.labels)
                _add(hostnames_all, name)
                if ctx.src_ip is not None and rec.address == ctx.src_ip:
                    _add(hostnames_own, name)
            elif rec.rtype == TYPE_PTR and rec.target is not None:
                if lower == _SERVICES_ENUM:
                    _add(services, _service_type(rec.target))
                elif _is_service_type(rec.labels):
                    _add(services, _service_type(rec.labels))
                    inst = _instance(rec.target)
                    if inst:
                        _add(instances, inst)
            elif rec.rtype == TYPE_SRV:
                inst = _instance(rec.labels)
                if inst:
                    _add(instances, inst)
                if rec.port is not None and rec.port not in ports and len(ports) < MAX_LIST:
                    ports.append(rec.port)
                if rec.target:
                    _add(targets, _text(rec.target))
            elif rec.rtype == TYPE_TXT:
                for chunk in rec.txt:
                    _add(txt, safe_text(chunk))
        hostnames = hostnames_own or hostnames_all
        if not (hostnames or services or instances or txt or ports or targets or queries):
            return []
        return [
            obs(
                ctx,
                self.name,
                mdns__hostname=tuple(hostnames),
                mdns__services=tuple(services),
                mdns__instances=tuple(instances),
                mdns__txt=tuple(txt),
                mdns__srv_port=tuple(sorted(ports)),
                mdns__srv_target=tuple(targets),
                mdns__queries=tuple(queries),
            )
        ]


def _is_service_type(labels: tuple[str, ...]) -> bool:
    """``_ipp._tcp.local`` (or a subtype ``_x._sub._ipp._tcp.local``)."""
    lower = [label.lower() for label in labels]
    return (
        len(lower) >= 3
        and lower[-2] in ("_tcp", "_udp")
        and lower[-3].startswith("_")
        and tuple(lower) != _SERVICES_ENUM
    )


def _service_type(labels: tuple[str, ...]) -> str:
    """The ``_app._proto`` service type of a type, subtype or instance name, domain dropped."""
    lower = [label.lower() for label in labels]
    for i in range(len(lower) - 1):
        if lower[i + 1] in ("_tcp", "_udp") and lower[i].startswith("_"):
            return safe_text(f"{labels[i]}.{labels[i + 1]}".encode())
    return _text(labels)


def _instance(labels: tuple[str, ...]) -> str:
    """The instance label of ``Instance Name._ipp._tcp.local`` (one label, may contain dots)."""
    if len(labels) >= 4 and labels[1].startswith("_") and labels[2].lower() in ("_tcp", "_udp"):
        return safe_text(labels[0].encode("utf-8", errors="replace"))
    return ""


class LlmnrDissector:
    """LLMNR (RFC 4795) on udp 5355: names asked for and names answered for, about the sender."""

    name = "llmnr"
    transports = frozenset({Transport.UDP})
    udp_ports = frozenset({5355})
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """No content probe: LLMNR is only ever on port 5355."""
        return False

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Query -> llmnr.query (+ qtype); response -> llmnr.name (the responder owns the name)."""
        try:
            msg = parse_message(payload)
            if msg is None or msg.opcode != 0 or not msg.questions:
                return []
            q = msg.questions[0]
            name = _text(q.labels)
            if not msg.is_response:
                return [obs(ctx, self.name, llmnr__query=name, llmnr__qtype=_qtype_name(q.qtype))]
            if not msg.answers:
                return []
            addresses = [a for a in (r.address for r in msg.answers) if a is not None][:MAX_LIST]
            return [obs(ctx, self.name, llmnr__name=name, llmnr__addresses=tuple(addresses))]
        except Exception:
            return []


DISSECTORS: list[DnsDissector | MdnsDissector | LlmnrDissector] = [
    DnsDissector(),
    MdnsDissector(),
    LlmnrDissector(),
]

FIELDS: dict[str, str] = {
    "dns.query": "Name in a DNS query question sent by the subject (the querying client).",
    "dns.qtype": "Type of that question (A, AAAA, PTR, ... or the number when unnamed).",
    "dns.ptr_name": "Name a DNS PTR answer gives for a private/link-local subject address.",
    "mdns.hostname": "Host names (.local A/AAAA owners) the subject announces, own address first.",
    "mdns.services": "DNS-SD service types the subject announces, e.g. '_ipp._tcp'.",
    "mdns.instances": "DNS-SD service instance names the subject announces.",
    "mdns.txt": "DNS-SD TXT strings ('key=value') the subject announces, bounded.",
    "mdns.srv_port": "Ports from the subject's SRV records (sorted).",
    "mdns.srv_target": "Target host names from the subject's SRV records.",
    "mdns.queries": "Names the subject asks about in mDNS queries (what it looks for).",
    "llmnr.query": "Name the subject asks for in an LLMNR query.",
    "llmnr.qtype": "Type of that LLMNR question.",
    "llmnr.name": "Name the subject answers for in an LLMNR response (it owns the name).",
    "llmnr.addresses": "Addresses the subject gives for that name in its LLMNR response.",
}
