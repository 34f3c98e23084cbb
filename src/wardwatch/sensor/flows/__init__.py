"""The packet path: vectorized header decoding, bidirectional flow metering, dispatch.

:func:`decode` turns a :class:`~wardwatch.sensor.capture.batch.PacketBatch` into arrays of header
fields; :class:`FlowMeter` keeps the bounded flow table; :class:`SensorEngine` ties them to the
dissectors and produces observations, flow records, sightings and conversations. Design notes:
docs/adr/002-packet-path.md.
"""

from __future__ import annotations

from wardwatch.sensor.flows.decode import Decoded, decode, format_ip, format_mac
from wardwatch.sensor.flows.engine import SensorConfig, SensorEngine, SensorOutput, SensorStats
from wardwatch.sensor.flows.meter import FlowMeter, FlowState, endpoint, flow_uid, port_server, uid_of

__all__ = [
    "Decoded",
    "FlowMeter",
    "FlowState",
    "SensorConfig",
    "SensorEngine",
    "SensorOutput",
    "SensorStats",
    "decode",
    "endpoint",
    "flow_uid",
    "format_ip",
    "format_mac",
    "port_server",
    "uid_of",
]
