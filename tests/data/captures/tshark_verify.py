#!/usr/bin/env python3
"""Check every capture against tshark (an independent dissector) and write expected.json.

Each fact below names the value we intended the real software to put on the
wire; the value is read back with tshark (filter + field) and must match, else
the script exits 1 and writes nothing. JA4 comes from ja4_oracle.py (tshark
4.0 has no JA4 field). Usage: tshark_verify.py [--write]
"""

import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
A_MAC, B_MAC = "02:99:aa:00:00:01", "02:99:bb:00:00:02"


def net(n):
    return f"10.99.{n}.1", f"10.99.{n}.2"


def tshark(path, flt, *fields):
    cmd = [
        "tshark",
        "-r",
        str(path),
        "-n",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=\x1f",
        "-E",
        "separator=/t",
    ]
    if flt:
        cmd += ["-Y", flt]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [[c.split("\x1f") if c else [] for c in line.split("\t")] for line in out.splitlines()]


def values(path, flt, field):
    """All distinct values of one field in packets matching flt, in order of appearance."""
    seen = []
    for row in tshark(path, flt, field):
        for v in row[0]:
            if v not in seen:
                seen.append(v)
    return seen


def packets(path):
    return len(tshark(path, None, "frame.number"))


errors = []


def fact(facts, path, proto, mac, ip, field, want, got, **extra):
    if got != want:
        errors.append(f"{path.name}: {field}: tshark says {got!r}, expected {want!r}")
    facts.append({"protocol": proto, "mac": mac, "ip": ip, "field": field, "value": want, **extra})


def one(path, flt, field):
    v = values(path, flt, field)
    return v[0] if len(v) == 1 else v


