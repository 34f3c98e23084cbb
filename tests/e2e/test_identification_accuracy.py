"""Identification on a simulated hospital it was not tuned on: never a wrong vendor or device type.

The demo capture (seed 7) is what the knowledge files were checked against; this uses another
seed and size, so a rule that only fits the demo shows up here as a wrong answer. Unknown is
allowed (the share right is reported by tools/identification_accuracy.py), wrong is not.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from wardwatch.simulate import SimConfig, simulate, truth_json

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> object:
    spec = importlib.util.spec_from_file_location(
        "identification_accuracy", ROOT / "tools/identification_accuracy.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_wrong_vendor_or_type_on_an_unseen_hospital(tmp_path: Path) -> None:
    import json

    capture = tmp_path / "hospital.pcap"
    result = simulate(SimConfig(devices=120, seed=21, duration_s=1800.0), capture)
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps(truth_json(result)))
    report = _tool().measure(capture, truth)  # type: ignore[attr-defined]
    attributes = report["attributes"]
    for name in ("vendor", "kind", "hostname", "os", "model", "serial", "firmware"):
        assert attributes[name]["wrong"] == 0, (name, attributes[name]["wrong_cases"])
    assert attributes["kind"]["right_share"] >= 0.95
    assert attributes["vendor"]["right_share"] >= 0.95
