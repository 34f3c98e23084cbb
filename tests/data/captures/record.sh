#!/usr/bin/env bash
# Re-create the real-software protocol captures in this directory.
#
# Every capture is made between two network namespaces created here
# (wwcap-a / wwcap-b, joined by one veth pair wwa0 <-> wwb0, addresses
# 10.99.N.1 / 10.99.N.2 and fd99::1 / fd99::2, fixed MACs), or on loopback.
# Nothing is sent on the host's real interfaces. The namespaces are deleted
# again at the end (and on error / Ctrl-C).
#
# Usage (as root):  tests/data/captures/record.sh [capture ...]
#   without arguments all captures are recorded; names are the function
#   suffixes below: dhcp dhcpv6 mdns snmp http tls12 tls13 tls12curl tls12gnutls ssdp lldp
#   cdp syslog dns llmnr nbns smb
#
# Environment: PYTHON (python with zeroconf, default: repo .venv/bin/python),
#              OUT (output directory, default: this directory),
#              KEEP_WORK=1 keeps the temporary work directory.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
OUT="${OUT:-$HERE}"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"

NSA=wwcap-a
NSB=wwcap-b
IFA=wwa0
IFB=wwb0
MACA=02:99:aa:00:00:01
MACB=02:99:bb:00:00:02

die() { echo "record.sh: ERROR: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, tcpdump)"

need() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || die "required tool '$t' not found (see README.md for the Debian packages)"
    done
}
need ip tcpdump timeout openssl sysctl

WORK="$(mktemp -d /tmp/wwcap.XXXXXX)"
chmod 755 "$WORK"
TCPDUMP_PID=""

ns_kill_all() {
    local ns pid
    for ns in "$NSA" "$NSB"; do
        ip netns list 2>/dev/null | grep -qw "$ns" || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
        sleep 0.3
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    done
}

