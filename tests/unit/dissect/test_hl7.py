"""HL7 v2 / MLLP dissector: messages written by hand from HL7 v2.x chapter 2 and the IHE PCD-01 profile.

Each message carries realistic-looking synthetic patient data; the tests assert that the device
and application metadata comes out and that none of the patient values does.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext
from wardwatch.sensor.dissect.hl7 import DISSECTORS, FIELDS, Delimiters, composite, delimiters, unescape

D = DISSECTORS[0]
CTX = PacketContext(
    ts_ns=1,
    flow_uid="h",
    transport=Transport.TCP,
    src_mac="02:00:00:00:01:0a",
    dst_mac="02:00:00:00:01:0b",
    src_ip="10.2.0.10",
    dst_ip="10.2.0.20",
    src_port=51000,
    dst_port=2575,
)
PHI = [
    "PHIMARKER",
    "MRN31415926",
    "19490817",
    "ACC77001234",
    "81 BEACON STREET",
    "555-0111",
    "GRIMALDI",
    "ASYSTOLE",
    "141",
    "LOT-88A",
]

PCD01 = "\r".join(
    [
        "MSH|^~\\&|MONGW^ACDE48234567ABCD^EUI-64|WARD7|CIS|HOSP|20261123120000+0000||ORU^R01^ORU_R01|CTRL0001|P|2.6"
        "|||NE|AL||8859/1|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
        "SFT|Contoso Devices^L|7.3.0|Bedside Gateway|BIN-7730",
        "PID|||MRN31415926^^^HOSP^MR||PHIMARKER^ROSA^^^^^L||19490817|F|||81 BEACON STREET^^SALEM^MA||555-0111",
        "NK1|1|GRIMALDI^PAOLO|SPO",
        "PV1||I|ICU^7^2",
        "OBR|1|ACC77001234|ACC77001234|182777000^monitoring of patient^SNOMED-CT",
        "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||0012345678ABCDEF^MON7^0012345678ABCDEF^EUI-64",
        "OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|141|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R"
        "|||20261123120000||||0012345678ABCDEF^MON7^0012345678ABCDEF^EUI-64",
        "OBX|3|ST|0^MDC_ATTR_ALARM_TEXT^MDC|1.1.2.1|ASYSTOLE PHIMARKER|||||R",
        "PRT|1|UC||EQUIP^Equipment^HL70912|||||ICU^7^2|FEDCBA9876543210^^FEDCBA9876543210^EUI-64"
        "||||||(01)00812345000012|||LOT-88A|SN-0042-XY",
        "EQU|1122334455667788^PUMP3^1122334455667788^EUI-64|20261123120000",
    ]
)
ADT = "\r".join(
    [
        "MSH|^~\\&|REGISTRATION|HOSP|ADT_HUB|HOSP|20261123120500||ADT^A01^ADT_A01|CTRL0002|P|2.5.1",
        "EVN|A01|20261123120500",
        "PID|1||MRN31415926^^^HOSP^MR||PHIMARKER^ROSA||19490817|F|||81 BEACON STREET^^SALEM^MA||555-0111",
        "NK1|1|GRIMALDI^PAOLO|SPO|81 BEACON STREET^^SALEM^MA|555-0111",
        "PV1|1|I|ICU^7^2||||1234^GRIMALDI^PAOLO",
    ]
)
ACK = "MSH|^~\\&|ADT_HUB|HOSP|REGISTRATION|HOSP|20261123120501||ACK^A01^ACK|CTRL0003|P|2.5.1\rMSA|AA|CTRL0002"


def _mllp(*messages: str) -> bytes:
    return b"".join(b"\x0b" + m.encode("latin-1") + b"\r\x1c\r" for m in messages)


def _by_ip(out: list[Observation], ip: str) -> list[dict[str, object]]:
    return [dict(o.fields) for o in out if o.ip == ip]


def _text(out: list[Observation]) -> str:
    return repr([o.to_json() for o in out])


def test_pcd01_device_identity_and_no_phi() -> None:
    payload = _mllp(PCD01)
    assert D.probe(payload)
    out = D.dissect(CTX, payload)
    sender = _by_ip(out, "10.2.0.10")
    assert len(sender) == 1
    me = sender[0]
    assert me["hl7.sending_application"] == "MONGW^ACDE48234567ABCD^EUI-64"
    assert me["hl7.sending_facility"] == "WARD7"
    assert me["hl7.message_type"] == "ORU^R01"
    assert me["hl7.version"] == "2.6"
    assert me["hl7.software_vendor"] == "Contoso Devices"
    assert me["hl7.software_version"] == "7.3.0"
    assert me["hl7.software_product"] == "Bedside Gateway"
    assert me["hl7.equipment_ids"] == (
        "0012345678ABCDEF^MON7^0012345678ABCDEF^EUI-64",
        "FEDCBA9876543210^^FEDCBA9876543210^EUI-64",
        "1122334455667788^PUMP3^1122334455667788^EUI-64",
    )
    assert me["hl7.eui64"] == ("ACDE48234567ABCD", "0012345678ABCDEF", "FEDCBA9876543210", "1122334455667788")
    assert me["hl7.device_udi"] == ("(01)00812345000012",)
    assert me["hl7.device_serial"] == ("SN-0042-XY",)
    assert _by_ip(out, "10.2.0.20") == [
        {"hl7.receiving_application": "CIS", "hl7.receiving_facility": "HOSP"}
    ]
    text = _text(out)
    for marker in PHI:
        assert marker not in text, marker
    assert "CTRL0001" not in text  # MSH-10 control id is not kept


def test_several_messages_and_ack() -> None:
    out = D.dissect(CTX, _mllp(ADT, PCD01))
    types = {f.get("hl7.message_type") for f in _by_ip(out, "10.2.0.10")}
    assert types == {"ADT^A01", "ORU^R01"}
    ack = D.dissect(CTX, _mllp(ACK))
    me = _by_ip(ack, "10.2.0.10")[0]
    assert me["hl7.ack_code"] == "AA"
    assert me["hl7.message_type"] == "ACK^A01"
    assert me["hl7.sending_application"] == "ADT_HUB"
    assert "CTRL0002" not in _text(ack)
    for marker in PHI:
        assert marker not in _text(out), marker


def test_custom_delimiters_escapes_and_repetitions() -> None:
    # field '!' component '@' repetition '*' escape '%' subcomponent '$' (HL7 2.5.1: any five characters)
    msg = "\r".join(
        [
            "MSH!@*%$!LAB%F%SYS@1.2.3@ISO!MAIN LAB!LIS!HOSP!20261123!!ORU@R01!C1!P!2.5.1",
            "PID!!!MRN31415926!!PHIMARKER@ROSA",
            "OBX!1!NM!GLU!!141!!!!!!F!!!!!!!ANALYZER-1@LABNET@@*ANALYZER-2%S%B@LABNET",
        ]
    )
    out = D.dissect(CTX, _mllp(msg))
    me = _by_ip(out, "10.2.0.10")[0]
    assert me["hl7.sending_application"] == "LAB!SYS^1.2.3^ISO"
    assert me["hl7.message_type"] == "ORU^R01"
    assert me["hl7.equipment_ids"] == ("ANALYZER-1^LABNET", "ANALYZER-2@B^LABNET")
    assert "PHIMARKER" not in _text(out) and "141" not in _text(out)


def test_v27_truncation_character_and_hex_escape() -> None:
    msg = "MSH|^~\\&#|PUMP\\X41\\SRV|PHARM|EMR|HOSP|20261123||RGV^O15|C9|P|2.7\rPID|||MRN31415926"
    me = _by_ip(D.dissect(CTX, _mllp(msg)), "10.2.0.10")[0]
    assert me["hl7.sending_application"] == "PUMPASRV"
    assert me["hl7.version"] == "2.7"


def test_message_split_and_cut_by_the_prefix_end() -> None:
    payload = _mllp(ACK, PCD01)
    # the sensor hands over a bounded prefix: here the second message ends inside its PID segment
    cut = payload.index(b"PID|||MRN") + 12
    out = D.dissect(CTX, payload[:cut])
    types = {f.get("hl7.message_type") for f in _by_ip(out, "10.2.0.10")}
    assert types == {"ACK^A01", "ORU^R01"}
    assert "MRN31415926"[:5] not in _text(out)


def test_bare_hl7_without_mllp_and_lf_separators() -> None:
    payload = (ADT.replace("\r", "\n") + "\n" + ACK.replace("\r", "\n") + "\n").encode()
    assert D.probe(payload)
    out = D.dissect(CTX, payload)
    types = {f.get("hl7.message_type") for f in _by_ip(out, "10.2.0.10")}
    assert types == {"ADT^A01", "ACK^A01"}


def test_prt_of_a_person_is_not_read_for_device_fields() -> None:
    msg = "\r".join(
        [
            "MSH|^~\\&|EMR|HOSP|LIS|HOSP|20261123||OML^O21|C5|P|2.8",
            "PRT|1|UC||OP^Ordering Provider^HL70912|1234^GRIMALDI^PAOLO||||||||||||(01)099|||LOT-88A|SN-PERSON",
        ]
    )
    out = D.dissect(CTX, _mllp(msg))
    text = _text(out)
    assert "GRIMALDI" not in text and "SN-PERSON" not in text and "(01)099" not in text


def test_probe() -> None:
    assert D.probe(b"\x0bMSH|^~\\&|")
    assert D.probe(b"\x0bFHS|^~\\&|")
    assert D.probe(b"MSH|^~\\&|A|B")
    assert not D.probe(b"MSHX")
    assert not D.probe(b"GET / HTTP/1.1\r\n")
    assert not D.probe(b"\x01\x00\x00\x00\x00\x44\x00\x01")
    assert 2575 in D.tcp_ports


def test_helpers() -> None:
    d = delimiters("MSH|^~\\&|A")
    assert d == Delimiters()
    assert delimiters("MSH") is None and delimiters("PID|1|2|3|4") is None
    assert unescape("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f", Delimiters()) == "a|b^c&d~e\\f"
    assert unescape("unterminated\\F", Delimiters()) == "unterminated\\F"
    assert unescape("x\\.br\\y", Delimiters()) == "xy"
    assert composite("A^^B&C^^", Delimiters()) == "A^^B&C"


def test_every_emitted_field_is_documented() -> None:
    emitted = {name for p in (PCD01, ADT, ACK) for o in D.dissect(CTX, _mllp(p)) for name in o.fields}
    assert emitted <= set(FIELDS), emitted - set(FIELDS)
    assert emitted == set(FIELDS)


# ------------------------------------------------------------------ fuzzing

SAMPLES = [_mllp(PCD01), _mllp(ADT, ACK), (ADT + "\r").encode()]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_never_raise(data: bytes) -> None:
    D.probe(data)
    for o in D.dissect(CTX, b"\x0bMSH" + data) + D.dissect(CTX, data):
        assert set(o.fields) <= set(FIELDS)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="MSHPIDOBX|^~\\&#\r\n\x0b\x1cABC0123456789-", max_size=400))
def test_fuzz_hl7_like_text_never_raises(text: str) -> None:
    for o in D.dissect(CTX, text.encode()):
        assert set(o.fields) <= set(FIELDS)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SAMPLES), st.data())
def test_fuzz_mutated_messages_never_raise(sample: bytes, data: st.DataObject) -> None:
    buf = bytearray(sample)
    for _ in range(data.draw(st.integers(1, 8))):
        buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.sampled_from(b"|^~\\&\r\n\x0b\x1cA0"))
    out = D.dissect(CTX, bytes(buf))
    for o in out:
        assert set(o.fields) <= set(FIELDS)


def test_batch_envelope_in_one_block() -> None:
    batch = "\r".join(["FHS|^~\\&|LIS|LAB", "BHS|^~\\&|LIS|LAB", ACK, ADT, "BTS|2", "FTS|1"])
    out = D.dissect(CTX, _mllp(batch))
    types = {f.get("hl7.message_type") for f in _by_ip(out, "10.2.0.10")}
    assert types == {"ACK^A01", "ADT^A01"}
    assert "PHIMARKER" not in _text(out)


def test_eui64_only_when_the_identifier_says_so() -> None:
    msg = "\r".join(
        [
            "MSH|^~\\&|GW|WARD|CIS|HOSP|20261123||ORU^R01|C7|P|2.6",
            "|".join(["OBX", "1", "NM", "X", "", "1"] + [""] * 12 + ["0123456789ABCDEF^EUI-64"]),
            "|".join(["OBX", "2", "NM", "X", "", "1"] + [""] * 12 + ["1234567890123456^ACME"]),
        ]
    )
    me = _by_ip(D.dissect(CTX, _mllp(msg)), "10.2.0.10")[0]
    assert me["hl7.eui64"] == ("0123456789ABCDEF",)
    assert me["hl7.equipment_ids"] == ("0123456789ABCDEF^EUI-64", "1234567890123456^ACME")
