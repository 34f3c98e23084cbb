"""HL7 v2 dissector (MLLP on tcp 2575 and by content on any port): application and device identity only.

References: HL7 v2.9 chapter 2 (2.5 message framing, 2.7 encoding rules: the field separator is
MSH-1, the component / repetition / escape / subcomponent (/ truncation) characters are MSH-2,
2.7.4 escape sequences, 2.14.9 MSH, 2.14.8 MSA, 2.14.12 SFT), chapter 7.4.2 OBX-18 Equipment
Instance Identifier, 7.4.4 PRT (PRT-4 participation, PRT-10 participation device, PRT-16 device
identifier (UDI-DI), PRT-20 device serial number), 13.4.1 EQU-1; HL7 v2 Appendix C (MLLP
release 2: ``0x0b`` message ``0x1c 0x0d``); IHE PCD Technical Framework vol. 2, PCD-01
(OBX-18 ``<EUI-64>^<name>^<EUI-64>^EUI-64``, MSH-3 ``<application>^<EUI-64>^EUI-64``).

What is emitted, one observation per message (identical ones are deduplicated):

* about the sender: MSH-3 / MSH-4 (its own application and facility), MSH-9 message type and
  trigger event, MSH-12 version, MSA-1 acknowledgement code, SFT software vendor / version /
  product, device identifiers from OBX-18, EQU-1 and PRT-10 (with any EUI-64 among them), and
  PRT-16 / PRT-20 when PRT-4 says the participant is equipment (``EQUIP``);
* about the receiver: MSH-5 / MSH-6 (its application and facility as the sender names it).

NEVER read: any other field. PID, PD1, NK1, PV1, PV2, ORC, OBR, NTE, AL1, DG1, IN1, ... are
recognised only by their three-letter name and skipped; of OBX only field 18 is located (OBX-5
values, OBX-3 codes, units and times are not decoded); MSH-7 (time) and MSH-10 (control id) are
not kept; of PRT the person, organisation and location fields are not decoded.

Multiple messages in one stream prefix are read (at most :data:`MAX_MESSAGES`); a message cut
by the end of the prefix is used up to its last complete segment. A stream of bare HL7 (no MLLP
block characters) starting with ``MSH`` is read too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext, obs, safe_text

FIELDS: dict[str, str] = {
    "hl7.sending_application": "MSH-3 Sending Application of a message the device sent (HD as 'namespace^universal"
    " id^type'), e.g. 'MONITOR_GW^0012345678ABCDEF^EUI-64'",
    "hl7.sending_facility": "MSH-4 Sending Facility of a message the device sent",
    "hl7.receiving_application": "MSH-5 Receiving Application: the device's application as named by a sender",
    "hl7.receiving_facility": "MSH-6 Receiving Facility: the device's facility as named by a sender",
    "hl7.message_type": "MSH-9 message code and trigger event of a message the device sent, e.g. 'ORU^R01', 'ACK^R01'",
    "hl7.version": "MSH-12 version id of a message the device sent, e.g. '2.6'",
    "hl7.ack_code": "MSA-1 acknowledgment code the device sent: AA, AE, AR, CA, CE, CR",
    "hl7.software_vendor": "SFT-1 Software Vendor Organization (organisation name) of the sending application",
    "hl7.software_version": "SFT-2 Software Certified Version or Release Number",
    "hl7.software_product": "SFT-3 Software Product Name",
    "hl7.equipment_ids": "Equipment instance identifiers the device reported (OBX-18, EQU-1, PRT-10) as 'entity^namespace"
    "^universal id^type'; a gateway reports the devices behind it",
    "hl7.eui64": "EUI-64s among those identifiers and in MSH-3 (16 upper-case hex digits)",
    "hl7.device_udi": "PRT-16 Participant Device Identifier (UDI-DI) of an EQUIP participation",
    "hl7.device_serial": "PRT-20 Participant Device Serial Number of an EQUIP participation",
}

MLLP_START: Final = 0x0B
MLLP_END: Final = b"\x1c"
MAX_MESSAGES: Final = 64
MAX_IDS: Final = 32
TEXT_LIMIT: Final = 128
_HEADERS: Final = (b"MSH", b"FHS", b"BHS")
_SEGMENT_NAME = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_EUI64 = re.compile(r"^[0-9A-Fa-f]{16}$")
_HEX_ESCAPE = re.compile(r"^X([0-9A-Fa-f]{2})+$")
_MESSAGE_START = re.compile(r"[\r\n]+(?=MSH)")


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The encoding characters of one message (MSH-1 and MSH-2)."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"


def delimiters(msh: str) -> Delimiters | None:
    """The delimiters declared by an MSH segment, or None when it is not a usable MSH."""
    if len(msh) < 8 or not msh.startswith(("MSH", "FHS", "BHS")):
        return None
    fs = msh[3]
    chars = msh[4:].split(fs, 1)[0]
    if fs.isalnum() or len(chars) < 1 or fs in chars:
        return None
    pick = [*chars[:4]] + ["\x00"] * (4 - len(chars[:4]))
    # an absent escape / subcomponent character can never occur in the data: "\x00" stands for it
    return Delimiters(field=fs, component=pick[0], repetition=pick[1], escape=pick[2], subcomponent=pick[3])


def unescape(text: str, d: Delimiters) -> str:
    """Resolve HL7 escape sequences (2.7.4): \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ and \\Xhh..\\; others are dropped."""
    if d.escape == "\x00" or d.escape not in text:
        return text
    out: list[str] = []
    parts = text.split(d.escape)
    out.append(parts[0])
    i = 1
    while i < len(parts):
        if i + 1 >= len(parts):  # unterminated escape: keep the text as it was
            out.append(d.escape + parts[i])
            break
        code, rest = parts[i], parts[i + 1]
        mapping = {"F": d.field, "S": d.component, "T": d.subcomponent, "R": d.repetition, "E": d.escape}
        if code in mapping:
            out.append(mapping[code])
        elif _HEX_ESCAPE.match(code):
            out.append(bytes.fromhex(code[1:]).decode("latin-1"))
        out.append(rest)
        i += 2
    return "".join(out)


def composite(value: str, d: Delimiters) -> str:
    """A field repetition as text: components joined by '^', subcomponents by '&', escapes resolved."""
    comps = [
        "&".join(unescape(sub, d) for sub in comp.split(d.subcomponent)).rstrip("&")
        for comp in value.split(d.component)
    ]
    while comps and not comps[-1]:
        comps.pop()
    return safe_text("^".join(comps).encode(), TEXT_LIMIT)


def _repetitions(value: str, d: Delimiters) -> list[str]:
    return [text for rep in value.split(d.repetition)[:MAX_IDS] if (text := composite(rep, d))]


def _field(fields: list[str], index: int) -> str:
    return fields[index] if 0 <= index < len(fields) else ""


@dataclass(slots=True)
class _Message:
    """The metadata of one message."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    message_type: str = ""
    version: str = ""
    ack_code: str = ""
    software_vendor: str = ""
    software_version: str = ""
    software_product: str = ""
    equipment_ids: list[str] = field(default_factory=list)
    eui64: list[str] = field(default_factory=list)
    udi: list[str] = field(default_factory=list)
    serial: list[str] = field(default_factory=list)


