"""ArcSight Common Event Format (CEF) lines, usually carried inside syslog.

``CEF:0|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension``:
header fields escape ``\\`` and ``|``; extension values escape ``\\``, ``=`` and line breaks
(as ``\\n``/``\\r``); extension keys are the CEF dictionary's where one fits (``src``, ``smac``,
``rt``, ``msg``), else custom string fields ``csN``/``csNLabel``.
"""

from __future__ import annotations

from wardwatch import __version__ as VERSION
from wardwatch.integrations.events import Event, Severity

#: CEF severity 0-10 from the syslog severity (lower syslog number = worse).
CEF_SEVERITY = {
    Severity.CRITICAL: 10,
    Severity.ERROR: 8,
    Severity.WARNING: 6,
    Severity.NOTICE: 3,
    Severity.INFORMATIONAL: 1,
}
#: Event fields with a CEF dictionary key of their own.
KNOWN_KEYS = {"ip": "src", "mac": "smac", "hostname": "shost"}


def _header(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


def format_cef(event: Event) -> str:
    """One CEF line for an event."""
    extension: list[tuple[str, str]] = [("rt", str(event.at_ns // 1_000_000)), ("msg", event.message)]
    if event.device_id is not None:
        extension.append(("externalId", str(event.device_id)))
    custom = 0
    for name, value in event.fields.items():
        if name in KNOWN_KEYS:
            extension.append((KNOWN_KEYS[name], value))
        elif custom < 6:  # CEF defines cs1..cs6
            custom += 1
            extension.extend(((f"cs{custom}", value), (f"cs{custom}Label", name)))
    header = "|".join(
        _header(x)
        for x in (
            "wardwatch",
            "wardwatch",
            VERSION,
            event.kind.value,
            event.message,
            str(CEF_SEVERITY[event.severity]),
        )
    )
    return f"CEF:0|{header}|" + " ".join(f"{k}={_value(v)}" for k, v in extension)
