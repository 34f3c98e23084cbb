"""Frame builders for the traffic simulator.

Every builder returns exact on-the-wire bytes (Ethernet without FCS) written with ``struct``: lengths and
Internet checksums are computed, never left zero, because the sensor's dissectors were written
independently and must be able to trust them. The builders are plain functions over ``bytes`` so that
the generator can stay fast; ``bulk_tcp_records`` builds long TCP transfers with numpy in one go.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

BROADCAST = b"\xff" * 6
ZERO_MAC = b"\x00" * 6
ZERO_IP = b"\x00\x00\x00\x00"
BCAST_IP = b"\xff\xff\xff\xff"
ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_VLAN = 0x8100
ETH_LLDP = 0x88CC
MDNS_MAC = bytes.fromhex("01005e0000fb")
MDNS_IP = bytes([224, 0, 0, 251])
SSDP_MAC = bytes.fromhex("01005e7ffffa")
SSDP_IP = bytes([239, 255, 255, 250])
LLDP_MAC = bytes.fromhex("0180c200000e")
CDP_MAC = bytes.fromhex("01000ccccccc")

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10
_M32 = 0xFFFFFFFF

_ETH = struct.Struct("!6s6sH")
_ETH_VLAN = struct.Struct("!6s6sHHH")
_IP = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")
_TCP = struct.Struct("!HHIIBBHHH")
_PSEUDO = struct.Struct("!4s4sBBH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
_IP_TCP = struct.Struct("!BBHHHBBH4s4sHHIIBBHHH")


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum of ``data``.

    Uses the identity "ones'-complement sum == value mod 0xFFFF" on one big integer, which is an order of
    magnitude faster in CPython than summing 16-bit words.
    """
    if len(data) & 1:
        data += b"\x00"
    r = int.from_bytes(data, "big") % 0xFFFF
    return 0xFFFF - r if r else 0


def word_sum(data: bytes) -> int:
    """Plain (unfolded) sum of the big-endian 16-bit words of ``data``; pads odd lengths with zero."""
    if len(data) & 1:
        data += b"\x00"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def ip4(text: str) -> bytes:
    """Dotted quad to 4 bytes."""
    return bytes(int(p) for p in text.split("."))


def ip4_str(raw: bytes) -> str:
    """4 bytes to dotted quad."""
    return ".".join(str(b) for b in raw)


def mac_str(raw: bytes) -> str:
    """6 bytes to aa:bb:cc:dd:ee:ff."""
    return ":".join(f"{b:02x}" for b in raw)


def ether(dst: bytes, src: bytes, ethertype: int, payload: bytes, vlan: int | None = None) -> bytes:
    """Ethernet II frame, optionally with one 802.1Q tag (priority 0)."""
    if vlan is None:
        return _ETH.pack(dst, src, ethertype) + payload
    return _ETH_VLAN.pack(dst, src, ETH_VLAN, vlan & 0x0FFF, ethertype) + payload


def pad60(frame: bytes) -> bytes:
    """Pad a short non-IP frame to the 60-byte Ethernet minimum, as a NIC does on the wire."""
    return frame + b"\x00" * (60 - len(frame)) if len(frame) < 60 else frame


def ipv4(
    src: bytes,
    dst: bytes,
    proto: int,
    payload: bytes,
    ident: int,
    ttl: int = 64,
    df: bool = True,
    tos: int = 0,
) -> bytes:
    """IPv4 packet with a 20-byte header and a correct header checksum."""
    hdr = _IP.pack(0x45, tos, 20 + len(payload), ident & 0xFFFF, 0x4000 if df else 0, ttl, proto, 0, src, dst)
    return hdr[:10] + checksum(hdr).to_bytes(2, "big") + hdr[12:] + payload


