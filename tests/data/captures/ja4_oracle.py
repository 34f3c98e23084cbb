#!/usr/bin/env python3
"""JA4 (TLS client) fingerprints of the ClientHellos in a capture, as a test oracle.

tshark 4.0 (Debian 12) has no ``tls.handshake.ja4`` field (it arrived in
Wireshark 4.2), so this helper lets tshark do all the parsing and only applies
the public JA4 formula (FoxIO JA4 spec, the same steps as FoxIO's python/ja4.py
``to_ja4`` + ``get_hex_sorted``) to the fields tshark decoded. It shares no
code with wardwatch. Usage: ja4_oracle.py FILE.pcap  -> "ip.src<TAB>sni<TAB>ja4"
"""

import hashlib
import subprocess
import sys

GREASE = {0x0A0A + 0x1010 * i for i in range(16)}
VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2"}
FIELDS = [
    "ip.src",
    "tls.handshake.extensions_server_name",
    "tls.handshake.version",
    "tls.handshake.ciphersuite",
    "tls.handshake.extension.type",
    "tls.handshake.sig_hash_alg",
    "tls.handshake.extensions_alpn_str",
    "tls.handshake.extensions.supported_version",
]


def _ints(s):
    return [int(v, 0) for v in s.split(",") if v]


def _sha12(s):
    return hashlib.sha256(s.encode()).hexdigest()[:12] if s else "000000000000"


def ja4(row):
    _src, sni, legacy, ciphers, exts, sigs, alpns, versions = row
    ciphers = [c for c in _ints(ciphers) if c not in GREASE]
    exts = [e for e in _ints(exts) if e not in GREASE]
    sigs = _ints(sigs)
    sv = [v for v in _ints(versions) if v not in GREASE]
    version = VERSIONS.get(max(sv) if sv else int(legacy.split(",")[0], 0), "00")
    alpn = "00"
    if alpns:
        first = alpns.split(",")[0]
        if first:
            if first[0].isalnum() and first[-1].isalnum():
                alpn = first[0] + first[-1]
            else:
                h = first.encode().hex()
                alpn = h[0] + h[-1]
    a = f"t{version}{'d' if sni else 'i'}{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}{alpn}"
    b = _sha12(",".join(sorted(f"{c:04x}" for c in ciphers)))
    ext_s = ",".join(sorted(f"{e:04x}" for e in exts if e not in (0x0000, 0x0010)))
    if sigs:
        ext_s += "_" + ",".join(f"{s:04x}" for s in sigs)
    return f"{a}_{b}_{_sha12(ext_s)}"


def main(path):
    cmd = [
        "tshark",
        "-r",
        path,
        "-Y",
        "tls.handshake.type == 1",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
        "-E",
        "separator=/t",
    ]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        row = line.split("\t")
        row += [""] * (len(FIELDS) - len(row))
        print(f"{row[0]}\t{row[1]}\t{ja4(row)}")


if __name__ == "__main__":
    main(sys.argv[1])
