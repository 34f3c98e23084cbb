"""LLDP (IEEE 802.1AB-2016 §8), with IEEE 802.1 (Annex D) and LLDP-MED (ANSI/TIA-1057 §10.2)
organizationally specific TLVs; EtherType 0x88cc.

The LLDPDU is a sequence of TLVs with a 16-bit header: 7-bit type, 9-bit length. Types: 0 End,
1 Chassis ID, 2 Port ID, 3 TTL, 4 Port Description, 5 System Name, 6 System Description,
7 System Capabilities (supported and enabled 16-bit maps), 8 Management Address, 127
organizationally specific (OUI(3), subtype(1), data).

* Chassis ID subtypes: 4 MAC address, 5 network address (IANA family byte + address), others
  (chassis component, interface alias/name, locally assigned ...) are text.
* Port ID subtypes: 3 MAC address, 4 network address, others text.
* IEEE 802.1 (OUI 00-80-C2): subtype 1 Port VLAN ID, subtype 3 VLAN name (VID(2), len(1), name).
* LLDP-MED (OUI 00-12-BB): subtype 1 capabilities (+ device class), 2 network policy (voice VLAN),
  5..11 inventory: hardware, firmware and software revision, serial number, manufacturer name,
  model name, asset ID. MED inventory is how IP phones and many medical devices state their
  model and serial on the wire.

Subject: the frame's sender (``ctx.src_mac``) with ip None; an IPv4/IPv6 management address is
reported as ``lldp.mgmt_ip`` only (it may belong to a different interface of the device).
"""

from __future__ import annotations

import struct

from wardwatch.model.observation import FieldValue
from wardwatch.sensor.dissect.base import L2FieldsDissector, ipv4_text, ipv6_text, mac_text, safe_text

MAX_TLVS = 64
MAX_LIST = 16

CAPABILITIES: tuple[str, ...] = (
    "other",
    "repeater",
    "bridge",
    "wlan-ap",
    "router",
    "telephone",
    "docsis",
    "station",
    "c-vlan",
    "s-vlan",
    "two-port-mac-relay",
)

OUI_8021 = b"\x00\x80\xc2"
OUI_MED = b"\x00\x12\xbb"
MED_INVENTORY: dict[int, str] = {
    5: "lldp.med_hardware_rev",
    6: "lldp.med_firmware_rev",
    7: "lldp.med_software_rev",
    8: "lldp.med_serial",
    9: "lldp.med_manufacturer",
    10: "lldp.med_model",
    11: "lldp.med_asset_id",
}
TEXT_TLVS: dict[int, str] = {4: "lldp.port_description", 5: "lldp.system_name", 6: "lldp.system_description"}


def _address(family: int, raw: bytes) -> str | None:
    """IANA address family 1 (IPv4), 2 (IPv6), 6 (802 MAC) to text."""
    if family == 1 and len(raw) == 4:
        return ipv4_text(raw)
    if family == 2 and len(raw) == 16:
        return ipv6_text(raw)
    if family == 6 and len(raw) == 6:
        return mac_text(raw)
    return None


def _id_value(subtype: int, data: bytes, mac_subtype: int, addr_subtype: int) -> tuple[str, str | None]:
    """Chassis/port ID -> (text form, MAC when the subtype says it is one)."""
    if subtype == mac_subtype and len(data) == 6:
        mac = mac_text(data)
        return mac, mac
    if subtype == addr_subtype and data:
        return _address(data[0], data[1:]) or data.hex(), None
    return safe_text(data), None


def _capability_names(bits: int) -> tuple[str, ...]:
    return tuple(name for i, name in enumerate(CAPABILITIES) if bits & (1 << i))


