"""Philips IntelliVue Data Export "Connect Indication" broadcast, udp 24005.

References: Philips "Data Export Interface Programming Guide, IntelliVue Patient Monitor"
(4535 642 59271), sections "Connect Indication" (message layout), "Attribute Data Types" and
"Nomenclature": the monitor broadcasts, every few seconds, on UDP port 24005::

    Nomenclature (u32)                          major/minor version of the nomenclature
    ROapdus   { ro_type u16 = ROIV_APDU (1), length u16 }
    ROIVapdu  { invoke_id u16, command_type u16 = CMD_EVENT_REPORT (0), length u16 }
    EventReportArgument { managed_object { m_obj_class u16 = NOM_MOC_MDS_COMPOS_SINGLE_BED (0x21
                          / 0x23), context_id u16, handle u16 }, event_time u32,
                          event_type u16 = NOM_NOTI_MDS_CONNECT_INDIC (0x0D17), length u16 }
    ConnectIndInfo = AttributeList { count u16, length u16, AVAType[count] }
    AVAType   { attribute_id u16, length u16, value[length] }

All integers big-endian. Attributes read (device metadata only): NOM_ATTR_ID_MODEL 0x0928
(SystemModel: manufacturer and model_number VariableLabels), NOM_ATTR_ID_PROD_SPECN 0x092D
(ProductionSpec: list of {spec_type, component_id, prod_spec VariableLabel}; spec types 1 serial,
2 part number, 3 hardware, 4 software, 5 firmware, 6 protocol revision), NOM_ATTR_SYS_TYPE 0x0986
(TYPE {partition, code}), NOM_ATTR_SYS_ID 0x0984 (VariableLabel: the MAC address), and
NOM_ATTR_PCOL_SUPPORT 0xF101 (ProtoSupport: {appl_proc, protocol, port, options} entries: the
data export port). A VariableLabel is {length u16, value}; values are NUL-padded ASCII. Where the
product component (ID_COMP_PRODUCT 0x0008) has an entry it wins over other components.

The indication holds no patient data (bed label and location attributes are not read). It is
about its sender, the monitor.
"""

from __future__ import annotations

from wardwatch.model.flow import Transport
from wardwatch.model.observation import FieldValue, Observation
from wardwatch.sensor.dissect.base import PacketContext, safe_text
from wardwatch.sensor.dissect.sdc import observe

PORT = 24005
ROIV_APDU = 1
CMD_EVENT_REPORT = 0
NOM_NOTI_MDS_CONNECT_INDIC = 0x0D17
MDS_CLASSES = frozenset({0x21, 0x23})  # NOM_MOC_VMS_MDS, NOM_MOC_MDS_COMPOS_SINGLE_BED
NOM_ATTR_ID_MODEL = 0x0928
NOM_ATTR_ID_PROD_SPECN = 0x092D
NOM_ATTR_SYS_TYPE = 0x0986
NOM_ATTR_SYS_ID = 0x0984
NOM_ATTR_PCOL_SUPPORT = 0xF101
ID_COMP_PRODUCT = 0x0008
MAX_ATTRS = 64

#: ProductionSpec spec_type -> field.
SPEC_TYPES: dict[int, str] = {
    1: "intellivue.serial_number",
    2: "intellivue.part_number",
    3: "intellivue.hw_revision",
    4: "intellivue.sw_revision",
    5: "intellivue.fw_revision",
    6: "intellivue.protocol_revision",
}


def _u16(data: bytes, pos: int) -> int:
    if pos + 2 > len(data):
        raise ValueError("truncated")
    return int.from_bytes(data[pos : pos + 2], "big")


def label(data: bytes, pos: int) -> tuple[str, int]:
    """A VariableLabel at ``pos``: (text up to the first NUL, position after it)."""
    length = _u16(data, pos)
    raw = data[pos + 2 : pos + 2 + length]
    if len(raw) < length:
        raise ValueError("truncated")
    return safe_text(raw.split(b"\x00", 1)[0]), pos + 2 + length


def _revision(text: str) -> str:
    # revisions of unused components are sent as dashes
    return "" if not text.strip("- ") else text


