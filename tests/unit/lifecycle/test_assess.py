"""Lifecycle: missing by per-type threshold, moved vs multi-homed, new, end of support, utilization."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from wardwatch.lifecycle.assess import (
    NS_PER_DAY,
    NS_PER_HOUR,
    assess,
    load_thresholds,
    moved,
    segment,
    support,
    utilization,
)
from wardwatch.model.device import Attribute, Device, DeviceIP, ResolvedAttribute

DAY = NS_PER_DAY
T0 = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z


def _device(
    id: int, *, first: int = T0, last: int = T0, ips: tuple[DeviceIP, ...] = (), **attrs: str
) -> Device:
    return Device(
        id=id,
        key=f"k{id}",
        mac=None,
        first_ns=first,
        last_ns=last,
        attributes={k: ResolvedAttribute(Attribute(k), v, 0.9, "only", ()) for k, v in attrs.items()},
        ips=ips,
    )


def test_missing_uses_the_device_types_threshold() -> None:
    limits = load_thresholds()
    pump = _device(1, device_type="infusion_pump")
    printer = _device(2, device_type="printer")
    unknown = _device(3)
    entries = {
        e.device_id: e for e in assess([pump, printer, unknown], now_ns=T0 + 15 * DAY, thresholds=limits)
    }
    assert entries[1].missing and entries[1].threshold_days == 14  # a pump unseen for 15 days
    assert not entries[2].missing and entries[2].threshold_days == 30
    assert entries[3].threshold_days == limits.default_days and entries[3].unseen_days == 15.0
    assert not any(e.new for e in entries.values())
    assert all(e.new for e in assess([pump], now_ns=T0 + DAY // 2, thresholds=limits))


def test_site_thresholds_file(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"default_days": 3, "device_types": {"infusion_pump": 1}}')
    limits = load_thresholds(path)
    assert limits.days_for("infusion_pump") == 1 and limits.days_for("ct_scanner") == 3
    path.write_text("[")
    with pytest.raises(ValueError, match="not a thresholds file"):
        load_thresholds(path)


def test_moved_only_when_the_old_address_went_quiet() -> None:
    moved_device = _device(
        1,
        ips=(
            DeviceIP("10.120.0.5", T0, T0 + DAY, "dhcp"),
            DeviceIP("10.130.0.9", T0 + 2 * DAY, T0 + 3 * DAY, "dhcp"),
        ),
    )
    m = moved(moved_device)
    assert m is not None and (m.from_segment, m.to_segment) == ("10.120.0.0/24", "10.130.0.0/24")
    assert m.to_first_ns == T0 + 2 * DAY
    router = _device(
        2,
        ips=(
            DeviceIP("10.10.0.1", T0, T0 + 3 * DAY, "arp"),
            DeviceIP("10.150.0.1", T0 + DAY, T0 + 3 * DAY, "arp"),
        ),
    )
    assert moved(router) is None  # both addresses in use at once: multi-homed, not moved
    renewed = _device(
        3,
        ips=(
            DeviceIP("10.120.0.5", T0, T0 + DAY, "dhcp"),
            DeviceIP("10.120.0.77", T0 + 2 * DAY, T0 + 3 * DAY, "dhcp"),
        ),
    )
    assert moved(renewed) is None  # a new lease in the same segment
    assert segment("2001:db8::1") == "2001:db8::/64" and segment("nonsense") is None


def test_end_of_support() -> None:
    today = date(2026, 11, 23)
    win7 = support(_device(1, os="Windows", os_version="NT 6.1"), today)
    assert win7.status == "ended" and "Windows 7" in (win7.product or "") and win7.source
    nt10 = support(_device(2, os="Windows", os_version="NT 10.0"), today)
    assert nt10.status == "unknown" and "Windows 10 (2025-10-14)" in nt10.reason  # 10 or 11: no guess
    kernel = support(_device(3, os="Linux", os_version="3.14.52"), today)
    assert kernel.status == "ended" and kernel.end_of_support == "2016-09-11"
    assert support(_device(4), today).status == "unknown"
    assert support(_device(5, os="Linux", os_version="6.6.1"), today).reason.endswith(
        "not in the end-of-support table"
    )


def test_utilization_hours_per_day() -> None:
    h = NS_PER_HOUR
    intervals = [
        (T0 + 1 * h, T0 + 3 * h),
        (T0 + 2 * h, T0 + 4 * h),
        (T0 + 23 * h, T0 + 25 * h),
        (T0 + 30 * h, T0 + 30 * h),
    ]
    assert utilization(intervals) == {"2026-01-01": 4.0, "2026-01-02": 1.0}
    assert utilization([]) == {}


def test_model_support_from_the_cmms_first() -> None:
    from wardwatch.lifecycle.assess import model_support
    from wardwatch.model.recall import Asset

    today = date(2026, 11, 23)
    pump = _device(1, vendor="BD", model="8015")
    ended = model_support(
        pump, Asset(tag="A", model="8015", end_of_support="2025-12-31", source="cmms.csv row 2"), today
    )
    assert (ended.status, ended.end_of_support, ended.source) == ("ended", "2025-12-31", "cmms.csv row 2")
    assert model_support(pump, Asset(tag="A", end_of_support="2029-12-31"), today).status == "supported"
    assert "not a date" in model_support(pump, Asset(tag="A", end_of_support="soon"), today).reason
    assert model_support(pump, None, today).status == "unknown"
    entries = assess(
        [pump],
        now_ns=T0,
        thresholds=load_thresholds(),
        assets={1: Asset(tag="A", end_of_support="2020-01-01")},
    )
    assert entries[0].model_support.status == "ended"
