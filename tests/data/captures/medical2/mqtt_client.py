"""MQTT peer for record_medical2.sh: paho-mqtt clients (3.1.1 and 5.0) against a Mosquitto broker.

Usage: mqtt_client.py HOST PORT
Synthetic identities only: the client ids are what an infusion-pump gateway and a nurse-call
bridge would use; the user name and password exist only so the capture shows their flags.
"""

from __future__ import annotations

import sys
import time

import paho.mqtt.client as mqtt


def run(host: str, port: int, client_id: str, protocol: mqtt.MQTTProtocolVersion, login: bool) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    if login:
        client.username_pw_set("svc-pumpgw", "not-a-real-secret")
        client.will_set("ward3/bed12/pump/status", "offline", qos=1)
    client.connect(host, port, keepalive=45)
    client.loop_start()
    time.sleep(0.5)
    client.publish("ward3/pumps/heartbeat", "ok", qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    h, p = sys.argv[1], int(sys.argv[2])
    run(h, p, "PUMPGW-SN-7731-0042", mqtt.MQTTProtocolVersion.MQTTv311, True)
    run(h, p, "nursecall-bridge-ward3", mqtt.MQTTProtocolVersion.MQTTv5, False)