teardown() {
    ns_kill_all
    ip netns del "$NSA" 2>/dev/null || true
    ip netns del "$NSB" 2>/dev/null || true
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

# setup N [v6]: fresh namespace pair, subnet 10.99.N.0/24; IPv6 disabled unless v6
setup() {
    local n=$1 v6=${2:-}
    teardown
    ip netns add "$NSA"
    ip netns add "$NSB"
    ip link add "$IFA" address "$MACA" netns "$NSA" type veth peer name "$IFB" address "$MACB" netns "$NSB"
    local ns ifc
    for ns in "$NSA" "$NSB"; do
        ip netns exec "$ns" ip link set lo up
        ifc=$IFA; [ "$ns" = "$NSB" ] && ifc=$IFB
        if [ "$v6" = v6 ]; then
            ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifc.accept_dad=0"
            ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifc.accept_ra=0"
            ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifc.router_solicitations=0"
        else
            ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=1"
        fi
    done
    SUBNET=10.99.$n
    IPA=$SUBNET.1
    IPB=$SUBNET.2
}

# addr: give both ends their IPv4 address, bring links up
addr() {
    A ip addr add "$IPA/24" dev "$IFA"
    B ip addr add "$IPB/24" dev "$IFB"
    up
}
up() {
    A ip link set "$IFA" up
    B ip link set "$IFB" up
    sleep 0.5
}
# mcast_routes: multicast leaves via the veth (namespaces have no default route)
mcast_routes() {
    A ip route add 224.0.0.0/4 dev "$IFA"
    B ip route add 224.0.0.0/4 dev "$IFB"
}

# cap_start FILE [ns] [iface] [filter...]: tcpdump in the background, wait until it listens
cap_start() {
    local file=$1 ns=${2:-$NSA} ifc=${3:-$IFA}
    shift 3 || shift $#
    rm -f "$OUT/$file"
    CAPFILE="$OUT/$file"
    ip netns exec "$ns" timeout 180 tcpdump -i "$ifc" -n -U -s 0 -w "$WORK/$file" "$@" >"$WORK/tcpdump.log" 2>&1 &
    TCPDUMP_PID=$!
    local i
    for i in $(seq 50); do
        grep -q "listening on" "$WORK/tcpdump.log" 2>/dev/null && return 0
        sleep 0.1
    done
    die "tcpdump did not start: $(cat "$WORK/tcpdump.log")"
}
cap_stop() {
    sleep "${1:-1}"
    kill -INT "$TCPDUMP_PID" 2>/dev/null || true
    wait "$TCPDUMP_PID" 2>/dev/null || true
    TCPDUMP_PID=""
    cp "$WORK/$(basename "$CAPFILE")" "$CAPFILE"
    chmod 644 "$CAPFILE"
    local n
    n=$(tcpdump -r "$CAPFILE" -nn -q 2>/dev/null | grep -vc "^[[:space:]]" || true)
    [ "$n" -gt 0 ] || die "$(basename "$CAPFILE"): no packets captured"
    log "$(basename "$CAPFILE"): $n packets, $(stat -c %s "$CAPFILE") bytes"
}

# wait_for SECONDS CMD...: poll until CMD succeeds
wait_for() {
    local t=$1; shift
    local end=$((SECONDS + t))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.2
    done
}

# ---------------------------------------------------------------------------
# 1. DHCPv4: dnsmasq server (ns A) <- ISC dhclient (ns B)
cap_dhcp() {
    need dnsmasq dhclient
    log "dhcp: dnsmasq + dhclient"
    setup 1
    A ip addr add "$IPA/24" dev "$IFA"
    up
    local d=$WORK/dhcp; mkdir -p "$d"
    cat >"$d/dhclient.conf" <<'EOF'
# wardwatch capture fixture: synthetic identity only
send host-name "biomed-ws-01";
send vendor-class-identifier "wardwatch-test-vc";
request subnet-mask, broadcast-address, time-offset, routers,
        domain-name, domain-name-servers, domain-search, host-name,
        ntp-servers, interface-mtu;
timeout 20;
retry 5;
EOF
    # client script: only sets the address (the stock dhclient-script would
    # rewrite the host's /etc/resolv.conf, which namespaces share)
    cat >"$d/dhclient-script" <<'EOF'
#!/bin/sh
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/24" dev "$interface" ;;
  RELEASE|EXPIRE|FAIL|STOP) [ -n "$old_ip_address" ] && ip addr del "$old_ip_address/24" dev "$interface" 2>/dev/null ;;
esac
exit 0
EOF
    chmod +x "$d/dhclient-script"
    cap_start dhcp-dnsmasq-dhclient.pcap
    A timeout 120 dnsmasq --no-daemon --conf-file=/dev/null --port=0 --bind-interfaces \
        --interface="$IFA" --except-interface=lo \
        --dhcp-range="$SUBNET.100,$SUBNET.150,255.255.255.0,10m" \
        --dhcp-option=option:router,"$IPA" --dhcp-option=option:dns-server,"$IPA" \
        --domain=example-hospital.test --dhcp-option=option:ntp-server,"$IPA" \
        --dhcp-authoritative --dhcp-leasefile="$d/dnsmasq.leases" \
        --pid-file="$d/dnsmasq.pid" --log-dhcp >"$d/dnsmasq.log" 2>&1 &
    sleep 1
    local dh=(dhclient -4 -cf "$d/dhclient.conf" -lf "$d/dhclient.leases" -pf "$d/dhclient.pid" -sf "$d/dhclient-script")
    # full DISCOVER/OFFER/REQUEST/ACK
    B timeout 40 "${dh[@]}" -1 -v "$IFB" >>"$d/dhclient.log" 2>&1 || die "dhclient got no lease: $(tail "$d/dhclient.log")"
    sleep 1
    # RELEASE (and stop)
    B timeout 20 "${dh[@]}" -r -v "$IFB" >>"$d/dhclient.log" 2>&1 || true
    sleep 1
    # again: INIT-REBOOT REQUEST/ACK for the remembered lease
    B timeout 40 "${dh[@]}" -1 -v "$IFB" >>"$d/dhclient.log" 2>&1 || die "dhclient reboot failed"
    sleep 1
    # stop without release
    B timeout 20 "${dh[@]}" -x "$IFB" >>"$d/dhclient.log" 2>&1 || true
    cap_stop 1
    teardown
}

