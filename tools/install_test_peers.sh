#!/usr/bin/env bash
# Install, from Debian's archive, the real protocol software some tests use as peers or oracles:
# dnsmasq + isc-dhcp-client + curl (live-sensor test in network namespaces), tcpdump (BPF filters
# of `wardwatch sensor --bpf`), tshark (cross-checks of the dissectors), iproute2 (ip netns).
# Idempotent and quick when everything is present; needs root (or sudo) for apt-get.
set -euo pipefail

missing=()
command -v dnsmasq >/dev/null 2>&1 || missing+=(dnsmasq-base)
command -v dhclient >/dev/null 2>&1 || missing+=(isc-dhcp-client)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
command -v tshark >/dev/null 2>&1 || missing+=(tshark)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if [ ${#missing[@]} -eq 0 ]; then
    echo "test peers already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: installing ${missing[*]} needs root (apt-get)" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
