"""Modbus/TCP peer for record_medical2.sh: pymodbus server with a device identity, and a client.

Usage: modbus_peer.py server HOST PORT | modbus_peer.py client HOST PORT
The identity is synthetic (a medical-gas alarm panel of a made-up vendor).
"""

from __future__ import annotations

import sys

from pymodbus.client import ModbusTcpClient
from pymodbus.datastore import ModbusDeviceContext, ModbusServerContext
from pymodbus.pdu.device import ModbusDeviceIdentification
from pymodbus.server import StartTcpServer

IDENTITY = {
    "VendorName": "Example Gas Systems",
    "ProductCode": "EGS-AP4",
    "MajorMinorRevision": "2.7",
    "VendorUrl": "http://gas.example.test/",
    "ProductName": "Medical gas area alarm panel",
    "ModelName": "AP-4000",
    "UserApplicationName": "OR wing B gas alarms",
}

if __name__ == "__main__":
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "server":
        context = ModbusServerContext(devices=ModbusDeviceContext(), single=True)
        StartTcpServer(context, address=(host, port), identity=ModbusDeviceIdentification(info_name=IDENTITY))
    else:
        client = ModbusTcpClient(host, port=port, timeout=5)
        client.connect()
        client.read_holding_registers(0, count=1, device_id=1)
        for code in (1, 2):  # basic, then regular device identification
            rr = client.read_device_information(read_code=code, object_id=0, device_id=1)
            print(code, rr.information)
        client.close()
