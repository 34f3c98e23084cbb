"""Vectorized header decoding: one :class:`PacketBatch` in, one :class:`Decoded` of arrays out.

Every step works on whole arrays (or on the index subset of packets that still need it), so
there is no Python object and no Python loop per packet. Every byte read is bounds-checked
against the packet's capture length first: a packet too short for the header being read gets an
error code and is left out of later steps, it is never read past its end and never raises.

Layers decoded:

* link: ETHERNET (802.1Q / 802.1ad / 0x9100 tags, outer VLAN id kept; 802.3 LLC and SNAP),
  LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6 and NULL (BSD loopback, either byte order);
* network: IPv4 (options, DF, fragments) and IPv6 (extension headers hop-by-hop 0, routing 43,
  fragment 44, AH 51 and destination options 60, at most :data:`MAX_EXT_HEADERS`);
* transport: TCP (ports, flags, seq, ack, window, header length), UDP, ICMP, ICMPv6.

Pseudo-EtherTypes for 802.3 frames (length field < 1536), so L2 dissectors can register them in
``Dissector.ethertypes``:

* SNAP with OUI 00-00-0c (Cisco): ``0x10000 | PID`` (CDP is ``0x12000``); ``l3_off`` is after
  the 8-byte LLC/SNAP header;
* SNAP with OUI 00-00-00 (RFC 1042): the PID *is* an EtherType and decoding continues with it;
* any other LLC frame (including SNAP with other OUIs): ``0x20000 | DSAP << 8 | SSAP`` (STP is
  ``0x24242``); ``l3_off`` is after the LLC header (3 bytes, 4 for I/S-format control fields).

Two implementations with the same results, field by field: the C extension's ``decode_into``
(``wardwatch.sensor._native``, one pass per packet) when it is built, and :func:`decode_numpy`
otherwise or when ``WARDWATCH_PURE_PYTHON`` is set. :func:`decode_numpy` is the reference: the
tests compare the two on every fixture capture and on generated and mutated frames.

Addresses are two ``uint64`` per address (``hi``, ``lo``: the 128-bit IPv6 address); IPv4 is the
mapped form ``::ffff:a.b.c.d``. :func:`format_ip` and :func:`format_mac` turn them into text.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from wardwatch.sensor.capture._common import native
from wardwatch.sensor.capture.batch import LinkType, PacketBatch

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
U8 = npt.NDArray[np.uint8]

# --- transport codes (Decoded.transport); see TRANSPORT_NAMES -----------------------------------
T_L2: Final = 0
T_TCP: Final = 1
T_UDP: Final = 2
T_ICMP: Final = 3
T_ICMP6: Final = 4
T_OTHER: Final = 5

# --- error codes (Decoded.error) -------------------------------------------------------------------
E_OK: Final = 0
E_LINK_TRUNCATED: Final = 1
E_UNKNOWN_LINKTYPE: Final = 2
E_BAD_IP_VERSION: Final = 3
E_IP_TRUNCATED: Final = 4
E_BAD_IHL: Final = 5
E_BAD_IP_LENGTH: Final = 6
E_IPV6_EXT: Final = 7
E_L4_TRUNCATED: Final = 8
E_BAD_TCP_OFFSET: Final = 9
E_UNKNOWN_AF: Final = 10

#: Error code -> the reason counted in ``SensorStats.decode_errors``.
ERROR_NAMES: Final[dict[int, str]] = {
    E_LINK_TRUNCATED: "link-truncated",
    E_UNKNOWN_LINKTYPE: "unknown-linktype",
    E_BAD_IP_VERSION: "bad-ip-version",
    E_IP_TRUNCATED: "ip-truncated",
    E_BAD_IHL: "bad-ihl",
    E_BAD_IP_LENGTH: "bad-ip-length",
    E_IPV6_EXT: "ipv6-ext-header",
    E_L4_TRUNCATED: "l4-truncated",
    E_BAD_TCP_OFFSET: "bad-tcp-offset",
    E_UNKNOWN_AF: "unknown-address-family",
}

ETH_IPV4: Final = 0x0800
ETH_IPV6: Final = 0x86DD
VLAN_TPIDS: Final = (0x8100, 0x88A8, 0x9100)
#: Tags followed per frame; a frame with more still shows a TPID as its EtherType (non-IP).
MAX_VLAN_TAGS: Final = 4
#: IPv6 extension headers followed per packet; more is an error (``ipv6-ext-header``).
MAX_EXT_HEADERS: Final = 8
IPV6_EXT_HEADERS: Final = (0, 43, 44, 51, 60)
LLC_BASE: Final = 0x20000
CISCO_SNAP_BASE: Final = 0x10000
V4_MAPPED: Final = 0xFFFF_0000_0000

# TCP flag bits (Decoded.tcp_flags; bit 8 is NS)
FIN: Final = 0x01
SYN: Final = 0x02
RST: Final = 0x04
PSH: Final = 0x08
ACK: Final = 0x10

_AR = [np.arange(w, dtype=np.int64) for w in range(41)]


@dataclass(slots=True)
class Decoded:
    """Decoded headers of one batch: one entry per packet in every array.

    Offsets (``l3_off``, ``l4_off``, ``pay_off``) are relative to the start of the packet.
    Fields a packet does not have are 0 (``vlan`` is -1). Packets with ``error != 0`` have only
    the fields decoded before the failure and are not metered.
    """

    error: npt.NDArray[np.uint8]
    src_mac: U64
    dst_mac: U64
    ethertype: I64
    vlan: npt.NDArray[np.int32]
    l3_off: I64
    ip_version: npt.NDArray[np.uint8]
    src_hi: U64
    src_lo: U64
    dst_hi: U64
    dst_lo: U64
    ip_proto: npt.NDArray[np.uint8]
    ttl: npt.NDArray[np.uint8]
    df: npt.NDArray[np.bool_]
    fragment: npt.NDArray[np.bool_]
    """Part of a fragmented datagram (first or not)."""
    frag_nonfirst: npt.NDArray[np.bool_]
    """A non-first fragment: no L4 header, transport OTHER_IP and ports 0."""
    transport: npt.NDArray[np.uint8]
    l4_off: I64
    src_port: npt.NDArray[np.int32]
    dst_port: npt.NDArray[np.int32]
    tcp_flags: npt.NDArray[np.int32]
    tcp_seq: I64
    tcp_ack: I64
    tcp_window: npt.NDArray[np.int32]
    tcp_hdr_len: npt.NDArray[np.int32]
    pay_off: I64
    """Start of what a dissector gets: L4 payload, or the frame after the L2 header for non-IP."""
    pay_len: I64
    """Payload length, bounded by the capture length and the IP/UDP/802.3 length fields."""
    pay_wire: I64
    """Payload length by the length fields alone: more than ``pay_len`` when the snap length cut
    the packet (a TCP stream then has a hole there)."""

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """Packets that decoded without error."""
        ok: npt.NDArray[np.bool_] = self.error == 0
        return ok

    def __len__(self) -> int:
        return int(self.error.shape[0])


def _u16(h: U8, i: int) -> I64:
    return (h[:, i].astype(np.int64) << 8) | h[:, i + 1]


def _u32(h: U8, i: int) -> I64:
    return (_u16(h, i) << 16) | _u16(h, i + 2)


def _be(h: U8, i: int, width: int) -> U64:
    """Big-endian unsigned integer of ``width`` (<= 8) bytes starting at column ``i``."""
    acc = np.zeros(h.shape[0], dtype=np.uint64)
    for k in range(width):
        acc = (acc << np.uint64(8)) | h[:, i + k].astype(np.uint64)
    return acc


def _gather(data: U8, base: I64, width: int) -> U8:
    """``width`` bytes at absolute offsets ``base`` (callers guarantee they are in range)."""
    if base.shape[0] == 0:
        return np.zeros((0, width), dtype=np.uint8)
    out: U8 = data[base[:, None] + _AR[width]]
    return out


#: The dtypes of ``Decoded``'s arrays in field order: what ``decode_into`` fills.
_OUT_DTYPES: Final = (
    np.uint8,  # error
    np.uint64,  # src_mac
    np.uint64,  # dst_mac
    np.int64,  # ethertype
    np.int32,  # vlan
    np.int64,  # l3_off
    np.uint8,  # ip_version
    np.uint64,  # src_hi
    np.uint64,  # src_lo
    np.uint64,  # dst_hi
    np.uint64,  # dst_lo
    np.uint8,  # ip_proto
    np.uint8,  # ttl
    np.bool_,  # df
    np.bool_,  # fragment
    np.bool_,  # frag_nonfirst
    np.uint8,  # transport
    np.int64,  # l4_off
    np.int32,  # src_port
    np.int32,  # dst_port
    np.int32,  # tcp_flags
    np.int64,  # tcp_seq
    np.int64,  # tcp_ack
    np.int32,  # tcp_window
    np.int32,  # tcp_hdr_len
    np.int64,  # pay_off
    np.int64,  # pay_len
    np.int64,  # pay_wire
)


def decode(batch: PacketBatch) -> Decoded:
    """Decode the link, network and transport headers of every packet of ``batch``.

    The C extension does it when built (unless ``WARDWATCH_PURE_PYTHON`` is set), else
    :func:`decode_numpy`; both give the same arrays.
    """
    nat = native()
    if nat is None:
        return decode_numpy(batch)
    n = len(batch)
    # C fills every element of every array, so they need no initialisation here.
    out: list[npt.NDArray[Any]] = [np.empty(n, dtype=dt) for dt in _OUT_DTYPES]
    nat.decode_into(
        np.ascontiguousarray(batch.data, dtype=np.uint8),
        np.ascontiguousarray(batch.offset, dtype=np.int64),
        np.ascontiguousarray(batch.caplen, dtype=np.int32),
        np.ascontiguousarray(batch.linktype, dtype=np.int32),
        *out,
    )
    return Decoded(*out)


def decode_numpy(batch: PacketBatch) -> Decoded:
    """:func:`decode` with NumPy array operations: the fallback, and the reference for the C code."""
    n = len(batch)
    data = batch.data if batch.data.size else np.zeros(1, dtype=np.uint8)
    start = batch.offset.astype(np.int64, copy=False)
    cap = batch.caplen.astype(np.int64)
    lt = batch.linktype

    err = np.zeros(n, dtype=np.uint8)
    src_mac = np.zeros(n, dtype=np.uint64)
    dst_mac = np.zeros(n, dtype=np.uint64)
    eth = np.zeros(n, dtype=np.int64)
    vlan = np.full(n, -1, dtype=np.int32)
    pos = np.zeros(n, dtype=np.int64)  # l3 offset
    end = cap.copy()  # end of the meaningful bytes (payload bound)
    big = np.int64(1 << 40)
    dend = np.full(n, big, dtype=np.int64)  # end by the length fields alone (what was on the wire)

    def need(sel: I64, width: int | I64, code: int) -> I64:
        """The subset of ``sel`` with ``width`` bytes at ``pos``; mark the rest with ``code``."""
        short = pos[sel] + width > end[sel]
        if short.any():
            err[sel[short]] = code
            return sel[~short]
        return sel

    # --- link layer --------------------------------------------------------------------------------
    sel = need(np.flatnonzero(lt == LinkType.ETHERNET), 14, E_LINK_TRUNCATED)
    h = _gather(data, start[sel], 14)
    dst_mac[sel] = _be(h, 0, 6)
    src_mac[sel] = _be(h, 6, 6)
    eth[sel] = _u16(h, 12)
    pos[sel] = 14

    sel = need(np.flatnonzero(lt == LinkType.LINUX_SLL), 16, E_LINK_TRUNCATED)
    h = _gather(data, start[sel], 16)
    src_mac[sel] = np.where(_u16(h, 4) == 6, _be(h, 6, 6), np.uint64(0))
    eth[sel] = _u16(h, 14)
    pos[sel] = 16

    sel = need(np.flatnonzero(lt == LinkType.LINUX_SLL2), 20, E_LINK_TRUNCATED)
    h = _gather(data, start[sel], 20)
    src_mac[sel] = np.where(h[:, 11] == 6, _be(h, 12, 6), np.uint64(0))
    eth[sel] = _u16(h, 0)
    pos[sel] = 20

    sel = need(np.flatnonzero(lt == LinkType.RAW), 1, E_LINK_TRUNCATED)
    version = data[start[sel]] >> 4
    eth[sel] = np.where(version == 4, ETH_IPV4, np.where(version == 6, ETH_IPV6, 0))
    err[sel[(version != 4) & (version != 6)]] = E_BAD_IP_VERSION
    eth[lt == LinkType.IPV4] = ETH_IPV4
    eth[lt == LinkType.IPV6] = ETH_IPV6

    sel = need(np.flatnonzero(lt == LinkType.NULL), 4, E_LINK_TRUNCATED)
    h = _gather(data, start[sel], 4)
    # host byte order of the writer is unknown: AF values are small, so the order that gives a
    # value < 65536 is the right one
    le = h[:, 0].astype(np.int64) | (h[:, 1].astype(np.int64) << 8)
    le = le | (h[:, 2].astype(np.int64) << 16) | (h[:, 3].astype(np.int64) << 24)
    af = np.where(le > 0xFFFF, _u32(h, 0), le)
    eth[sel] = np.where(af == 2, ETH_IPV4, np.where(np.isin(af, (24, 28, 30)), ETH_IPV6, 0))
    err[sel[eth[sel] == 0]] = E_UNKNOWN_AF
    pos[sel] = 4

    known = np.isin(lt, [int(x) for x in LinkType])
    err[~known] = E_UNKNOWN_LINKTYPE

    # --- VLAN tags (any link type with an EtherType field) ------------------------------------------
    l2 = (lt == LinkType.ETHERNET) | (lt == LinkType.LINUX_SLL) | (lt == LinkType.LINUX_SLL2)
    for _ in range(MAX_VLAN_TAGS):
        sel = np.flatnonzero(l2 & (err == 0) & np.isin(eth, VLAN_TPIDS))
        if sel.size == 0:
            break
        sel = need(sel, 4, E_LINK_TRUNCATED)
        h = _gather(data, start[sel] + pos[sel], 4)
        outer = vlan[sel] < 0
        vlan[sel[outer]] = (_u16(h, 0) & 0xFFF)[outer]
        eth[sel] = _u16(h, 2)
        pos[sel] += 4

    # --- 802.3 / LLC / SNAP (Ethernet length field, or SLL protocol 4 = 802.2 LLC) -----------------
    llc = (err == 0) & (
        ((lt == LinkType.ETHERNET) & (eth < 1536)) | (l2 & (lt != LinkType.ETHERNET) & (eth == 4))
    )
    sel = np.flatnonzero(llc)
    if sel.size:
        is_eth = lt[sel] == LinkType.ETHERNET
        # the 802.3 length bounds the frame: what follows is padding
        end[sel] = np.where(is_eth, np.minimum(end[sel], pos[sel] + eth[sel]), end[sel])
        dend[sel] = np.where(is_eth, pos[sel] + eth[sel], dend[sel])
        sel = need(sel, 3, E_LINK_TRUNCATED)
        h = _gather(data, start[sel] + pos[sel], 3)
        dsap, ssap, ctrl = h[:, 0].astype(np.int64), h[:, 1].astype(np.int64), h[:, 2]
        eth[sel] = LLC_BASE | (dsap << 8) | ssap
        snap = (dsap == 0xAA) & (ssap == 0xAA) & (ctrl == 3) & (pos[sel] + 8 <= end[sel])
        pos[sel] += np.where((ctrl & 3) == 3, 3, 4)
        s2 = sel[snap]
        if s2.size:
            h = _gather(data, start[s2] + pos[s2], 5)  # pos is now after the 3-byte LLC header
            oui = _u16(h, 0) << 8 | h[:, 2]
            pid = _u16(h, 3)
            cisco = oui == 0x00000C
            rfc1042 = oui == 0
            eth[s2] = np.where(cisco, CISCO_SNAP_BASE | pid, np.where(rfc1042, pid, eth[s2]))
            pos[s2] += np.where(cisco | rfc1042, 5, 0)

    # --- IPv4 ---------------------------------------------------------------------------------------
    ip_version = np.zeros(n, dtype=np.uint8)
    src_hi = np.zeros(n, dtype=np.uint64)
    src_lo = np.zeros(n, dtype=np.uint64)
    dst_hi = np.zeros(n, dtype=np.uint64)
    dst_lo = np.zeros(n, dtype=np.uint64)
    proto = np.zeros(n, dtype=np.uint8)
    ttl = np.zeros(n, dtype=np.uint8)
    df = np.zeros(n, dtype=bool)
    frag = np.zeros(n, dtype=bool)
    nonfirst = np.zeros(n, dtype=bool)
    l4 = np.zeros(n, dtype=np.int64)

    sel = need(np.flatnonzero((err == 0) & (eth == ETH_IPV4)), 20, E_IP_TRUNCATED)
    if sel.size:
        h = _gather(data, start[sel] + pos[sel], 20)
        bad = (h[:, 0] >> 4) != 4
        err[sel[bad]] = E_BAD_IP_VERSION
        sel, h = sel[~bad], h[~bad]
        ihl = (h[:, 0] & 0xF).astype(np.int64) * 4
        bad = ihl < 20
        err[sel[bad]] = E_BAD_IHL
        sel, h, ihl = sel[~bad], h[~bad], ihl[~bad]
        total = _u16(h, 2)
        total = np.where(total == 0, end[sel] - pos[sel], total)  # 0: TSO/LSO capture, use caplen
        bad = total < ihl
        err[sel[bad]] = E_BAD_IP_LENGTH
        sel, h, ihl, total = sel[~bad], h[~bad], ihl[~bad], total[~bad]
        ip_version[sel] = 4
        fl = _u16(h, 6)
        df[sel] = (fl & 0x4000) != 0
        foff = fl & 0x1FFF
        frag[sel] = ((fl & 0x2000) != 0) | (foff != 0)
        nonfirst[sel] = foff != 0
        ttl[sel] = h[:, 8]
        proto[sel] = h[:, 9]
        src_lo[sel] = np.uint64(V4_MAPPED) | _u32(h, 12).astype(np.uint64)
        dst_lo[sel] = np.uint64(V4_MAPPED) | _u32(h, 16).astype(np.uint64)
        end[sel] = np.minimum(end[sel], pos[sel] + total)
        dend[sel] = np.minimum(dend[sel], pos[sel] + total)
        l4[sel] = pos[sel] + ihl
        short = l4[sel] > end[sel]  # options cut by the snap length
        err[sel[short]] = E_IP_TRUNCATED

    # --- IPv6 ---------------------------------------------------------------------------------------
    sel = need(np.flatnonzero((err == 0) & (eth == ETH_IPV6)), 40, E_IP_TRUNCATED)
    if sel.size:
        h = _gather(data, start[sel] + pos[sel], 40)
        bad = (h[:, 0] >> 4) != 6
        err[sel[bad]] = E_BAD_IP_VERSION
        sel, h = sel[~bad], h[~bad]
        ip_version[sel] = 6
        plen = _u16(h, 4)
        ttl[sel] = h[:, 7]
        src_hi[sel] = _be(h, 8, 8)
        src_lo[sel] = _be(h, 16, 8)
        dst_hi[sel] = _be(h, 24, 8)
        dst_lo[sel] = _be(h, 32, 8)
        # payload length 0: jumbogram or TSO capture, bounded by caplen only
        end[sel] = np.where(plen == 0, end[sel], np.minimum(end[sel], pos[sel] + 40 + plen))
        dend[sel] = np.where(plen == 0, dend[sel], np.minimum(dend[sel], pos[sel] + 40 + plen))
        l4[sel] = pos[sel] + 40
        nh = h[:, 6].astype(np.int64)
        proto[sel] = nh
        # walk extension headers on the still-active subset only
        act = sel[np.isin(nh, IPV6_EXT_HEADERS)]
        for _ in range(MAX_EXT_HEADERS):
            if act.size == 0:
                break
            short = l4[act] + 8 > end[act]  # every extension header is at least 8 bytes
            err[act[short]] = E_IPV6_EXT
            act = act[~short]
            h = _gather(data, start[act] + l4[act], 8)
            cur = proto[act].astype(np.int64)
            hlen = np.where(
                cur == 44,
                8,
                np.where(cur == 51, (h[:, 1].astype(np.int64) + 2) * 4, (h[:, 1].astype(np.int64) + 1) * 8),
            )
            isfrag = cur == 44
            if isfrag.any():
                fr = act[isfrag]
                foff = _u16(h[isfrag], 2) >> 3
                frag[fr] = True
                nonfirst[fr] |= foff != 0
            proto[act] = h[:, 0]
            l4[act] += hlen
            short = l4[act] > end[act]
            err[act[short]] = E_IPV6_EXT
            # a non-first fragment carries no further headers, only fragment data
            act = act[~short & np.isin(h[:, 0], IPV6_EXT_HEADERS) & ~nonfirst[act]]
        err[act] = E_IPV6_EXT  # still more headers after the limit

    # --- transport ----------------------------------------------------------------------------------
    isip = (err == 0) & (ip_version != 0)
    transport = np.full(n, T_L2, dtype=np.uint8)
    transport[isip] = T_OTHER
    full = isip & ~nonfirst
    transport[full & (proto == 6)] = T_TCP
    transport[full & (proto == 17)] = T_UDP
    transport[full & (proto == 1) & (ip_version == 4)] = T_ICMP
    transport[full & (proto == 58) & (ip_version == 6)] = T_ICMP6

    sport = np.zeros(n, dtype=np.int32)
    dport = np.zeros(n, dtype=np.int32)
    flags = np.zeros(n, dtype=np.int32)
    seq = np.zeros(n, dtype=np.int64)
    ack = np.zeros(n, dtype=np.int64)
    win = np.zeros(n, dtype=np.int32)
    thl = np.zeros(n, dtype=np.int32)
    pay_off = pos.copy()  # non-IP: the frame after the L2 header
    pay_off[isip] = l4[isip]

    sel = np.flatnonzero(transport == T_TCP)
    short = l4[sel] + 20 > end[sel]
    err[sel[short]] = E_L4_TRUNCATED
    sel = sel[~short]
    if sel.size:
        h = _gather(data, start[sel] + l4[sel], 20)
        doff = (h[:, 12] >> 4).astype(np.int64) * 4
        # options cut by the snap length are fine (no payload then); beyond the IP length is not
        declared = np.where(dend[sel] == big, end[sel], dend[sel])
        bad = (doff < 20) | (l4[sel] + doff > declared)
        err[sel[bad]] = E_BAD_TCP_OFFSET
        sel, h, doff = sel[~bad], h[~bad], doff[~bad]
        sport[sel] = _u16(h, 0)
        dport[sel] = _u16(h, 2)
        seq[sel] = _u32(h, 4)
        ack[sel] = _u32(h, 8)
        flags[sel] = ((h[:, 12] & 1).astype(np.int32) << 8) | h[:, 13]
        win[sel] = _u16(h, 14)
        thl[sel] = doff
        pay_off[sel] = l4[sel] + doff

    sel = np.flatnonzero(transport == T_UDP)
    short = l4[sel] + 8 > end[sel]
    err[sel[short]] = E_L4_TRUNCATED
    sel = sel[~short]
    if sel.size:
        h = _gather(data, start[sel] + l4[sel], 8)
        sport[sel] = _u16(h, 0)
        dport[sel] = _u16(h, 2)
        ulen = _u16(h, 4)
        end[sel] = np.where(ulen >= 8, np.minimum(end[sel], l4[sel] + ulen), end[sel])
        dend[sel] = np.where(ulen >= 8, np.minimum(dend[sel], l4[sel] + ulen), dend[sel])
        pay_off[sel] = l4[sel] + 8

    sel = np.flatnonzero((transport == T_ICMP) | (transport == T_ICMP6))
    err[sel[l4[sel] + 4 > end[sel]]] = E_L4_TRUNCATED

    bad = err != 0
    transport[bad] = T_L2
    pay_len = np.maximum(end - pay_off, 0)
    pay_len[bad] = 0
    pay_wire = np.where(dend == big, pay_len, np.maximum(dend - pay_off, 0))
    pay_wire[bad] = 0
    sport[bad] = 0
    dport[bad] = 0
    return Decoded(
        error=err,
        src_mac=src_mac,
        dst_mac=dst_mac,
        ethertype=eth,
        vlan=vlan,
        l3_off=pos,
        ip_version=ip_version,
        src_hi=src_hi,
        src_lo=src_lo,
        dst_hi=dst_hi,
        dst_lo=dst_lo,
        ip_proto=proto,
        ttl=ttl,
        df=df,
        fragment=frag,
        frag_nonfirst=nonfirst,
        transport=transport,
        l4_off=l4,
        src_port=sport,
        dst_port=dport,
        tcp_flags=flags,
        tcp_seq=seq,
        tcp_ack=ack,
        tcp_window=win,
        tcp_hdr_len=thl,
        pay_off=pay_off,
        pay_len=pay_len,
        pay_wire=pay_wire,
    )


@lru_cache(maxsize=65536)
def format_mac(mac: int) -> str | None:
    """``uint64`` MAC to lower-case colon text; 0 (absent) gives None. Cached: hosts repeat."""
    if mac == 0:
        return None
    h = f"{mac:012x}"
    return f"{h[0:2]}:{h[2:4]}:{h[4:6]}:{h[6:8]}:{h[8:10]}:{h[10:12]}"


@lru_cache(maxsize=65536)
def format_ip(hi: int, lo: int) -> str:
    """The two-``uint64`` address to its canonical text (IPv4 for the ``::ffff:0:0/96`` form)."""
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return f"{(lo >> 24) & 255}.{(lo >> 16) & 255}.{(lo >> 8) & 255}.{lo & 255}"
    return str(ipaddress.IPv6Address((hi << 64) | lo))
