"""BACnet/IP peer for record_medical2.sh: a bacpypes3 device and a client doing Who-Is and reads.

Usage: bacnet_peer.py device ADDR/24 | bacnet_peer.py client ADDR/24 DEVICE_ADDR
The device (instance 3056) is a synthetic air-handler controller.
"""

from __future__ import annotations

import asyncio
import sys

from bacpypes3.app import Application
from bacpypes3.argparse import SimpleArgumentParser

PROPS = (
    "object-name",
    "vendor-name",
    "model-name",
    "firmware-revision",
    "application-software-version",
    "description",
)


async def device(address: str) -> None:
    args = SimpleArgumentParser().parse_args(
        ["--name", "AHU-3-OR-WING", "--instance", "3056", "--address", address]
    )
    app = Application.from_args(args)
    dev = app.device_object
    dev.vendorName = "Example Building Controls"
    dev.modelName = "EBC-AHU-200"
    dev.firmwareRevision = "4.1.7"
    dev.applicationSoftwareVersion = "AHU-OR 2.3"
    dev.description = "Operating theatre wing air handler"
    await asyncio.sleep(30)


async def client(address: str, target: str) -> None:
    args = SimpleArgumentParser().parse_args(
        ["--name", "BMS-WS-1", "--instance", "990001", "--address", address]
    )
    app = Application.from_args(args)
    i_ams = await app.who_is(3000, 3100)
    print("i-am", [str(i.iAmDeviceIdentifier) for i in i_ams])
    for prop in PROPS:
        print(prop, await app.read_property(target, "device,3056", prop))
    app.close()


if __name__ == "__main__":
    if sys.argv[1] == "device":
        asyncio.run(device(sys.argv[2]))
    else:
        asyncio.run(client(sys.argv[2], sys.argv[3]))
