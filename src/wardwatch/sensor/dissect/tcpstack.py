"""TCP/IP stack traits of SYN and SYN-ACK packets, for p0f-style passive OS fingerprinting.

References: p0f v3 README section 5 ("Signature format") by Michal Zalewski; RFC 9293 (TCP),
RFC 7323 (window scale, timestamps), RFC 2018 (SACK permitted), RFC 791 (IP TTL and DF).

The sensor hands this dissector every TCP SYN and SYN-ACK with ``ctx.tcp`` set (see
:class:`~wardwatch.sensor.dissect.base.TcpTraits`); it never gets streams, so it has no ports and
its probe is always False. Observations are about the sender. This module only *describes* the
stack; the OS guess is made later by identification, against a signature table.

``tcpstack.signature`` follows the p0f v3 layout ``ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass``:

* ``ver`` -- 4 or 6;
* ``ittl`` -- the initial TTL, i.e. the observed TTL rounded up to 32, 64, 128 or 255 (without
  p0f's ``+distance`` suffix, so the same host gives the same signature from anywhere);
* ``olen`` -- length of IPv4 options / IPv6 extension headers, in bytes;
* ``mss`` -- MSS option value, ``*`` when absent;
* ``wsize`` -- the window, written ``mss*N`` when it is an exact multiple of the MSS as p0f does;
* ``scale`` -- window scale option value, 0 when absent;
* ``olayout`` -- option kinds in order (``mss,nop,ws,sok,ts``...) as the sensor reported them;
* ``quirks`` -- ``df`` when Don't Fragment is set, then the sensor's quirks (``id+``, ``ecn``...);
* ``pclass`` -- ``0`` for no payload, ``+`` when the SYN carried data.
"""

from __future__ import annotations

from typing import Final

from wardwatch.model.flow import Transport
from wardwatch.model.observation import Observation
from wardwatch.sensor.dissect.base import PacketContext, obs

FIELDS: dict[str, str] = {
    "tcpstack.ttl": "IP TTL / hop limit observed on the SYN or SYN-ACK",
    "tcpstack.initial_ttl": "Observed TTL rounded up to the usual initial values 32, 64, 128 or 255",
    "tcpstack.window": "TCP window size of the SYN / SYN-ACK",
    "tcpstack.mss": "TCP MSS option value",
    "tcpstack.wscale": "TCP window scale option value",
    "tcpstack.options": "TCP option layout in order, e.g. 'mss,nop,ws,nop,nop,sok'",
    "tcpstack.df": "IPv4 Don't Fragment bit set",
    "tcpstack.syn_ack": "True for a SYN-ACK (the sender is a server), False for a SYN (a client)",
    "tcpstack.signature": "p0f-v3-style signature 'ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass'",
}

MAX_OPTIONS: Final = 40  # 40 bytes of TCP options can hold at most 40 one-byte options
_ALLOWED: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+-?")


def initial_ttl(ttl: int) -> int:
    """Round an observed TTL up to the nearest common initial TTL (32, 64, 128, 255)."""
    for initial in (32, 64, 128):
        if ttl <= initial:
            return initial
    return 255


def _token(text: str) -> str:
    """Option / quirk names as short lower-case tokens, so a signature can never be injected into."""
    return "".join(ch for ch in str(text)[:16].lower() if ch in _ALLOWED) or "?"


class TcpStackDissector:
    """p0f-style traits of SYN / SYN-ACK headers; see the module docstring."""

    name = "tcpstack"
    transports = frozenset({Transport.TCP})
    udp_ports: frozenset[int] = frozenset()
    tcp_ports: frozenset[int] = frozenset()
    ethertypes: frozenset[int] = frozenset()
    wants_syn = True
    """Tells the sensor to hand this dissector SYN / SYN-ACK packets with ``ctx.tcp`` set."""
    context_fields = ("src_mac", "src_ip", "ttl", "tcp")
    """The only context fields the output depends on (besides time and flow): a host's SYNs with
    the same traits are dissected once (see ``SensorEngine._call``)."""

    def probe(self, payload: bytes) -> bool:
        """Never claims streams: this dissector works on SYN headers only."""
        return False

    def dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        """Describe the sender's stack from ``ctx.tcp``; [] without traits. Never raises."""
        try:
            return self._dissect(ctx, payload)
        except Exception:  # never let odd traits stop the sensor
            return []

    def _dissect(self, ctx: PacketContext, payload: bytes) -> list[Observation]:
        traits = ctx.tcp
        if traits is None:
            return []
        ttl = traits.ttl or ctx.ttl
        ittl = initial_ttl(ttl) if ttl > 0 else 0
        window = int(traits.window) & 0xFFFF
        mss = int(traits.mss) & 0xFFFF if traits.mss is not None else None
        wscale = int(traits.wscale) & 0xFF if traits.wscale is not None else None
        layout = ",".join(_token(o) for o in traits.options[:MAX_OPTIONS])
        quirks = [_token(q) for q in traits.quirks[:MAX_OPTIONS]]
        if traits.df and "df" not in quirks:
            quirks.insert(0, "df")
        wsize = f"mss*{window // mss}" if mss and window and window % mss == 0 else str(window)
        signature = ":".join(
            (
                str(int(traits.ip_version)),
                str(ittl),
                str(max(0, int(traits.ip_options_len))),
                "*" if mss is None else str(mss),
                f"{wsize},{wscale or 0}",
                layout,
                ",".join(quirks),
                "+" if payload else "0",
            )
        )
        return [
            obs(
                ctx,
                self.name,
                tcpstack__ttl=ttl,
                tcpstack__initial_ttl=ittl or None,
                tcpstack__window=window,
                tcpstack__mss=mss,
                tcpstack__wscale=wscale,
                tcpstack__options=layout,
                tcpstack__df=bool(traits.df),
                tcpstack__syn_ack=bool(traits.syn_ack),
                tcpstack__signature=signature,
            )
        ]


DISSECTORS: list[TcpStackDissector] = [TcpStackDissector()]
