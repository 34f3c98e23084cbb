"""SNMP dissector: hand-checked BER, pysnmp-encoded messages, secrecy of the community, fuzzing."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import encoder
from pysnmp.proto import api

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext
from wardwatch.sensor.dissect.snmp import DISSECTORS, FIELDS, BerError, decode_oid, read_tlv

D = DISSECTORS[0]
CTX = PacketContext(ts_ns=1, flow_uid="f1", transport=Transport.UDP, src_ip="10.1.2.3", dst_ip="10.9.9.9")
MARKER = "ZQXSECRETCOMMUNITY"


def _merged(observations: list[Observation]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for o in observations:
        out.update(o.fields)
    return out


def _v2c_response(community: str, varbinds: list[tuple[tuple[int, ...], Any]]) -> bytes:
    proto = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = proto.GetResponsePDU()
    proto.apiPDU.set_defaults(pdu)
    proto.apiPDU.set_varbinds(pdu, varbinds)
    msg = proto.Message()
    proto.apiMessage.set_defaults(msg)
    proto.apiMessage.set_community(msg, community)
    proto.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


def _pysnmp_response(community: str = "public") -> bytes:
    p = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    return _v2c_response(
        community,
        [
            ((1, 3, 6, 1, 2, 1, 1, 1, 0), p.OctetString("Infusomat Space SpaceStation v2.1")),
            ((1, 3, 6, 1, 2, 1, 1, 2, 0), p.ObjectIdentifier((1, 3, 6, 1, 4, 1, 18334, 1, 1))),
            ((1, 3, 6, 1, 2, 1, 1, 3, 0), p.TimeTicks(100 * 86400 * 12 + 4242)),
            ((1, 3, 6, 1, 2, 1, 1, 4, 0), p.OctetString("biomed@hospital.example")),
            ((1, 3, 6, 1, 2, 1, 1, 5, 0), p.OctetString("PUMP-0042")),
            ((1, 3, 6, 1, 2, 1, 1, 6, 0), p.OctetString("ICU 3 bed 7")),
            ((1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 11, 1), p.OctetString("SN123456")),
            ((1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 13, 1), p.OctetString("SpaceStation")),
            ((1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 9, 1), p.OctetString("FW 4.02")),
            ((1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 10, 1), p.OctetString("SW 1.7")),
            ((1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 12, 1), p.OctetString("B. Braun")),
            ((1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 3, 1), p.OctetString("HP LaserJet 4250")),
            ((1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 1), p.OctetString("eth0")),  # not identity-bearing: ignored
        ],
    )


def test_pysnmp_get_response_fields() -> None:
    data = _pysnmp_response()
    assert D.probe(data)
    out = D.dissect(CTX, data)
    assert all(o.ip == "10.1.2.3" for o in out)  # about the sender: the agent
    fields = _merged(out)
    assert fields == {
        "snmp.version": "2c",
        "snmp.pdu": "get-response",
        "snmp.community_default": True,
        "snmp.sys_descr": "Infusomat Space SpaceStation v2.1",
        "snmp.sys_object_id": "1.3.6.1.4.1.18334.1.1",
        "snmp.sys_uptime_days": 12,
        "snmp.sys_contact": "biomed@hospital.example",
        "snmp.sys_name": "PUMP-0042",
        "snmp.sys_location": "ICU 3 bed 7",
        "snmp.ent_serial": "SN123456",
        "snmp.ent_model": "SpaceStation",
        "snmp.ent_firmware": "FW 4.02",
        "snmp.ent_software": "SW 1.7",
        "snmp.ent_mfg": "B. Braun",
        "snmp.hr_device_descr": "HP LaserJet 4250",
    }
    # identity facts and the (coarse) uptime are separate observations
    assert len(out) == 2 and out[1].fields == {"snmp.sys_uptime_days": 12}


def test_community_never_stored() -> None:
    data = _pysnmp_response(MARKER)
    out = D.dissect(CTX, data)
    assert _merged(out)["snmp.community_default"] is False
    assert MARKER not in repr(out)
    assert MARKER.lower() not in repr(out).lower()


def test_private_is_default() -> None:
    assert _merged(D.dissect(CTX, _pysnmp_response("private")))["snmp.community_default"] is True


def _tlv(tag: int, value: bytes) -> bytes:
    assert len(value) < 128
    return bytes([tag, len(value)]) + value


def _v1_trap(community: bytes = b"public") -> bytes:
    """SNMPv1 Trap (RFC 1157): enterprise 1.3.6.1.4.1.11.2.3.9.1 (HP), agent-addr 10.1.2.3,
    coldStart, time-stamp 55, one varbind sysName.0 = "PRN-ED-01"."""
    varbind = _tlv(0x30, _tlv(0x06, bytes.fromhex("2b06010201010500")) + _tlv(0x04, b"PRN-ED-01"))
    pdu = _tlv(
        0xA4,
        _tlv(0x06, bytes.fromhex("2b060104010b02030901"))  # 1.3.6.1.4.1.11.2.3.9.1
        + _tlv(0x40, bytes([10, 1, 2, 3]))
        + _tlv(0x02, b"\x00")
        + _tlv(0x02, b"\x00")
        + _tlv(0x43, b"\x37")
        + _tlv(0x30, varbind),
    )
    return _tlv(0x30, _tlv(0x02, b"\x00") + _tlv(0x04, community) + pdu)


def test_v1_trap() -> None:
    data = _v1_trap()
    # hand check of the framing: SEQUENCE, version 0, "public", Trap-PDU tag
    assert data[:13] == bytes.fromhex("304102010004067075626c6963") and data[13] == 0xA4
    assert D.probe(data)
    fields = _merged(D.dissect(CTX, data))
    assert fields == {
        "snmp.version": "1",
        "snmp.pdu": "trap",
        "snmp.community_default": True,
        "snmp.trap_enterprise": "1.3.6.1.4.1.11.2.3.9.1",
        "snmp.trap_agent_addr": "10.1.2.3",
        "snmp.sys_name": "PRN-ED-01",
    }


def test_request_is_minimal() -> None:
    # GetRequest v2c for sysDescr.0, community "public": only version and pdu about the manager.
    varbind = _tlv(0x30, _tlv(0x06, bytes.fromhex("2b06010201010100")) + b"\x05\x00")
    pdu = _tlv(0xA0, _tlv(0x02, b"\x01") + _tlv(0x02, b"\x00") + _tlv(0x02, b"\x00") + _tlv(0x30, varbind))
    data = _tlv(0x30, _tlv(0x02, b"\x01") + _tlv(0x04, MARKER.encode()) + pdu)
    out = D.dissect(CTX, data)
    assert [o.fields for o in out] == [{"snmp.version": "2c", "snmp.pdu": "get-request"}]
    assert MARKER not in repr(out)


def test_v3_only_version() -> None:
    data = _tlv(0x30, _tlv(0x02, b"\x03") + _tlv(0x30, _tlv(0x02, b"\x01")))
    assert [o.fields for o in D.dissect(CTX, data)] == [{"snmp.version": "3"}]
    assert not D.probe(data)  # probe recognises v1/v2c only


def test_ber_primitives() -> None:
    assert decode_oid(bytes.fromhex("2b06010401895205")) == "1.3.6.1.4.1.1234.5"
    assert decode_oid(bytes.fromhex("8837")) == "2.999"  # X.690 8.19.5 example
    # long-form length
    tag, start, end = read_tlv(b"\x04\x81\x03abc", 0)
    assert (tag, start, end) == (4, 3, 6)
    for bad in (b"\x04\x80abc", b"\x04\x85\x00\x00\x00\x00\x01a", b"\x04\x05ab", b"\x1f\x01a"):
        try:
            read_tlv(bad, 0)
        except BerError:
            continue
        raise AssertionError(bad)
    try:
        decode_oid(b"\x2b\x86")  # unterminated arc
    except BerError:
        pass
    else:
        raise AssertionError("unterminated arc accepted")


def test_truncated_keeps_header() -> None:
    data = _pysnmp_response()
    # cut inside the varbind list: the outer length no longer fits, nothing is trusted
    assert D.dissect(CTX, data[:40]) == []


def _check(out: object) -> None:
    assert isinstance(out, list)
    for o in out:
        assert isinstance(o, Observation)
        assert o.protocol == "snmp"
        assert set(o.fields) <= set(FIELDS)
        for v in o.fields.values():
            assert not isinstance(v, str) or len(v) <= 256


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary(data: bytes) -> None:
    D.probe(data)
    _check(D.dissect(CTX, data))


SAMPLES = [_pysnmp_response(), _v1_trap()]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(SAMPLES),
    st.integers(0, 400),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
)
def test_fuzz_mutated(sample: bytes, cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(sample[:cut])
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    D.probe(bytes(data))
    _check(D.dissect(CTX, bytes(data)))