# 1b. DHCPv6: dnsmasq (ns A) <- dhclient -6 (ns B)
cap_dhcpv6() {
    need dnsmasq dhclient
    log "dhcpv6: dnsmasq + dhclient -6"
    setup 1 v6
    A ip -6 addr add fd99::1/64 dev "$IFA" nodad
    up
    local d=$WORK/dhcp6; mkdir -p "$d"
    cat >"$d/dhclient6.conf" <<'EOF'
# wardwatch capture fixture: synthetic identity only
send fqdn.fqdn "biomed-ws-01.example-hospital.test.";
send fqdn.server-update on;
request dhcp6.name-servers, dhcp6.domain-search, dhcp6.fqdn, dhcp6.sntp-servers;
timeout 20;
EOF
    cat >"$d/dhclient-script" <<'EOF'
#!/bin/sh
case "$reason" in
  BOUND6|RENEW6|REBIND6|REBOOT6) [ -n "$new_ip6_address" ] && ip -6 addr replace "$new_ip6_address/128" dev "$interface" nodad ;;
esac
exit 0
EOF
    chmod +x "$d/dhclient-script"
    cap_start dhcpv6-dnsmasq-dhclient.pcap "$NSA" "$IFA" ip6
    A timeout 120 dnsmasq --no-daemon --conf-file=/dev/null --port=0 --bind-interfaces \
        --interface="$IFA" --except-interface=lo \
        --dhcp-range=fd99::100,fd99::1ff,64,10m \
        --dhcp-option=option6:dns-server,[fd99::1] --domain=example-hospital.test \
        --dhcp-authoritative --dhcp-leasefile="$d/dnsmasq.leases" \
        --pid-file="$d/dnsmasq.pid" --log-dhcp >"$d/dnsmasq.log" 2>&1 &
    sleep 1
    # dhclient -6 needs a usable link-local address first
    wait_for 10 sh -c "ip netns exec $NSB ip -6 addr show dev $IFB scope link | grep -q 'inet6' && ! ip netns exec $NSB ip -6 addr show dev $IFB | grep -q tentative" || die "no link-local address on $IFB"
    local dh=(dhclient -6 -cf "$d/dhclient6.conf" -lf "$d/dhclient6.leases" -pf "$d/dhclient6.pid" -sf "$d/dhclient-script")
    B timeout 40 "${dh[@]}" -1 -v "$IFB" >>"$d/dhclient.log" 2>&1 || die "dhclient -6 got no lease: $(tail "$d/dhclient.log")"
    sleep 1
    B timeout 20 "${dh[@]}" -r -v "$IFB" >>"$d/dhclient.log" 2>&1 || true
    cap_stop 1
    teardown
}

# ---------------------------------------------------------------------------
# 2. mDNS / DNS-SD: python-zeroconf responder (ns B), python-zeroconf browser (ns A)
cap_mdns() {
    [ -x "$PYTHON" ] || die "python '$PYTHON' not found (set PYTHON=...)"
    "$PYTHON" -c 'import zeroconf' 2>/dev/null || die "python-zeroconf not importable by $PYTHON"
    log "mdns: python-zeroconf"
    setup 2
    addr
    mcast_routes
    local d=$WORK/mdns; mkdir -p "$d"
    cat >"$d/responder.py" <<'EOF'
import socket, sys, time
from zeroconf import IPVersion, ServiceInfo, Zeroconf
ip = sys.argv[1]
zc = Zeroconf(interfaces=[ip], ip_version=IPVersion.V4Only)
info = ServiceInfo(
    "_ipp._tcp.local.",
    "Lab Printer 3._ipp._tcp.local.",
    addresses=[socket.inet_aton(ip)],
    port=631,
    properties={
        "txtvers": "1",
        "rp": "ipp/print",
        "ty": "ExampleCorp LabJet 3000",
        "product": "(LabJet 3000)",
        "usb_MFG": "ExampleCorp",
        "usb_MDL": "LabJet 3000",
        "note": "Ward 3 lab (synthetic)",
        "pdl": "application/pdf,image/urf",
    },
    server="labprinter3.local.",
)
zc.register_service(info)
print("registered", flush=True)
time.sleep(float(sys.argv[2]))
zc.unregister_service(info)
zc.close()
EOF
    cat >"$d/browser.py" <<'EOF'
import sys, time
from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf
ip = sys.argv[1]
zc = Zeroconf(interfaces=[ip], ip_version=IPVersion.V4Only)
found = []
class L(ServiceListener):
    def add_service(self, zc, type_, name): found.append(name)
    def update_service(self, zc, type_, name): pass
    def remove_service(self, zc, type_, name): pass
ServiceBrowser(zc, "_ipp._tcp.local.", L())
end = time.time() + 10
while not found and time.time() < end:
    time.sleep(0.2)
ok = False
for name in found:
    info = zc.get_service_info("_ipp._tcp.local.", name, timeout=5000)
    print(name, info, flush=True)
    ok = ok or info is not None
zc.close()
sys.exit(0 if ok else 1)
EOF
    cap_start mdns-zeroconf.pcap
    B timeout 60 "$PYTHON" "$d/responder.py" "$IPB" 8 >"$d/responder.log" 2>&1 &
    local rpid=$!
    wait_for 20 grep -q registered "$d/responder.log" || die "zeroconf responder did not register: $(cat "$d/responder.log")"
    A timeout 30 "$PYTHON" "$d/browser.py" "$IPA" >"$d/browser.log" 2>&1 || die "zeroconf browser failed: $(cat "$d/browser.log")"
    wait "$rpid" || true
    cap_stop 1
    teardown
}

