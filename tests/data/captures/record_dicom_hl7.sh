#!/usr/bin/env bash
# Re-create the DICOM and HL7 v2 captures of real peers (see README-dicom-hl7.md).
#
# Every capture is made between two network namespaces created here (ww-h1-a, the
# client / SCU side, and ww-h1-b, the server / SCP side), joined by one veth pair
# wwh1a0 <-> wwh1b0 with fixed MACs and the addresses 10.98.N.1 / 10.98.N.2. Nothing
# is sent on the host's interfaces. The namespaces are deleted at the end (also on
# error / Ctrl-C) and before each capture.
#
# Usage (as root):  tests/data/captures/record_dicom_hl7.sh [capture ...]
#   capture names: dicom dicom4100 dicomtls hl7 hl7port  (default: all)
#
# Peers: pynetdicom 3.0.4 + pydicom 3.0.2 (SCU <-> SCP), python-hl7 0.4.5 (MLLP client
# <-> server). Every patient value is synthetic: invented names, MRNs, birth dates and
# accession numbers that look real, because the PHI test (tests/integration/test_phi.py)
# checks that none of them leaves the sensor.
#
# Environment: PYTHON (python with pynetdicom, pydicom, hl7; default: repo .venv/bin/python),
#              OUT (output directory, default: this directory), KEEP_WORK=1 keeps the work dir.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
OUT="${OUT:-$HERE}"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"

NSA=ww-h1-a
NSB=ww-h1-b
IFA=wwh1a0
IFB=wwh1b0
MACA=02:98:aa:00:00:01
MACB=02:98:bb:00:00:02

