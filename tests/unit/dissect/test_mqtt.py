"""MQTT dissector: CONNECT / CONNACK bytes from the OASIS specifications, privacy, fuzzing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect import mqtt
from wardwatch.sensor.dissect.base import PacketContext

CTX = PacketContext(
    ts_ns=1,
    flow_uid="M",
    transport=Transport.TCP,
    src_mac="02:00:00:00:00:01",
    src_ip="10.1.0.5",
    dst_ip="10.1.0.1",
    src_port=40000,
    dst_port=1883,
)

# MQTT 3.1.1 §3.1: fixed header 0x10, Remaining Length 0x2b (43 = 10 variable header + 33 payload);
# variable header: protocol name 00 04 'MQTT', level 4, flags 0xc6 = user name (bit 7) | password
# (bit 6) | will flag (bit 2) | clean session (bit 1), keep alive 00 3c (60).
# Payload: client id 00 06 'PUMP-7', will topic 00 06 'bed/12', will message 00 03 'off',
# user name 00 04 'nurs', password 00 04 'pw12'.
CONNECT_311 = (
    b"\x10\x2b\x00\x04MQTT\x04\xc6\x00\x3c\x00\x06PUMP-7\x00\x06bed/12\x00\x03off\x00\x04nurs\x00\x04pw12"
)
# MQTT 5.0 §3.1.2: level 5, flags 0x02 (clean start), keep alive 30, properties length 5 with
# Session Expiry Interval (0x11) = 10; payload client id 00 03 'ven'.
CONNECT_5 = b"\x10\x15\x00\x04MQTT\x05\x02\x00\x1e\x05\x11\x00\x00\x00\x0a\x00\x03ven"
# MQTT 3.1 (MQIsdp, level 3), no flags but clean session, keep alive 10, client id 'a'.
CONNECT_31 = b"\x10\x0f\x00\x06MQIsdp\x03\x02\x00\x0a\x00\x01a"
CONNACK_311 = b"\x20\x02\x00\x05"  # §3.2: return code 5 = not authorized
CONNACK_5 = b"\x20\x03\x00\x00\x00"  # 5.0 §3.2.2: reason 0, empty properties


def test_connect_311_flags_and_client_id() -> None:
    d = mqtt.MqttDissector()
    assert len(CONNECT_311) == 2 + 0x2B
    assert d.probe(CONNECT_311)
    [o] = d.dissect(CTX, CONNECT_311)
    assert o.ip == "10.1.0.5" and o.protocol == "mqtt"
    assert o.fields == {
        "mqtt.role": "client",
        "mqtt.protocol_name": "MQTT",
        "mqtt.protocol_level": 4,
        "mqtt.keep_alive": 60,
        "mqtt.clean_session": True,
        "mqtt.will_flag": True,
        "mqtt.username_present": True,
        "mqtt.password_present": True,
        "mqtt.client_id": "PUMP-7",
    }


def test_user_name_password_and_will_never_leave() -> None:
    [o] = mqtt.MqttDissector().dissect(CTX, CONNECT_311)
    text = repr(o.to_json())
    for secret in ("nurs", "pw12", "bed/12", "off"):
        assert secret not in text


def test_connect_5_skips_properties() -> None:
    [o] = mqtt.MqttDissector().dissect(CTX, CONNECT_5)
    assert o.fields["mqtt.protocol_level"] == 5
    assert o.fields["mqtt.client_id"] == "ven"
    assert o.fields["mqtt.keep_alive"] == 30
    assert o.fields["mqtt.username_present"] is False


def test_connect_31_mqisdp() -> None:
    [o] = mqtt.MqttDissector().dissect(CTX, CONNECT_31)
    assert o.fields["mqtt.protocol_name"] == "MQIsdp" and o.fields["mqtt.protocol_level"] == 3
    assert o.fields["mqtt.client_id"] == "a"


def test_connack_codes() -> None:
    d = mqtt.MqttDissector()
    assert not d.probe(CONNACK_311)  # too weak to detect on other ports
    [o] = d.dissect(CTX, CONNACK_311)
    assert o.fields == {"mqtt.role": "broker", "mqtt.connack_code": 5}
    [o] = d.dissect(CTX, CONNACK_5)
    assert o.fields["mqtt.connack_code"] == 0


def test_not_mqtt() -> None:
    d = mqtt.MqttDissector()
    reserved = bytearray(CONNECT_311)
    reserved[9] |= 0x01  # reserved flag bit set: §3.1.2.3 says the server must disconnect
    for payload in (b"GET / HTTP/1.1\r\n\r\n", b"\x10\x04\x00\x04XXXX", bytes(reserved), b""):
        assert d.dissect(CTX, payload) == []
    assert not d.probe(b"\x10\x0c\x00\x04MQTX\x04\x02\x00\x3c\x00\x00")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, len(CONNECT_311)))
def test_fuzz(data: bytes, cut: int) -> None:
    d = mqtt.MqttDissector()
    for payload in (data, CONNECT_311[:cut] + data, b"\x10" + data, CONNECT_5[:cut]):
        assert isinstance(d.probe(payload), bool)
        for o in d.dissect(CTX, payload):
            assert isinstance(o, Observation) and set(o.fields) <= set(mqtt.FIELDS)
