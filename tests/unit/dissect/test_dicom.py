"""DICOM upper-layer dissector: PDUs built by hand from DICOM PS3.8 section 9.3 and PS3.7 Annex E.

Every byte below is laid out from the standard's tables (not by our code or a DICOM library), so
the tests check the parser against the specification; the real-peer captures check it against
pynetdicom (tests/integration/test_real_captures_dicom_hl7.py).
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.identify.dicom_roots import RootKind, dicom_tables
from wardwatch.identify.knowledge import Knowledge
from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext
from wardwatch.sensor.dissect.dicom import DISSECTORS, FIELDS, status_text

D = DISSECTORS[0]
RQ_CTX = PacketContext(
    ts_ns=1,
    flow_uid="f",
    transport=Transport.TCP,
    src_mac="02:00:00:00:00:0a",
    dst_mac="02:00:00:00:00:0b",
    src_ip="10.1.0.10",
    dst_ip="10.1.0.20",
    src_port=50123,
    dst_port=104,
)
AC_CTX = PacketContext(
    ts_ns=2,
    flow_uid="f",
    transport=Transport.TCP,
    src_mac="02:00:00:00:00:0b",
    dst_mac="02:00:00:00:00:0a",
    src_ip="10.1.0.20",
    dst_ip="10.1.0.10",
    src_port=104,
    dst_port=50123,
)

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
VERIFICATION = "1.2.840.10008.1.1"
STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
GE_IMPL = "1.2.840.113619.6.286"
PATIENT_NAME = "PHIMARKER^SUSANNA"
PATIENT_ID = "MRN99887766"
PASSCODE = b"Secret-Passcode-42"


# ------------------------------------------------------------------ PS3.8 9.3 PDU builders


def _item(item_type: int, value: bytes) -> bytes:
    """Variable item: type, reserved, 2-byte length (PS3.8 9.3.2.1 ...)."""
    return bytes([item_type, 0]) + struct.pack(">H", len(value)) + value


def _pdu(pdu_type: int, body: bytes) -> bytes:
    """PDU: type, reserved, 4-byte big-endian length (PS3.8 9.3.1)."""
    return bytes([pdu_type, 0]) + struct.pack(">I", len(body)) + body


def _ae(title: str) -> bytes:
    return title.encode().ljust(16, b" ")


def _uid(uid: str) -> bytes:
    raw = uid.encode()
    return raw + b"\x00" if len(raw) % 2 else raw


def _user_info(
    *, impl: str = GE_IMPL, version: str = "CT_SW_24.1", max_pdu: int = 32768, extra: bytes = b""
) -> bytes:
    sub = _item(0x51, struct.pack(">I", max_pdu)) + _item(0x52, impl.encode())
    sub += _item(0x55, version.encode()) + extra
    return _item(0x50, sub)


def _associate_rq(
    contexts: list[tuple[int, str, list[str]]],
    *,
    calling: str = "CT_ROOM2",
    called: str = "PACS_MAIN",
    user_extra: bytes = b"",
) -> bytes:
    """A-ASSOCIATE-RQ (PS3.8 Table 9-11): version 1, called AE 11-26, calling AE 27-42, 32 reserved."""
    body = struct.pack(">H", 1) + b"\x00\x00" + _ae(called) + _ae(calling) + bytes(32)
    body += _item(0x10, b"1.2.840.10008.3.1.1.1")
    for context_id, abstract, syntaxes in contexts:
        ctx = bytes([context_id, 0, 0, 0]) + _item(0x30, abstract.encode())
        ctx += b"".join(_item(0x40, ts.encode()) for ts in syntaxes)
        body += _item(0x20, ctx)
    body += _user_info(extra=user_extra)
    return _pdu(0x01, body)


def _associate_ac(
    results: list[tuple[int, int, str]], *, called: str = "PACS_MAIN", calling: str = "CT_ROOM2"
) -> bytes:
    """A-ASSOCIATE-AC (PS3.8 Table 9-17); presentation context items 0x21 (Table 9-18)."""
    body = struct.pack(">H", 1) + b"\x00\x00" + _ae(called) + _ae(calling) + bytes(32)
    body += _item(0x10, b"1.2.840.10008.3.1.1.1")
    for context_id, result, ts in results:
        body += _item(0x21, bytes([context_id, 0, result, 0]) + _item(0x40, ts.encode()))
    body += _user_info(impl="1.2.276.0.7230010.3.0.3.6.8", version="OFFIS_DCMTK_368", max_pdu=16384)
    return _pdu(0x02, body)


def _element(element: int, value: bytes) -> bytes:
    """Implicit VR little endian element of group 0000 (PS3.7 Annex E)."""
    return struct.pack("<HHI", 0x0000, element, len(value)) + value


def _command(field: int, sop_class: str, *, status: int | None = None, message_id: int = 7) -> bytes:
    elements = _element(0x0002, _uid(sop_class)) + _element(0x0100, struct.pack("<H", field))
    elements += _element(0x0110 if not field & 0x8000 else 0x0120, struct.pack("<H", message_id))
    elements += _element(0x0800, struct.pack("<H", 0x0101 if field & 0x8000 else 0x0000))
    if status is not None:
        elements += _element(0x0900, struct.pack("<H", status))
    elements += _element(0x1000, _uid("1.2.826.0.1.3680043.8.498.77777.1"))  # instance UID: never read
    return _element(0x0000, struct.pack("<I", len(elements))) + elements


def _pdv(context_id: int, header: int, data: bytes) -> bytes:
    """PDV item (PS3.8 9.3.5.1): 4-byte length, context id, message control header."""
    return struct.pack(">I", len(data) + 2) + bytes([context_id, header]) + data


def _dataset() -> bytes:
    """A data set fragment with patient attributes, implicit VR LE (0010,0010) / (0010,0020)."""
    name = PATIENT_NAME.encode() + b" "
    return (
        struct.pack("<HHI", 0x0010, 0x0010, len(name))
        + name
        + struct.pack("<HHI", 0x0010, 0x0020, 12)
        + (PATIENT_ID.encode() + b" ")
    )


def _fields(observations: list[Observation], mac: str) -> dict[str, object]:
    merged: dict[str, object] = {}
    for o in observations:
        if o.mac == mac:
            merged.update(o.fields)
    return merged


# ------------------------------------------------------------------ tests


def test_associate_rq_about_the_requestor() -> None:
    rq = _associate_rq(
        [(1, VERIFICATION, [IMPLICIT_LE]), (3, CT_STORAGE, [EXPLICIT_LE, IMPLICIT_LE])],
        calling="CT_ROOM2",
        called="PACS_MAIN",
    )
    assert D.probe(rq)
    out = D.dissect(RQ_CTX, rq)
    me = _fields(out, RQ_CTX.src_mac or "")
    assert me["dicom.ae_title"] == "CT_ROOM2"
    assert me["dicom.peer_ae_title"] == "PACS_MAIN"
    assert me["dicom.association_role"] == "requestor"
    assert me["dicom.pdus"] == ("A-ASSOCIATE-RQ",)
    assert me["dicom.application_context"] == "1.2.840.10008.3.1.1.1"
    assert me["dicom.implementation_class_uid"] == GE_IMPL
    assert me["dicom.implementation_version_name"] == "CT_SW_24.1"
    assert me["dicom.implementation_vendor"] == "GE HealthCare"
    assert "dicom.implementation_toolkit" not in me
    assert me["dicom.max_pdu_length"] == 32768
    assert me["dicom.proposed_sop_classes"] == ("Verification", "CT Image Storage")
    assert me["dicom.proposed_sop_class_uids"] == (VERIFICATION, CT_STORAGE)
    assert me["dicom.proposed_transfer_syntaxes"] == (IMPLICIT_LE, EXPLICIT_LE)
    assert me["dicom.storage_modality"] == "CT"
    # the called AE title of a request is not attributed to the acceptor (it may be rejected)
    assert all(o.mac == RQ_CTX.src_mac for o in out)


def test_associate_ac_about_the_acceptor_and_its_peer() -> None:
    ac = _associate_ac([(1, 0, IMPLICIT_LE), (3, 3, IMPLICIT_LE), (5, 4, EXPLICIT_LE)])
    assert D.probe(ac)
    out = D.dissect(AC_CTX, ac)
    me = _fields(out, AC_CTX.src_mac or "")
    assert me["dicom.ae_title"] == "PACS_MAIN"
    assert me["dicom.association_role"] == "acceptor"
    assert me["dicom.context_results"] == (
        "1:acceptance",
        "3:abstract-syntax-not-supported",
        "5:transfer-syntaxes-not-supported",
    )
    assert me["dicom.accepted_transfer_syntaxes"] == (IMPLICIT_LE,)
    assert me["dicom.implementation_toolkit"] == "DCMTK (OFFIS)"
    assert me["dicom.implementation_version_name"] == "OFFIS_DCMTK_368"
    peer = _fields(out, AC_CTX.dst_mac or "")
    assert peer == {"dicom.ae_title": "CT_ROOM2", "dicom.association_role": "requestor"}


@pytest.mark.parametrize(
    ("result", "source", "reason", "text"),
    [
        (1, 1, 7, "rejected-permanent service-user called-AE-title-not-recognized"),
        (2, 3, 1, "rejected-transient service-provider-presentation temporary-congestion"),
        (1, 2, 2, "rejected-permanent service-provider-acse protocol-version-not-supported"),
    ],
)
def test_associate_rj(result: int, source: int, reason: int, text: str) -> None:
    rj = _pdu(0x03, bytes([0, result, source, reason]))  # PS3.8 Table 9-21
    assert D.probe(rj)
    me = _fields(D.dissect(AC_CTX, rj), AC_CTX.src_mac or "")
    assert me["dicom.reject"] == text
    assert me["dicom.pdus"] == ("A-ASSOCIATE-RJ",)


def test_abort_and_release() -> None:
    stream = _associate_rq([(1, VERIFICATION, [IMPLICIT_LE])]) + _pdu(0x07, bytes([0, 0, 2, 2]))
    me = _fields(D.dissect(RQ_CTX, stream), RQ_CTX.src_mac or "")
    assert me["dicom.abort"] == "service-provider unexpected-PDU"
    stream = _associate_rq([(1, VERIFICATION, [IMPLICIT_LE])]) + _pdu(0x05, bytes(4))
    me = _fields(D.dissect(RQ_CTX, stream), RQ_CTX.src_mac or "")
    assert me["dicom.pdus"] == ("A-ASSOCIATE-RQ", "A-RELEASE-RQ")


def test_c_store_command_is_read_and_the_dataset_is_not() -> None:
    command = _command(0x0001, CT_STORAGE)
    # the command set arrives in two fragments (PS3.8 E.2: last-fragment bit clear on the first)
    pdata = _pdu(0x04, _pdv(3, 0x01, command[:20]) + _pdv(3, 0x03, command[20:]))
    pdata += _pdu(0x04, _pdv(3, 0x02, _dataset()))
    stream = _associate_rq([(3, CT_STORAGE, [IMPLICIT_LE])]) + pdata
    out = D.dissect(RQ_CTX, stream)
    me = _fields(out, RQ_CTX.src_mac or "")
    assert me["dicom.commands"] == ("C-STORE-RQ",)
    assert me["dicom.command_sop_classes"] == ("CT Image Storage",)
    assert me["dicom.role"] == ("SCU",)
    assert me["dicom.scu_sop_classes"] == ("CT Image Storage",)
    text = repr([o.to_json() for o in out])
    assert PATIENT_NAME not in text and PATIENT_ID not in text and "PHIMARKER" not in text
    assert "77777" not in text  # SOP Instance UID is not kept


def test_responses_make_the_acceptor_an_scp() -> None:
    pdata = _pdu(0x04, _pdv(1, 0x03, _command(0x8030, VERIFICATION, status=0x0000)))
    pdata += _pdu(0x04, _pdv(3, 0x03, _command(0x8020, STUDY_FIND, status=0xFF00)))
    pdata += _pdu(0x04, _pdv(3, 0x02, _dataset()))  # the match: patient data, never read
    pdata += _pdu(0x04, _pdv(3, 0x03, _command(0x8020, STUDY_FIND, status=0x0000)))
    pdata += _pdu(0x04, _pdv(5, 0x03, _command(0x8001, MR_STORAGE, status=0xA700)))
    stream = _associate_ac([(1, 0, IMPLICIT_LE), (3, 0, IMPLICIT_LE), (5, 0, IMPLICIT_LE)]) + pdata
    out = D.dissect(AC_CTX, stream)
    me = _fields(out, AC_CTX.src_mac or "")
    assert me["dicom.commands"] == ("C-ECHO-RSP", "C-FIND-RSP", "C-STORE-RSP")
    assert me["dicom.statuses"] == ("0x0000 success", "0xff00 pending", "0xa700 failure")
    assert me["dicom.role"] == ("SCP",)
    # a failed C-STORE is not evidence that the device performs MR storage
    assert me["dicom.scp_sop_classes"] == (
        "Verification",
        "Study Root Query/Retrieve Information Model - FIND",
    )
    assert PATIENT_NAME not in repr([o.to_json() for o in out])


def test_user_identity_keeps_the_user_name_and_flags_the_passcode() -> None:
    identity = bytes([2, 0]) + struct.pack(">H", 7) + b"ct_tech" + struct.pack(">H", len(PASSCODE)) + PASSCODE
    stream = _associate_rq([(1, VERIFICATION, [IMPLICIT_LE])], user_extra=_item(0x58, identity))
    out = D.dissect(RQ_CTX, stream)
    me = _fields(out, RQ_CTX.src_mac or "")
    assert me["dicom.user_identity_type"] == "username-passcode"
    assert me["dicom.user_name"] == "ct_tech"
    assert me["dicom.cleartext_password"] is True
    assert PASSCODE.decode() not in repr([o.to_json() for o in out])


def test_user_identity_kerberos_reads_no_user_name() -> None:
    ticket = b"KRB-TICKET-BYTES"
    identity = bytes([3, 1]) + struct.pack(">H", len(ticket)) + ticket + b"\x00\x00"
    me = _fields(
        D.dissect(
            RQ_CTX, _associate_rq([(1, VERIFICATION, [IMPLICIT_LE])], user_extra=_item(0x58, identity))
        ),
        RQ_CTX.src_mac or "",
    )
    assert me["dicom.user_identity_type"] == "kerberos"
    assert "dicom.user_name" not in me and "dicom.cleartext_password" not in me


def test_role_selection_sub_item() -> None:
    uid = b"1.2.840.10008.5.1.4.1.1.2"
    role = struct.pack(">H", len(uid)) + uid + bytes([0, 1])  # PS3.7 D.3.3.4: SCU-role 0, SCP-role 1
    me = _fields(
        D.dissect(RQ_CTX, _associate_rq([(1, CT_STORAGE, [IMPLICIT_LE])], user_extra=_item(0x54, role))),
        RQ_CTX.src_mac or "",
    )
    assert me["dicom.role_selection"] == (f"{CT_STORAGE}:scp",)


def test_storage_modality_only_when_single() -> None:
    one = _associate_rq([(1, CT_STORAGE, [IMPLICIT_LE]), (3, "1.2.840.10008.5.1.4.1.1.7", [IMPLICIT_LE])])
    assert _fields(D.dissect(RQ_CTX, one), RQ_CTX.src_mac or "")["dicom.storage_modality"] == "CT"
    two = _associate_rq([(1, CT_STORAGE, [IMPLICIT_LE]), (3, MR_STORAGE, [IMPLICIT_LE])])
    assert "dicom.storage_modality" not in _fields(D.dissect(RQ_CTX, two), RQ_CTX.src_mac or "")


def test_unknown_private_sop_class_is_named_by_uid() -> None:
    private = "1.3.46.670589.2.3.1.1"
    me = _fields(D.dissect(RQ_CTX, _associate_rq([(1, private, [IMPLICIT_LE])])), RQ_CTX.src_mac or "")
    assert me["dicom.proposed_sop_classes"] == (private,)


def test_dicom_tls_port_is_recognised_without_parsing() -> None:
    client_hello = b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"
    ctx = PacketContext(
        ts_ns=1, flow_uid="t", transport=Transport.TCP, src_ip="10.1.0.10", dst_ip="10.1.0.20",
        src_port=40000, dst_port=2762,
    )  # fmt: skip
    out = D.dissect(ctx, client_hello)
    assert [(o.ip, o.fields) for o in out] == [("10.1.0.20", {"dicom.transport": "dicom-tls"})]
    assert 2762 in D.tcp_ports and 104 in D.tcp_ports and 11112 in D.tcp_ports


def test_probe_rejects_other_protocols() -> None:
    assert not D.probe(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not D.probe(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    assert not D.probe(b"\x0bMSH|^~\\&|A|B")
    assert not D.probe(b"")
    assert not D.probe(b"\x01\x00\x00\x00\x00\x10\x00\x02" + bytes(80))  # protocol version 2


def test_truncated_prefix_keeps_what_was_read() -> None:
    rq = _associate_rq([(1, VERIFICATION, [IMPLICIT_LE]), (3, CT_STORAGE, [IMPLICIT_LE])])
    me = _fields(D.dissect(RQ_CTX, rq[:160]), RQ_CTX.src_mac or "")  # first context complete (149 bytes)
    assert me["dicom.ae_title"] == "CT_ROOM2"
    assert me["dicom.proposed_sop_classes"] == ("Verification",)


def test_status_text() -> None:
    assert status_text(0x0000) == "0x0000 success"
    assert status_text(0xFF01) == "0xff01 pending"
    assert status_text(0xFE00) == "0xfe00 cancel"
    assert status_text(0xB000) == "0xb000 warning"
    assert status_text(0xC001) == "0xc001 failure"


def test_every_emitted_field_is_documented() -> None:
    identity = bytes([2, 0]) + struct.pack(">H", 1) + b"u" + struct.pack(">H", 1) + b"p"
    samples = [
        D.dissect(RQ_CTX, _associate_rq([(1, CT_STORAGE, [IMPLICIT_LE])], user_extra=_item(0x58, identity))),
        D.dissect(AC_CTX, _associate_ac([(1, 0, IMPLICIT_LE)]) + _pdu(0x04, _pdv(1, 3, _command(0x8001, CT_STORAGE, status=0)))),
        D.dissect(AC_CTX, _pdu(0x03, bytes([0, 1, 1, 1])) + _pdu(0x07, bytes(4))),
    ]  # fmt: skip
    emitted = {name for out in samples for o in out for name in o.fields}
    assert emitted <= set(FIELDS), emitted - set(FIELDS)


def test_uid_root_table() -> None:
    tables = dicom_tables()
    root = tables.implementation_root("1.2.840.113619.6.5")
    assert root is not None and root.organisation == "GE HealthCare" and root.kind == RootKind.VENDOR
    assert tables.implementation_root("1.2.840.1136190.1") is None  # arc boundary respected
    pynetdicom = tables.implementation_root("1.2.826.0.1.3680043.9.3811.3.0.4")
    assert pynetdicom is not None and pynetdicom.kind == RootKind.TOOLKIT
    # the longest root wins: pydicom's 1.2.826.0.1.3680043.8.498 is not pynetdicom's .9.3811
    pydicom = tables.implementation_root("1.2.826.0.1.3680043.8.498.1")
    assert pydicom is not None and pydicom.organisation == "pydicom"
    assert all(r.source.strip() for r in tables.roots)
    assert tables.sop_class_name(CT_STORAGE) == "CT Image Storage"
    ct = tables.sop_class(CT_STORAGE)
    assert ct is not None and ct.modality == "CT" and ct.service == "storage"
    mwl = tables.sop_class("1.2.840.10008.5.1.4.31")
    assert mwl is not None and mwl.service == "worklist"
    assert tables.transfer_syntax_name(IMPLICIT_LE).startswith("Implicit VR Little Endian")


# ------------------------------------------------------------------ fuzzing

SAMPLES = [
    _associate_rq([(1, VERIFICATION, [IMPLICIT_LE]), (3, CT_STORAGE, [EXPLICIT_LE])]),
    _associate_ac([(1, 0, IMPLICIT_LE), (3, 3, IMPLICIT_LE)]),
    _associate_rq([(1, CT_STORAGE, [IMPLICIT_LE])]) + _pdu(0x04, _pdv(1, 3, _command(0x0001, CT_STORAGE))),
    _pdu(0x03, bytes([0, 1, 1, 7])),
]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=800))
def test_fuzz_random_bytes_never_raise(data: bytes) -> None:
    D.probe(data)
    for ctx in (RQ_CTX, AC_CTX):
        for o in D.dissect(ctx, data):
            assert set(o.fields) <= set(FIELDS)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SAMPLES), st.data())
def test_fuzz_mutated_pdus_never_raise(sample: bytes, data: st.DataObject) -> None:
    buf = bytearray(sample)
    for _ in range(data.draw(st.integers(1, 8))):
        buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    for o in D.dissect(RQ_CTX, bytes(buf)):
        assert set(o.fields) <= set(FIELDS)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(SAMPLES), st.integers(0, 2000))
def test_fuzz_truncation_never_raises(sample: bytes, cut: int) -> None:
    D.dissect(AC_CTX, sample[:cut])


def test_vendor_rules_follow_the_root_table() -> None:
    """rules.d/dicom.json has exactly one vendor rule per kind-'vendor' root, and it matches that root."""
    knowledge = Knowledge.bundled()
    rules = [r for r in knowledge.rules_for("dicom.implementation_class_uid") if dict(r.set).get("vendor")]
    roots = [r for r in dicom_tables().roots if r.kind == RootKind.VENDOR]
    assert len(rules) == len(roots)
    for root in roots:
        hits = [r for r in rules if r.pattern.search(root.root + ".1.2")]
        best = max(hits, key=lambda r: len(r.pattern.pattern))
        assert dict(best.set)["vendor"] == root.organisation
        assert knowledge.canonical_vendor(root.organisation)
    assert not any(r.pattern.search("1.2.826.0.1.3680043.9.3811.3.0.4") for r in rules)  # a toolkit


def test_modality_rules_name_taxonomy_types() -> None:
    knowledge = Knowledge.bundled()
    for modality, expected in (
        ("CT", "ct_scanner"),
        ("MR", "mr_scanner"),
        ("DX", "xray"),
        ("PT", "nm_scanner"),
    ):
        types = [
            dict(r.set)["device_type"]
            for r in knowledge.rules_for("dicom.storage_modality")
            if r.pattern.search(modality)
        ]
        assert types == [expected]
        assert expected in knowledge.types
