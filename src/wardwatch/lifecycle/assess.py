"""Per-device lifecycle: missing, moved, new; end of support; utilization.

* **missing**: not seen for longer than the device type's threshold (``thresholds.json``),
  measured against ``now`` (the caller's clock, so a report on an old capture can be run "as of"
  a date). A CMMS asset never seen on the network is reported by reconciliation, not here.
* **moved**: the device's most recent address is in a different segment than the one before it,
  and the old one stopped before the new one started (IPv4 /24, IPv6 /64: the usual access-segment sizes; a site whose segments differ can read the
  evidence, which names both addresses and when each was held).
* **new**: first seen within ``new_days`` of ``now``.
* **end of support**: the OS from ``eol.json`` (with its source); ambiguous versions (Windows
  NT 10.0 is Windows 10 *or* 11) are "unknown" with the reason, never a guess. The model: the
  CMMS row's end-of-support date, else the ``models`` table of ``eol.json``.
* **utilization**: hours per UTC day in which the device had at least one flow (the union of
  its flows' [first, last] intervals), from stored flows.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from wardwatch.model.device import Device
from wardwatch.model.recall import Asset

NS_PER_DAY = 86_400 * 1_000_000_000
NS_PER_HOUR = 3_600 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Days unseen before "missing", per device type."""

    default_days: float
    by_type: dict[str, float]

    def days_for(self, device_type: str | None) -> float:
        """The threshold of a device type (the default when the type is unknown or not listed)."""
        return self.by_type.get(device_type or "", self.default_days)


def load_thresholds(path: str | Path | None = None) -> Thresholds:
    """The bundled thresholds, or a site's own file in the same shape. Raises ValueError when malformed."""
    if path is None:
        text = resources.files("wardwatch.lifecycle").joinpath("thresholds.json").read_text()
        name = "thresholds.json"
    else:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
        name = str(path)
    try:
        data = json.loads(text)
        by_type = {str(k): float(v) for k, v in data.get("device_types", {}).items()}
        return Thresholds(default_days=float(data.get("default_days", 30)), by_type=by_type)
    except (json.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{name}: not a thresholds file: {exc}") from None


def segment(ip: str) -> str | None:
    """The access segment of an address: IPv4 /24, IPv6 /64."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if addr.version == 4 else 64
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


@dataclass(frozen=True, slots=True)
class Moved:
    """The device's latest address is in another segment than the previous one."""

    from_ip: str
    from_segment: str
    from_last_ns: int
    to_ip: str
    to_segment: str
    to_first_ns: int


@dataclass(frozen=True, slots=True)
class Support:
    """End-of-support status of a device's OS."""

    status: str  # "ended", "supported", "unknown"
    product: str | None
    end_of_support: str | None
    reason: str
    source: str | None


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """One device's lifecycle status as of ``now``."""

    device_id: int
    last_seen_ns: int
    unseen_days: float
    threshold_days: float
    missing: bool
    new: bool
    moved: Moved | None
    support: Support  # of the operating system
    model_support: Support  # of the device model (the CMMS date, else eol.json "models")


def moved(device: Device) -> Moved | None:
    """The most recent segment change in the device's address history, if any."""
    ips = sorted(device.ips, key=lambda x: (x.first_ns, x.ip))
    if len(ips) < 2:
        return None
    # Only the latest change matters: it says where the device is now.
    older, newer = ips[-2], ips[-1]
    s_old, s_new = segment(older.ip), segment(newer.ip)
    # Addresses held at the same time are a multi-homed device (a router, a dual-NIC modality),
    # not a move: a move is the old address going quiet before the new one appears.
    sequential = older.last_ns <= newer.first_ns
    if s_new and s_old and s_new != s_old and sequential and _same_family(newer.ip, older.ip):
        return Moved(older.ip, s_old, older.last_ns, newer.ip, s_new, newer.first_ns)
    return None


def _same_family(a: str, b: str) -> bool:
    return ipaddress.ip_address(a).version == ipaddress.ip_address(b).version


@cache
def _eol() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("wardwatch.lifecycle").joinpath("eol.json").read_text())
    return data


