"""SMB / NetBIOS dissector: browser announcements, SMB1/SMB2 negotiate and session setup, NTLMSSP."""

from __future__ import annotations

import struct
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext
from wardwatch.sensor.dissect.smb import DISSECTORS, FIELDS

D = DISSECTORS[0]
TCP = PacketContext(ts_ns=1, flow_uid="f", transport=Transport.TCP, src_ip="10.0.0.30", dst_ip="10.0.0.40")
UDP = PacketContext(ts_ns=1, flow_uid="g", transport=Transport.UDP, src_ip="10.0.0.30", dst_ip="10.0.0.255")
USER = "DRSMITHUSERMARKER"
USER_DOMAIN = "USERDOMAINMARKER"
SECRET = b"\xde\xad\xbe\xef" * 6  # stands for LM/NT responses and session keys


def _u16(v: int) -> bytes:
    return struct.pack("<H", v)


def _u32(v: int) -> bytes:
    return struct.pack("<I", v)


def _nbss(msg: bytes) -> bytes:
    return b"\x00" + len(msg).to_bytes(3, "big") + msg


def _smb1_header(command: int, reply: bool, unicode: bool = True) -> bytes:
    flags = 0x98 if reply else 0x18
    flags2 = 0xC807 if unicode else 0x4807
    return b"\xffSMB" + bytes([command]) + _u32(0) + bytes([flags]) + _u16(flags2) + bytes(20)