class LldpDissector(L2FieldsDissector):
    """LLDPDU -> one observation about the sending port's device."""

    name = "lldp"
    ethertypes = frozenset({0x88CC})

    def _fields(self, payload: bytes) -> dict[str, FieldValue]:
        fields: dict[str, FieldValue] = {}
        vlan_names: list[str] = []
        mgmt: list[str] = []
        pos = 0
        for _ in range(MAX_TLVS):
            if pos + 2 > len(payload):
                break
            (header,) = struct.unpack_from("!H", payload, pos)
            tlv_type, length = header >> 9, header & 0x1FF
            value = payload[pos + 2 : pos + 2 + length]
            if len(value) != length or tlv_type == 0:
                break
            pos += 2 + length
            if tlv_type == 1 and length >= 2:
                text, mac = _id_value(value[0], value[1:], 4, 5)
                fields.setdefault("lldp.chassis_id", text)
                if mac:
                    fields.setdefault("lldp.chassis_mac", mac)
            elif tlv_type == 2 and length >= 2:
                text, mac = _id_value(value[0], value[1:], 3, 4)
                fields.setdefault("lldp.port_id", text)
            elif tlv_type == 3 and length >= 2:
                fields.setdefault("lldp.ttl", struct.unpack_from("!H", value, 0)[0])
            elif tlv_type in TEXT_TLVS:
                text = safe_text(value)
                if text:
                    fields.setdefault(TEXT_TLVS[tlv_type], text)
            elif tlv_type == 7 and length >= 4:
                supported, enabled = struct.unpack_from("!HH", value, 0)
                fields.setdefault("lldp.capabilities", _capability_names(supported))
                fields.setdefault("lldp.capabilities_enabled", _capability_names(enabled))
            elif tlv_type == 8 and length >= 2:
                alen = value[0]  # length of subtype + address
                if 2 <= alen <= 32 and len(value) >= 1 + alen:
                    addr = _address(value[1], value[2 : 1 + alen])
                    if addr and value[1] in (1, 2) and addr not in mgmt and len(mgmt) < MAX_LIST:
                        mgmt.append(addr)
            elif tlv_type == 127 and length >= 4:
                self._org(value[:3], value[3], value[4:], fields, vlan_names)
        if mgmt:
            v4 = [a for a in mgmt if "." in a]
            fields["lldp.mgmt_ip"] = (v4 or mgmt)[0]
        if vlan_names:
            fields["lldp.vlan_names"] = tuple(vlan_names)
        return {k: v for k, v in fields.items() if v not in ("", ())}

    def _org(
        self, oui: bytes, subtype: int, data: bytes, fields: dict[str, FieldValue], vlan_names: list[str]
    ) -> None:
        if oui == OUI_8021:
            if subtype == 1 and len(data) >= 2:
                fields.setdefault("lldp.port_vlan", struct.unpack_from("!H", data, 0)[0])
            elif subtype == 3 and len(data) >= 3:
                vid, nlen = struct.unpack_from("!HB", data, 0)
                name = safe_text(data[3 : 3 + nlen], limit=32)
                if name and len(vlan_names) < MAX_LIST:
                    vlan_names.append(f"{vid}:{name}")
        elif oui == OUI_MED:
            if subtype in MED_INVENTORY:
                text = safe_text(data, limit=32)
                if text:
                    fields.setdefault(MED_INVENTORY[subtype], text)
            elif subtype == 1 and len(data) >= 3:
                fields.setdefault("lldp.med_device_class", data[2])
            elif subtype == 2 and len(data) >= 4:
                app = data[0]
                (policy,) = struct.unpack_from("!I", b"\x00" + data[1:4], 0)
                unknown, vlan = bool(policy & 0x800000), (policy >> 9) & 0xFFF
                if app == 1 and not unknown and vlan:  # application type 1 = voice
                    fields.setdefault("lldp.med_voice_vlan", vlan)


DISSECTORS: list[LldpDissector] = [LldpDissector()]

FIELDS: dict[str, str] = {
    "lldp.chassis_id": "Chassis ID (MAC, network address or text depending on its subtype).",
    "lldp.chassis_mac": "Chassis ID when its subtype is MAC address.",
    "lldp.port_id": "Port ID (MAC, network address or text).",
    "lldp.ttl": "Time to live in seconds.",
    "lldp.port_description": "Port Description TLV.",
    "lldp.system_name": "System Name TLV.",
    "lldp.system_description": "System Description TLV (often OS and firmware).",
    "lldp.capabilities": "Supported system capabilities: bridge, router, telephone, station, ...",
    "lldp.capabilities_enabled": "Enabled system capabilities.",
    "lldp.mgmt_ip": "First management IPv4 address the subject advertises (else IPv6).",
    "lldp.port_vlan": "IEEE 802.1 Port VLAN ID (PVID).",
    "lldp.vlan_names": "IEEE 802.1 VLAN names as 'vid:name'.",
    "lldp.med_device_class": "LLDP-MED device type: 1-3 endpoint class I-III, 4 network connectivity.",
    "lldp.med_voice_vlan": "VLAN of the LLDP-MED network policy for the voice application.",
    "lldp.med_hardware_rev": "LLDP-MED inventory hardware revision.",
    "lldp.med_firmware_rev": "LLDP-MED inventory firmware revision.",
    "lldp.med_software_rev": "LLDP-MED inventory software revision.",
    "lldp.med_serial": "LLDP-MED inventory serial number.",
    "lldp.med_manufacturer": "LLDP-MED inventory manufacturer name.",
    "lldp.med_model": "LLDP-MED inventory model name.",
    "lldp.med_asset_id": "LLDP-MED inventory asset ID.",
}
