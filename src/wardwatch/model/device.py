"""Device, its addresses, and the evidence behind each of its attributes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Attribute(StrEnum):
    """Device attributes that identification can conclude, each from evidence."""

    VENDOR = "vendor"
    MODEL = "model"
    MODEL_NUMBER = "model_number"
    SERIAL = "serial"
    HOSTNAME = "hostname"
    OS = "os"
    OS_VERSION = "os_version"
    FIRMWARE = "firmware"
    DEVICE_TYPE = "device_type"
    CLINICAL_CATEGORY = "clinical_category"
    DESCRIPTION = "description"
    LOCATION = "location"
    AE_TITLE = "ae_title"
    """The device's own DICOM Application Entity title (e.g. ``CT_01``, ``ICU_MON_03``)."""
    HL7_APPLICATION = "hl7_application"
    """The HL7 v2 application the device sends as (MSH-3, e.g. ``PIC_iX^Philips``)."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """One reason to believe an attribute has a value.

    ``rule`` names the identification rule that read the observation (e.g. ``oui``,
    ``dhcp.hostname``, ``upnp.model``); ``observation_uid`` points to the stored observation, and
    through its flow to the packets.
    """

    attribute: Attribute
    value: str
    confidence: float  # 0..1
    rule: str
    observation_uid: str | None
    first_ns: int
    last_ns: int
    detail: str = ""


#: The ``Evidence.rule`` and ``ResolvedAttribute.chosen_by`` of a value a person set.
OVERRIDE_RULE = "override"


@dataclass(frozen=True, slots=True)
class Override:
    """A value a person set for one attribute of one device, with who, when and why.

    Overrides are keyed by the device key (``mac:…``/``ip:…``), which re-identification keeps
    stable, so they survive it. A newer override of the same attribute supersedes the older one;
    the older one stays in the history (``active`` False, ``ended_ns``/``ended_by`` set).
    """

    device_key: str
    attribute: Attribute
    value: str
    author: str
    created_ns: int
    reason: str = ""
    active: bool = True
    ended_ns: int | None = None
    ended_by: str | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class ResolvedAttribute:
    """The value chosen for an attribute, with the evidence for and against it."""

    attribute: Attribute
    value: str
    confidence: float
    chosen_by: str  # the conflict rule that picked it: "only", "confidence", "agreement", "recency"
    evidence: tuple[Evidence, ...]
    conflicts: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class DeviceIP:
    """An IP address a device held, with when and how we know."""

    ip: str
    first_ns: int
    last_ns: int
    source: str  # "dhcp", "arp", "traffic"


@dataclass(frozen=True, slots=True)
class Device:
    """A device in the inventory, keyed by MAC, or by IP when only seen behind a router."""

    id: int | None
    key: str  # "mac:00:11:22:33:44:55" or "ip:10.1.2.3"
    mac: str | None
    first_ns: int
    last_ns: int
    mac_randomized: bool = False
    attributes: dict[str, ResolvedAttribute] = field(default_factory=dict)
    ips: tuple[DeviceIP, ...] = ()

    def value(self, attribute: Attribute | str) -> str | None:
        """The resolved value of an attribute, or None when unknown."""
        resolved = self.attributes.get(str(attribute))
        return resolved.value if resolved else None