def _add(items: list[str], value: str) -> None:
    if value and value not in items and len(items) < MAX_IDS:
        items.append(value)


def _equipment(value: str, d: Delimiters, msg: _Message) -> None:
    """An EI field (OBX-18 / EQU-1 / PRT-10), possibly repeating."""
    for rep in _repetitions(value, d):
        _add(msg.equipment_ids, rep)
        parts = rep.split("^")
        # EI: entity ^ namespace ^ universal id ^ universal id type; older PCD examples put the
        # type in the namespace ("0123456789ABCDEF^EUI-64"), so any component may say EUI-64
        if any(p.upper() == "EUI-64" for p in parts[1:]):
            for candidate in (parts[0], parts[2] if len(parts) > 2 else ""):
                if _EUI64.match(candidate):
                    _add(msg.eui64, candidate.upper())


def parse_message(text: str) -> _Message | None:
    """The metadata of one HL7 message (segments separated by CR, LF or CRLF), or None if no MSH."""
    segments = [s for s in re.split(r"\r\n|\r|\n", text) if s]
    if not segments:
        return None
    d = delimiters(segments[0])
    if d is None or not segments[0].startswith("MSH"):
        return None
    msg = _Message()
    msh = segments[0].split(d.field)
    # MSH-1 is the field separator itself, so MSH-n is msh[n - 1]
    msg.sending_application = composite(_field(msh, 2), d)
    msg.sending_facility = composite(_field(msh, 3), d)
    msg.receiving_application = composite(_field(msh, 4), d)
    msg.receiving_facility = composite(_field(msh, 5), d)
    msg_type = _field(msh, 8).split(d.repetition)[0].split(d.component)
    msg.message_type = safe_text("^".join(unescape(c, d) for c in msg_type[:2] if c).encode(), 32)
    msg.version = safe_text(unescape(_field(msh, 11).split(d.component)[0], d).encode(), 16)
    for part in msg.sending_application.split("^")[1:]:
        if _EUI64.match(part) and msg.sending_application.upper().endswith("^EUI-64"):
            _add(msg.eui64, part.upper())
    for segment in segments[1:]:
        name = segment[:3]
        if not _SEGMENT_NAME.match(name) or segment[3:4] not in ("", d.field):
            continue
        if name == "MSA":
            fields = segment.split(d.field, 2)
            msg.ack_code = safe_text(_field(fields, 1).encode(), 4)
        elif name == "SFT":
            fields = segment.split(d.field, 5)
            msg.software_vendor = composite(_field(fields, 1).split(d.component)[0], d)
            msg.software_version = composite(_field(fields, 2), d)
            msg.software_product = composite(_field(fields, 3), d)
        elif name == "OBX":
            # split no further than field 18: OBX-19 onwards is never looked at
            _equipment(_field(segment.split(d.field, 19), 18), d, msg)
        elif name == "EQU":
            _equipment(_field(segment.split(d.field, 2), 1), d, msg)
        elif name == "PRT":
            _participation(segment.split(d.field, 21), d, msg)
    return msg


