"""POCT1-A and IntelliVue peers for record_medical2.sh: byte-exact messages built from the specs.

No open implementation of either exists, so these messages are built here field by field:

* POCT1-A: CLSI POCT1-A2 HEL.R01 (Hello) with HDR and DEV (values in ``V`` attributes), sent by
  the "device" over TCP to an observation-manager listener that answers ACK.R01.
  Usage: raw_peer.py poct1-manager HOST PORT | raw_peer.py poct1-device HOST PORT
* IntelliVue: Philips Data Export Interface Programming Guide "Connect Indication" (event report
  NOM_NOTI_MDS_CONNECT_INDIC on UDP 24005) with system model, production specification, system
  type, system id and protocol support attributes.
  Usage: raw_peer.py intellivue BROADCAST_ADDR
"""

from __future__ import annotations

import socket
import struct
import sys
import time

HEL_R01 = (
    b'<?xml version="1.0" encoding="UTF-8"?>\r\n'
    b"<HEL.R01>"
    b'<HDR><HDR.message_type V="HEL.R01" SN="POCT1" SV="1.0"/><HDR.control_id V="10001"/>'
    b'<HDR.version_id V="POCT1"/><HDR.creation_dttm V="2026-11-23T15:00:00+00:00"/></HDR>'
    b'<DEV><DEV.device_id V="02:98:aa:00:00:0f"/><DEV.vendor_id V="EXMPL"/>'
    b'<DEV.model_id V="GlucoCheck Pro"/><DEV.serial_id V="GCP-0012345"/>'
    b'<DEV.manufacturer_name V="Example Diagnostics"/><DEV.hw_version V="B"/>'
    b'<DEV.sw_version V="3.10.8"/><DEV.device_name V="Ward3-Gluco-1"/>'
    b'<DCP><DCP.application_timeout V="120"/></DCP>'
    b'<DSC><DSC.connection_profile_cd V="SA"/><DSC.topics_supported_cd V="DTV"/>'
    b'<DSC.max_message_sz V="32768"/></DSC></DEV></HEL.R01>'
)
ACK_R01 = (
    b'<?xml version="1.0" encoding="UTF-8"?>\r\n<ACK.R01><HDR><HDR.control_id V="1"/>'
    b'<HDR.version_id V="POCT1"/></HDR><ACK><ACK.type_cd V="AA"/><ACK.ack_control_id V="10001"/>'
    b"</ACK></ACK.R01>"
)


def label(text: bytes) -> bytes:
    """VariableLabel: u16 length + value, padded to an even length with NUL."""
    if len(text) % 2:
        text += b"\x00"
    return struct.pack(">H", len(text)) + text


def ava(attr: int, value: bytes) -> bytes:
    return struct.pack(">HH", attr, len(value)) + value


def connect_indication() -> bytes:
    model = ava(0x0928, label(b"Philips") + label(b"M8007A"))  # NOM_ATTR_ID_MODEL
    specs = [
        (1, 0x0008, b"DE00000042"),
        (2, 0x0008, b"M8007A"),
        (3, 0x0008, b"B.00.05"),
        (4, 0x0058, b"M.00.03"),
        (5, 0x0078, b"--------"),
        (6, 0x0008, b"2.0"),
    ]
    entries = b"".join(struct.pack(">HH", t, c) + label(v) for t, c, v in specs)
    prod = ava(0x092D, struct.pack(">HH", len(specs), len(entries)) + entries)  # NOM_ATTR_ID_PROD_SPECN
    systype = ava(0x0986, struct.pack(">HH", 1, 0x114D))  # NOM_ATTR_SYS_TYPE {partition, code}
    sysid = ava(0x0984, struct.pack(">H", 6) + bytes.fromhex("0009fb000042"))  # NOM_ATTR_SYS_ID
    proto_entries = struct.pack(">HHHH", 1, 1, 24105, 0) + struct.pack(">HHHH", 5, 1, 24105, 0)
    pcol = ava(0xF101, struct.pack(">HH", 2, len(proto_entries)) + proto_entries)  # NOM_ATTR_PCOL_SUPPORT
    attrs = model + prod + systype + sysid + pcol
    attr_list = struct.pack(">HH", 5, len(attrs)) + attrs
    event = struct.pack(">HHHIHH", 0x0023, 0, 0, 0x0000D6D4, 0x0D17, len(attr_list)) + attr_list
    roiv = struct.pack(">HHH", 0, 0, len(event)) + event  # invoke_id, CMD_EVENT_REPORT, length
    roap = struct.pack(">HH", 1, len(roiv)) + roiv  # ROIV_APDU
    return struct.pack(">I", 0x00000100) + roap  # Nomenclature version


def main() -> None:
    mode = sys.argv[1]
    if mode == "poct1-manager":
        srv = socket.create_server((sys.argv[2], int(sys.argv[3])))
        srv.settimeout(30)
        conn, _ = srv.accept()
        conn.recv(65536)
        conn.sendall(ACK_R01)
        time.sleep(0.5)
        conn.close()
    elif mode == "poct1-device":
        with socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=10) as s:
            s.sendall(HEL_R01)
            s.recv(65536)
            time.sleep(0.2)
    elif mode == "intellivue":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.bind(("0.0.0.0", 24005))
        for _ in range(3):
            s.sendto(connect_indication(), (sys.argv[2], 24005))
            time.sleep(0.3)


if __name__ == "__main__":
    main()
