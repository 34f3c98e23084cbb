"""SMB / NetBIOS dissector: Windows and embedded-Windows identity from browser and SMB traffic.

References: RFC 1002 (NetBIOS session service framing on tcp 139/445 and datagram service
header on udp 138), [MS-BRWS] 2.2.1 HostAnnouncement / 2.2.6 LocalMasterAnnouncement (the
browser frames inside an SMB Transaction to ``\\MAILSLOT\\BROWSE``), [MS-SRVS] 2.2.2.7 (SV_TYPE
server type bits), [MS-CIFS] 2.2.4.52 / 2.2.4.53 (SMB_COM_NEGOTIATE, SMB_COM_SESSION_SETUP_ANDX with
NativeOS / NativeLanMan), [MS-SMB2] 2.2.1 / 2.2.3 / 2.2.4 (SMB2 header and NEGOTIATE), [MS-NLMP]
2.2.1.2 CHALLENGE_MESSAGE, 2.2.1.3 AUTHENTICATE_MESSAGE, 2.2.2.1 AV_PAIR and 2.2.2.10 VERSION.

What is emitted and about whom:

* browser announcements (udp 138, about the sender): host name, OS version, server type flags
  as names, comment;
* SMB1 NEGOTIATE request (about the client): the dialect strings it offers -- whether a host
  still speaks SMBv1 ("NT LM 0.12") matters for risk; SMB2 NEGOTIATE request dialects likewise;
* SMB2 NEGOTIATE response (about the server): selected dialect and server GUID;
* SMB1 SESSION_SETUP_ANDX request / response (about the sender): NativeOS and NativeLanMan;
* NTLMSSP CHALLENGE (about the server): NetBIOS and DNS computer / domain names from the target
  info AV pairs and the Windows build from the VERSION structure;
* NTLMSSP AUTHENTICATE (about the client): the workstation name and VERSION build only.

NEVER emitted: user names (they identify staff), the domains of user accounts, LM/NT challenge
responses and session keys (they are credentials or crackable hashes). The AUTHENTICATE parser
reads only the workstation field's offset, and the SMB1 session-setup parser skips the account
name and primary domain of requests without decoding them.

NTLMSSP is located by its signature ``NTLMSSP\\0`` inside the SMB message rather than by decoding
the SPNEGO (GSS-API / ASN.1) wrapper: raw NTLMSSP and SPNEGO-wrapped tokens both contain the
message verbatim, so the search is simpler and more robust, and the message's own offsets are
then relative to that signature.

The stream parser walks NetBIOS session messages (type 0x00), skipping session requests and
keep-alives, at most :data:`MAX_MESSAGES` of them.
"""

from __future__ import annotations

from typing import Any, Final

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext, obs, safe_text

FIELDS: dict[str, str] = {
    "smb.host_name": "Server name from a browser Host / Local Master Announcement (udp 138)",
    "smb.os_version": "OS major.minor from a browser announcement, e.g. '6.1'",
    "smb.server_type": "SV_TYPE flags of a browser announcement as names, e.g. ('workstation', 'server')",
    "smb.comment": "Comment string of a browser announcement",
    "smb.native_os": "SMB1 SESSION_SETUP_ANDX NativeOS string, e.g. 'Windows 5.1'",
    "smb.native_lanman": "SMB1 SESSION_SETUP_ANDX NativeLanMan string",
    "smb.dialects": "Dialects a client offers in NEGOTIATE: SMB1 strings, SMB2 as '2.0.2', '3.1.1'...",
    "smb.dialect": "SMB2/3 dialect the server selected in its NEGOTIATE response, e.g. '3.1.1'",
    "smb.server_guid": "SMB2 NEGOTIATE response ServerGuid (canonical GUID text)",
    "smb.nb_computer_name": "NTLMSSP CHALLENGE MsvAvNbComputerName (about the server)",
    "smb.nb_domain": "NTLMSSP CHALLENGE MsvAvNbDomainName: the server's NetBIOS domain",
    "smb.dns_computer_name": "NTLMSSP CHALLENGE MsvAvDnsComputerName (about the server)",
    "smb.dns_domain": "NTLMSSP CHALLENGE MsvAvDnsDomainName: the server's DNS domain",
    "smb.os_build": "Windows major.minor.build from the NTLMSSP VERSION structure, e.g. '10.0.19041'",
    "smb.workstation": "NTLMSSP AUTHENTICATE workstation name (about the client)",
}