# ---------------------------------------------------------------------------
# 3. SNMP: net-snmp snmpd (ns B) <- snmpget/snmpwalk (ns A); snmptrap B -> A
cap_snmp() {
    need snmpd snmpget snmpwalk snmptrap socat
    log "snmp: net-snmp"
    setup 3
    addr
    local d=$WORK/snmp; mkdir -p "$d/persist"
    cat >"$d/snmpd.conf" <<EOF
# wardwatch capture fixture: synthetic identity only
agentAddress udp:$IPB:161
rocommunity public $SUBNET.0/24
sysDescr WardWatch Test Infusion Gateway IG-100 firmware 2.4.1 (synthetic)
sysName infusion-gw-07
sysLocation Ward 3 East, Room 12 (synthetic)
sysContact biomed@example-hospital.test
sysServices 72
EOF
    cap_start snmp-netsnmp.pcap
    B env SNMP_PERSISTENT_DIR="$d/persist" MIBS= timeout 60 snmpd -f -C -c "$d/snmpd.conf" -Lf "$d/snmpd.log" -p "$d/snmpd.pid" -u root >/dev/null 2>&1 &
    wait_for 10 sh -c "ip netns exec $NSB ss -uln | grep -q '$IPB:161'" || die "snmpd did not start: $(cat "$d/snmpd.log")"
    A socat -u UDP-RECV:162,bind="$IPA" OPEN:"$d/traps.bin",creat,append >/dev/null 2>&1 &
    local s=(env MIBS= MIBDIRS=/nonexistent SNMP_PERSISTENT_DIR="$d/persist")
    A "${s[@]}" timeout 10 snmpget -v2c -c public -On -t 2 -r 1 "$IPB" \
        1.3.6.1.2.1.1.1.0 1.3.6.1.2.1.1.2.0 1.3.6.1.2.1.1.5.0 1.3.6.1.2.1.1.6.0 >"$d/get.txt" 2>&1 || die "snmpget failed: $(cat "$d/get.txt")"
    A "${s[@]}" timeout 10 snmpget -v1 -c public -On -t 2 -r 1 "$IPB" 1.3.6.1.2.1.1.5.0 >>"$d/get.txt" 2>&1 || die "snmpget v1 failed"
    A "${s[@]}" timeout 20 snmpwalk -v2c -c public -On -t 2 -r 1 "$IPB" 1.3.6.1.2.1.1 >"$d/walk.txt" 2>&1 || die "snmpwalk failed"
    B "${s[@]}" timeout 10 snmptrap -v 2c -c public "$IPA" '' 1.3.6.1.4.1.8072.2.3.0.1 \
        1.3.6.1.2.1.1.5.0 s "infusion-gw-07" 1.3.6.1.4.1.8072.2.3.2.1 i 42 >"$d/trap.txt" 2>&1 || die "snmptrap failed"
    cap_stop 1
    teardown
}

