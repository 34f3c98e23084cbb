"""`risk`, `risk rubric`, `mitigate`, `what-if`, `procure` end to end on the demo capture and feeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import DATA, DEMO
from typer.testing import CliRunner

from wardwatch.services.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('risk') / 'demo.sqlite'}"
    assert runner.invoke(app, ["--db", url, "discover", str(DEMO / "hospital-demo.pcap.gz")]).exit_code == 0
    result = runner.invoke(app, ["--db", url, "feeds", "import", str(DEMO / "feeds")])
    assert result.exit_code == 0, result.output
    return url


def _json(url: str, *args: str) -> dict[str, object]:
    result = runner.invoke(app, ["--db", url, *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_fleet_risk_json_and_table(demo_db: str) -> None:
    data = _json(demo_db, "risk")
    assert data["version"] == "risk-1.0"
    scores = data["scores"]
    assert isinstance(scores, list) and scores[0]["risk"] >= scores[-1]["risk"]
    top = scores[0]
    assert top["decision"] in ("Act", "Attend", "Track*", "Track") and top["explanation"]
    table = runner.invoke(app, ["--db", demo_db, "risk", "--limit", "3"])
    assert table.exit_code == 0 and "scored" in table.stdout


def test_device_risk_explains_every_factor(demo_db: str) -> None:
    fleet = _json(demo_db, "risk")
    top = fleet["scores"][0]  # type: ignore[index]
    data = _json(demo_db, "risk", "--device", str(top["device_id"]))
    score = data["score"]
    assert isinstance(score, dict)
    assert score["risk"] == top["risk"]
    names = {f["name"] for f in score["findings"][0]["factors"]}
    assert names == {
        "exploitability",
        "threat",
        "exposure",
        "technical impact",
        "clinical category",
        "PHI",
        "dependents",
    }
    assert all(f["detail"] for f in score["findings"][0]["factors"])


def test_mitigate_and_what_if(demo_db: str) -> None:
    top = _json(demo_db, "risk")["scores"][0]  # type: ignore[index]
    data = _json(demo_db, "mitigate", "--device", str(top["device_id"]))
    options = data["options"]
    assert isinstance(options, list) and options
    assert [o["rank"] for o in options] == list(range(1, len(options) + 1))
    assert all(o["risk_after"] <= o["risk_before"] for o in options)
    w = _json(demo_db, "what-if", "--block", "rdp")
    assert w["findings_changed"] >= 1 and "to Track" in str(w["summary"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["risk", "--device", "no-such-device"], "no device"),
        (["mitigate", "--device", "nope"], "no device"),
        (["what-if"], "nothing to simulate"),
        (["what-if", "--block", "tcp/99999"], "cannot read service"),
        (["what-if", "--block", "smb", "--subnet", "10.0.0.0/99"], "not a subnet"),
        (["risk", "--format", "xml"], "--format"),
        (["risk", "rubric", "--vendor", "x", "--model", "y", "XAVN=sometimes"], "XAVN"),
    ],
)
def test_errors_are_one_line(demo_db: str, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["--db", demo_db, *args])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_rubric_command(demo_db: str) -> None:
    data = _json(
        demo_db, "risk", "rubric", "--vendor", "Philips", "--model", "IntelliVue MX450", "XAVN=yes", "XAD=H"
    )
    assert data["environmental"] == {"CR": "L", "IR": "L", "AR": "H"}


def test_procure_compares_two_candidates(tmp_path: Path) -> None:
    proc = DATA / "procure"
    url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    imported = runner.invoke(app, ["--db", url, "feeds", "import", str(proc / "nvd-synthetic-wolfssl.json")])
    assert imported.exit_code == 0, imported.output
    data = _json(url, "procure", str(proc / "candidates.json"))
    a, b = data["candidates"]  # type: ignore[misc]
    assert (a["candidate"], b["candidate"]) == ("Pump A 100", "Pump B 200")
    assert a["risk"] > b["risk"] and a["predicted_findings"][0]["source"] == "sbom: WolfSSL"
    table = runner.invoke(app, ["--db", url, "procure", str(proc / "candidates.json")])
    assert table.exit_code == 0 and "recommended secure configuration" in table.stdout
    missing = runner.invoke(app, ["--db", url, "procure", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "nope.json" in missing.stderr
