"""Observation: one policy-neutral fact seen on the wire about one host.

An observation says *what* was seen ("the host 00:11:22:33:44:55 sent DHCP option 12 =
'PUMP-0042'"), never what it means ("this is an infusion pump"): meaning is the job of
``wardwatch.identify``. Every observation carries the id of the flow and the timestamp it came
from, so any conclusion can be traced back to packets.

Field names are namespaced by protocol (``dhcp.hostname``, ``tls.sni``) and every one of them is
documented in :mod:`wardwatch.sensor.fields`; a test fails if a dissector emits an undocumented
field.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: A field value is a string, an integer, a boolean, or a tuple/list of strings/integers.
FieldValue = str | int | bool | tuple[str, ...] | tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Observation:
    """One fact about one host, as seen in one packet or TCP stream prefix.

    ``mac``/``ip`` identify the host the observation is *about* (the subject), which is usually
    but not always the sender (an SNMP response is about its sender; an ARP reply too; an HTTP
    ``Server`` header is about the server side of the flow).
    """

    ts_ns: int
    """Capture timestamp of the packet, nanoseconds since the Unix epoch (UTC)."""
    flow_uid: str
    """The flow this was seen in (see :func:`wardwatch.sensor.flows.flow_uid`)."""
    protocol: str
    """The dissector that produced it: ``dhcp``, ``mdns``, ``tls``, ..."""
    mac: str | None
    """Subject's MAC address, lower-case colon form, or None when not known (routed traffic)."""
    ip: str | None
    """Subject's IP address in its canonical text form, or None (e.g. LLDP)."""
    fields: dict[str, FieldValue] = field(default_factory=dict)
    """Namespaced fields, e.g. ``{"dhcp.hostname": "PUMP-0042"}``."""
    _uid: str = field(default="", init=False, repr=False, compare=False)

    @property
    def uid(self) -> str:
        """Content identity: equal facts about the same host share a uid (used to deduplicate).

        Computed once, on first use (the content never changes: the dataclass is frozen).
        """
        if not self._uid:
            object.__setattr__(self, "_uid", observation_uid(self.protocol, self.mac, self.ip, self.fields))
        return self._uid

    def to_json(self) -> dict[str, Any]:
        """Versioned JSON-lines form (see docs/observations.md)."""
        return {
            "ts_ns": self.ts_ns,
            "flow_uid": self.flow_uid,
            "protocol": self.protocol,
            "mac": self.mac,
            "ip": self.ip,
            "fields": {k: list(v) if isinstance(v, tuple) else v for k, v in self.fields.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Observation:
        """Inverse of :meth:`to_json`."""
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(data["fields"]).items()}
        return cls(
            ts_ns=int(data["ts_ns"]),
            flow_uid=str(data["flow_uid"]),
            protocol=str(data["protocol"]),
            mac=data.get("mac"),
            ip=data.get("ip"),
            fields=fields,
        )


#: Distinct facts whose uid is remembered by :func:`observation_uid` (a hospital hour repeats the
#: same facts many times: the canonical JSON and hash are the costly part, the lookup is not).
UID_MEMO_ENTRIES = 262_144
_uid_memo: dict[tuple[object, ...], str] = {}


#: ``wardwatch.sensor._native.content_uid``: ``_content_uid`` in C, cheaper than a memo hit. It
#: returns None for content it does not encode (see ``_uid.c``), which then takes the memo path.
_NativeUid = Callable[[str, str | None, str | None, dict[str, FieldValue]], str | None]
_native_uid: _NativeUid | None = None
_native_looked_up = False

# WARDWATCH_PURE_PYTHON (set, and not "0") selects the Python code, as in
# wardwatch.sensor.capture._common.native(), and like there it is read at every call, so tests can
# switch with monkeypatch.setenv. But this runs per observation, and os.environ.get of an unset
# variable costs ~0.8 us (it raises and catches a KeyError inside), as much as a memo hit. So the
# variable is read from the dict behind os.environ, which every change made through os.environ
# (monkeypatch's setenv and delenv included) updates: one dict lookup, the same answer. Its keys and
# values are in os.environ's encoding (bytes on POSIX). Where there is no such dict, os.environ.
_ENV: Mapping[Any, Any] = getattr(os.environ, "_data", os.environ)
_PURE_KEY: Any = (
    os.environ.encodekey("WARDWATCH_PURE_PYTHON") if _ENV is not os.environ else "WARDWATCH_PURE_PYTHON"
)
_PURE_OFF: Any = os.environ.encodevalue("0") if _ENV is not os.environ else "0"


def _look_up_native_uid() -> _NativeUid | None:
    """The C ``content_uid``, or None when the extension is not built; imported on first use.

    Not at import time: ``wardwatch.model`` is below ``wardwatch.sensor`` (which imports it).
    """
    global _native_uid, _native_looked_up
    try:
        module = importlib.import_module("wardwatch.sensor._native")
    except ImportError:  # optional (setup.py): no C compiler at install time
        module = None
    _native_uid = getattr(module, "content_uid", None)
    _native_looked_up = True
    return _native_uid


def observation_uid(protocol: str, mac: str | None, ip: str | None, fields: dict[str, FieldValue]) -> str:
    """A stable content hash of an observation without its time and flow.

    Re-reading the same capture, or seeing the same DHCP request every hour, yields the same uid,
    so the store keeps one row per distinct fact with its first and last sighting: storage stays
    bounded and discovery is idempotent.

    The C extension computes it where it is built (``content_uid``, the same value), unless
    ``WARDWATCH_PURE_PYTHON`` is set; otherwise, and for content the C code does not encode,
    ``_content_uid`` does, behind a memo.
    """
    native = _native_uid if _native_looked_up else _look_up_native_uid()
    if native is not None:
        flag = _ENV.get(_PURE_KEY)
        if not flag or flag == _PURE_OFF:
            uid = native(protocol, mac, ip, fields)
            if uid is not None:  # None: content the C code leaves to _content_uid
                return uid
    key = _memo_key(protocol, mac, ip, fields)
    if key is not None:
        hit = _uid_memo.get(key)
        if hit is not None:
            return hit
    uid = _content_uid(protocol, mac, ip, fields)
    if key is not None:
        if len(_uid_memo) >= UID_MEMO_ENTRIES:
            _uid_memo.clear()  # bounded; refilled by the facts still being seen
        _uid_memo[key] = uid
    return uid


def _memo_key(
    protocol: str, mac: str | None, ip: str | None, fields: dict[str, FieldValue]
) -> tuple[object, ...] | None:
    """The memo key of some content, or None when it cannot be used safely.

    Types are part of the key because ``True == 1`` in Python but not in the canonical JSON; a
    tuple holding booleans, or anything unhashable, is not memoised at all.
    """
    parts: list[object] = [protocol, mac, ip]
    for k, v in fields.items():
        t = type(v)
        if t is tuple:
            if any(type(x) is bool for x in v):  # type: ignore[union-attr]
                return None
        elif t is not str and t is not int and t is not bool:
            return None
        parts += (k, t, v)
    return tuple(parts)


#: ``json.dumps(..., separators=(",", ":"), ensure_ascii=True)`` built once: ``dumps`` with any
#: non-default argument builds a new encoder per call. Same settings, so the same text.
_CANON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)


def _content_uid(protocol: str, mac: str | None, ip: str | None, fields: dict[str, FieldValue]) -> str:
    """The uid's definition: blake2b-96 of the canonical JSON of the content (sorted fields)."""
    canon = _CANON.encode(
        [protocol, mac, ip, sorted((k, list(v) if isinstance(v, tuple) else v) for k, v in fields.items())]
    )
    return hashlib.blake2b(canon.encode(), digest_size=12).hexdigest()