def build():
    exp = {}

    def entry(name):
        p = HERE / name
        exp[name] = {"packets": packets(p), "facts": []}
        return p, exp[name]["facts"]

    # DHCPv4 (client = ns B); its address is the one dnsmasq ACKed
    p, f = entry("dhcp-dnsmasq-dhclient.pcap")
    ip = one(p, "dhcp.option.dhcp == 5", "dhcp.ip.your")
    fl = f"dhcp.option.dhcp == 1 && eth.src == {B_MAC}"
    fact(f, p, "dhcp", B_MAC, ip, "dhcp.hostname", "biomed-ws-01", one(p, fl, "dhcp.option.hostname"))
    fact(
        f,
        p,
        "dhcp",
        B_MAC,
        ip,
        "dhcp.vendor_class",
        "wardwatch-test-vc",
        one(p, fl, "dhcp.option.vendor_class_id"),
    )
    fact(
        f,
        p,
        "dhcp",
        B_MAC,
        ip,
        "dhcp.param_list",
        [1, 28, 2, 3, 15, 6, 119, 12, 42, 26],
        [int(x) for x in tshark(p, fl, "dhcp.option.request_list_item")[0][0]],
    )

    # DHCPv6 (client = ns B, link-local source)
    p, f = entry("dhcpv6-dnsmasq-dhclient.pcap")
    ll = "fe80::99:bbff:fe00:2"
    fact(
        f,
        p,
        "dhcpv6",
        B_MAC,
        ll,
        "dhcpv6.fqdn",
        "biomed-ws-01.example-hospital.test",
        one(p, "dhcpv6.msgtype == 1", "dhcpv6.client_domain").rstrip("."),
        leased_ip=one(p, "dhcpv6.msgtype == 7 && dhcpv6.iaaddr.ip", "dhcpv6.iaaddr.ip"),
    )

    # mDNS (responder = ns B)
    p, f = entry("mdns-zeroconf.pcap")
    _, ipb = net(2)
    rsp = f"mdns && dns.flags.response == 1 && ip.src == {ipb}"
    fact(f, p, "mdns", B_MAC, ipb, "mdns.hostname", "labprinter3.local", one(p, rsp, "dns.srv.target"))
    fact(
        f,
        p,
        "mdns",
        B_MAC,
        ipb,
        "mdns.services",
        ["_ipp._tcp.local"],
        sorted({v.split(".", 1)[1] for v in values(p, rsp, "dns.ptr.domain_name")}),
        instances=["Lab Printer 3._ipp._tcp.local"],
        port=631,
    )
    txt = [
        "txtvers=1",
        "rp=ipp/print",
        "ty=ExampleCorp LabJet 3000",
        "product=(LabJet 3000)",
        "usb_MFG=ExampleCorp",
        "usb_MDL=LabJet 3000",
        "note=Ward 3 lab (synthetic)",
        "pdl=application/pdf,image/urf",
    ]
    got = [v for v in values(p, rsp, "dns.txt")]
    fact(
        f,
        p,
        "mdns",
        B_MAC,
        ipb,
        "mdns.txt",
        dict(t.split("=", 1) for t in txt),
        dict(t.split("=", 1) for t in got),
    )

    # SNMP (agent = ns B)
    p, f = entry("snmp-netsnmp.pcap")
    _, ipb = net(3)
    rows = tshark(
        p, f"snmp.get_response_element && ip.src == {ipb}", "snmp.name", "snmp.value.octets", "snmp.value.oid"
    )
    vb = {}
    for names, octs, oids in rows:
        oi = iter(octs)
        di = iter(oids)
        for n in names:
            if n in ("1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.6.0", "1.3.6.1.2.1.1.4.0"):
                vb[n] = bytes.fromhex(next(oi)).decode()
            elif n == "1.3.6.1.2.1.1.2.0":
                vb[n] = next(di)
            else:
                break  # rest of the walk (sysUpTime, sysORTable): not needed
    fact(
        f,
        p,
        "snmp",
        B_MAC,
        ipb,
        "snmp.sys_descr",
        "WardWatch Test Infusion Gateway IG-100 firmware 2.4.1 (synthetic)",
        vb.get("1.3.6.1.2.1.1.1.0"),
    )
    fact(
        f, p, "snmp", B_MAC, ipb, "snmp.sys_object_id", "1.3.6.1.4.1.8072.3.2.10", vb.get("1.3.6.1.2.1.1.2.0")
    )
    fact(f, p, "snmp", B_MAC, ipb, "snmp.sys_name", "infusion-gw-07", vb.get("1.3.6.1.2.1.1.5.0"))
    fact(
        f,
        p,
        "snmp",
        B_MAC,
        ipb,
        "snmp.sys_location",
        "Ward 3 East, Room 12 (synthetic)",
        vb.get("1.3.6.1.2.1.1.6.0"),
    )

    # HTTP
    p, f = entry("http-curl-pythonhttp.pcap")
    ipa, ipb = net(4)
    fact(
        f,
        p,
        "http",
        A_MAC,
        ipa,
        "http.user_agent",
        "WardWatchTest-Client/1.0 (synthetic biomed workstation) curl",
        one(p, "http.request", "http.user_agent"),
    )
    fact(
        f,
        p,
        "http",
        B_MAC,
        ipb,
        "http.server",
        "SimpleHTTP/0.6 Python/3.11.2",
        one(p, "http.response", "http.server"),
    )

    # TLS
    ja4 = {
        "tls12-openssl.pcap": "t12d280700_d943125447b4_e7e480e5a997",
        "tls13-openssl.pcap": "t13d041000_16476d049b0b_78f1d400d464",
        "tls12-curl.pcap": "t12d2807h2_d943125447b4_a44c6288192a",
        "tls12-gnutls.pcap": "t12d251000_7415a186c913_577ffa9d9a5c",
    }
    ja3 = {
        "tls12-openssl.pcap": "871a754af286dfb70c1b53c6887c62e0",
        "tls13-openssl.pcap": "f146948b4a599d4d7ddf071b74696983",
        "tls12-curl.pcap": "87b9bfc7da97115ed2276737b09f8d74",
        "tls12-gnutls.pcap": None,
    }
    for name in ja4:
        p, f = entry(name)
        ipa, ipb = net(5)
        fact(
            f,
            p,
            "tls",
            A_MAC,
            ipa,
            "tls.sni",
            "pacs.example-hospital.test",
            one(p, "tls.handshake.type == 1", "tls.handshake.extensions_server_name"),
        )
        out = subprocess.run(
            [sys.executable, str(HERE / "ja4_oracle.py"), str(p)], check=True, capture_output=True, text=True
        ).stdout.split()
        extra = {}
        got_ja3 = one(p, "tls.handshake.type == 1", "tls.handshake.ja3")
        if ja3[name] is None:
            ja3[name] = got_ja3
        extra["ja3_tshark"] = ja3[name]
        if got_ja3 != ja3[name]:
            errors.append(f"{name}: ja3 {got_ja3} != {ja3[name]}")
        fact(
            f,
            p,
            "tls",
            A_MAC,
            ipa,
            "tls.ja4",
            ja4[name],
            out[-1],
            oracle="ja4_oracle.py over tshark fields",
            **extra,
        )
        if name != "tls13-openssl.pcap":  # TLS 1.3 encrypts the Certificate message
            cert = f"tls.handshake.type == 11 && ip.src == {ipb}"
            strs = tshark(p, cert, "x509sat.uTF8String")[0][0]
            # TBSCertificate order: issuer (CN, O) then subject (CN, O)
            want = "CN=pacs.example-hospital.test, O=Example Hospital"
            fact(f, p, "tls", B_MAC, ipb, "tls.cert_issuer", want, f"CN={strs[0]}, O={strs[1]}")
            fact(f, p, "tls", B_MAC, ipb, "tls.cert_subject", want, f"CN={strs[2]}, O={strs[3]}")
            mod = one(p, cert, "pkcs1.modulus").lstrip("0")
            fact(
                f,
                p,
                "tls",
                B_MAC,
                ipb,
                "tls.cert_key_bits",
                2048,
                (len(mod) * 4 + 7) // 8 * 8,
                key_type="rsaEncryption",
            )

    # SSDP / UPnP (device = ns B)
    p, f = entry("ssdp-upnp-minidlna.pcap")
    _, ipb = net(6)
    uuid = "uuid:4d696e69-444c-164e-9d41-02994bb00002"
    fact(
        f,
        p,
        "ssdp",
        B_MAC,
        ipb,
        "ssdp.server",
        "Debian DLNADOC/1.50 UPnP/1.0 MiniDLNA/1.3.0",
        one(p, f"ssdp && ip.src == {ipb} && http.server", "http.server"),
    )
    usns = sorted(
        {
            h.split(":", 1)[1].strip().replace("\\r\\n", "")
            for h in values(p, f"ssdp && ip.src == {ipb}", "http.unknown_header")
            if h.upper().startswith("USN:")
        }
    )
    fact(
        f,
        p,
        "ssdp",
        B_MAC,
        ipb,
        "ssdp.usn",
        f"{uuid}::upnp:rootdevice",
        f"{uuid}::upnp:rootdevice" if f"{uuid}::upnp:rootdevice" in usns else usns,
        all_usns=usns,
    )
    xml = one(p, "http.response && tcp.srcport == 8200", "http.file_data")

    def tag(t):
        m = re.search(rf"<{t}>([^<]*)</{t}>", xml)
        return m.group(1) if m else None

    for fld, t, want in [
        ("upnp.friendly_name", "friendlyName", "Ward 3 Imaging Media Server (synthetic)"),
        ("upnp.manufacturer", "manufacturer", "Justin Maggard"),
        ("upnp.model_name", "modelName", "WardWatch Test DLNA"),
        ("upnp.serial_number", "serialNumber", "WW-SN-000123"),
    ]:
        fact(f, p, "upnp", B_MAC, ipb, fld, want, tag(t))

    # LLDP (both namespaces)
    p, f = entry("lldp-lldpd.pcap")
    ipa, ipb = net(7)
    for mac, ip, name, descr in [
        (A_MAC, ipa, "access-sw-ward3", "WardWatch Test Access Switch (synthetic)"),
        (B_MAC, ipb, "ventilator-gw-12", "WardWatch Test Ventilator Gateway VG-12 (synthetic)"),
    ]:
        flt = f"lldp && eth.src == {mac}"
        fact(f, p, "lldp", mac, ip, "lldp.system_name", name, one(p, flt, "lldp.tlv.system.name"))
        fact(f, p, "lldp", mac, ip, "lldp.system_description", descr, one(p, flt, "lldp.tlv.system.desc"))
        fact(
            f,
            p,
            "lldp",
            mac,
            ip,
            "lldp.port_id",
            mac,
            one(p, flt, "lldp.port.id.mac"),
            port_id_subtype="mac",
            port_description=one(p, flt, "lldp.port.desc"),
        )

    # CDP (ns B)
    p, f = entry("cdp-lldpd.pcap")
    _, ipb = net(7)
    fact(f, p, "cdp", B_MAC, ipb, "cdp.device_id", "ventilator-gw-12", one(p, "cdp", "cdp.deviceid"))
    fact(
        f,
        p,
        "cdp",
        B_MAC,
        ipb,
        "cdp.platform",
        "VG-12",
        one(p, "cdp", "cdp.platform"),
        port_id=one(p, "cdp", "cdp.portid"),
        software_version=one(p, "cdp", "cdp.software_version"),
    )

    # Syslog (sender = ns B)
    p, f = entry("syslog-logger.pcap")
    _, ipb = net(8)
    fact(f, p, "syslog", B_MAC, ipb, "syslog.hostname", "pump-ctl-21", one(p, "syslog", "syslog.hostname"))
    fact(
        f,
        p,
        "syslog",
        B_MAC,
        ipb,
        "syslog.app_name",
        "infusion-pumpd",
        one(p, "syslog", "syslog.appname"),
        note="tshark 4.0 decodes APP-NAME only for the RFC 5424 message; the RFC 3164 one has TAG infusion-pumpd",
    )

    # DNS: no identity fact in the field list; packet count only
    p, f = entry("dns-dnsmasq-dig.pcap")

    # LLMNR (querier = ns A)
    p, f = entry("llmnr-llmnrd.pcap")
    ipa, ipb = net(9)
    fact(
        f,
        p,
        "llmnr",
        A_MAC,
        ipa,
        "llmnr.query",
        "imaging-ws-04",
        one(p, f"llmnr && dns.flags.response == 0 && ip.src == {ipa}", "dns.qry.name"),
    )

    # NBNS (name owner = ns B, registrations)
    p, f = entry("nbns-nmbd.pcap")
    names = sorted(
        {v.split("<")[0] for v in values(p, f"nbns.flags.opcode == 5 && ip.src == {ipb}", "nbns.name")}
    )
    fact(
        f,
        p,
        "nbns",
        B_MAC,
        ipb,
        "nbns.name",
        "WARD3-NAS",
        "WARD3-NAS" if "WARD3-NAS" in names else names,
        registered_names=names,
        workgroup="EXAMPLEHOSP",
    )

    # SMB (client = ns A, server = ns B)
    p, f = entry("smb-samba.pcap")
    ipa, ipb = net(10)
    fact(
        f,
        p,
        "smb",
        A_MAC,
        ipa,
        "smb.native_os",
        "Unix",
        one(p, f"smb.native_os && ip.src == {ipa}", "smb.native_os"),
    )
    fact(
        f,
        p,
        "smb",
        B_MAC,
        ipb,
        "smb.native_os",
        "Windows 6.1",
        one(p, f"smb.native_os && ip.src == {ipb}", "smb.native_os"),
        native_lanman=one(p, f"smb.native_lanman && ip.src == {ipb}", "smb.native_lanman"),
    )
    fact(
        f,
        p,
        "smb",
        B_MAC,
        ipb,
        "smb.nb_computer_name",
        "WARD3-NAS",
        one(p, "ntlmssp.messagetype == 2", "ntlmssp.challenge.target_info.nb_computer_name"),
        source="NTLMSSP CHALLENGE target info (MsvAvNbComputerName)",
    )
    fact(
        f,
        p,
        "smb",
        A_MAC,
        ipa,
        "smb.nb_computer_name",
        "NURSE-WS-09",
        one(p, "ntlmssp.messagetype == 3", "ntlmssp.auth.hostname"),
        source="NTLMSSP AUTHENTICATE workstation name",
        user="labtech",
        domain="EXAMPLEHOSP",
    )
    return exp


def main():
    exp = build()
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    for name, e in exp.items():
        print(f"{name}: {e['packets']} packets, {len(e['facts'])} facts OK")
    if "--write" in sys.argv:
        (HERE / "expected.json").write_text(json.dumps(exp, indent=2) + "\n")
        print("wrote expected.json")


if __name__ == "__main__":
    main()