# ---------------------------------------------------------------------------
# 4. HTTP: python3 -m http.server (ns B) <- curl (ns A)
# Debian's python3 (its version appears in the Server header); override with HTTP_PYTHON
HTTP_PYTHON="${HTTP_PYTHON:-/usr/bin/python3}"
HTTP_UA="WardWatchTest-Client/1.0 (synthetic biomed workstation) curl"
cap_http() {
    need curl "$HTTP_PYTHON"
    log "http: python3 http.server + curl"
    setup 4
    addr
    local d=$WORK/http; mkdir -p "$d/www"
    printf '<html><head><title>Ward 3 nurse station (synthetic)</title></head><body>ok</body></html>\n' >"$d/www/index.html"
    cap_start http-curl-pythonhttp.pcap
    B timeout 60 "$HTTP_PYTHON" -m http.server 80 --bind "$IPB" --directory "$d/www" >"$d/server.log" 2>&1 &
    wait_for 10 sh -c "ip netns exec $NSB ss -tln | grep -q '$IPB:80'" || die "http.server did not start"
    A timeout 10 curl -sS -o /dev/null -A "$HTTP_UA" "http://$IPB/" || die "curl failed"
    A timeout 10 curl -sS -o /dev/null -A "$HTTP_UA" "http://$IPB/index.html" || die "curl failed"
    cap_stop 1
    teardown
}

# ---------------------------------------------------------------------------
# 5. TLS: openssl s_server (ns B) <- openssl s_client / curl (ns A)
TLS_CN=pacs.example-hospital.test
tls_cert() {
    local d=$WORK/tls; mkdir -p "$d"
    [ -f "$d/cert.pem" ] && return 0
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
        -subj "/CN=$TLS_CN/O=Example Hospital" \
        -addext "subjectAltName=DNS:$TLS_CN" \
        -keyout "$d/key.pem" -out "$d/cert.pem" >/dev/null 2>&1 || die "openssl req failed"
}
tls_server_start() {
    local d=$WORK/tls
    B timeout 60 openssl s_server -accept "$IPB:443" -cert "$d/cert.pem" -key "$d/key.pem" -www -quiet >"$d/server.log" 2>&1 &
    wait_for 10 sh -c "ip netns exec $NSB ss -tln | grep -q '$IPB:443'" || die "openssl s_server did not start: $(cat "$d/server.log")"
}
tls_openssl() {
    local ver=$1 file=$2
    need openssl
    log "$file: openssl s_server + s_client -$ver"
    setup 5
    addr
    tls_cert
    cap_start "$file"
    tls_server_start
    printf 'GET / HTTP/1.0\r\n\r\n' | A timeout 10 openssl s_client -connect "$IPB:443" \
        -servername "$TLS_CN" "-$ver" -ign_eof >"$WORK/tls/client-$ver.log" 2>&1 || die "s_client -$ver failed: $(tail "$WORK/tls/client-$ver.log")"
    cap_stop 1
    teardown
}
cap_tls12() { tls_openssl tls1_2 tls12-openssl.pcap; }
cap_tls13() { tls_openssl tls1_3 tls13-openssl.pcap; }
cap_tls12curl() {
    need curl openssl
    log "tls12-curl: openssl s_server + curl --tlsv1.2"
    setup 5
    addr
    tls_cert
    cap_start tls12-curl.pcap
    tls_server_start
    A timeout 10 curl -sS -k -o /dev/null --tlsv1.2 --tls-max 1.2 -A "$HTTP_UA" \
        --resolve "$TLS_CN:443:$IPB" "https://$TLS_CN/" || die "curl https failed"
    cap_stop 1
    teardown
}

