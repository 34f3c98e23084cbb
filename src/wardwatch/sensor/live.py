"""Live capture from a network interface (a switch mirror port), receive-only.

Linux ``AF_PACKET`` raw socket from Python's ``socket`` module, no libpcap binding: the socket
is bound to one interface for every EtherType, put in promiscuous mode through
``PACKET_ADD_MEMBERSHIP`` (a local setting: nothing is sent), given kernel receive timestamps
(``SO_TIMESTAMPNS``) and, with ``--bpf``, a classic BPF program attached with
``SO_ATTACH_FILTER``. The program is compiled once at start by ``tcpdump -ddd -y EN10MB FILTER``
(tcpdump's own compiler, the same filter language users know; it opens no interface). The
socket is never written to: the sensor is passive by construction, and the netns test proves
it with the interface's TX counter.

Kernel drops (the socket buffer overflowed because the sensor fell behind) come from
``PACKET_STATISTICS``, which the kernel resets on every read, so they are accumulated here.

Limits: frames are read one ``recvmsg`` at a time (no ``PACKET_MMAP`` ring yet), which suits a
mirror port of up to some hundred thousand packets/s; VLAN tags stripped by the NIC are not
restored (``PACKET_AUXDATA``), so flows on a tagged mirror carry no VLAN id.
"""

from __future__ import annotations

import ctypes
import select
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator

from wardwatch.sensor.capture.batch import LinkType, PacketBatch

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_STATISTICS = 6
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
#: Largest frame read (GRO/TSO on virtual interfaces can hand up to 64 KiB super-frames).
MAX_FRAME = 262_144


class LiveCaptureError(Exception):
    """The interface cannot be captured from (missing, no permission, bad filter). One line."""


def compile_bpf(expression: str) -> list[tuple[int, int, int, int]]:
    """Compile a tcpdump filter expression for Ethernet into classic BPF instructions."""
    exe = shutil.which("tcpdump")
    if exe is None:
        raise LiveCaptureError("--bpf needs tcpdump (its filter compiler) on PATH: apt-get install tcpdump")
    proc = subprocess.run(
        [exe, "-ddd", "-y", "EN10MB", expression], capture_output=True, text=True, check=False, timeout=30
    )
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        why = lines[-1] if lines else f"tcpdump exit status {proc.returncode}"
        raise LiveCaptureError(f"--bpf {expression!r}: {why.removeprefix('tcpdump: ')}")
    rows = proc.stdout.split()
    count = int(rows[0])
    values = [int(v) for v in rows[1:]]
    if len(values) != 4 * count:
        raise LiveCaptureError(f"--bpf {expression!r}: unexpected tcpdump -ddd output")
    return [(values[i], values[i + 1], values[i + 2], values[i + 3]) for i in range(0, len(values), 4)]


class LiveCapture:
    """A receive-only packet socket on one interface that yields :class:`PacketBatch` es."""

    def __init__(self, interface: str, *, bpf: str | None = None, promiscuous: bool = True) -> None:
        self.interface = interface
        self.kernel_received = 0
        self.kernel_dropped = 0
        self.packets = 0
        self._index = 0
        try:
            ifindex = socket.if_nametoindex(interface)
        except OSError:
            raise LiveCaptureError(f"{interface}: no such network interface") from None
        program = compile_bpf(bpf) if bpf else None
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError:
            raise LiveCaptureError(f"{interface}: capturing needs root or CAP_NET_RAW") from None
        self._sock = sock
        self._filter_buf: ctypes.Array[ctypes.c_char] | None = None
        try:
            if program is not None:
                # Attached before bind, so no unfiltered packet is ever queued.
                raw = b"".join(struct.pack("HBBI", *ins) for ins in program)
                self._filter_buf = ctypes.create_string_buffer(raw, len(raw))
                fprog = struct.pack("HL", len(program), ctypes.addressof(self._filter_buf))
                sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024 * 1024)
            sock.bind((interface, ETH_P_ALL))
            if promiscuous:
                mreq = struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b"")
                sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise LiveCaptureError(f"{interface}: {exc.strerror or exc}") from None
        self._anc = socket.CMSG_SPACE(16)

    def update_kernel_stats(self) -> tuple[int, int]:
        """Read (and accumulate) the kernel's received/dropped counters; returns the totals."""
        raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
        received, dropped = struct.unpack("II", raw)
        self.kernel_received += received
        self.kernel_dropped += dropped
        return self.kernel_received, self.kernel_dropped

    def batches(
        self, stop: Callable[[], bool], *, max_packets: int = 4096, max_wait_s: float = 0.25
    ) -> Iterator[PacketBatch]:
        """Yield a batch at least every ``max_wait_s`` (possibly empty) until ``stop()`` is true."""
        sock = self._sock
        anc = self._anc
        while not stop():
            pkts: list[tuple[int, bytes]] = []
            deadline = time.monotonic() + max_wait_s
            while len(pkts) < max_packets:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or stop():
                    break
                try:
                    ready, _, _ = select.select([sock], [], [], remaining)
                except InterruptedError:  # a signal arrived: let the caller look at stop()
                    break
                if not ready:
                    break
                while len(pkts) < max_packets:
                    try:
                        data, ancdata, _, _ = sock.recvmsg(MAX_FRAME, anc)
                    except (BlockingIOError, InterruptedError):
                        break
                    ts = 0
                    for level, kind, value in ancdata:
                        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(value) >= 16:
                            sec, nsec = struct.unpack("qq", value[:16])
                            ts = sec * 1_000_000_000 + nsec
                    pkts.append((ts or time.time_ns(), data))
            self.update_kernel_stats()
            batch = PacketBatch.from_packets(
                pkts, linktype=LinkType.ETHERNET, source=self.interface, first_index=self._index
            )
            self._index += len(pkts)
            self.packets += len(pkts)
            yield batch

    def close(self) -> None:
        """Close the socket (leaves promiscuous mode)."""
        self._sock.close()
