#!/usr/bin/env bash
# Re-create the medical / building protocol captures of issue 3 part 2 (see README-medical2.md).
#
# Each capture runs between two network namespaces created here (ww-h2-a / ww-h2-b, one veth
# pair wwh2a <-> wwh2b, 10.98.N.1 / 10.98.N.2, MACs 02:98:aa:00:00:NN / 02:98:bb:00:00:NN with
# NN = N in hex); nothing touches the host's
# interfaces. The namespaces are deleted at the end (also on error / Ctrl-C).
#
# Usage (as root): tests/data/captures/record_medical2.sh [mqtt modbus bacnet fhir poct1 intellivue sdc]
# Environment: PYTHON (python with paho-mqtt, pymodbus, bacpypes3; default repo .venv),
#              OUT (output directory, default: this directory).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
OUT="${OUT:-$HERE}"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
PEERS="$HERE/medical2"
NSA=ww-h2-a
NSB=ww-h2-b
IFA=wwh2a
IFB=wwh2b

die() { echo "record_medical2.sh: ERROR: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, tcpdump)"
for t in ip tcpdump timeout mosquitto curl; do
    command -v "$t" >/dev/null 2>&1 || die "required tool '$t' not found"
done

WORK="$(mktemp -d /tmp/wwh2cap.XXXXXX)"
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
cleanup() { local rc=$?; teardown; [ "${KEEP_WORK:-0}" = 1 ] && echo "work dir kept: $WORK" >&2 || rm -rf "$WORK"; exit $rc; }
trap cleanup EXIT
trap 'exit 130' INT TERM

A() { ip netns exec "$NSA" "$@"; }
B() { ip netns exec "$NSB" "$@"; }

setup() {
    local n=$1
    teardown
    ip netns add "$NSA"; ip netns add "$NSB"
    # one MAC pair per capture, so devices of different captures never merge in one inventory
    MACA=${MACA_OVERRIDE:-02:98:aa:00:00:$(printf %02x "$n")}
    MACB=02:98:bb:00:00:$(printf %02x "$n")
    ip link add "$IFA" address "$MACA" netns "$NSA" type veth peer name "$IFB" address "$MACB" netns "$NSB"
    IPA=10.98.$n.1; IPB=10.98.$n.2; BCAST=10.98.$n.255
    A ip link set lo up; B ip link set lo up
    A sysctl -qw "net.ipv6.conf.$IFA.disable_ipv6=1"; B sysctl -qw "net.ipv6.conf.$IFB.disable_ipv6=1"
    A ip addr add "$IPA/24" brd "$BCAST" dev "$IFA"; B ip addr add "$IPB/24" brd "$BCAST" dev "$IFB"
    A ip link set "$IFA" up; B ip link set "$IFB" up
    sleep 0.5
}
wait_port() {  # wait_port NS PROTO(t|u) ADDR:PORT
    local i
    for i in $(seq 50); do
        ip netns exec "$1" ss "-${2}ln" | grep -q "$3" && return 0
        sleep 0.2
    done
    die "nothing listening on $3 in $1"
}
cap_start() {
    CAPFILE=$1
    ip netns exec "$NSA" timeout 120 tcpdump -i "$IFA" -n -U -s 0 -w "$WORK/$CAPFILE" >"$WORK/tcpdump.log" 2>&1 &
    TCPDUMP_PID=$!
    local i
    for i in $(seq 50); do
        grep -q "listening on" "$WORK/tcpdump.log" 2>/dev/null && return 0
        sleep 0.1
    done
    die "tcpdump did not start"
}
cap_stop() {
    sleep 1
    kill -INT "$TCPDUMP_PID" 2>/dev/null || true
    wait "$TCPDUMP_PID" 2>/dev/null || true
    cp "$WORK/$CAPFILE" "$OUT/$CAPFILE"; chmod 644 "$OUT/$CAPFILE"
    log "$CAPFILE: $(tcpdump -r "$OUT/$CAPFILE" 2>/dev/null | wc -l) packets"
    teardown
}

cap_mqtt() {
    log "mqtt: mosquitto <- paho-mqtt (3.1.1 with login and will, 5.0 anonymous)"
    setup 11
    printf 'listener 1883 %s\nallow_anonymous true\npersistence false\n' "$IPB" >"$WORK/mosquitto.conf"
    cap_start mqtt-mosquitto-paho.pcap
    B timeout 60 mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
    wait_port "$NSB" t "$IPB:1883"
    A timeout 30 "$PYTHON" "$PEERS/mqtt_client.py" "$IPB" 1883 || die "paho client failed"
    cap_stop
}
cap_modbus() {
    log "modbus: pymodbus server <- pymodbus client (43/14 basic + regular)"
    setup 12
    cap_start modbus-pymodbus.pcap
    B timeout 60 "$PYTHON" "$PEERS/modbus_peer.py" server "$IPB" 502 >"$WORK/modbus.log" 2>&1 &
    wait_port "$NSB" t "$IPB:502"
    A timeout 30 "$PYTHON" "$PEERS/modbus_peer.py" client "$IPB" 502 || die "modbus client failed"
    cap_stop
}
cap_bacnet() {
    log "bacnet: bacpypes3 device <- bacpypes3 client (Who-Is, ReadProperty)"
    setup 13
    cap_start bacnet-bacpypes3.pcap
    B timeout 60 "$PYTHON" "$PEERS/bacnet_peer.py" device "$IPB/24" >"$WORK/bacnet.log" 2>&1 &
    wait_port "$NSB" u "47808"
    A timeout 30 "$PYTHON" "$PEERS/bacnet_peer.py" client "$IPA/24" "$IPB" || die "bacnet client failed"
    cap_stop
}
cap_fhir() {
    log "fhir: CPython http.server FHIR facade <- curl (JSON, XML, PUT, POST, PHI bundle)"
    setup 14
    cap_start fhir-curl-pythonhttp.pcap
    B timeout 60 "$PYTHON" "$PEERS/fhir_server.py" "$IPB" 8080 >"$WORK/fhir.log" 2>&1 &
    wait_port "$NSB" t "$IPB:8080"
    local base="http://$IPB:8080/fhir" c="timeout 10 curl -sS -o /dev/null -f"
    A $c -H 'Accept: application/fhir+json' "$base/metadata"
    A $c -H 'Accept: application/fhir+json' "$base/Device/example-pacemaker"
    A $c "$base/Device?_format=xml"
    A $c -H 'Accept: application/fhir+json' "$base/Patient/p1/\$everything"
    A $c -X PUT -H 'Content-Type: application/fhir+json' --data-binary "@$PEERS/pump_device.json" "$base/Device/pump-0042"
    A $c -X POST -H 'Content-Type: application/fhir+xml' --data-binary "@$PEERS/pump_device.xml" "$base/Device"
    cap_stop
}
cap_poct1() {
    log "poct1: HEL.R01 device -> observation manager (spec-built bytes)"
    setup 15
    cap_start poct1-hello.pcap
    B timeout 30 "$PYTHON" "$PEERS/raw_peer.py" poct1-manager "$IPB" 5000 &
    wait_port "$NSB" t "$IPB:5000"
    A timeout 20 "$PYTHON" "$PEERS/raw_peer.py" poct1-device "$IPB" 5000 || die "poct1 device failed"
    cap_stop
}
cap_intellivue() {
    log "intellivue: Connect Indication broadcasts (spec-built bytes)"
    MACA_OVERRIDE=00:09:fb:00:00:42 setup 16  # the monitor's MAC (Philips OUI) = its NOM_ATTR_SYS_ID
    cap_start intellivue-connect-indication.pcap
    A timeout 20 "$PYTHON" "$PEERS/raw_peer.py" intellivue "$BCAST" || die "intellivue sender failed"
    cap_stop
}

cap_sdc() {
    log "sdc: sdc11073 provider <- sdc11073 consumer (WS-Discovery, DPWS GetMetadata)"
    setup 17
    A ip route add 224.0.0.0/4 dev "$IFA"; B ip route add 224.0.0.0/4 dev "$IFB"
    cap_start sdc-sdc11073.pcap
    B timeout 40 "$PYTHON" "$PEERS/sdc_peer.py" provider "$IPB" >"$WORK/sdc.log" 2>&1 &
    sleep 6
    A timeout 30 "$PYTHON" "$PEERS/sdc_peer.py" consumer "$IPA" || die "sdc consumer failed: $(tail -5 "$WORK/sdc.log")"
    cap_stop
}

ALL="mqtt modbus bacnet fhir poct1 intellivue sdc"
for name in ${*:-$ALL}; do
    "cap_$name"
done
log "done"