# a second, independent TLS stack: GnuTLS gnutls-cli (openssl and curl share libssl)
cap_tls12gnutls() {
    need gnutls-cli openssl
    log "tls12-gnutls: openssl s_server + gnutls-cli (TLS 1.2 only)"
    setup 5
    addr
    tls_cert
    cap_start tls12-gnutls.pcap
    tls_server_start
    printf 'GET / HTTP/1.0\r\n\r\n' | A timeout 10 gnutls-cli --insecure --sni-hostname="$TLS_CN" \
        --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2' -p 443 "$IPB" >"$WORK/tls/gnutls.log" 2>&1 || die "gnutls-cli failed: $(tail "$WORK/tls/gnutls.log")"
    cap_stop 1
    teardown
}

# ---------------------------------------------------------------------------
# 6. SSDP / UPnP: minidlna (ns B) <- M-SEARCH (socat) + curl rootDesc.xml (ns A)
cap_ssdp() {
    need minidlnad socat curl
    log "ssdp: minidlna"
    setup 6
    addr
    mcast_routes
    local d=$WORK/dlna; mkdir -p "$d/media" "$d/db" "$d/log"
    chmod -R 777 "$d"
    printf 'synthetic\n' >"$d/media/readme.txt"
    cat >"$d/minidlna.conf" <<EOF
# wardwatch capture fixture: synthetic identity only
network_interface=$IFB
port=8200
media_dir=$d/media
db_dir=$d/db
log_dir=$d/log
friendly_name=Ward 3 Imaging Media Server (synthetic)
serial=WW-SN-000123
model_name=WardWatch Test DLNA
model_number=1.0
uuid=4d696e69-444c-164e-9d41-02994bb00002
notify_interval=30
inotify=no
enable_tivo=no
EOF
    cap_start ssdp-upnp-minidlna.pcap
    B timeout 60 minidlnad -f "$d/minidlna.conf" -P "$d/minidlna.pid" -d -R >"$d/minidlna.out" 2>&1 &
    wait_for 15 sh -c "ip netns exec $NSB ss -tln | grep -q ':8200'" || die "minidlna did not start: $(tail "$d/minidlna.out")"
    sleep 2
    # SSDP M-SEARCH from ns A (collect unicast answers for 3 s)
    printf 'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: urn:schemas-upnp-org:device:MediaServer:1\r\nUSER-AGENT: WardWatchTest/1.0 UPnP/1.1 curl/7.88\r\n\r\n' \
        | A timeout 4 socat -T3 - UDP-DATAGRAM:239.255.255.250:1900,bind="$IPA":50000,ip-multicast-if="$IPA" >"$d/msearch.out" 2>&1 || true
    A timeout 10 curl -sS -o "$d/rootDesc.xml" -A "WardWatchTest/1.0 UPnP/1.1" "http://$IPB:8200/rootDesc.xml" || die "curl rootDesc.xml failed"
    cap_stop 1
    teardown
}

# ---------------------------------------------------------------------------
# 7. LLDP: lldpd in both namespaces; 7b. CDP: lldpd forced CDPv2 in ns B
lldpd_start() {
    local ns=$1 ifc=$2 name=$3 descr=$4; shift 4
    local d=$WORK/lldp/$ns; mkdir -p "$d"
    cat >"$d/lldpd.conf" <<EOF
configure system hostname $name
configure lldp tx-interval 2
configure system interface pattern $ifc
EOF
    ip netns exec "$ns" timeout 60 lldpd -d -u "$d/lldpd.socket" -O "$d/lldpd.conf" -I "$ifc" -S "$descr" "$@" >"$d/lldpd.log" 2>&1 &
}
cap_lldp() {
    need lldpd lldpcli
    log "lldp: lldpd"
    setup 7
    addr
    cap_start lldp-lldpd.pcap "$NSA" "$IFA" ether proto 0x88cc
    lldpd_start "$NSB" "$IFB" ventilator-gw-12 "WardWatch Test Ventilator Gateway VG-12 (synthetic)" -P "VG-12"
    lldpd_start "$NSA" "$IFA" access-sw-ward3 "WardWatch Test Access Switch (synthetic)"
    sleep 6
    cap_stop 0
    teardown
}
cap_cdp() {
    need lldpd lldpcli
    log "cdp: lldpd -cccc -ll"
    setup 7
    addr
    cap_start cdp-lldpd.pcap "$NSA" "$IFA" ether dst 01:00:0c:cc:cc:cc
    lldpd_start "$NSB" "$IFB" ventilator-gw-12 "WardWatch Test Ventilator Gateway VG-12 (synthetic)" -P "VG-12" -cccc -ll
    sleep 6
    cap_stop 0
    teardown
}