MAX_MESSAGES: Final = 8
TEXT_LIMIT: Final = 256
NTLMSSP: Final = b"NTLMSSP\x00"

_SV_TYPES: Final = (
    (0x00000001, "workstation"),
    (0x00000002, "server"),
    (0x00000004, "sql server"),
    (0x00000008, "domain controller"),
    (0x00000010, "backup domain controller"),
    (0x00000020, "time source"),
    (0x00000040, "afp"),
    (0x00000080, "novell"),
    (0x00000100, "domain member"),
    (0x00000200, "print"),
    (0x00000400, "dialin"),
    (0x00000800, "unix"),
    (0x00001000, "nt"),
    (0x00002000, "wfw"),
    (0x00004000, "mfpn"),
    (0x00008000, "nt server"),
    (0x00010000, "potential browser"),
    (0x00020000, "backup browser"),
    (0x00040000, "master browser"),
    (0x00080000, "domain master browser"),
    (0x00100000, "osf"),
    (0x00200000, "vms"),
    (0x00400000, "windows"),
    (0x00800000, "dfs"),
    (0x01000000, "cluster"),
    (0x02000000, "terminal server"),
    (0x04000000, "cluster vs"),
    (0x10000000, "dce"),
    (0x20000000, "alternate transport"),
    (0x40000000, "local list only"),
    (0x80000000, "domain enum"),
)
_BROWSER_HOST: Final = frozenset({0x01, 0x0F})  # HostAnnouncement, LocalMasterAnnouncement
_MAILSLOT_BROWSE: Final = b"\\MAILSLOT\\BROWSE"

_SMB1: Final = b"\xffSMB"
_SMB2: Final = b"\xfeSMB"
_SMB1_NEGOTIATE: Final = 0x72
_SMB1_SESSION_SETUP: Final = 0x73
_SMB1_TRANSACTION: Final = 0x25
_SMB1_FLAGS_REPLY: Final = 0x80
_SMB1_FLAGS2_UNICODE: Final = 0x8000
_SMB2_FLAGS_RESPONSE: Final = 0x00000001

# [MS-NLMP] 2.2.2.1 AvId values this module reads (user-related ones are not among them).
_AV_FIELDS: Final = {
    1: "smb__nb_computer_name",
    2: "smb__nb_domain",
    3: "smb__dns_computer_name",
    4: "smb__dns_domain",
}
_NTLM_NEGOTIATE_UNICODE: Final = 0x00000001
_NTLM_NEGOTIATE_VERSION: Final = 0x02000000


def _u16(data: bytes, pos: int) -> int:
    if pos < 0 or pos + 2 > len(data):
        raise IndexError(pos)
    return int.from_bytes(data[pos : pos + 2], "little")


def _u32(data: bytes, pos: int) -> int:
    if pos < 0 or pos + 4 > len(data):
        raise IndexError(pos)
    return int.from_bytes(data[pos : pos + 4], "little")


def _utf16(raw: bytes) -> str:
    return safe_text(raw[: TEXT_LIMIT * 2].decode("utf-16-le", errors="replace").encode(), TEXT_LIMIT)


def _cstring(data: bytes, pos: int, unicode: bool) -> tuple[str, int]:
    """A NUL-terminated (UTF-16LE or OEM) string at ``pos``: (text, position after the NUL)."""
    if unicode:
        end = pos
        while end + 1 < len(data) and data[end : end + 2] != b"\x00\x00":
            end += 2
        if end + 1 >= len(data):
            raise IndexError("unterminated string")
        return _utf16(data[pos:end]), end + 2
    end = data.find(b"\x00", pos)
    if end < 0:
        raise IndexError("unterminated string")
    return safe_text(data[pos:end], TEXT_LIMIT), end + 1


