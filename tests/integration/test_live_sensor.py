"""The live sensor in network namespaces: finds devices while it runs, flushes on SIGTERM, sends nothing.

Topology (all namespaces named ``ww-h5-*``, removed afterwards): a hub namespace holds a bridge
with MAC learning off (``ageing_time 0``, so it floods every frame like a hub or a mirror port),
and three veth links to it: a client (``ww-h5-a``: dhclient and curl), a server (``ww-h5-b``:
dnsmasq for DHCP/DNS and Python's http.server) and the sensor (``ww-h5-s``: ``wardwatch
sensor``, no address, IPv6 off). Real software makes the traffic. The test checks that the
client and server become devices in the store while the sensor runs, that SIGTERM flushes the
rest (the capture record, the ring file), and that the sensor interface's TX counter stayed 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wardwatch.sensor.capture.reader import read_packets

NS_HUB, NS_A, NS_B, NS_S = "ww-h5-hub", "ww-h5-a", "ww-h5-b", "ww-h5-s"
MAC_A, MAC_B = "02:55:00:00:00:0a", "02:55:00:00:00:0b"
SERVER_IP = "10.99.5.1"
WARDWATCH = str(Path(sys.executable).with_name("wardwatch"))


def _why_skip() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, AF_PACKET)"
    for tool in ("ip", "dnsmasq", "dhclient", "curl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    # One probe name per process: pytest-xdist workers import this module at the same time.
    name = f"ww-h5-probe-{os.getpid()}"
    probe = subprocess.run(["ip", "netns", "add", name], capture_output=True, check=False)
    if probe.returncode != 0:
        return f"ip netns unavailable: {probe.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", name], check=False)
    return None


_SKIP = _why_skip()  # once: a second probe could answer differently (and the reason said "None")
pytestmark = pytest.mark.skipif(_SKIP is not None, reason=str(_SKIP))


def sh(*args: str, ns: str | None = None) -> str:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30).stdout


def _cleanup() -> None:
    for ns in (NS_A, NS_B, NS_S, NS_HUB):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


@pytest.fixture
def netns(tmp_path: Path) -> Iterator[Path]:
    _cleanup()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for ns in (NS_HUB, NS_A, NS_B, NS_S):
            sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", "br0", "type", "bridge", "ageing_time", "0", ns=NS_HUB)
        sh("ip", "link", "set", "br0", "up", ns=NS_HUB)
        for ns, inner, outer, mac in (
            (NS_A, "h5a0", "hub-a", MAC_A),
            (NS_B, "h5b0", "hub-b", MAC_B),
            (NS_S, "h5s0", "hub-s", None),
        ):
            sh("ip", "link", "add", inner, "type", "veth", "peer", "name", outer, ns=NS_HUB)
            sh("ip", "link", "set", inner, "netns", ns, ns=NS_HUB)
            sh("ip", "link", "set", outer, "master", "br0", "up", ns=NS_HUB)
            if mac:
                sh("ip", "link", "set", inner, "address", mac, ns=ns)
            else:  # the sensor: no address, no IPv6 (no DAD, no router solicitation), nothing to send
                sh("sysctl", "-qw", f"net.ipv6.conf.{inner}.disable_ipv6=1", ns=ns)
            sh("ip", "link", "set", inner, "up", ns=ns)
        sh("ip", "addr", "add", f"{SERVER_IP}/24", "dev", "h5b0", ns=NS_B)
        sh("ip", "link", "set", "lo", "up", ns=NS_B)
        www = tmp_path / "www"
        www.mkdir()
        (www / "index.html").write_text("<html>ok</html>")
        procs.append(
            subprocess.Popen(
                ["ip", "netns", "exec", NS_B, "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
                 "--interface=h5b0", "--bind-interfaces", "--dhcp-range=10.99.5.50,10.99.5.99,1h",
                 f"--dhcp-leasefile={tmp_path / 'leases'}", "--address=/pacs.ward.test/10.99.5.1",
                 f"--pid-file={tmp_path / 'dnsmasq.pid'}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        procs.append(
            subprocess.Popen(
                ["ip", "netns", "exec", NS_B, sys.executable, "-m", "http.server", "8080",
                 "--bind", SERVER_IP, "--directory", str(www)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        yield tmp_path
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        _stop_dhclient(tmp_path / "dhclient.pid")
        _cleanup()


def _stop_dhclient(pid_file: Path) -> None:
    """dhclient goes to the background once it has a lease: stop it, or it outlives the test
    (in a namespace that no longer exists)."""
    with contextlib.suppress(OSError, ValueError):  # no lease taken, or already gone
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)


def tx_packets() -> int:
    return int(sh("cat", "/sys/class/net/h5s0/statistics/tx_packets", ns=NS_S).strip())


def device_macs(db: Path) -> set[str]:
    if not db.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return {r[0] for r in conn.execute("select mac from device where mac is not null")}
    except sqlite3.OperationalError:  # not migrated yet, or locked by a write
        return set()


def make_traffic(tmp: Path) -> None:
    """DHCP (with a host name and vendor class), DNS and HTTP from the client namespace."""
    conf = tmp / "dhclient.conf"
    conf.write_text('send host-name "WW-H5-PUMP-0042";\nsend vendor-class-identifier "WWTEST-1.0";\n')
    sh("dhclient", "-1", "-cf", str(conf), "-pf", str(tmp / "dhclient.pid"), "-lf", str(tmp / "dhclient.leases"),
       "h5a0", ns=NS_A)  # fmt: skip
    for _ in range(3):
        subprocess.run(
            ["ip", "netns", "exec", NS_A, "curl", "-s", "-m", "5", "-A", "WardTest/1.0", f"http://{SERVER_IP}:8080/"],
            capture_output=True, check=False, timeout=30,
        )  # fmt: skip


def test_live_sensor_finds_devices_while_running_and_sends_nothing(netns: Path) -> None:
    tmp = netns
    db = tmp / "ww.sqlite"
    ring = tmp / "ring"
    assert tx_packets() == 0, "the test setup made the sensor interface send"
    sensor = subprocess.Popen(
        ["ip", "netns", "exec", NS_S, WARDWATCH, "--db", f"sqlite:///{db}", "sensor", "--interface", "h5s0",
         "--flush-seconds", "1", "--ring", str(ring), "--ring-seconds", "60", "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # wait for the sensor to be capturing (the store exists once it has started)
        deadline = time.monotonic() + 60
        while not db.exists() and time.monotonic() < deadline and sensor.poll() is None:
            time.sleep(0.2)
        assert sensor.poll() is None, sensor.stderr.read().decode() if sensor.stderr else ""
        time.sleep(1.0)
        make_traffic(tmp)
        # while it runs: the client and the server become devices in the store
        deadline = time.monotonic() + 60
        seen: set[str] = set()
        while time.monotonic() < deadline:
            seen = device_macs(db)
            if {MAC_A, MAC_B} <= seen:
                break
            time.sleep(0.5)
        assert sensor.poll() is None, "the sensor stopped by itself"
        assert {MAC_A, MAC_B} <= seen, f"devices not in the store while running: {seen}"
    finally:
        sensor.send_signal(signal.SIGTERM)
        stdout, stderr = sensor.communicate(timeout=120)
    assert sensor.returncode == 0, stderr.decode()
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    assert summary["signal"] == signal.SIGTERM
    assert summary["packets"] > 10 and summary["flushes"] >= 2
    # the flush at shutdown: the capture record and the DHCP facts are stored
    with sqlite3.connect(db) as conn:
        sources = [r[0] for r in conn.execute("select source from capture")]
        fields = [r[0] for r in conn.execute("select fields from observation where protocol = 'dhcp'")]
    assert sources == ["live:h5s0"]
    assert any("WW-H5-PUMP-0042" in f for f in fields), fields
    # the ring holds the capture, readable by the offline reader
    files = sorted(ring.glob("ww-*.pcap"))
    assert files
    assert sum(len(b) for f in files for b in read_packets(f)) == summary["packets"]
    # passive: not one packet left the sensor interface
    assert tx_packets() == 0