def parse_indication(payload: bytes) -> dict[str, FieldValue]:
    """Fields of one Connect Indication datagram ({} if it is not one)."""
    if len(payload) < 32:
        return {}
    if _u16(payload, 4) != ROIV_APDU or _u16(payload, 10) != CMD_EVENT_REPORT:
        return {}
    if _u16(payload, 14) not in MDS_CLASSES or _u16(payload, 24) != NOM_NOTI_MDS_CONNECT_INDIC:
        return {}
    count = _u16(payload, 28)
    pos = 32
    fields: dict[str, FieldValue] = {"intellivue.message": "connect_indication"}
    specs: dict[str, tuple[bool, str]] = {}
    for _ in range(min(count, MAX_ATTRS)):
        if pos + 4 > len(payload):
            break
        attr, length = _u16(payload, pos), _u16(payload, pos + 2)
        value = payload[pos + 4 : pos + 4 + length]
        pos += 4 + length
        try:
            _attribute(attr, value, fields, specs)
        except ValueError:
            continue  # a truncated attribute: keep the others
    for key, (_, text) in specs.items():
        fields[key] = text
    return fields


def _attribute(
    attr: int, value: bytes, fields: dict[str, FieldValue], specs: dict[str, tuple[bool, str]]
) -> None:
    if attr == NOM_ATTR_ID_MODEL:
        manufacturer, nxt = label(value, 0)
        model, _ = label(value, nxt)
        if manufacturer:
            fields["intellivue.manufacturer"] = manufacturer
        if model:
            fields["intellivue.model_number"] = model
    elif attr == NOM_ATTR_ID_PROD_SPECN:
        count = _u16(value, 0)
        pos = 4
        for _ in range(min(count, MAX_ATTRS)):
            spec_type, component = _u16(value, pos), _u16(value, pos + 2)
            text, pos = label(value, pos + 4)
            key = SPEC_TYPES.get(spec_type)
            text = _revision(text.strip())
            if key is None or not text:
                continue
            product = component == ID_COMP_PRODUCT
            if key not in specs or (product and not specs[key][0]):
                specs[key] = (product, text)
    elif attr == NOM_ATTR_SYS_TYPE:
        fields["intellivue.system_type"] = f"{_u16(value, 0)}:{_u16(value, 2)}"
    elif attr == NOM_ATTR_SYS_ID:
        length = _u16(value, 0)
        raw = value[2 : 2 + length]
        if len(raw) == 6:
            fields["intellivue.system_id"] = ":".join(f"{b:02x}" for b in raw)
    elif attr == NOM_ATTR_PCOL_SUPPORT:
        count = _u16(value, 0)
        ports: list[int] = []
        for i in range(min(count, MAX_ATTRS)):
            base = 4 + i * 8
            port = _u16(value, base + 4)
            if port and port not in ports:
                ports.append(port)
        if ports:
            fields["intellivue.protocol_ports"] = tuple(ports)


class IntellivueDissector:
    """Connect Indication on udp 24005 -> one observation about the monitor."""

    name = "intellivue"
    transports = frozenset({Transport.UDP})
    udp_ports = frozenset({PORT})
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()

    def probe(self, payload: bytes) -> bool:
        """ROIV event report whose event type is the connect indication (other ports)."""
        return len(payload) >= 32 and payload[4:6] == b"\x00\x01" and payload[24:26] == b"\x0d\x17"

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Never raises."""
        try:
            fields = parse_indication(payload)
        except Exception:
            return []
        if len(fields) <= 1:
            return []
        return [observe(ctx, self.name, fields)]


DISSECTORS: list[IntellivueDissector] = [IntellivueDissector()]

FIELDS: dict[str, str] = {
    "intellivue.message": "'connect_indication' (Data Export connect indication broadcast).",
    "intellivue.manufacturer": "NOM_ATTR_ID_MODEL manufacturer (e.g. 'Philips').",
    "intellivue.model_number": "NOM_ATTR_ID_MODEL model_number (product number, e.g. 'M8007A' = MP30).",
    "intellivue.serial_number": "NOM_ATTR_ID_PROD_SPECN serial number (product component first).",
    "intellivue.part_number": "NOM_ATTR_ID_PROD_SPECN part number.",
    "intellivue.hw_revision": "NOM_ATTR_ID_PROD_SPECN hardware revision.",
    "intellivue.sw_revision": "NOM_ATTR_ID_PROD_SPECN software revision.",
    "intellivue.fw_revision": "NOM_ATTR_ID_PROD_SPECN firmware revision.",
    "intellivue.protocol_revision": "NOM_ATTR_ID_PROD_SPECN protocol revision.",
    "intellivue.system_type": "NOM_ATTR_SYS_TYPE as 'partition:code'.",
    "intellivue.system_id": "NOM_ATTR_SYS_ID: the monitor's MAC address.",
    "intellivue.protocol_ports": "Ports in NOM_ATTR_PCOL_SUPPORT (24105 = data export protocol).",
}