def _guid(raw: bytes) -> str:
    """Mixed-endian GUID bytes ([MS-DTYP] 2.3.4.2) to canonical text."""
    d1 = int.from_bytes(raw[0:4], "little")
    d2 = int.from_bytes(raw[4:6], "little")
    d3 = int.from_bytes(raw[6:8], "little")
    return f"{d1:08x}-{d2:04x}-{d3:04x}-{raw[8:10].hex()}-{raw[10:16].hex()}"


def _dialect_name(value: int) -> str:
    """0x0311 -> '3.1.1', 0x0202 -> '2.0.2', 0x02ff -> '2.?' (wildcard), others as hex."""
    known = {0x0202: "2.0.2", 0x0210: "2.1", 0x0300: "3.0", 0x0302: "3.0.2", 0x0311: "3.1.1", 0x02FF: "2.?"}
    return known.get(value, f"0x{value:04x}")


# --------------------------------------------------------------------------- NTLMSSP


def ntlmssp_fields(blob: bytes) -> tuple[str, dict[str, Any]] | None:
    """Fields from the first NTLMSSP CHALLENGE or AUTHENTICATE in ``blob``: (subject, fields).

    The subject is ``"src"`` for both: a CHALLENGE is sent by the server, an AUTHENTICATE by the
    client. Returns None when there is no such message.
    """
    start = blob.find(NTLMSSP)
    if start < 0:
        return None
    msg = blob[start:]
    msg_type = _u32(msg, 8)
    fields: dict[str, Any] = {}
    if msg_type == 2:
        flags = _u32(msg, 20)
        try:
            info_len = _u16(msg, 40)
            info_off = _u32(msg, 44)
            _av_pairs(msg[info_off : info_off + info_len], fields)
        except IndexError:
            pass
        if flags & _NTLM_NEGOTIATE_VERSION and info_len_ok(msg, 48):
            fields["smb__os_build"] = _version(msg[48:56])
    elif msg_type == 3:
        # AUTHENTICATE_MESSAGE: only WorkstationFields (offset 44) and Version (offset 64) are read;
        # DomainNameFields and UserNameFields (28, 36) and the responses are deliberately skipped.
        flags = _u32(msg, 60)
        ws_len = _u16(msg, 44)
        ws_off = _u32(msg, 48)
        raw = msg[ws_off : ws_off + min(ws_len, TEXT_LIMIT * 2)]
        if ws_off >= 64 and ws_len and len(raw) == min(ws_len, TEXT_LIMIT * 2):
            unicode = bool(flags & _NTLM_NEGOTIATE_UNICODE)
            fields["smb__workstation"] = _utf16(raw) if unicode else safe_text(raw, TEXT_LIMIT)
        if flags & _NTLM_NEGOTIATE_VERSION and info_len_ok(msg, 64):
            fields["smb__os_build"] = _version(msg[64:72])
    else:
        return None
    return "src", fields


def info_len_ok(msg: bytes, pos: int) -> bool:
    """Whether an 8-byte VERSION structure lies at ``pos`` within ``msg``."""
    return len(msg) >= pos + 8


def _version(raw: bytes) -> str | None:
    """[MS-NLMP] 2.2.2.10 VERSION: major(1) minor(1) build(2 LE) reserved(3) revision(1)."""
    if raw[0] == 0 and raw[1] == 0:
        return None
    return f"{raw[0]}.{raw[1]}.{int.from_bytes(raw[2:4], 'little')}"


def _av_pairs(info: bytes, fields: dict[str, Any]) -> None:
    pos = 0
    for _ in range(32):
        if pos + 4 > len(info):
            return
        av_id = _u16(info, pos)
        av_len = _u16(info, pos + 2)
        if av_id == 0:  # MsvAvEOL
            return
        value = info[pos + 4 : pos + 4 + av_len]
        if len(value) != av_len:
            return
        key = _AV_FIELDS.get(av_id)
        if key is not None and key not in fields:
            fields[key] = _utf16(value)
        pos += 4 + av_len


# --------------------------------------------------------------------------- SMB1