def _utf16z(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\x00\x00"


# ---------------------------------------------------------------- NTLMSSP messages ([MS-NLMP] 2.2.1)

WINDOWS_10_VERSION = bytes([10, 0]) + _u16(19041) + b"\x00\x00\x00\x0f"


def _challenge() -> bytes:
    target = "HOSP".encode("utf-16-le")
    av = b""
    for av_id, text in ((2, "HOSP"), (1, "PACS01"), (4, "hosp.example"), (3, "pacs01.hosp.example")):
        value = text.encode("utf-16-le")
        av += _u16(av_id) + _u16(len(value)) + value
    av += _u16(7) + _u16(8) + bytes(8)  # MsvAvTimestamp: not stored
    av += _u16(0) + _u16(0)  # MsvAvEOL
    header_len = 56
    flags = 0xE2898215  # includes NEGOTIATE_VERSION (0x02000000) and UNICODE
    return (
        b"NTLMSSP\x00"
        + _u32(2)
        + _u16(len(target)) + _u16(len(target)) + _u32(header_len)
        + _u32(flags)
        + b"\x11" * 8  # server challenge
        + bytes(8)
        + _u16(len(av)) + _u16(len(av)) + _u32(header_len + len(target))
        + WINDOWS_10_VERSION
        + target
        + av
    )  # fmt: skip


def _authenticate() -> bytes:
    payload_start = 88  # header 64 + version 8 + MIC 16
    fields = [SECRET, SECRET + SECRET, USER_DOMAIN.encode("utf-16-le"), USER.encode("utf-16-le"),
              "NURSE-PC-12".encode("utf-16-le"), SECRET[:16]]  # fmt: skip
    descriptors = b""
    payload = b""
    for item in fields:
        descriptors += _u16(len(item)) + _u16(len(item)) + _u32(payload_start + len(payload))
        payload += item
    flags = 0xE2888215
    return (
        b"NTLMSSP\x00"
        + _u32(3)
        + descriptors
        + _u32(flags)
        + bytes([6, 1])
        + _u16(7601)
        + b"\0\0\0\x0f"
        + bytes(16)
        + payload
    )


def _spnego(token: bytes) -> bytes:
    # Not a faithful SPNEGO encoding on purpose: the dissector finds NTLMSSP by signature.
    return b"\xa1\x81\x00\x30\x81\x00\xa2\x81\x00\x04\x81\x00" + token


def test_ntlm_challenge_in_smb2_session_setup_response() -> None:
    blob = _spnego(_challenge())
    header = b"\xfeSMB" + _u16(64) + _u16(1) + _u32(0xC0000016) + _u16(1) + _u16(1) + _u32(1) + _u32(0)
    header += bytes(64 - len(header))
    body = _u16(9) + _u16(0) + _u16(64 + 8) + _u16(len(blob)) + blob
    out = D.dissect(TCP, _nbss(header + body))
    assert [o.fields for o in out] == [
        {
            "smb.nb_domain": "HOSP",
            "smb.nb_computer_name": "PACS01",
            "smb.dns_domain": "hosp.example",
            "smb.dns_computer_name": "pacs01.hosp.example",
            "smb.os_build": "10.0.19041",
        }
    ]
    assert out[0].ip == "10.0.0.30"  # about the sender: the server


def _smb1_session_setup_request_ext() -> bytes:
    blob = _spnego(_authenticate())
    words = bytes([0xFF, 0]) + _u16(0) + _u16(4356) + _u16(50) + _u16(0) + _u32(0) + _u16(len(blob)) + _u32(0)
    words += _u32(0x8000E3FC)
    assert len(words) == 24
    header = _smb1_header(0x73, reply=False)
    data = blob
    if (len(header) + 1 + len(words) + 2 + len(data)) % 2:
        data += b"\x00"  # pad to align the Unicode strings
    data += _utf16z("Windows 5.1") + _utf16z("Windows 2000 LAN Manager")
    return header + bytes([12]) + words + _u16(len(data)) + data


def test_smb1_session_setup_request_authenticate() -> None:
    out = D.dissect(TCP, _nbss(_smb1_session_setup_request_ext()))
    assert [o.fields for o in out] == [
        {"smb.workstation": "NURSE-PC-12", "smb.os_build": "6.1.7601"},
        {"smb.native_os": "Windows 5.1", "smb.native_lanman": "Windows 2000 LAN Manager"},
    ]


def test_user_names_domains_and_hashes_never_stored() -> None:
    out = D.dissect(TCP, _nbss(_smb1_session_setup_request_ext()) + _nbss(_smb1_legacy_request()))
    text = repr(out)
    assert out
    assert USER not in text and USER_DOMAIN not in text
    assert SECRET.hex() not in text and "deadbeef" not in text.lower()


def _smb1_legacy_request() -> bytes:
    """Pre-extended-security SESSION_SETUP_ANDX request (word count 13), OEM strings."""
    oem_pw, uni_pw = SECRET[:24], SECRET[:24]
    words = bytes([0xFF, 0]) + _u16(0) + _u16(4356) + _u16(50) + _u16(0) + _u32(0)
    words += _u16(len(oem_pw)) + _u16(len(uni_pw)) + _u32(0) + _u32(0)
    assert len(words) == 26
    data = (
        oem_pw
        + uni_pw
        + USER.encode()
        + b"\0"
        + USER_DOMAIN.encode()
        + b"\0"
        + b"Windows XP Embedded\0LANMAN 2.1\0"
    )
    return _smb1_header(0x73, reply=False, unicode=False) + bytes([13]) + words + _u16(len(data)) + data


def test_smb1_legacy_session_setup() -> None:
    out = D.dissect(TCP, _nbss(_smb1_legacy_request()))
    assert [o.fields for o in out] == [
        {"smb.native_os": "Windows XP Embedded", "smb.native_lanman": "LANMAN 2.1"}
    ]
    assert USER not in repr(out)


def test_smb1_session_setup_response_with_challenge() -> None:
    blob = _challenge()
    words = bytes([0xFF, 0]) + _u16(0) + _u16(0) + _u16(len(blob))
    header = _smb1_header(0x73, reply=True)
    data = blob
    if (len(header) + 1 + len(words) + 2 + len(data)) % 2:
        data += b"\x00"
    data += _utf16z("Windows Server 2003 3790 Service Pack 2") + _utf16z("Windows Server 2003 5.2")
    msg = header + bytes([4]) + words + _u16(len(data)) + data
    out = D.dissect(TCP, b"\x85\x00\x00\x00" + _nbss(msg))  # a keep-alive first
    fields = [o.fields for o in out]
    assert fields[0]["smb.nb_computer_name"] == "PACS01"
    assert fields[1] == {
        "smb.native_os": "Windows Server 2003 3790 Service Pack 2",
        "smb.native_lanman": "Windows Server 2003 5.2",
    }


def test_smb1_negotiate_dialects() -> None:
    dialects = [b"PC NETWORK PROGRAM 1.0", b"LANMAN1.0", b"NT LM 0.12", b"SMB 2.002", b"SMB 2.???"]
    data = b"".join(b"\x02" + d + b"\x00" for d in dialects)
    msg = _smb1_header(0x72, reply=False) + b"\x00" + _u16(len(data)) + data
    payload = _nbss(msg)
    assert D.probe(payload)
    out = D.dissect(TCP, b"\x81\x00\x00\x04abcd" + payload)  # NetBIOS session request skipped
    assert [o.fields for o in out] == [{"smb.dialects": tuple(d.decode() for d in dialects)}]


def _smb2_header(command: int, response: bool) -> bytes:
    header = b"\xfeSMB" + _u16(64) + _u16(0) + _u32(0) + _u16(command) + _u16(1) + _u32(1 if response else 0)
    return header + bytes(64 - len(header))


def test_smb2_negotiate() -> None:
    guid = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
    body = _u16(65) + _u16(1) + _u16(0x0311) + _u16(0) + guid.bytes_le + bytes(65 - 24)
    (ob,) = D.dissect(TCP, _nbss(_smb2_header(0, True) + body))
    assert ob.fields == {"smb.dialect": "3.1.1", "smb.server_guid": str(guid)}
    req = _u16(36) + _u16(5) + _u16(1) + _u16(0) + _u32(0) + bytes(16) + bytes(8)
    req += b"".join(_u16(d) for d in (0x0202, 0x0210, 0x0300, 0x0302, 0x0311))
    (ob,) = D.dissect(TCP, _nbss(_smb2_header(0, False) + req))
    assert ob.fields == {"smb.dialects": ("2.0.2", "2.1", "3.0", "3.0.2", "3.1.1")}


def _browser_datagram(opcode: int = 0x01) -> bytes:
    """NetBIOS DIRECT_GROUP datagram -> SMB Transaction -> \\MAILSLOT\\BROWSE HostAnnouncement."""
    announcement = (
        bytes([opcode, 0]) + _u32(720000) + b"XRAY-CONSOLE-3".ljust(16, b"\x00") + bytes([6, 1])
        + _u32(0x00011203) + bytes([15, 1]) + _u16(0xAA55) + b"Radiology console\x00"
    )  # fmt: skip
    name = b"\\MAILSLOT\\BROWSE\x00"
    setup = _u16(1) + _u16(1) + _u16(2)
    word_count = 17
    bytes_start = 32 + 1 + 2 * word_count + 2
    data_offset = bytes_start + len(name)
    words = (
        _u16(0) + _u16(len(announcement)) + _u16(0) + _u16(0) + bytes([0, 0]) + _u16(0) + _u32(0) + _u16(0)
        + _u16(0) + _u16(data_offset) + _u16(len(announcement)) + _u16(data_offset) + bytes([3, 0]) + setup
    )  # fmt: skip
    assert len(words) == 2 * word_count
    smb = _smb1_header(0x25, reply=False, unicode=False) + bytes([word_count]) + words
    smb += _u16(len(name) + len(announcement)) + name + announcement
    nb_name = b"\x20" + b"EIEFECEFCACACACACACACACACACACAAA" + b"\x00"
    header = (
        bytes([0x11, 0x02]) + b"\x12\x34" + bytes([10, 0, 0, 30]) + struct.pack(">HHH", 138, 68 + len(smb), 0)
    )
    return header + nb_name + nb_name + smb


def test_browser_host_announcement() -> None:
    out = D.dissect(UDP, _browser_datagram())
    assert [o.fields for o in out] == [
        {
            "smb.host_name": "XRAY-CONSOLE-3",
            "smb.os_version": "6.1",
            "smb.server_type": ("workstation", "server", "print", "nt", "potential browser"),
            "smb.comment": "Radiology console",
        }
    ]
    assert out[0].ip == "10.0.0.30"
    assert D.dissect(UDP, _browser_datagram(opcode=0x0F))  # LocalMasterAnnouncement too
    assert D.dissect(UDP, _browser_datagram(opcode=0x0C)) == []  # DomainAnnouncement: not a host


def _check(out: object) -> None:
    assert isinstance(out, list)
    for o in out:
        assert isinstance(o, Observation) and o.protocol == "smb"
        assert set(o.fields) <= set(FIELDS)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_arbitrary(data: bytes) -> None:
    D.probe(data)
    _check(D.dissect(TCP, data))
    _check(D.dissect(UDP, data))
    _check(D.dissect(TCP, _nbss(b"\xffSMB" + data)))
    _check(D.dissect(TCP, _nbss(b"\xfeSMB" + data)))


SAMPLES = [
    (TCP, _nbss(_smb1_session_setup_request_ext())),
    (TCP, _nbss(_smb1_legacy_request())),
    (UDP, _browser_datagram()),
    (
        TCP,
        _nbss(_smb2_header(1, True) + _u16(9) + _u16(0) + _u16(72) + _u16(len(_challenge())) + _challenge()),
    ),
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SAMPLES), st.data())
def test_fuzz_mutated(sample: tuple[PacketContext, bytes], data: st.DataObject) -> None:
    ctx, raw = sample
    buf = bytearray(raw[: data.draw(st.integers(0, len(raw)))])
    for _ in range(data.draw(st.integers(0, 4))):
        if buf:
            buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    _check(D.dissect(ctx, bytes(buf)))


@given(st.sampled_from(SAMPLES), st.integers(0, 2000))
def test_truncated_never_leaks_users(sample: tuple[PacketContext, bytes], cut: int) -> None:
    # (Byte flips are left out here: a forged workstation offset may point anywhere in the
    # sender's own message, which no genuine client does.)
    out = D.dissect(sample[0], sample[1][:cut])
    _check(out)
    assert USER not in repr(out) and USER_DOMAIN not in repr(out)
