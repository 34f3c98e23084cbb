"""A plain per-packet reference decoder, written independently of the vectorized one.

It follows the rules documented in ``wardwatch.sensor.flows.decode`` one packet at a time with
ordinary Python, so the property test can compare the two on generated packets.
"""

from __future__ import annotations

from typing import Any

ETH, NULL, RAW, SLL, SLL2, V4, V6 = 1, 0, 101, 113, 276, 228, 229
EXT = (0, 43, 44, 51, 60)


class _Err(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def ref_decode(pkt: bytes, lt: int) -> dict[str, Any]:
    r: dict[str, Any] = {"error": 0}
    try:
        _decode(pkt, lt, r)
    except _Err as e:
        return {"error": e.code}
    return r


def _decode(pkt: bytes, lt: int, r: dict[str, Any]) -> None:
    end = len(pkt)
    dend: int | None = None

    def u16(i: int) -> int:
        return int.from_bytes(pkt[i : i + 2], "big")

    def u32(i: int) -> int:
        return int.from_bytes(pkt[i : i + 4], "big")

    smac = dmac = 0
    vlan = -1
    pos = 0
    if lt == ETH:
        if end < 14:
            raise _Err(1)
        dmac, smac, eth, pos = int.from_bytes(pkt[0:6], "big"), int.from_bytes(pkt[6:12], "big"), u16(12), 14
    elif lt == SLL:
        if end < 16:
            raise _Err(1)
        smac = int.from_bytes(pkt[6:12], "big") if u16(4) == 6 else 0
        eth, pos = u16(14), 16
    elif lt == SLL2:
        if end < 20:
            raise _Err(1)
        smac = int.from_bytes(pkt[12:18], "big") if pkt[11] == 6 else 0
        eth, pos = u16(0), 20
    elif lt == RAW:
        if end < 1:
            raise _Err(1)
        v = pkt[0] >> 4
        if v not in (4, 6):
            raise _Err(3)
        eth = 0x0800 if v == 4 else 0x86DD
    elif lt == V4:
        eth = 0x0800
    elif lt == V6:
        eth = 0x86DD
    elif lt == NULL:
        if end < 4:
            raise _Err(1)
        af = int.from_bytes(pkt[:4], "little")
        if af > 0xFFFF:
            af = int.from_bytes(pkt[:4], "big")
        if af == 2:
            eth = 0x0800
        elif af in (24, 28, 30):
            eth = 0x86DD
        else:
            raise _Err(10)
        pos = 4
    else:
        raise _Err(2)

    if lt in (ETH, SLL, SLL2):
        for _ in range(4):
            if eth not in (0x8100, 0x88A8, 0x9100):
                break
            if pos + 4 > end:
                raise _Err(1)
            if vlan < 0:
                vlan = u16(pos) & 0xFFF
            eth = u16(pos + 2)
            pos += 4
        if (lt == ETH and eth < 1536) or (lt != ETH and eth == 4):
            if lt == ETH:
                end = min(end, pos + eth)
                dend = pos + eth
            if pos + 3 > end:
                raise _Err(1)
            dsap, ssap, ctrl = pkt[pos], pkt[pos + 1], pkt[pos + 2]
            snap = dsap == 0xAA and ssap == 0xAA and ctrl == 3 and pos + 8 <= end
            eth = 0x20000 | dsap << 8 | ssap
            pos += 3 if ctrl & 3 == 3 else 4
            if snap:
                oui = int.from_bytes(pkt[pos : pos + 3], "big")
                pid = u16(pos + 3)
                if oui == 0x00000C:
                    eth, pos = 0x10000 | pid, pos + 5
                elif oui == 0:
                    eth, pos = pid, pos + 5

    r.update(src_mac=smac, dst_mac=dmac, ethertype=eth, vlan=vlan, l3_off=pos)
    ipv = 0
    proto = ttl = 0
    df = frag = nonfirst = False
    src = dst = (0, 0)
    l4 = 0
    if eth == 0x0800:
        if pos + 20 > end:
            raise _Err(4)
        if pkt[pos] >> 4 != 4:
            raise _Err(3)
        ihl = (pkt[pos] & 15) * 4
        if ihl < 20:
            raise _Err(5)
        total = u16(pos + 2) or (end - pos)
        if total < ihl:
            raise _Err(6)
        ipv = 4
        fl = u16(pos + 6)
        df = bool(fl & 0x4000)
        frag = bool(fl & 0x2000) or (fl & 0x1FFF) != 0
        nonfirst = (fl & 0x1FFF) != 0
        ttl, proto = pkt[pos + 8], pkt[pos + 9]
        src = (0, 0xFFFF_0000_0000 | u32(pos + 12))
        dst = (0, 0xFFFF_0000_0000 | u32(pos + 16))
        end = min(end, pos + total)
        dend = pos + total if dend is None else min(dend, pos + total)
        l4 = pos + ihl
        if l4 > end:
            raise _Err(4)
    elif eth == 0x86DD:
        if pos + 40 > end:
            raise _Err(4)
        if pkt[pos] >> 4 != 6:
            raise _Err(3)
        ipv = 6
        plen = u16(pos + 4)
        ttl = pkt[pos + 7]
        src = (
            int.from_bytes(pkt[pos + 8 : pos + 16], "big"),
            int.from_bytes(pkt[pos + 16 : pos + 24], "big"),
        )
        dst = (
            int.from_bytes(pkt[pos + 24 : pos + 32], "big"),
            int.from_bytes(pkt[pos + 32 : pos + 40], "big"),
        )
        if plen:
            end = min(end, pos + 40 + plen)
            dend = pos + 40 + plen if dend is None else min(dend, pos + 40 + plen)
        l4 = pos + 40
        proto = pkt[pos + 6]
        count = 0
        while proto in EXT and not nonfirst:
            if count == 8:
                raise _Err(7)
            count += 1
            if l4 + 8 > end:
                raise _Err(7)
            if proto == 44:
                hlen = 8
                frag = True
                nonfirst = nonfirst or (u16(l4 + 2) >> 3) != 0
            elif proto == 51:
                hlen = (pkt[l4 + 1] + 2) * 4
            else:
                hlen = (pkt[l4 + 1] + 1) * 8
            proto = pkt[l4]
            l4 += hlen
            if l4 > end:
                raise _Err(7)
    r.update(
        ip_version=ipv,
        src=src,
        dst=dst,
        ip_proto=proto,
        ttl=ttl,
        df=df,
        fragment=frag,
        frag_nonfirst=nonfirst,
    )
    transport = 0
    if ipv:
        transport = 5
        if not nonfirst:
            transport = {6: 1, 17: 2}.get(proto, 5)
            if proto == 1 and ipv == 4:
                transport = 3
            if proto == 58 and ipv == 6:
                transport = 4
    sport = dport = flags = seq = win = thl = 0
    pay_off = l4 if ipv else pos
    if transport == 1:
        if l4 + 20 > end:
            raise _Err(8)
        thl = (pkt[l4 + 12] >> 4) * 4
        if thl < 20 or l4 + thl > (dend if dend is not None else end):
            raise _Err(9)
        sport, dport, seq = u16(l4), u16(l4 + 2), u32(l4 + 4)
        flags = (pkt[l4 + 12] & 1) << 8 | pkt[l4 + 13]
        win = u16(l4 + 14)
        pay_off = l4 + thl
    elif transport == 2:
        if l4 + 8 > end:
            raise _Err(8)
        sport, dport, ulen = u16(l4), u16(l4 + 2), u16(l4 + 4)
        if ulen >= 8:
            end = min(end, l4 + ulen)
            dend = l4 + ulen if dend is None else min(dend, l4 + ulen)
        pay_off = l4 + 8
    elif transport in (3, 4) and l4 + 4 > end:
        raise _Err(8)
    pay_len = max(0, end - pay_off)
    pay_wire = pay_len if dend is None else max(0, dend - pay_off)
    r.update(transport=transport, src_port=sport, dst_port=dport, tcp_flags=flags, tcp_seq=seq,
             tcp_window=win, tcp_hdr_len=thl, pay_off=pay_off, pay_len=pay_len, pay_wire=pay_wire)  # fmt: skip