def _smb1(ctx: PacketContext, msg: bytes, out: list[Observation]) -> None:
    """One SMB1 message (``msg`` starts at the \\xffSMB header)."""
    if len(msg) < 33:
        return
    command = msg[4]
    reply = bool(msg[9] & _SMB1_FLAGS_REPLY)
    unicode = bool(_u16(msg, 10) & _SMB1_FLAGS2_UNICODE)
    word_count = msg[32]
    words = 33
    byte_count_pos = words + 2 * word_count
    byte_count = _u16(msg, byte_count_pos)
    data_start = byte_count_pos + 2
    data = msg[: data_start + byte_count]  # offsets below stay relative to the SMB header
    if command == _SMB1_NEGOTIATE and not reply:
        dialects: list[str] = []
        for entry in data[data_start:].split(b"\x00"):
            if entry[:1] == b"\x02" and len(dialects) < 16:
                dialects.append(safe_text(entry[1:], 64))
        if dialects:
            out.append(obs(ctx, "smb", smb__dialects=tuple(dialects)))
    elif command == _SMB1_SESSION_SETUP:
        _smb1_session_setup(ctx, msg, data, reply, unicode, word_count, data_start, out)


def _smb1_session_setup(
    ctx: PacketContext,
    msg: bytes,
    data: bytes,
    reply: bool,
    unicode: bool,
    word_count: int,
    data_start: int,
    out: list[Observation],
) -> None:
    ntlm = ntlmssp_fields(data[data_start:])
    if ntlm is not None and ntlm[1]:
        out.append(obs(ctx, "smb", **ntlm[1]))
    pos = data_start
    if not reply and word_count == 13:
        # Pre-extended-security request: OEM password, Unicode password, pad, AccountName,
        # PrimaryDomain, NativeOS, NativeLanMan. Passwords, account and domain are skipped unread.
        pos += _u16(msg, 33 + 14) + _u16(msg, 33 + 16)
        if unicode and pos % 2:
            pos += 1
        for _ in range(2):  # AccountName, PrimaryDomain
            pos = _skip_cstring(data, pos, unicode)
    elif not reply and word_count == 12:
        pos += _u16(msg, 33 + 14)  # SecurityBlob
    elif reply and word_count == 4:
        pos += _u16(msg, 33 + 6)  # SecurityBlob
    elif reply and word_count == 3:
        pass
    else:
        return
    if unicode and pos % 2:
        pos += 1  # Unicode strings are 2-byte aligned relative to the SMB header
    native_os, pos = _cstring(data, pos, unicode)
    try:
        lanman, _ = _cstring(data, pos, unicode)
    except IndexError:
        lanman = ""
    if native_os or lanman:
        out.append(obs(ctx, "smb", smb__native_os=native_os, smb__native_lanman=lanman))


def _skip_cstring(data: bytes, pos: int, unicode: bool) -> int:
    if unicode:
        while pos + 1 < len(data) and data[pos : pos + 2] != b"\x00\x00":
            pos += 2
        if pos + 1 >= len(data):
            raise IndexError("unterminated string")
        return pos + 2
    end = data.find(b"\x00", pos)
    if end < 0:
        raise IndexError("unterminated string")
    return end + 1


# --------------------------------------------------------------------------- SMB2


def _smb2(ctx: PacketContext, data: bytes, out: list[Observation]) -> None:
    """SMB2 messages, following NextCommand through a compound chain (bounded)."""
    base = 0
    for _ in range(4):
        msg = data[base:]
        if len(msg) < 64 or msg[:4] != _SMB2 or _u16(msg, 4) != 64:
            return
        command = _u16(msg, 12)
        response = bool(_u32(msg, 16) & _SMB2_FLAGS_RESPONSE)
        next_command = _u32(msg, 20)
        body = msg[64 : next_command if next_command else len(msg)]
        if command == 0 and response and len(body) >= 24:
            out.append(
                obs(ctx, "smb", smb__dialect=_dialect_name(_u16(body, 4)), smb__server_guid=_guid(body[8:24]))
            )
            ntlm = None  # negotiate carries SPNEGO hints only, never NTLMSSP
        elif command == 0 and not response and len(body) >= 36:
            count = min(_u16(body, 2), 16)
            dialects = tuple(
                _dialect_name(_u16(body, 36 + 2 * i)) for i in range(count) if 38 + 2 * i <= len(body)
            )
            if dialects:
                out.append(obs(ctx, "smb", smb__dialects=dialects))
            ntlm = None
        elif command == 1:
            ntlm = ntlmssp_fields(msg[: next_command or len(msg)])
        else:
            ntlm = None
        if ntlm is not None and ntlm[1]:
            out.append(obs(ctx, "smb", **ntlm[1]))
        if not next_command or next_command < 64:
            return
        base += next_command