def udp(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    """UDP datagram (header + payload) with the pseudo-header checksum (0 is sent as 0xFFFF)."""
    length = 8 + len(payload)
    hdr = _UDP.pack(sport, dport, length, 0)
    c = checksum(_PSEUDO.pack(src, dst, 0, 17, length) + hdr + payload) or 0xFFFF
    return _UDP.pack(sport, dport, length, c) + payload


def tcp(
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    window: int = 64240,
    options: bytes = b"",
) -> bytes:
    """TCP segment with options (padded by the caller to a multiple of 4) and a correct checksum."""
    hdr = (
        _TCP.pack(sport, dport, seq & _M32, ack & _M32, ((20 + len(options)) // 4) << 4, flags, window, 0, 0)
        + options
    )
    c = checksum(_PSEUDO.pack(src, dst, 0, 6, len(hdr) + len(payload)) + hdr + payload)
    return hdr[:16] + c.to_bytes(2, "big") + hdr[18:] + payload


def udp_frame(
    src_mac: bytes,
    dst_mac: bytes,
    src_ip: bytes,
    dst_ip: bytes,
    sport: int,
    dport: int,
    payload: bytes,
    ident: int,
    ttl: int = 64,
    vlan: int | None = None,
) -> bytes:
    """Ethernet + IPv4 + UDP in one call."""
    return ether(
        dst_mac,
        src_mac,
        ETH_IPV4,
        ipv4(src_ip, dst_ip, 17, udp(src_ip, dst_ip, sport, dport, payload), ident, ttl),
        vlan,
    )


def arp(
    op: int, sha: bytes, spa: bytes, tha: bytes, tpa: bytes, dst_mac: bytes, vlan: int | None = None
) -> bytes:
    """ARP request (op 1) or reply (op 2) for IPv4 over Ethernet, padded to 60 bytes."""
    return pad60(ether(dst_mac, sha, ETH_ARP, _ARP.pack(1, ETH_IPV4, 6, 4, op, sha, spa, tha, tpa), vlan))


# --------------------------------------------------------------------------------------------- TCP flows


class TcpFlow:
    """A TCP connection seen from a capture point; tracks sequence numbers and IP identifiers.

    Each method returns ``(gap_us, frame)`` pairs: ``gap_us`` is the delay since the previous frame, so the
    generator can lay the exchange on its clock.
    """

    def __init__(
        self,
        c_mac: bytes,
        s_mac: bytes,
        c_ip: bytes,
        s_ip: bytes,
        c_port: int,
        s_port: int,
        c_isn: int,
        s_isn: int,
        c_ident: int,
        s_ident: int,
        c_ttl: int = 64,
        s_ttl: int = 64,
        vlan: int | None = None,
        rtt_us: int = 300,
        mss: int = 1460,
    ) -> None:
        self.mac = (c_mac, s_mac)
        self.ip = (c_ip, s_ip)
        self.port = (c_port, s_port)
        self.seq = [c_isn & _M32, s_isn & _M32]
        self.ident = [c_ident, s_ident]
        self.ttl = (c_ttl, s_ttl)
        self.vlan = vlan
        self.half_rtt = max(1, rtt_us // 2)
        self.mss = mss
        # Per-direction constants so that a segment costs one struct.pack and two modular sums.
        self._eth = (
            ether(s_mac, c_mac, ETH_IPV4, b"", vlan),
            ether(c_mac, s_mac, ETH_IPV4, b"", vlan),
        )
        addr = word_sum(c_ip + s_ip)
        self._ip_base = (
            0x4500 + 0x4000 + ((c_ttl << 8) | 6) + addr,
            0x4500 + 0x4000 + ((s_ttl << 8) | 6) + addr,
        )
        self._tcp_base = (addr + 6 + c_port + s_port, addr + 6 + c_port + s_port)

    def segment(self, from_client: bool, flags: int, payload: bytes = b"", options: bytes = b"") -> bytes:
        """One segment from one side; advances that side's sequence number."""
        a = 0 if from_client else 1
        b = 1 - a
        seq = self.seq[a]
        ack = self.seq[b] if flags & TCP_ACK else 0
        n = len(payload)
        tlen = 20 + len(options) + n
        ident = self.ident[a]
        self.ident[a] = (ident + 1) & 0xFFFF
        self.seq[a] = (seq + n + (1 if flags & (TCP_SYN | TCP_FIN) else 0)) & _M32
        r = (self._ip_base[a] + 20 + tlen + ident) % 0xFFFF
        ip_ck = 0xFFFF - r if r else 0
        hw = (((20 + len(options)) // 4) << 12) | flags
        tsum = (
            self._tcp_base[a]
            + tlen
            + (seq >> 16)
            + (seq & 0xFFFF)
            + (ack >> 16)
            + (ack & 0xFFFF)
            + hw
            + 64240
        )
        if options:
            tsum += word_sum(options)
        if n:
            tsum += int.from_bytes(payload + b"\x00" if n & 1 else payload, "big")
        r = tsum % 0xFFFF
        tcp_ck = 0xFFFF - r if r else 0
        src, dst = self.ip[a], self.ip[b]
        return (
            self._eth[a]
            + _IP_TCP.pack(
                0x45,
                0,
                20 + tlen,
                ident,
                0x4000,
                self.ttl[a],
                6,
                ip_ck,
                src,
                dst,
                self.port[a],
                self.port[b],
                seq,
                ack,
                hw >> 8,
                flags,
                64240,
                tcp_ck,
                0,
            )
            + options
            + payload
        )

    def handshake(self) -> list[tuple[int, bytes]]:
        """SYN, SYN-ACK, ACK with the usual MSS / window-scale / SACK-permitted options."""
        opts = struct.pack("!BBH", 2, 4, self.mss) + b"\x01\x03\x03\x08\x01\x01\x04\x02"
        return [
            (0, self.segment(True, TCP_SYN, b"", opts)),
            (self.half_rtt, self.segment(False, TCP_SYN | TCP_ACK, b"", opts)),
            (self.half_rtt, self.segment(True, TCP_ACK)),
        ]

    def send(self, from_client: bool, data: bytes, first_gap_us: int = 0) -> list[tuple[int, bytes]]:
        """Data from one side in MSS-sized segments (PSH on the last), ACKed by the peer every 2 segments."""
        out: list[tuple[int, bytes]] = []
        n = len(data)
        gap = first_gap_us
        for count, off in enumerate(range(0, n, self.mss), start=1):
            chunk = data[off : off + self.mss]
            last = off + self.mss >= n
            out.append((gap, self.segment(from_client, TCP_ACK | (TCP_PSH if last else 0), chunk)))
            gap = 12
            if count % 2 == 0 or last:
                out.append((self.half_rtt, self.segment(not from_client, TCP_ACK)))
        return out

    def close(self, from_client: bool = True) -> list[tuple[int, bytes]]:
        """FIN/ACK from one side, FIN/ACK back, final ACK."""
        return [
            (200, self.segment(from_client, TCP_FIN | TCP_ACK)),
            (self.half_rtt, self.segment(not from_client, TCP_FIN | TCP_ACK)),
            (self.half_rtt, self.segment(from_client, TCP_ACK)),
        ]


REC_HDR = struct.Struct("<IIII")  # pcap record header: ts_sec, ts_usec, incl_len, orig_len


def _put(rows: npt.NDArray[np.uint8], col: int, values: npt.NDArray[np.int64], dtype: str) -> None:
    """Write one integer field (dtype e.g. '>u4') into column ``col`` of every row."""
    raw = values.astype(dtype).view(np.uint8)
    width = np.dtype(dtype).itemsize
    rows[:, col : col + width] = raw.reshape(-1, width)


def _fold(s: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Ones'-complement fold and complement, vectorised; matches :func:`checksum`."""
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    out: npt.NDArray[np.int64] = ~s & 0xFFFF
    return out


class PayloadPool:
    """A block of pseudo-random bytes that bulk payloads are cut from, with prefix sums for checksums.

    Payload slices start at even offsets, so the checksum contribution of any slice is a difference of
    two prefix sums: long transfers never sum their payload bytes in Python.
    """

    def __init__(self, data: bytes) -> None:
        if len(data) & 1:
            data = data[:-1]
        self.data = data
        self.array = np.frombuffer(data, dtype=np.uint8)
        words = np.frombuffer(data, dtype=">u2").astype(np.int64)
        self.cum = np.concatenate([np.zeros(1, np.int64), np.cumsum(words)])

    def slice_sum(self, offsets: npt.NDArray[np.int64], length: int) -> npt.NDArray[np.int64]:
        """Word sums of ``data[o:o+length]`` for even offsets ``o`` and even ``length``."""
        half = offsets // 2
        out: npt.NDArray[np.int64] = self.cum[half + length // 2] - self.cum[half]
        return out


def bulk_tcp_records(
    flow: TcpFlow,
    from_client: bool,
    groups: int,
    pool: PayloadPool,
    offset: int,
    t0_us: int,
    gap_us: int,
) -> tuple[npt.NDArray[np.uint8], int]:
    """Pcap records for ``groups`` x (2 full data segments + 1 ACK), built in numpy.

    Advances ``flow`` exactly as ``flow.send`` would. The payload is ``pool.data[offset:offset + 2*groups*mss]``
    (``offset`` even), cut into segments in order, like a file being sent. Packet times are
    ``t0_us + k*gap_us`` for data segment k and half a gap after each second segment for the ACK
    (``gap_us`` >= 4). Returns (records as a C-contiguous uint8 array, time of the last record).
    """
    mss = flow.mss
    a = 0 if from_client else 1
    b = 1 - a
    seq0, ack_const = flow.seq[a], flow.seq[b]
    id_d, id_a = flow.ident[a], flow.ident[b]
    # Templates with zero seq/ack/ident/checksum fields: per-packet values are added as word sums.
    dseg = tcp(flow.ip[a], flow.ip[b], flow.port[a], flow.port[b], 0, ack_const, TCP_ACK)
    dseg = dseg[:16] + b"\x00\x00" + dseg[18:]
    dhdr = ether(
        flow.mac[b],
        flow.mac[a],
        ETH_IPV4,
        ipv4(flow.ip[a], flow.ip[b], 6, dseg + b"\x00" * mss, 0, flow.ttl[a]),
        flow.vlan,
    )
    aseg = tcp(flow.ip[b], flow.ip[a], flow.port[b], flow.port[a], ack_const, 0, TCP_ACK)
    aseg = aseg[:16] + b"\x00\x00" + aseg[18:]
    aframe = ether(
        flow.mac[a], flow.mac[b], ETH_IPV4, ipv4(flow.ip[b], flow.ip[a], 6, aseg, 0, flow.ttl[b]), flow.vlan
    )
    eth_len = 18 if flow.vlan is not None else 14
    dhdr = dhdr[: eth_len + 40]
    dip = dhdr[eth_len : eth_len + 20]
    aip = aframe[eth_len : eth_len + 20]
    dip_base = word_sum(dip[:10] + b"\x00\x00" + dip[12:])
    aip_base = word_sum(aip[:10] + b"\x00\x00" + aip[12:])
    d_tcp_base = word_sum(_PSEUDO.pack(flow.ip[a], flow.ip[b], 0, 6, 20 + mss) + dseg[:20])
    a_tcp_base = word_sum(_PSEUDO.pack(flow.ip[b], flow.ip[a], 0, 6, 20) + aseg[:20])
    dhdr = dhdr[: eth_len + 10] + b"\x00\x00" + dhdr[eth_len + 12 :]
    aframe = aframe[: eth_len + 10] + b"\x00\x00" + aframe[eth_len + 12 :]
    hd = len(dhdr)
    ld, la = hd + mss, len(aframe)
    dpart = np.frombuffer(REC_HDR.pack(0, 0, ld, ld) + dhdr, dtype=np.uint8)
    apart = np.frombuffer(REC_HDR.pack(0, 0, la, la) + aframe, dtype=np.uint8)
    row = 2 * (16 + ld) + 16 + la
    rows = np.empty((groups, row), dtype=np.uint8)
    g = np.arange(groups, dtype=np.int64)
    payload = pool.array[offset : offset + 2 * groups * mss].reshape(groups, 2, mss)
    half = offset // 2 + g * mss  # word index of each group's first payload byte
    ip_off, tcp_off = 16 + eth_len, 16 + eth_len + 20
    for j in (0, 1):
        base = j * (16 + ld)
        rows[:, base : base + 16 + hd] = dpart
        k = 2 * g + j
        seq = (seq0 + k * mss) & _M32
        ident = (id_d + k) & 0xFFFF
        t = t0_us + k * gap_us
        _put(rows, base, t // 1_000_000, "<u4")
        _put(rows, base + 4, t % 1_000_000, "<u4")
        _put(rows, base + ip_off + 4, ident, ">u2")
        _put(rows, base + ip_off + 10, _fold(dip_base + ident), ">u2")
        _put(rows, base + tcp_off + 4, seq, ">u4")
        w0 = half + j * (mss // 2)
        psum = pool.cum[w0 + mss // 2] - pool.cum[w0]
        _put(rows, base + tcp_off + 16, _fold(d_tcp_base + (seq >> 16) + (seq & 0xFFFF) + psum), ">u2")
        rows[:, base + 16 + hd : base + 16 + ld] = payload[:, j, :]
    base = 2 * (16 + ld)
    rows[:, base:] = apart
    t = t0_us + (2 * g + 1) * gap_us + gap_us // 2
    _put(rows, base, t // 1_000_000, "<u4")
    _put(rows, base + 4, t % 1_000_000, "<u4")
    ident = (id_a + g) & 0xFFFF
    ackv = (seq0 + (2 * g + 2) * mss) & _M32
    _put(rows, base + ip_off + 4, ident, ">u2")
    _put(rows, base + ip_off + 10, _fold(aip_base + ident), ">u2")
    _put(rows, base + tcp_off + 8, ackv, ">u4")
    _put(rows, base + tcp_off + 16, _fold(a_tcp_base + (ackv >> 16) + (ackv & 0xFFFF)), ">u2")
    flow.seq[a] = (seq0 + 2 * groups * mss) & _M32
    flow.ident[a] = (id_d + 2 * groups) & 0xFFFF
    flow.ident[b] = (id_a + groups) & 0xFFFF
    return rows.reshape(-1), int(t[-1])


# --------------------------------------------------------------------------------------------- DHCP


def dhcp_option(code: int, value: bytes) -> bytes:
    """One DHCP option TLV."""
    return bytes([code, len(value)]) + value


def dhcp_message(
    op: int,
    xid: int,
    chaddr: bytes,
    options: Sequence[bytes],
    ciaddr: bytes = ZERO_IP,
    yiaddr: bytes = ZERO_IP,
    siaddr: bytes = ZERO_IP,
    secs: int = 0,
    broadcast: bool = False,
) -> bytes:
    """BOOTP header + magic cookie + options + END, padded to the 300-byte BOOTP minimum."""
    hdr = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        op,
        1,
        6,
        0,
        xid,
        secs,
        0x8000 if broadcast else 0,
        ciaddr,
        yiaddr,
        siaddr,
        ZERO_IP,
        chaddr + b"\x00" * 10,
        b"",
        b"",
    )
    msg = hdr + b"\x63\x82\x53\x63" + b"".join(options) + b"\xff"
    return msg + b"\x00" * (300 - len(msg)) if len(msg) < 300 else msg


# --------------------------------------------------------------------------------------------- DNS / mDNS


def dns_name(name: str) -> bytes:
    """Uncompressed DNS name encoding (labels may contain spaces, as DNS-SD instance names do)."""
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode()
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def dns_name_parts(instance: str, domain: str) -> bytes:
    """Name whose first label may contain dots (DNS-SD instance names)."""
    raw = instance.encode()
    return bytes([len(raw)]) + raw + dns_name(domain)


def dns_rr(name: bytes, rtype: int, rclass: int, ttl: int, rdata: bytes) -> bytes:
    """One resource record with an already-encoded owner name."""
    return name + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def txt_rdata(items: Sequence[str]) -> bytes:
    """TXT RDATA from key=value strings."""
    out = b""
    for item in items:
        raw = item.encode()[:255]
        out += bytes([len(raw)]) + raw
    return out


def srv_rdata(port: int, target: str) -> bytes:
    """SRV RDATA (priority 0, weight 0)."""
    return struct.pack("!HHH", 0, 0, port) + dns_name(target)


def dns_message(
    ident: int,
    flags: int,
    questions: Sequence[tuple[str, int]] = (),
    answers: Sequence[bytes] = (),
    additional: Sequence[bytes] = (),
) -> bytes:
    """DNS message: questions are (name, type) with class IN, answers/additional are encoded RRs."""
    out = struct.pack("!HHHHHH", ident, flags, len(questions), len(answers), 0, len(additional))
    for qname, qtype in questions:
        out += dns_name(qname) + struct.pack("!HH", qtype, 1)
    return out + b"".join(answers) + b"".join(additional)


# --------------------------------------------------------------------------------------------- SNMP (BER)


def ber(tag: int, value: bytes) -> bytes:
    """BER TLV with definite short/long length."""
    n = len(value)
    if n < 0x80:
        return bytes([tag, n]) + value
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + value


def ber_int(v: int) -> bytes:
    """BER INTEGER (two's complement, minimal length)."""
    raw = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True)
    return ber(0x02, raw)


def ber_oid(oid: str) -> bytes:
    """BER OBJECT IDENTIFIER."""
    arcs = [int(x) for x in oid.strip(".").split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return ber(0x06, bytes(out))


def snmp_v2c(
    pdu_tag: int, request_id: int, varbinds: Sequence[tuple[str, bytes]], community: str = "public"
) -> bytes:
    """SNMPv2c message; varbinds are (oid, BER-encoded value). pdu_tag 0xA0 GetRequest, 0xA2 Response."""
    vbl = b"".join(ber(0x30, ber_oid(oid) + val) for oid, val in varbinds)
    pdu = ber(pdu_tag, ber_int(request_id) + ber_int(0) + ber_int(0) + ber(0x30, vbl))
    return ber(0x30, ber_int(1) + ber(0x04, community.encode()) + pdu)


# --------------------------------------------------------------------------------------------- LLDP / CDP


def lldp_tlv(tlv_type: int, value: bytes) -> bytes:
    """LLDP TLV: 7-bit type, 9-bit length."""
    return struct.pack("!H", (tlv_type << 9) | len(value)) + value


def lldp_org(oui: bytes, subtype: int, value: bytes) -> bytes:
    """Organizationally specific LLDP TLV (type 127)."""
    return lldp_tlv(127, oui + bytes([subtype]) + value)


OUI_8021 = bytes.fromhex("0080c2")
OUI_MED = bytes.fromhex("0012bb")


def cdp_tlv(tlv_type: int, value: bytes) -> bytes:
    """CDP TLV; length counts the 4-byte header."""
    return struct.pack("!HH", tlv_type, 4 + len(value)) + value


def cdp_frame(src_mac: bytes, tlvs: Sequence[bytes]) -> bytes:
    """CDPv2 over 802.3 + LLC/SNAP (OUI 00000C, PID 0x2000), with the CDP checksum.

    The body is kept even-length because Cisco's checksum treats a trailing odd byte specially.
    """
    body = b"".join(tlvs)
    pdu = struct.pack("!BBH", 2, 180, 0) + body
    if len(pdu) & 1:
        raise ValueError("CDP PDU must have even length")
    pdu = pdu[:2] + checksum(pdu).to_bytes(2, "big") + pdu[4:]
    llc = b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + pdu
    return pad60(struct.pack("!6s6sH", CDP_MAC, src_mac, len(llc)) + llc)