# ---------------------------------------------------------------------------
# 8. Syslog: util-linux logger (ns B, own UTS namespace with host name) -> socat (ns A)
cap_syslog() {
    need logger socat unshare
    log "syslog: logger -> socat"
    setup 8
    addr
    local d=$WORK/syslog; mkdir -p "$d"
    cap_start syslog-logger.pcap
    A timeout 30 socat -u UDP-RECV:514,bind="$IPA" OPEN:"$d/received.txt",creat,append >/dev/null 2>&1 &
    sleep 0.5
    B unshare --uts sh -c "
        hostname pump-ctl-21 &&
        timeout 5 logger --server $IPA --port 514 --udp --rfc5424 -t infusion-pumpd -p local0.warning --msgid PUMPALRM 'occlusion alarm cleared on channel B (synthetic)' &&
        timeout 5 logger --server $IPA --port 514 --udp --rfc3164 -t infusion-pumpd -p local0.info 'battery check ok (synthetic)'
    " || die "logger failed"
    cap_stop 1
    teardown
}

# ---------------------------------------------------------------------------
# 9. DNS (dnsmasq <- dig), LLMNR (llmnrd <- llmnr-query), NBNS (nmbd <- nmblookup)
cap_dns() {
    need dnsmasq dig
    log "dns: dnsmasq + dig"
    setup 9
    addr
    local d=$WORK/dns; mkdir -p "$d"
    cap_start dns-dnsmasq-dig.pcap
    A timeout 60 dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
        --listen-address="$IPA" --except-interface=lo \
        --host-record=pacs.example-hospital.test,"$SUBNET.50" \
        --host-record=infusion-gw-07.example-hospital.test,"$IPB" \
        --local=/example-hospital.test/ --pid-file="$d/dnsmasq.pid" >"$d/dnsmasq.log" 2>&1 &
    wait_for 10 sh -c "ip netns exec $NSA ss -uln | grep -q '$IPA:53'" || die "dnsmasq dns did not start"
    B timeout 10 dig +tries=1 +time=2 @"$IPA" pacs.example-hospital.test A >"$d/dig1.txt" || die "dig failed"
    B timeout 10 dig +tries=1 +time=2 @"$IPA" -x "$IPB" >"$d/dig2.txt" || die "dig -x failed"
    cap_stop 1
    teardown
}
cap_llmnr() {
    need llmnrd llmnr-query
    log "llmnr: llmnrd + llmnr-query"
    setup 9
    addr
    mcast_routes
    local d=$WORK/llmnr; mkdir -p "$d"
    cap_start llmnr-llmnrd.pcap
    B timeout 30 llmnrd -H imaging-ws-04 -i "$IFB" >"$d/llmnrd.log" 2>&1 &
    wait_for 10 sh -c "ip netns exec $NSB ss -uln | grep -q ':5355'" || die "llmnrd did not start"
    A timeout 5 llmnr-query -I "$IFA" -T A imaging-ws-04 >"$d/q1.txt" 2>&1 || die "llmnr-query failed: $(cat "$d/q1.txt")"
    cap_stop 1
    teardown
}
cap_nbns() {
    need nmbd nmblookup
    log "nbns: nmbd + nmblookup"
    setup 9
    addr
    local d=$WORK/nbns; mkdir -p "$d"/{lock,state,cache,pid,priv,log}
    cat >"$d/smb.conf" <<EOF
[global]
  netbios name = WARD3-NAS
  workgroup = EXAMPLEHOSP
  server string = Ward 3 file server (synthetic)
  interfaces = $IPB/24
  bind interfaces only = yes
  lock directory = $d/lock
  state directory = $d/state
  cache directory = $d/cache
  pid directory = $d/pid
  private dir = $d/priv
  ncalrpc dir = $d/lock
  log file = $d/log/%m.log
  disable netbios = no
  local master = no
  domain master = no
  preferred master = no
  wins support = no
EOF
    cap_start nbns-nmbd.pcap "$NSA" "$IFA" udp port 137 or udp port 138
    B timeout 60 nmbd --foreground --no-process-group --debug-stdout -s "$d/smb.conf" >"$d/nmbd.out" 2>&1 &
    wait_for 20 sh -c "ip netns exec $NSB ss -uln | grep -q '$IPB:137'" || die "nmbd did not start: $(tail "$d/nmbd.out")"
    sleep 6
    cat >"$d/client.conf" <<EOF
[global]
  netbios name = NURSE-WS-09
  workgroup = EXAMPLEHOSP
  interfaces = $IPA/24
  bind interfaces only = yes
  lock directory = $d/lock
  state directory = $d/state
  cache directory = $d/cache
  private dir = $d/priv
EOF
    A timeout 10 nmblookup -s "$d/client.conf" -B "$SUBNET.255" WARD3-NAS >"$d/lookup1.txt" 2>&1 || die "nmblookup failed: $(cat "$d/lookup1.txt")"
    A timeout 10 nmblookup -s "$d/client.conf" -A "$IPB" >"$d/lookup2.txt" 2>&1 || die "nmblookup -A failed: $(cat "$d/lookup2.txt")"
    cap_stop 1
    teardown
}