def _participation(fields: list[str], d: Delimiters, msg: _Message) -> None:
    """PRT: only the device fields (10, and 16 / 20 of an EQUIP participation) are decoded."""
    role = _field(fields, 4).split(d.component)[0].strip().upper()
    _equipment(_field(fields, 10), d, msg)
    if role == "EQUIP":
        _add(msg.udi, composite(_field(fields, 16), d))
        _add(msg.serial, composite(_field(fields, 20), d))


def messages(payload: bytes) -> list[str]:
    """The HL7 messages in a stream prefix: in MLLP blocks, or bare text starting with MSH.

    A block cut short by the end of the prefix is kept up to its last complete segment; batch
    envelopes (FHS / BHS) are skipped and each MSH inside them starts a message.
    """
    texts: list[str] = []
    if payload[:3] in _HEADERS:
        texts.append(_complete(payload))
    else:
        for block in payload.split(bytes([MLLP_START]))[1 : MAX_MESSAGES + 1]:
            end = block.find(MLLP_END)
            texts.append(block[:end].decode("latin-1") if end >= 0 else _complete(block))
    # a block may hold a batch (FHS / BHS then several MSH) or bare messages back to back
    out = [m for text in texts for m in _MESSAGE_START.split(text) if m.startswith("MSH")]
    return out[:MAX_MESSAGES]


def _complete(body: bytes) -> str:
    """The part of an unterminated message that ends with a segment terminator."""
    cut = max(body.rfind(b"\r"), body.rfind(b"\n"))
    return body[: cut + 1].decode("latin-1") if cut >= 0 else ""


class Hl7Dissector:
    """HL7 v2 over MLLP (2575) and by content; see module docstring."""

    name = "hl7"
    transports = frozenset({Transport.TCP})
    udp_ports: frozenset[int] = frozenset()
    tcp_ports = frozenset({2575})
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """An MLLP block starting with MSH / FHS / BHS, or bare HL7 starting with 'MSH' + a separator."""
        if len(payload) >= 5 and payload[0] == MLLP_START and payload[1:4] in _HEADERS:
            return True
        return len(payload) >= 5 and payload[:3] == b"MSH" and not chr(payload[3]).isalnum()

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Observations from one direction's stream prefix. Never raises."""
        out: list[Observation] = []
        seen: set[str] = set()
        try:
            for text in messages(payload):
                msg = parse_message(text)
                if msg is None:
                    continue
                for item in _observations(ctx, msg):
                    if item.fields and item.uid not in seen:
                        seen.add(item.uid)
                        out.append(item)
        except Exception:  # keep what was parsed before the damage
            pass
        return out


def _observations(ctx: PacketContext, msg: _Message) -> list[Observation]:
    sender = obs(
        ctx,
        "hl7",
        hl7__sending_application=msg.sending_application,
        hl7__sending_facility=msg.sending_facility,
        hl7__message_type=msg.message_type,
        hl7__version=msg.version,
        hl7__ack_code=msg.ack_code,
        hl7__software_vendor=msg.software_vendor,
        hl7__software_version=msg.software_version,
        hl7__software_product=msg.software_product,
        hl7__equipment_ids=tuple(msg.equipment_ids),
        hl7__eui64=tuple(msg.eui64),
        hl7__device_udi=tuple(msg.udi),
        hl7__device_serial=tuple(msg.serial),
    )
    receiver = obs(
        ctx,
        "hl7",
        subject="dst",
        hl7__receiving_application=msg.receiving_application,
        hl7__receiving_facility=msg.receiving_facility,
    )
    return [sender, receiver]


DISSECTORS: list[Hl7Dissector] = [Hl7Dissector()]