die() { echo "record_dicom_hl7.sh: ERROR: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, tcpdump)"
for t in ip tcpdump timeout openssl; do
    command -v "$t" >/dev/null 2>&1 || die "required tool '$t' not found"
done
"$PYTHON" -c "import pynetdicom, pydicom, hl7" 2>/dev/null \
    || die "$PYTHON lacks pynetdicom / pydicom / hl7 (pip install pynetdicom==3.0.4 pydicom==3.0.2 hl7==0.4.5)"

WORK="$(mktemp -d /tmp/ww-h1.XXXXXX)"
chmod 755 "$WORK"
TCPDUMP_PID=""

teardown() {
    local ns pid
    for ns in "$NSA" "$NSB"; do
        ip netns list 2>/dev/null | grep -qw "$ns" || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
        sleep 0.3
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
}
cleanup() {
    local rc=$?
    teardown
    if [ "${KEEP_WORK:-0}" != 1 ]; then rm -rf "$WORK"; else echo "work dir kept: $WORK" >&2; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

A() { ip netns exec "$NSA" "$@"; }
B() { ip netns exec "$NSB" "$@"; }

# setup N: fresh namespace pair on 10.98.N.0/24, IPv6 off (keeps the captures small)
setup() {
    local n=$1
    teardown
    ip netns add "$NSA"
    ip netns add "$NSB"
    ip link add "$IFA" address "$MACA" netns "$NSA" type veth peer name "$IFB" address "$MACB" netns "$NSB"
    A ip link set lo up
    B ip link set lo up
    A sysctl -qw "net.ipv6.conf.$IFA.disable_ipv6=1"
    B sysctl -qw "net.ipv6.conf.$IFB.disable_ipv6=1"
    IPA=10.98.$n.1
    IPB=10.98.$n.2
    A ip addr add "$IPA/24" dev "$IFA"
    B ip addr add "$IPB/24" dev "$IFB"
    A ip link set "$IFA" up
    B ip link set "$IFB" up
    sleep 0.5
}

cap_start() {
    CAPFILE=$1
    rm -f "$OUT/$CAPFILE"
    ip netns exec "$NSA" timeout 120 tcpdump -i "$IFA" -n -U -s 0 -w "$WORK/$CAPFILE" tcp >"$WORK/tcpdump.log" 2>&1 &
    TCPDUMP_PID=$!
    local i
    for i in $(seq 50); do
        grep -q "listening on" "$WORK/tcpdump.log" 2>/dev/null && return 0
        sleep 0.1
    done
    die "tcpdump did not start: $(cat "$WORK/tcpdump.log")"
}
cap_stop() {
    sleep 1
    kill -INT "$TCPDUMP_PID" 2>/dev/null || true
    wait "$TCPDUMP_PID" 2>/dev/null || true
    cp "$WORK/$CAPFILE" "$OUT/$CAPFILE"
    chmod 644 "$OUT/$CAPFILE"
    log "$CAPFILE: $(stat -c %s "$OUT/$CAPFILE") bytes"
}
wait_port() {  # wait_port PORT: until something listens on IPB:PORT in namespace B
    local i
    for i in $(seq 100); do
        B ss -tln | grep -q "$IPB:$1 " && return 0
        sleep 0.1
    done
    die "nothing listens on $IPB:$1"
}

# ---------------------------------------------------------------------------
# Python peers, written to the work directory.
cat >"$WORK/dicom_scp.py" <<'PY'
"""pynetdicom SCP 'PACS_ARCHIVE': Verification, CT storage, Modality Worklist C-FIND."""
import ssl, sys
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage, ModalityWorklistInformationFind, Verification

host, port = sys.argv[1], int(sys.argv[2])
tls = len(sys.argv) > 3

def on_store(event):
    _ = event.dataset  # decoded and dropped: an archive would write it to disk
    return 0x0000

def on_find(event):
    item = Dataset()
    item.PatientName = "OKONKWO^ADAEZE^N"
    item.PatientID = "MRN58812094"
    item.PatientBirthDate = "19710922"
    item.PatientSex = "F"
    item.AccessionNumber = "ACC2026112300982"
    item.RequestedProcedureDescription = "CT ABDOMEN PELVIS WITH CONTRAST"
    step = Dataset()
    step.Modality = "CT"
    step.ScheduledStationAETitle = "CT_RAD1_SCAN"
    step.ScheduledProcedureStepStartDate = "20261123"
    step.ScheduledPerformingPhysicianName = "VANTERPOOL^MARCUS"
    item.ScheduledProcedureStepSequence = [step]
    yield 0xFF00, item

ae = AE(ae_title="PACS_ARCHIVE")
ae.require_called_aet = True
for cx in (Verification, CTImageStorage, ModalityWorklistInformationFind):
    ae.add_supported_context(cx)
ctx = None
if tls:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
ae.start_server((host, port), block=True, ssl_context=ctx,
                evt_handlers=[(evt.EVT_C_STORE, on_store), (evt.EVT_C_FIND, on_find)])
PY

cat >"$WORK/dicom_scu.py" <<'PY'
"""pynetdicom SCU 'CT_RAD1_SCAN': echo + store a synthetic CT image, worklist query with user
identity (username + passcode, in clear), a rejected association and an aborted one."""
import ssl, sys
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom.pdu_primitives import UserIdentityNegotiation
from pynetdicom.sop_class import CTImageStorage, ModalityWorklistInformationFind, Verification

host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def ct_image():
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "HALVORSEN^INGRID^MARIE"
    ds.PatientID = "MRN40417733"
    ds.PatientBirthDate = "19580314"
    ds.PatientSex = "F"
    ds.AccessionNumber = "ACC2026112300417"
    ds.StudyDescription = "CT CHEST WITH CONTRAST PULMONARY EMBOLISM"
    ds.ReferringPhysicianName = "BRANDSTAETTER^JONAS"
    ds.InstitutionName = "SAINT AUDREY GENERAL HOSPITAL"
    ds.Modality = "CT"
    ds.Manufacturer = "SYNTHETIC"
    ds.StudyDate = "20261123"
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = np.arange(256, dtype="<u2").tobytes()
    return ds

def query():
    q = Dataset()
    q.PatientName = ""
    q.PatientID = ""
    q.AccessionNumber = ""
    step = Dataset()
    step.Modality = "CT"
    step.ScheduledStationAETitle = "CT_RAD1_SCAN"
    step.ScheduledProcedureStepStartDate = "20261123"
    q.ScheduledProcedureStepSequence = [step]
    return q

ae = AE(ae_title="CT_RAD1_SCAN")
ae.add_requested_context(Verification)
ae.add_requested_context(CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
ae.add_requested_context(ModalityWorklistInformationFind)
tls_args = None
if mode == "tls":
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    tls_args = (ctx, "pacs-archive.saint-audrey.test")

def ok(assoc, what):
    if not assoc.is_established:
        sys.exit(f"{what}: association not established")
    return assoc

assoc = ok(ae.associate(host, port, ae_title="PACS_ARCHIVE", tls_args=tls_args), "store")
if assoc.send_c_echo().Status != 0:
    sys.exit("C-ECHO failed")
if assoc.send_c_store(ct_image()).Status != 0:
    sys.exit("C-STORE failed")
assoc.release()
if mode != "full":
    sys.exit(0)

user = UserIdentityNegotiation()
user.user_identity_type = 2
user.primary_field = b"ct_tech"
user.secondary_field = b"Winter2026!"
assoc = ok(ae.associate(host, port, ae_title="PACS_ARCHIVE", ext_neg=[user]), "worklist")
n = sum(1 for status, _ in assoc.send_c_find(query(), ModalityWorklistInformationFind) if status and status.Status == 0xFF00)
assoc.release()
if n != 1:
    sys.exit(f"worklist: {n} items")

assoc = ae.associate(host, port, ae_title="WRONG_AE")
if not assoc.is_rejected:
    sys.exit("expected A-ASSOCIATE-RJ for a wrong called AE title")

assoc = ok(ae.associate(host, port, ae_title="PACS_ARCHIVE"), "abort")
assoc.send_c_echo()
assoc.abort()
PY

cat >"$WORK/hl7_server.py" <<'PY'
"""python-hl7 MLLP server: parses every message and answers with an ACK (AA)."""
import asyncio, sys
import hl7
from hl7.mllp import start_hl7_server

host, port, app, facility = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

async def handle(reader, writer):
    try:
        while not writer.is_closing():
            message = await reader.readmessage()
            writer.writemessage(message.create_ack("AA", application=app, facility=facility))
            await writer.drain()
    except asyncio.IncompleteReadError:
        writer.close()

async def main():
    server = await start_hl7_server(handle, host, port)
    async with server:
        await server.serve_forever()

asyncio.run(main())
PY

cat >"$WORK/hl7_client.py" <<'PY'
"""python-hl7 MLLP client: IHE PCD-01 ORU^R01 with equipment identifiers, an ADT^A01 full of
(synthetic) patient data, and a v2.7 message with a truncation character in MSH-2, escape
sequences and repetitions, written in small pieces (one message over several TCP segments)."""
import asyncio, sys
import hl7
from hl7.mllp import open_hl7_connection

host, port, which = sys.argv[1], int(sys.argv[2]), sys.argv[3]

PCD01 = "\r".join([
    "MSH|^~\\&|ICU_MON_GW^0012345678ABCDEF^EUI-64|SAINT_AUDREY_ICU|CIS_RECEIVER|SAINT_AUDREY|20261123151502+0000||ORU^R01^ORU_R01|PCD0001|P|2.6|||NE|AL||8859/1|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
    "SFT|Northwind Medical Systems^L|4.2.1|ICU Gateway|NWGW-4.2.1-b77",
    "PID|||MRN73310562^^^SAHOSP^MR||KOWALCZYK^TOMASZ^PIOTR^^^^L||19640205|M|||1187 HARBORVIEW LANE^^PORTSMOUTH^NH^03801||(603)555-0148",
    "PV1||I|ICU^12^1^SAINT_AUDREY",
    "OBR|1|PCD0001^ICU_MON_GW^0012345678ABCDEF^EUI-64|PCD0001^ICU_MON_GW^0012345678ABCDEF^EUI-64|182777000^monitoring of patient^SNOMED-CT|||20261123151500+0000",
    "OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||1122334455667788^MX800_BED12^1122334455667788^EUI-64",
    "OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|87|262688^MDC_DIM_PERCENT^MDC|94-100|L|||R|||20261123151500+0000||||1122334455667788^MX800_BED12^1122334455667788^EUI-64",
    "OBX|3|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.2.1|131|264864^MDC_DIM_BEAT_PER_MIN^MDC|50-120|H|||R|||20261123151500+0000||||1122334455667788^MX800_BED12^1122334455667788^EUI-64",
    "OBX|4|ST|0^MDC_ATTR_ALARM_TEXT^MDC|1.1.3.1|ASYSTOLE SUSPECTED KOWALCZYK||||||R|||20261123151500+0000||||1122334455667788^MX800_BED12^1122334455667788^EUI-64",
    "PRT|1|UC||EQUIP^Equipment^HL70912|||||ICU^12^1|1122334455667788^MX800_BED12^1122334455667788^EUI-64||||||(01)00884838012345(21)SN4482107||||DE44821073",
    "EQU|1122334455667788^MX800_BED12^1122334455667788^EUI-64|20261123151500+0000",
]) + "\r"

ADT = "\r".join([
    "MSH|^~\\&|HIS_ADT|SAINT_AUDREY|ADT_ENGINE|SAINT_AUDREY|20261123151630||ADT^A01^ADT_A01|ADT88412|P|2.5.1",
    "EVN|A01|20261123151600",
    "PID|1||MRN40417733^^^SAHOSP^MR~998-41-2207^^^USSSA^SS||HALVORSEN^INGRID^MARIE^^MRS||19580314|F|||42 QUARRY HILL ROAD^^DOVER^NH^03820||(603)555-0193|||M||ACCT7720931",
    "PD1|||SAINT AUDREY PRIMARY CARE",
    "NK1|1|HALVORSEN^ERIK^^^MR|SPO^Spouse^HL70063|42 QUARRY HILL ROAD^^DOVER^NH^03820|(603)555-0194",
    "PV1|1|I|CARD^304^2^SAINT_AUDREY||||4471^BRANDSTAETTER^JONAS^^^DR|||CAR||||1|||4471^BRANDSTAETTER^JONAS^^^DR|IN||SELF|||||||||||||||||||SAINT_AUDREY||ADM|||20261123151500",
    "DG1|1||I21.4^Non-ST elevation myocardial infarction^I10",
    "AL1|1|DA|PENICILLIN",
]) + "\r"

# HL7 2.7: five encoding characters (truncation '#'), an escaped '&' in MSH-3 (\T\), repetitions
V27 = "\r".join([
    "MSH|^~\\&#|INFUSION\\T\\PUMP_SRV|SAINT_AUDREY_PHARM|MED_ADMIN|SAINT_AUDREY|20261123151700||RGV^O15^RGV_O15|RGV20033|P|2.7",
    "PID|||MRN58812094^^^SAHOSP^MR||OKONKWO^ADAEZE^NKECHI||19710922|F",
    "ORC|RE|ORD448201",
    "RXG|1||20261123151700|00409-4888-20^HEPARIN SODIUM^NDC|1000|UNITS",
    "OBX|1|NM|HEPRATE^Heparin rate^L||18|mL/h|||||F|||20261123151700||||PUMP-7731^^ABCDEF0123456789^EUI-64~PUMPSN-A88213^BD_ALARIS",
]) + "\r"

async def send(writer, reader, text, pieces=1):
    data = b"\x0b" + text.encode() + b"\x1c\x0d"
    if pieces == 1:
        writer.writemessage(hl7.parse(text))
    else:
        step = len(data) // pieces + 1
        for i in range(0, len(data), step):
            writer.write(data[i:i + step])
            await writer.drain()
            await asyncio.sleep(0.05)
    ack = await asyncio.wait_for(reader.readmessage(), 10)
    if str(ack.segment("MSA")(1)) != "AA":
        sys.exit(f"no AA: {ack}")

async def main():
    reader, writer = await open_hl7_connection(host, port)
    if which == "full":
        await send(writer, reader, PCD01)
        await send(writer, reader, ADT)
        await send(writer, reader, V27, pieces=4)
    else:
        await send(writer, reader, ADT)
    writer.close()
    await writer.wait_closed()

asyncio.run(main())
PY

# ---------------------------------------------------------------------------
cap_dicom() {  # pynetdicom SCU (A) -> SCP (B) on the standard port 104
    log "dicom: pynetdicom SCU -> SCP :104"
    setup 1
    cap_start dicom-pynetdicom.pcap
    B timeout 60 "$PYTHON" "$WORK/dicom_scp.py" "$IPB" 104 >"$WORK/scp.log" 2>&1 &
    wait_port 104
    A timeout 30 "$PYTHON" "$WORK/dicom_scu.py" "$IPB" 104 full || die "dicom SCU failed"
    cap_stop
    teardown
}

cap_dicom4100() {  # the same peers on a port no DICOM rule knows: found by content
    log "dicom: pynetdicom SCU -> SCP :4100 (content detection)"
    setup 2
    cap_start dicom-pynetdicom-port4100.pcap
    B timeout 60 "$PYTHON" "$WORK/dicom_scp.py" "$IPB" 4100 >"$WORK/scp.log" 2>&1 &
    wait_port 4100
    A timeout 30 "$PYTHON" "$WORK/dicom_scu.py" "$IPB" 4100 store || die "dicom SCU failed"
    cap_stop
    teardown
}

cap_dicomtls() {  # DICOM TLS (PS3.15 B.1) on 2762: only the fact that it is DICOM-TLS is visible
    log "dicom: pynetdicom SCU -> SCP :2762 over TLS"
    setup 3
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=pacs-archive.saint-audrey.test" \
        -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1 || die "openssl req failed"
    cap_start dicom-tls-pynetdicom.pcap
    B timeout 60 "$PYTHON" "$WORK/dicom_scp.py" "$IPB" 2762 "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/scp.log" 2>&1 &
    wait_port 2762
    A timeout 30 "$PYTHON" "$WORK/dicom_scu.py" "$IPB" 2762 tls || die "dicom TLS SCU failed: $(cat "$WORK/scp.log")"
    cap_stop
    teardown
}

cap_hl7() {  # python-hl7 MLLP client (A) -> server (B) on 2575
    log "hl7: python-hl7 MLLP client -> server :2575"
    setup 4
    cap_start hl7-mllp.pcap
    B timeout 60 "$PYTHON" "$WORK/hl7_server.py" "$IPB" 2575 CIS_RECEIVER SAINT_AUDREY >"$WORK/hl7.log" 2>&1 &
    wait_port 2575
    A timeout 30 "$PYTHON" "$WORK/hl7_client.py" "$IPB" 2575 full || die "hl7 client failed: $(cat "$WORK/hl7.log")"
    cap_stop
    teardown
}

cap_hl7port() {  # the same on port 6661: found by content
    log "hl7: python-hl7 MLLP client -> server :6661 (content detection)"
    setup 5
    cap_start hl7-mllp-port6661.pcap
    B timeout 60 "$PYTHON" "$WORK/hl7_server.py" "$IPB" 6661 ADT_ENGINE SAINT_AUDREY >"$WORK/hl7.log" 2>&1 &
    wait_port 6661
    A timeout 30 "$PYTHON" "$WORK/hl7_client.py" "$IPB" 6661 adt || die "hl7 client failed: $(cat "$WORK/hl7.log")"
    cap_stop
    teardown
}

ALL=(dicom dicom4100 dicomtls hl7 hl7port)
[ $# -gt 0 ] && ALL=("$@")
for name in "${ALL[@]}"; do
    declare -F "cap_$name" >/dev/null || die "unknown capture '$name' (known: dicom dicom4100 dicomtls hl7 hl7port)"
    "cap_$name"
done
log "done"