# ---------------------------------------------------------------------------
# 10. SMB: smbd (ns B) <- smbclient (ns A), NTLMSSP session setup (SMB1 and SMB3)
cap_smb() {
    need smbd smbclient
    log "smb: smbd + smbclient"
    setup 10
    addr
    local d=$WORK/smb; mkdir -p "$d"/{lock,state,cache,pid,priv,log,share}
    chmod 777 "$d/share"
    cat >"$d/smb.conf" <<EOF
[global]
  netbios name = WARD3-NAS
  workgroup = EXAMPLEHOSP
  server string = Ward 3 file server (synthetic)
  interfaces = $IPB/24
  bind interfaces only = yes
  smb ports = 445
  lock directory = $d/lock
  state directory = $d/state
  cache directory = $d/cache
  pid directory = $d/pid
  private dir = $d/priv
  ncalrpc dir = $d/lock
  log file = $d/log/%m.log
  server min protocol = NT1
  server signing = auto
  map to guest = Bad User
  guest account = nobody
  disable netbios = yes
  load printers = no
  printing = bsd
  printcap name = /dev/null
  passdb backend = tdbsam:$d/priv/passdb.tdb
[scans]
  path = $d/share
  guest ok = yes
  read only = yes
EOF
    cat >"$d/client.conf" <<EOF
[global]
  netbios name = NURSE-WS-09
  workgroup = EXAMPLEHOSP
  client min protocol = NT1
  lock directory = $d/lock
  state directory = $d/state
  cache directory = $d/cache
  private dir = $d/priv
EOF
    cap_start smb-samba.pcap "$NSA" "$IFA" tcp port 445
    B timeout 60 smbd --foreground --no-process-group --debug-stdout -s "$d/smb.conf" >"$d/smbd.out" 2>&1 &
    wait_for 20 sh -c "ip netns exec $NSB ss -tln | grep -q '$IPB:445'" || die "smbd did not start: $(tail "$d/smbd.out")"
    A timeout 15 smbclient -s "$d/client.conf" -m NT1 -U 'labtech%NotARealPassword1' "//$IPB/scans" -c 'ls' >"$d/c1.txt" 2>&1 || die "smbclient NT1 failed: $(cat "$d/c1.txt")"
    A timeout 15 smbclient -s "$d/client.conf" -m SMB3 -U 'labtech%NotARealPassword1' "//$IPB/scans" -c 'ls' >"$d/c2.txt" 2>&1 || die "smbclient SMB3 failed: $(cat "$d/c2.txt")"
    cap_stop 1
    teardown
}

ALL="dhcp dhcpv6 mdns snmp http tls12 tls13 tls12curl tls12gnutls ssdp lldp cdp syslog dns llmnr nbns smb"
targets="${*:-$ALL}"
for t in $targets; do
    declare -F "cap_$t" >/dev/null || die "unknown capture '$t' (known: $ALL)"
done
for t in $targets; do
    "cap_$t"
done
log "done"