# --------------------------------------------------------------------------- datagrams


def _browser(ctx: PacketContext, payload: bytes) -> list[Observation]:
    """NetBIOS datagram (RFC 1002 4.4.1) carrying an SMB Transaction to \\MAILSLOT\\BROWSE."""
    if len(payload) < 14 or payload[0] not in (0x10, 0x11, 0x12):
        return []
    pos = 14
    for _ in range(2):  # source and destination NetBIOS names (label-encoded)
        while pos < len(payload) and payload[pos] != 0:
            pos += 1 + payload[pos]
        pos += 1
    smb = payload[pos:]
    if len(smb) < 33 or smb[:4] != _SMB1 or smb[4] != _SMB1_TRANSACTION:
        return []
    word_count = smb[32]
    if word_count < 14:
        return []
    data_count = _u16(smb, 33 + 2 * 11)
    data_offset = _u16(smb, 33 + 2 * 12)
    byte_start = 33 + 2 * word_count + 2
    if _MAILSLOT_BROWSE not in smb[byte_start : byte_start + 64].upper():
        return []
    frame = smb[data_offset : data_offset + data_count]
    if len(frame) < 32 or frame[0] not in _BROWSER_HOST:
        return []
    server_name = safe_text(frame[6:22].split(b"\x00", 1)[0], 16)
    server_type = _u32(frame, 24)
    comment = safe_text(frame[32:].split(b"\x00", 1)[0], 64)
    return [
        obs(
            ctx,
            "smb",
            smb__host_name=server_name,
            smb__os_version=f"{frame[22]}.{frame[23]}",
            smb__server_type=tuple(name for bit, name in _SV_TYPES if server_type & bit),
            smb__comment=comment,
        )
    ]


class SmbDissector:
    """SMB1/SMB2 over NetBIOS session service and NetBIOS browser datagrams; see module docstring."""

    name = "smb"
    transports = frozenset({Transport.TCP, Transport.UDP})
    udp_ports = frozenset({138})
    tcp_ports = frozenset({139, 445})
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """A NetBIOS session message whose body starts with an SMB1 or SMB2 header."""
        return len(payload) >= 8 and payload[0] == 0x00 and payload[4:8] in (_SMB1, _SMB2)

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Observations from a datagram or a stream prefix. Never raises."""
        out: list[Observation] = []
        try:
            if ctx.transport == Transport.UDP:
                return _browser(ctx, payload)
            self._stream(ctx, payload, out)
        except Exception:  # keep what was parsed before the damage
            pass
        return _dedupe(out)

    @staticmethod
    def _stream(ctx: PacketContext, payload: bytes, out: list[Observation]) -> None:
        pos = 0
        for _ in range(MAX_MESSAGES):
            if pos + 4 > len(payload):
                return
            kind = payload[pos]
            length = int.from_bytes(payload[pos + 1 : pos + 4], "big") & 0x1FFFF
            msg = payload[pos + 4 : pos + 4 + length]
            pos += 4 + length
            if kind != 0x00:
                continue  # session request / response / keep-alive
            if msg[:4] == _SMB1:
                _smb1(ctx, msg, out)
            elif msg[:4] == _SMB2:
                _smb2(ctx, msg, out)
            else:
                return


def _dedupe(items: list[Observation]) -> list[Observation]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item.fields and item.uid not in seen:
            seen.add(item.uid)
            out.append(item)
    return out


DISSECTORS: list[SmbDissector] = [SmbDissector()]
