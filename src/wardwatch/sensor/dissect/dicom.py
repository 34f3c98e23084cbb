"""DICOM upper-layer dissector: who a DICOM node is and what it does, never what it carries.

References: DICOM PS3.8 section 9.3 (upper-layer PDU structure: A-ASSOCIATE-RQ/AC/RJ, P-DATA-TF,
A-RELEASE-RQ/RP, A-ABORT) and Annex D (user information sub-items: maximum length, Implementation
Class UID / Version Name, SCP/SCU role selection, user identity negotiation), PS3.7 section 9.3 and
Annex E (DIMSE command set, implicit VR little endian, group 0000), PS3.15 Annex B (DICOM TLS on
port 2762). UID names come from ``identify/knowledge/dicom-sop-classes.json`` and Implementation
Class UID roots from ``dicom-uid-roots.json`` (see :mod:`wardwatch.identify.dicom_roots`).

The dissector sees one direction of a TCP stream: the requestor's (A-ASSOCIATE-RQ, then its
P-DATA) or the acceptor's (A-ASSOCIATE-AC or -RJ, then its P-DATA). What it emits:

* about the sender: its own AE title (calling AE title of an RQ, called AE title echoed in an AC),
  the peer's AE title, its association role, the PDU types it sent, application context,
  Implementation Class UID (+ the vendor or toolkit owning its root) and Version Name, maximum PDU
  length, proposed presentation contexts (abstract syntaxes by name and UID, transfer syntaxes),
  the AC's per-context results, RJ / A-ABORT source and reason, the user identity type and user
  name (only a flag, ``dicom.cleartext_password``, when a password is sent);
* DIMSE command sets (PDVs flagged "command") only: command fields, the SOP classes they name, the
  statuses of responses, and from them the DIMSE role (SCU / SCP) per device, the SOP classes it
  used as SCU or served as SCP, and a single storage modality when every modality-specific
  storage class it proposed or sent is of one modality (a CT sends only CT images);
* about the receiver, from an A-ASSOCIATE-AC only: the requestor's AE title and role (the called
  AE title of a request is not attributed to the acceptor: it may be wrong and get rejected).

NEVER emitted: data set PDVs (patient and study content) are skipped unread; the affected SOP
Instance UID, Move Destination and every other command element except command field, SOP class
UIDs and status are not read; the user identity secondary field (passcode) is skipped.

The port 2762 is DICOM over TLS: a TLS record there yields ``dicom.transport = "dicom-tls"``
about the server side and nothing else (the TLS dissector reads the handshake).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Final

from wardwatch.identify.dicom_roots import DicomTables, RootKind, dicom_tables
from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext, obs, safe_text

FIELDS: dict[str, str] = {
    "dicom.ae_title": "The device's own DICOM AE title (calling AE of its A-ASSOCIATE-RQ, called AE of an AC"
    " it sent, or the calling AE title an acceptor answered)",
    "dicom.peer_ae_title": "AE title of the other side of the association, as named in the PDU the device sent",
    "dicom.association_role": "'requestor' (opened the association) or 'acceptor' (answered it)",
    "dicom.pdus": "Upper-layer PDU types the device sent, e.g. ('A-ASSOCIATE-RQ', 'P-DATA-TF', 'A-RELEASE-RQ')",
    "dicom.application_context": "Application context name UID (1.2.840.10008.3.1.1.1 for DICOM)",
    "dicom.implementation_class_uid": "Implementation Class UID of the device's DICOM stack (PS3.7 D.3.3.2)",
    "dicom.implementation_version_name": "Implementation Version Name, e.g. 'PYNETDICOM_304' or 'OFFIS_DCMTK_368'",
    "dicom.implementation_vendor": "Maker owning the Implementation Class UID root (dicom-uid-roots.json, kind vendor)",
    "dicom.implementation_toolkit": "DICOM toolkit owning the Implementation Class UID root (kind toolkit), e.g. 'DCMTK"
    " (OFFIS)'",
    "dicom.max_pdu_length": "Maximum PDU length the device can receive (0 = unlimited)",
    "dicom.proposed_sop_classes": "Names of the abstract syntaxes (SOP classes) a requestor proposed; the UID when"
    " not in the table",
    "dicom.proposed_sop_class_uids": "UIDs of the abstract syntaxes a requestor proposed",
    "dicom.proposed_transfer_syntaxes": "Transfer syntax UIDs a requestor proposed (all contexts, first-seen order)",
    "dicom.context_results": "Acceptor's result per presentation context as 'ID:result', e.g. ('1:acceptance',"
    " '3:abstract-syntax-not-supported')",
    "dicom.accepted_transfer_syntaxes": "Transfer syntax UIDs an acceptor chose for the contexts it accepted",
    "dicom.role_selection": "SCP/SCU role selection sub-items as 'UID:scu|scp|scu+scp'",
    "dicom.reject": "A-ASSOCIATE-RJ result, source and reason, e.g. 'rejected-permanent service-user"
    " called-AE-title-not-recognized'",
    "dicom.abort": "A-ABORT source and reason, e.g. 'service-user' or 'service-provider unexpected-PDU'",
    "dicom.user_identity_type": "User identity negotiation type: username, username-passcode, kerberos, saml, jwt",
    "dicom.user_name": "User name of a username / username-passcode user identity sub-item (never the passcode)",
    "dicom.cleartext_password": "True when a user identity passcode was sent without TLS (the passcode is not read)",
    "dicom.commands": "DIMSE commands the device sent, e.g. ('C-ECHO-RQ', 'C-STORE-RQ') or ('C-FIND-RSP',)",
    "dicom.command_sop_classes": "Names of the affected/requested SOP classes of those commands",
    "dicom.statuses": "Statuses of the DIMSE responses the device sent, e.g. ('0x0000 success', '0xff00 pending')",
    "dicom.role": "DIMSE role(s) the device played: 'SCU' (invoked operations) and/or 'SCP' (performed them)",
    "dicom.scu_sop_classes": "SOP classes (names) the device invoked as SCU in DIMSE requests",
    "dicom.scp_sop_classes": "SOP classes (names) the device performed as SCP (responses with success, pending or"
    " warning status)",
    "dicom.storage_modality": "The one modality (CT, MR, US, CR, DX, MG, XA, NM, PT, ...) of every modality-specific"
    " image storage class the device proposed or sent; absent when none or several",
    "dicom.transport": "'dicom-tls' for DICOM over TLS (port 2762)",
}

TLS_PORT: Final = 2762
MAX_PDUS: Final = 64
MAX_CONTEXTS: Final = 128
_AE_LIMIT: Final = 16
_UID_LIMIT: Final = 64

_PDU_NAMES: Final = {
    1: "A-ASSOCIATE-RQ",
    2: "A-ASSOCIATE-AC",
    3: "A-ASSOCIATE-RJ",
    4: "P-DATA-TF",
    5: "A-RELEASE-RQ",
    6: "A-RELEASE-RP",
    7: "A-ABORT",
}
_CONTEXT_RESULTS: Final = {
    0: "acceptance",
    1: "user-rejection",
    2: "no-reason",
    3: "abstract-syntax-not-supported",
    4: "transfer-syntaxes-not-supported",
}
_RJ_RESULT: Final = {1: "rejected-permanent", 2: "rejected-transient"}
_RJ_SOURCE: Final = {1: "service-user", 2: "service-provider-acse", 3: "service-provider-presentation"}
_RJ_REASON: Final = {
    (1, 1): "no-reason-given",
    (1, 2): "application-context-name-not-supported",
    (1, 3): "calling-AE-title-not-recognized",
    (1, 7): "called-AE-title-not-recognized",
    (2, 1): "no-reason-given",
    (2, 2): "protocol-version-not-supported",
    (3, 1): "temporary-congestion",
    (3, 2): "local-limit-exceeded",
}
_ABORT_SOURCE: Final = {0: "service-user", 2: "service-provider"}
_ABORT_REASON: Final = {
    0: "reason-not-specified",
    1: "unrecognized-PDU",
    2: "unexpected-PDU",
    4: "unrecognized-PDU-parameter",
    5: "unexpected-PDU-parameter",
    6: "invalid-PDU-parameter-value",
}
_IDENTITY_TYPES: Final = {1: "username", 2: "username-passcode", 3: "kerberos", 4: "saml", 5: "jwt"}

#: DIMSE command field values (PS3.7 Annex E) and which DIMSE role sends them. N-EVENT-REPORT
#: requests come from the SCP (e.g. a storage commitment result), so role is per command.
_COMMANDS: Final[dict[int, tuple[str, str]]] = {
    0x0001: ("C-STORE-RQ", "SCU"),
    0x8001: ("C-STORE-RSP", "SCP"),
    0x0010: ("C-GET-RQ", "SCU"),
    0x8010: ("C-GET-RSP", "SCP"),
    0x0020: ("C-FIND-RQ", "SCU"),
    0x8020: ("C-FIND-RSP", "SCP"),
    0x0021: ("C-MOVE-RQ", "SCU"),
    0x8021: ("C-MOVE-RSP", "SCP"),
    0x0030: ("C-ECHO-RQ", "SCU"),
    0x8030: ("C-ECHO-RSP", "SCP"),
    0x0100: ("N-EVENT-REPORT-RQ", "SCP"),
    0x8100: ("N-EVENT-REPORT-RSP", "SCU"),
    0x0110: ("N-GET-RQ", "SCU"),
    0x8110: ("N-GET-RSP", "SCP"),
    0x0120: ("N-SET-RQ", "SCU"),
    0x8120: ("N-SET-RSP", "SCP"),
    0x0130: ("N-ACTION-RQ", "SCU"),
    0x8130: ("N-ACTION-RSP", "SCP"),
    0x0140: ("N-CREATE-RQ", "SCU"),
    0x8140: ("N-CREATE-RSP", "SCP"),
    0x0150: ("N-DELETE-RQ", "SCU"),
    0x8150: ("N-DELETE-RSP", "SCP"),
    0x0FFF: ("C-CANCEL-RQ", "SCU"),
}
_PERFORMED_STATUS: Final = ("success", "pending", "warning")


def status_text(status: int) -> str:
    """A DIMSE status (PS3.7 Annex C) as '0xhhhh category'."""
    if status == 0x0000:
        kind = "success"
    elif status in (0xFF00, 0xFF01):
        kind = "pending"
    elif status == 0xFE00:
        kind = "cancel"
    elif status == 0x0001 or status & 0xF000 == 0xB000 or status == 0x0107 or status == 0x0116:
        kind = "warning"
    else:
        kind = "failure"
    return f"0x{status:04x} {kind}"


@dataclass(slots=True)
class _Facts:
    """What one direction of an association revealed about its sender (and receiver)."""

    own_ae: str = ""
    peer_ae: str = ""
    role: str = ""
    pdus: list[str] = field(default_factory=list)
    app_context: str = ""
    impl_uid: str = ""
    impl_version: str = ""
    max_pdu: int | None = None
    proposed: list[str] = field(default_factory=list)
    proposed_ts: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    accepted_ts: list[str] = field(default_factory=list)
    role_selection: list[str] = field(default_factory=list)
    reject: str = ""
    abort: str = ""
    identity_type: str = ""
    user_name: str = ""
    password: bool = False
    commands: list[str] = field(default_factory=list)
    command_classes: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    dimse_roles: list[str] = field(default_factory=list)
    scu_classes: list[str] = field(default_factory=list)
    scp_classes: list[str] = field(default_factory=list)
    command_buffers: dict[int, bytes] = field(default_factory=dict)


def _add(items: list[str], value: str) -> None:
    if value and value not in items:
        items.append(value)


def _uid(raw: bytes) -> str:
    """A UID value: NUL / space padding removed, only digits and dots kept, bounded."""
    text = raw[:_UID_LIMIT].rstrip(b"\x00 ").decode("ascii", errors="replace")
    return "".join(ch for ch in text if ch.isdigit() or ch == ".")


def _ae(raw: bytes) -> str:
    return safe_text(raw[:_AE_LIMIT].rstrip(b"\x00 "), _AE_LIMIT)


def _associate(data: bytes, facts: _Facts, tables: DicomTables, *, request: bool) -> None:
    """A-ASSOCIATE-RQ / -AC body (after the 6-byte PDU header)."""
    if len(data) < 68:
        raise IndexError("short A-ASSOCIATE")
    called, calling = _ae(data[4:20]), _ae(data[20:36])
    if request:
        facts.own_ae, facts.peer_ae, facts.role = calling, called, "requestor"
    else:
        facts.own_ae, facts.peer_ae, facts.role = called, calling, "acceptor"
    pos = 68
    while pos + 4 <= len(data):
        item_type = data[pos]
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        item = data[pos + 4 : pos + 4 + length]
        pos += 4 + length
        if pos > len(data):
            return  # cut by the end of the stream prefix: a partial UID would be a wrong one
        if item_type == 0x10:
            facts.app_context = _uid(item)
        elif item_type == 0x20 and request:
            _proposed_context(item, facts, tables)
        elif item_type == 0x21 and not request:
            _accepted_context(item, facts)
        elif item_type == 0x50:
            _user_information(item, facts)


def _proposed_context(item: bytes, facts: _Facts, tables: DicomTables) -> None:
    if len(facts.proposed) >= MAX_CONTEXTS or len(item) < 4:
        return
    pos = 4
    while pos + 4 <= len(item):
        sub_type = item[pos]
        length = int.from_bytes(item[pos + 2 : pos + 4], "big")
        value = _uid(item[pos + 4 : pos + 4 + length])
        pos += 4 + length
        if pos > len(item):
            return
        if sub_type == 0x30 and value:
            _add(facts.proposed, value)
        elif sub_type == 0x40 and value and len(facts.proposed_ts) < MAX_CONTEXTS:
            _add(facts.proposed_ts, value)


def _accepted_context(item: bytes, facts: _Facts) -> None:
    if len(item) < 4 or len(facts.results) >= MAX_CONTEXTS:
        return
    context_id, result = item[0], item[2]
    _add(facts.results, f"{context_id}:{_CONTEXT_RESULTS.get(result, str(result))}")
    if result == 0 and len(item) >= 8 and item[4] == 0x40:
        length = int.from_bytes(item[6:8], "big")
        if 8 + length <= len(item):
            _add(facts.accepted_ts, _uid(item[8 : 8 + length]))


def _user_information(item: bytes, facts: _Facts) -> None:
    pos = 0
    while pos + 4 <= len(item):
        sub_type = item[pos]
        length = int.from_bytes(item[pos + 2 : pos + 4], "big")
        value = item[pos + 4 : pos + 4 + length]
        pos += 4 + length
        if pos > len(item):
            return
        if sub_type == 0x51 and len(value) == 4:
            facts.max_pdu = int.from_bytes(value, "big")
        elif sub_type == 0x52:
            facts.impl_uid = _uid(value)
        elif sub_type == 0x55:
            facts.impl_version = safe_text(value.rstrip(b"\x00 "), 16)
        elif sub_type == 0x54 and len(value) >= 4:
            uid_len = int.from_bytes(value[0:2], "big")
            roles = value[2 + uid_len : 4 + uid_len]
            if len(roles) == 2:
                names = "+".join(n for n, flag in zip(("scu", "scp"), roles, strict=True) if flag) or "none"
                _add(facts.role_selection, f"{_uid(value[2 : 2 + uid_len])}:{names}")
        elif sub_type == 0x58 and len(value) >= 4:
            # user identity RQ: type, positive-response-requested, primary field; the secondary
            # field (passcode) is never read, only its presence with type 2 is flagged
            kind = value[0]
            facts.identity_type = _IDENTITY_TYPES.get(kind, str(kind))
            primary_len = int.from_bytes(value[2:4], "big")
            if kind in (1, 2):
                facts.user_name = safe_text(value[4 : 4 + primary_len], 64)
            if kind == 2:
                facts.password = True


def _reject(data: bytes, facts: _Facts) -> None:
    if len(data) < 4:
        raise IndexError("short A-ASSOCIATE-RJ")
    result, source, reason = data[1], data[2], data[3]
    facts.role = facts.role or "acceptor"
    facts.reject = " ".join(
        (
            _RJ_RESULT.get(result, str(result)),
            _RJ_SOURCE.get(source, str(source)),
            _RJ_REASON.get((source, reason), str(reason)),
        )
    )


def _abort(data: bytes, facts: _Facts) -> None:
    if len(data) < 4:
        raise IndexError("short A-ABORT")
    source, reason = data[2], data[3]
    text = _ABORT_SOURCE.get(source, str(source))
    if source == 2:
        text += " " + _ABORT_REASON.get(reason, str(reason))
    facts.abort = text


def _p_data(data: bytes, facts: _Facts, tables: DicomTables) -> None:
    """PDV items; only fragments whose message control header says "command" are kept."""
    pos = 0
    while pos + 6 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        if length < 2:
            return
        context_id, header = data[pos + 4], data[pos + 5]
        fragment = data[pos + 6 : pos + 4 + length]
        pos += 4 + length
        if pos > len(data):
            return
        if not header & 0x01:
            continue  # data set fragment: patient and study content, never looked at
        buffered = facts.command_buffers.get(context_id, b"") + fragment
        if header & 0x02:
            facts.command_buffers.pop(context_id, None)
            _command(buffered, facts, tables)
        elif len(buffered) <= 4096:  # a command set is small; a longer one is not a command set
            facts.command_buffers[context_id] = buffered


def _command(data: bytes, facts: _Facts, tables: DicomTables) -> None:
    """A DIMSE command set: implicit VR little endian, group 0000 only."""
    command: int | None = None
    status: int | None = None
    sop_uid = ""
    pos = 0
    while pos + 8 <= len(data):
        group = int.from_bytes(data[pos : pos + 2], "little")
        element = int.from_bytes(data[pos + 2 : pos + 4], "little")
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        value = data[pos + 8 : pos + 8 + length]
        pos += 8 + length
        if group != 0x0000:
            break
        if element in (0x0002, 0x0003) and not sop_uid:
            sop_uid = _uid(value)
        elif element == 0x0100 and len(value) == 2:
            command = int.from_bytes(value, "little")
        elif element == 0x0900 and len(value) == 2:
            status = int.from_bytes(value, "little")
    if command is None or command not in _COMMANDS:
        return
    name, dimse_role = _COMMANDS[command]
    _add(facts.commands, name)
    _add(facts.dimse_roles, dimse_role)
    class_name = tables.sop_class_name(sop_uid) if sop_uid else ""
    _add(facts.command_classes, class_name)
    if command & 0x8000:
        text = status_text(status) if status is not None else ""
        _add(facts.statuses, text)
        if dimse_role == "SCP" and text.endswith(_PERFORMED_STATUS):
            _add(facts.scp_classes, class_name)
        elif dimse_role == "SCU":
            _add(facts.scu_classes, class_name)
    elif dimse_role == "SCU":
        _add(facts.scu_classes, class_name)
    else:
        _add(facts.scp_classes, class_name)


def _storage_modality(facts: _Facts, tables: DicomTables) -> str | None:
    """The single modality of the modality-specific storage classes this device proposed or sent."""
    uids = list(facts.proposed)
    names = set(facts.scu_classes)
    modalities = set()
    for uid in uids:
        known = tables.sop_class(uid)
        if known and known.modality:
            modalities.add(known.modality)
    for known in tables.sop_classes.values():
        if known.modality and known.name in names:
            modalities.add(known.modality)
    return modalities.pop() if len(modalities) == 1 else None


def _walk(payload: bytes, facts: _Facts, tables: DicomTables) -> None:
    pos = 0
    for _ in range(MAX_PDUS):
        if pos + 6 > len(payload):
            return
        pdu_type = payload[pos]
        length = int.from_bytes(payload[pos + 2 : pos + 6], "big")
        if pdu_type not in _PDU_NAMES:
            return
        data = payload[pos + 6 : pos + 6 + length]
        pos += 6 + length
        _add(facts.pdus, _PDU_NAMES[pdu_type])
        if pdu_type in (1, 2):
            _associate(data, facts, tables, request=pdu_type == 1)
        elif pdu_type == 3:
            _reject(data, facts)
        elif pdu_type == 4:
            _p_data(data, facts, tables)
        elif pdu_type == 7:
            _abort(data, facts)


def _observations(ctx: PacketContext, facts: _Facts, tables: DicomTables) -> list[Observation]:
    if not facts.pdus:
        return []
    root = tables.implementation_root(facts.impl_uid) if facts.impl_uid else None
    out = [
        obs(
            ctx,
            "dicom",
            dicom__ae_title=facts.own_ae,
            dicom__peer_ae_title=facts.peer_ae,
            dicom__association_role=facts.role,
            dicom__pdus=tuple(facts.pdus),
            dicom__application_context=facts.app_context,
            dicom__implementation_class_uid=facts.impl_uid,
            dicom__implementation_version_name=facts.impl_version,
            dicom__implementation_vendor=root.organisation if root and root.kind == RootKind.VENDOR else None,
            dicom__implementation_toolkit=root.organisation
            if root and root.kind == RootKind.TOOLKIT
            else None,
            dicom__max_pdu_length=facts.max_pdu,
            dicom__proposed_sop_classes=tuple(tables.sop_class_name(u) for u in facts.proposed),
            dicom__proposed_sop_class_uids=tuple(facts.proposed),
            dicom__proposed_transfer_syntaxes=tuple(facts.proposed_ts),
            dicom__context_results=tuple(facts.results),
            dicom__accepted_transfer_syntaxes=tuple(facts.accepted_ts),
            dicom__role_selection=tuple(facts.role_selection),
            dicom__reject=facts.reject,
            dicom__abort=facts.abort,
            dicom__user_identity_type=facts.identity_type,
            dicom__user_name=facts.user_name,
            dicom__cleartext_password=True if facts.password else None,
            dicom__commands=tuple(facts.commands),
            dicom__command_sop_classes=tuple(facts.command_classes),
            dicom__statuses=tuple(facts.statuses),
            dicom__role=tuple(facts.dimse_roles),
            dicom__scu_sop_classes=tuple(facts.scu_classes),
            dicom__scp_sop_classes=tuple(facts.scp_classes),
            dicom__storage_modality=_storage_modality(facts, tables),
        )
    ]
    if facts.role == "acceptor" and facts.peer_ae:
        # only an acceptor's view of its peer is trustworthy: the called AE title in a request is
        # what the requestor hoped for (a wrong one is answered by an A-ASSOCIATE-RJ)
        out.append(
            obs(
                ctx,
                "dicom",
                subject="dst",
                dicom__ae_title=facts.peer_ae,
                dicom__association_role="requestor",
            )
        )
    return out


class DicomDissector:
    """DICOM upper layer on 104 / 11112 / 2762 and by content on any port; see module docstring."""

    name = "dicom"
    transports = frozenset({Transport.TCP})
    udp_ports: frozenset[int] = frozenset()
    tcp_ports = frozenset({104, 11112, TLS_PORT})
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """An A-ASSOCIATE-RQ / -AC (protocol version 1, application context item first) or an -RJ."""
        if len(payload) < 10 or payload[1] != 0:
            return False
        length = int.from_bytes(payload[2:6], "big")
        if payload[0] in (1, 2):
            return (
                68 <= length <= 0x100000
                and payload[6:8] == b"\x00\x01"
                and (len(payload) < 75 or payload[74] == 0x10)
            )
        return payload[0] == 3 and length == 4 and payload[7] in _RJ_RESULT and payload[8] in _RJ_SOURCE

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Observations from one direction's stream prefix. Never raises."""
        try:
            if (
                TLS_PORT in (ctx.src_port, ctx.dst_port)
                and payload[:1] == b"\x16"
                and payload[1:2] == b"\x03"
            ):
                subject = "src" if ctx.src_port == TLS_PORT else "dst"
                return [obs(ctx, "dicom", subject=subject, dicom__transport="dicom-tls")]
            tables = dicom_tables()
            facts = _Facts()
            with contextlib.suppress(Exception):  # keep what was parsed before the damage
                _walk(payload, facts, tables)
            return [o for o in _observations(ctx, facts, tables) if o.fields]
        except Exception:
            return []


DISSECTORS: list[DicomDissector] = [DicomDissector()]
