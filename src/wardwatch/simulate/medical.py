"""Wire formats of the medical protocols the simulator speaks: DICOM upper layer and HL7 v2 over MLLP.

Built from the standards, byte by byte, independently of the dissectors (which are tested on
captures of real software): DICOM PS3.8 section 9.3 (A-ASSOCIATE-RQ/AC, P-DATA-TF, A-RELEASE),
PS3.7 section 9/E (the DIMSE command set, implicit VR little endian), HL7 v2.6 chapter 2 (MSH) and
IHE PCD TF-2 (PCD-01 observation messages, OBX-18 equipment instance identifier) with the MLLP
framing of HL7 v2 Appendix C.

Patient data in the HL7 messages is synthetic and deliberately recognisable (``ZZTEST`` family
names, MRNs starting ``SIM``): the PHI tests look for exactly these markers.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
VERIFICATION = "1.2.840.10008.1.1"

#: Storage SOP classes by simulated device kind (PS3.4 Annex B.5).
STORAGE_SOP: dict[str, tuple[str, ...]] = {
    "ct_scanner": ("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.88.67"),  # CT, dose SR
    "mr_scanner": ("1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1"),  # MR, enhanced MR
    "ultrasound": ("1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.3.1"),  # US, US multi-frame
    "xray": ("1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1"),  # DX for presentation, CR
}


def _ae(title: str) -> bytes:
    """An AE title field: 16 bytes, space padded (PS3.8 9.3.2)."""
    return title.encode("ascii", "replace")[:16].ljust(16, b" ")


def _item(item_type: int, value: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(value)) + value


def _pdu(pdu_type: int, body: bytes) -> bytes:
    return struct.pack(">BBI", pdu_type, 0, len(body)) + body


def _user_info(max_pdu: int, impl_uid: str, impl_version: str) -> bytes:
    sub = _item(0x51, struct.pack(">I", max_pdu)) + _item(0x52, impl_uid.encode())
    if impl_version:
        sub += _item(0x55, impl_version.encode()[:16])
    return _item(0x50, sub)


def associate_rq(
    calling: str,
    called: str,
    abstract_syntaxes: Sequence[str],
    *,
    impl_uid: str,
    impl_version: str,
    max_pdu: int = 16384,
) -> bytes:
    """A-ASSOCIATE-RQ proposing each abstract syntax with implicit and explicit VR little endian."""
    body = struct.pack(">HH", 1, 0) + _ae(called) + _ae(calling) + bytes(32)
    body += _item(0x10, APPLICATION_CONTEXT.encode())
    for n, syntax in enumerate(abstract_syntaxes):
        pc_id = 2 * n + 1
        sub = (
            _item(0x30, syntax.encode())
            + _item(0x40, EXPLICIT_LE.encode())
            + _item(0x40, IMPLICIT_LE.encode())
        )
        body += _item(0x20, bytes([pc_id, 0, 0, 0]) + sub)
    body += _user_info(max_pdu, impl_uid, impl_version)
    return _pdu(0x01, body)


def associate_ac(
    calling: str, called: str, accepted: int, *, impl_uid: str, impl_version: str, max_pdu: int = 65536
) -> bytes:
    """A-ASSOCIATE-AC accepting the first ``accepted`` presentation contexts with explicit VR LE."""
    body = struct.pack(">HH", 1, 0) + _ae(called) + _ae(calling) + bytes(32)
    body += _item(0x10, APPLICATION_CONTEXT.encode())
    for n in range(accepted):
        body += _item(0x21, bytes([2 * n + 1, 0, 0, 0]) + _item(0x40, EXPLICIT_LE.encode()))
    body += _user_info(max_pdu, impl_uid, impl_version)
    return _pdu(0x02, body)


def _element(group: int, elem: int, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\x00"
    return struct.pack("<HHI", group, elem, len(value)) + value


def _command_set(elements: Sequence[tuple[int, bytes]]) -> bytes:
    """A DIMSE command set in implicit VR little endian, with its group length first (PS3.7 E.1)."""
    body = b"".join(_element(0x0000, e, v) for e, v in elements)
    return _element(0x0000, 0x0000, struct.pack("<I", len(body))) + body


def _pdata(pc_id: int, control: int, data: bytes) -> bytes:
    return _pdu(0x04, struct.pack(">IBB", len(data) + 2, pc_id, control) + data)


def c_store_rq(pc_id: int, sop_class: str, sop_instance: str, message_id: int) -> bytes:
    """P-DATA-TF carrying a complete C-STORE-RQ command (no dataset: that follows separately)."""
    command = _command_set(
        [
            (0x0002, sop_class.encode()),
            (0x0100, struct.pack("<H", 0x0001)),
            (0x0110, struct.pack("<H", message_id)),
            (0x0700, struct.pack("<H", 0)),
            (0x0800, struct.pack("<H", 0x0000)),  # a dataset follows
            (0x1000, sop_instance.encode()),
        ]
    )
    return _pdata(pc_id, 0x03, command)  # command, last fragment


def dataset_header(pc_id: int, size: int) -> bytes:
    """The P-DATA-TF and PDV headers of a dataset fragment of ``size`` bytes (the bytes follow)."""
    return struct.pack(">BBIIBB", 0x04, 0, size + 6, size + 2, pc_id, 0x02)  # dataset, last fragment


def c_store_rsp(pc_id: int, sop_class: str, sop_instance: str, message_id: int) -> bytes:
    """P-DATA-TF carrying a C-STORE-RSP with status Success."""
    command = _command_set(
        [
            (0x0002, sop_class.encode()),
            (0x0100, struct.pack("<H", 0x8001)),
            (0x0120, struct.pack("<H", message_id)),
            (0x0800, struct.pack("<H", 0x0101)),  # no dataset
            (0x0900, struct.pack("<H", 0x0000)),
            (0x1000, sop_instance.encode()),
        ]
    )
    return _pdata(pc_id, 0x03, command)


def release_rq() -> bytes:
    """A-RELEASE-RQ."""
    return _pdu(0x05, bytes(4))


def release_rp() -> bytes:
    """A-RELEASE-RP."""
    return _pdu(0x06, bytes(4))


# ---------------------------------------------------------------------------- HL7 v2

MLLP_START, MLLP_END = b"\x0b", b"\x1c\x0d"
FAMILY = ("ZZTESTALPHA", "ZZTESTBRAVO", "ZZTESTCHARLIE", "ZZTESTDELTA", "ZZTESTECHO")
GIVEN = ("SIMONE", "SIMON", "SIMA", "SIMEON")


def synthetic_patient(rng: random.Random) -> dict[str, str]:
    """A made-up patient whose every field is a recognisable marker (never real data)."""
    return {
        "mrn": f"SIM{rng.randrange(10**6, 10**7)}",
        "family": rng.choice(FAMILY),
        "given": rng.choice(GIVEN),
        "dob": f"19{rng.randrange(30, 99)}0{rng.randrange(1, 9)}1{rng.randrange(0, 9)}",
        "account": f"SIMACCT{rng.randrange(10**5, 10**6)}",
    }


def oru_r01(
    *,
    sending_app: str,
    sending_facility: str,
    receiving_app: str,
    receiving_facility: str,
    timestamp: str,
    control_id: str,
    patient: dict[str, str],
    observations: Sequence[tuple[str, str, str]],
    equipment: str = "",
) -> bytes:
    """An ORU^R01 (IHE PCD-01 shape) framed in MLLP; ``equipment`` fills OBX-18 of every OBX."""
    segments = [
        f"MSH|^~\\&|{sending_app}|{sending_facility}|{receiving_app}|{receiving_facility}|{timestamp}||"
        f"ORU^R01^ORU_R01|{control_id}|P|2.6|||AL|NE||8859/1",
        f"PID|||{patient['mrn']}^^^STMARY^MR||{patient['family']}^{patient['given']}||{patient['dob']}|U"
        f"||||||||||{patient['account']}",
        "PV1||I|ICU^01^A",
        f"OBR|1|{control_id}||182777000^monitoring of patient^SCT|||{timestamp}",
    ]
    for n, (code, value, unit) in enumerate(observations, start=1):
        segments.append(f"OBX|{n}|NM|{code}^MDC||{value}|{unit}^^MDC|||||R|||{timestamp}||||{equipment}")
    return MLLP_START + ("\r".join(segments) + "\r").encode("latin-1") + MLLP_END


def ack(*, sending_app: str, receiving_app: str, timestamp: str, control_id: str) -> bytes:
    """The application acknowledgement (MSA AA) of a message, framed in MLLP."""
    text = (
        f"MSH|^~\\&|{sending_app}|STMARY|{receiving_app}|STMARY|{timestamp}||ACK^R01^ACK|A{control_id}|P|2.6\r"
        f"MSA|AA|{control_id}\r"
    )
    return MLLP_START + text.encode("latin-1") + MLLP_END


# ---------------------------------------------------------------------------- who speaks what

#: DICOM Implementation Class UID and Version Name per simulated profile. The UID roots are the
#: organisations' registered roots (Siemens 1.3.12.2.1107, GE 1.2.840.113619, Fujifilm
#: 1.2.392.200036.9125, Carestream 1.2.840.113564, dcm4che 1.2.40.0.13.1); the suffixes and
#: version names are synthetic but in the style those products use.
DICOM_IMPLEMENTATION: dict[str, tuple[str, str]] = {
    "siemens_somatom": ("1.3.12.2.1107.5.1.4.10", "SIEMENS_CTVA40"),
    "siemens_magnetom": ("1.3.12.2.1107.5.2.0", "SIEMENS_MRXA31"),
    "siemens_ysio": ("1.3.12.2.1107.5.3.4", "SIEMENS_YSIOVF"),
    "ge_revolution": ("1.2.840.113619.6.374", "REVOLUTION_EVO"),
    "ge_signa": ("1.2.840.113619.6.408", "SIGNA_MR30"),
    "ge_logiq": ("1.2.840.113619.6.336", "LOGIQE10_R3"),
    "fujifilm_sonosite": ("1.2.392.200036.9125.0.19", "SONOSITE_PX"),
    "carestream_drx": ("1.2.840.113564.3.4", "CSH_DRX_5_7"),
}
#: The PACS software answering the associations (dcm4chee archive).
PACS_IMPLEMENTATION = ("1.2.40.0.13.1.3", "dcm4che-5.31.0")

#: HL7 v2 senders: profile key -> (MSH-3 sending application, MSH-4 facility, server, MSH-5,
#: observation codes (MDC or LOINC code, value, unit)).
HL7_SENDERS: dict[str, tuple[str, str, str, str, tuple[tuple[str, str, str], ...]]] = {
    "philips_pic_ix": (
        "PIC_iX^Philips",
        "ICU",
        "ehr",
        "EPIC",
        (
            ("150456^MDC_PULS_OXIM_SAT_O2", "97", "262688^MDC_DIM_PERCENT"),
            ("147842^MDC_ECG_HEART_RATE", "72", "264864^MDC_DIM_BEAT_PER_MIN"),
        ),
    ),
    "mindray_hypervisor": (
        "HyperVisor^Mindray",
        "ICU",
        "ehr",
        "EPIC",
        (("147842^MDC_ECG_HEART_RATE", "80", "264864^MDC_DIM_BEAT_PER_MIN"),),
    ),
    "ge_central": (
        "CIC_PRO^GE",
        "WARD",
        "ehr",
        "EPIC",
        (("150456^MDC_PULS_OXIM_SAT_O2", "95", "262688^MDC_DIM_PERCENT"),),
    ),
    "sysmex_xn": ("XN-1000^Sysmex", "LAB", "lis", "LIS", (("6690-2^WBC", "7.1", "10*3/uL"),)),
    "roche_cobas": ("cobas6000^Roche", "LAB", "lis", "LIS", (("2345-7^Glucose", "98", "mg/dL"),)),
    "abbott_architect": ("ARCHITECT^Abbott", "LAB", "lis", "LIS", (("2160-0^Creatinine", "0.9", "mg/dL"),)),
    "beckman_dxh": ("DxH900^BeckmanCoulter", "LAB", "lis", "LIS", (("718-7^Hemoglobin", "13.9", "g/dL"),)),
}