def support(device: Device, today: date) -> Support:
    """End-of-support status of the device's OS (from ``eol.json``)."""
    os_name, version = device.value("os"), device.value("os_version")
    if not os_name or not version:
        return Support("unknown", None, None, "operating system version not identified", None)
    for entry in _eol()["os"]:
        if entry["os"].lower() != os_name.lower():
            continue
        wanted = entry["version"]
        if not (version == wanted or version.startswith(wanted + ".")):
            continue
        products = entry["products"]
        ended = [
            p for p in products if p["end_of_support"] and date.fromisoformat(p["end_of_support"]) <= today
        ]
        names = " or ".join(p["name"] for p in products)
        if len(ended) == len(products):
            last = max(ended, key=lambda p: str(p["end_of_support"]))
            return Support(
                "ended",
                names,
                last["end_of_support"],
                f"{os_name} {version} is {names}: support ended by {last['end_of_support']}",
                entry["source"],
            )
        if not ended:
            ends = [str(p["end_of_support"]) for p in products if p["end_of_support"]]
            return Support(
                "supported",
                names,
                min(ends) if ends else None,
                f"{os_name} {version} is {names}: still supported",
                entry["source"],
            )
        return Support(
            "unknown",
            names,
            None,
            f"{os_name} {version} may be {names}; support ended for "
            + ", ".join(f"{p['name']} ({p['end_of_support']})" for p in ended)
            + " but not for the others",
            entry["source"],
        )
    return Support("unknown", None, None, f"{os_name} {version} is not in the end-of-support table", None)


def _status(end: str, today: date) -> str:
    return "ended" if date.fromisoformat(end) <= today else "supported"


def model_support(device: Device, asset: Asset | None, today: date) -> Support:
    """End of support of the device model: the CMMS row's date (the hospital's own contract), else
    the ``models`` table of ``eol.json``, else unknown."""
    if asset is not None and asset.end_of_support:
        end = asset.end_of_support[:10]
        try:
            status = _status(end, today)
        except ValueError:
            return Support(
                "unknown",
                asset.model,
                None,
                f"CMMS end of support {asset.end_of_support!r} is not a date",
                asset.source,
            )
        return Support(
            status, asset.model, end, f"CMMS end of support {end}", asset.source or f"asset {asset.tag}"
        )
    vendor, model = device.value("vendor"), device.value("model") or device.value("model_number")
    if vendor and model:
        for entry in _eol().get("models", ()):
            if entry["vendor"].lower() == vendor.lower() and entry["model"].lower() == model.lower():
                end = entry["end_of_support"]
                return Support(
                    _status(end, today),
                    model,
                    end,
                    f"{vendor} {model}: end of support {end}",
                    entry["source"],
                )
    return Support("unknown", model, None, "no end-of-support date for this model (CMMS or eol.json)", None)


def assess(
    devices: Iterable[Device],
    *,
    now_ns: int,
    thresholds: Thresholds,
    new_days: float = 1.0,
    assets: Mapping[int, Asset] | None = None,
) -> list[Lifecycle]:
    """The lifecycle status of every device (``assets``: the CMMS row paired with each device id)."""
    today = datetime.fromtimestamp(now_ns / 1e9, tz=UTC).date()
    result: list[Lifecycle] = []
    for d in devices:
        assert d.id is not None
        unseen = max(0.0, (now_ns - d.last_ns) / NS_PER_DAY)
        limit = thresholds.days_for(d.value("device_type"))
        result.append(
            Lifecycle(
                device_id=d.id,
                last_seen_ns=d.last_ns,
                unseen_days=round(unseen, 2),
                threshold_days=limit,
                missing=unseen > limit,
                new=(now_ns - d.first_ns) <= new_days * NS_PER_DAY,
                moved=moved(d),
                support=support(d, today),
                model_support=model_support(d, (assets or {}).get(d.id), today),
            )
        )
    return result


def utilization(intervals: Sequence[tuple[int, int]]) -> dict[str, float]:
    """Hours active per UTC day ("YYYY-MM-DD" -> hours), from flow [first_ns, last_ns] intervals."""
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        end = max(end, start)
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    hours: dict[str, float] = {}
    for start, end in merged:
        cursor = start
        while cursor < end or (cursor == end == start):
            day_start = cursor - cursor % NS_PER_DAY
            day_end = min(end, day_start + NS_PER_DAY)
            key = datetime.fromtimestamp(day_start / 1e9, tz=UTC).date().isoformat()
            hours[key] = hours.get(key, 0.0) + (day_end - cursor) / NS_PER_HOUR
            if day_end == cursor:
                break
            cursor = day_end
    return {k: round(v, 3) for k, v in sorted(hours.items())}
