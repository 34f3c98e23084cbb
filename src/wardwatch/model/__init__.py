"""The domain model: dataclasses and enums, standard library only.

Every word on the data path (Packet -> Flow -> Observation -> Evidence -> Device ...) is exactly
one type here, spelled the same in the schema, the CLI, the API and the docs.
"""

from wardwatch.model.device import (
    Attribute,
    Device,
    DeviceIP,
    Evidence,
    ResolvedAttribute,
)
from wardwatch.model.flow import Conversation, Flow, Transport
from wardwatch.model.observation import Observation, observation_uid

__all__ = [
    "Attribute",
    "Conversation",
    "Device",
    "DeviceIP",
    "Evidence",
    "Flow",
    "Observation",
    "ResolvedAttribute",
    "Transport",
    "observation_uid",
]
