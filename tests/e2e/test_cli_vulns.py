"""The vulnerability CLI end to end: feeds import/status, vulns (filters, formats), triage, export,
and a malformed feed file giving a one-line error with earlier data intact."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from typer.testing import CliRunner

from wardwatch.services.cli.main import app
from wardwatch.store.sql import build_device, open_store

FEEDS = Path(__file__).parents[1] / "data" / "feeds"
runner = CliRunner()


def _seed(url: str) -> None:
    store = open_store(url)
    try:
        with store.transaction() as tx:
            for key, attrs in [
                (
                    "mac:00:00:00:00:00:01",
                    {"vendor": "Philips", "model": "IntelliVue MX450", "firmware": "M.00.03"},
                ),
                (
                    "mac:00:00:00:00:00:02",
                    {"vendor": "Sysmex", "model": "XN-1000", "os": "Windows", "os_version": "NT 6.1"},
                ),
                ("mac:00:00:00:00:00:03", {"vendor": "Ypsomed", "model": "mylife App"}),
            ]:
                d = build_device(
                    id=None,
                    key=key,
                    mac=key[4:],
                    first_ns=1,
                    last_ns=2,
                    mac_randomized=False,
                    attributes=[(k, v, 0.9, "only") for k, v in attrs.items()],
                    ips=[],
                    evidence=[],
                )
                tx.save_device(d, [])
    finally:
        store.close()


def _json(db: str, *args: str) -> list[dict]:  # type: ignore[type-arg]
    r = runner.invoke(app, ["--db", db, "vulns", *args, "--format", "json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["findings"]  # type: ignore[no-any-return]


def test_import_list_triage_export(sqlite_url: str) -> None:
    _seed(sqlite_url)
    r = runner.invoke(
        app,
        [
            "--db",
            sqlite_url,
            "feeds",
            "import",
            str(FEEDS / "nvd"),
            str(FEEDS / "csaf"),
            str(FEEDS / "kev"),
            str(FEEDS / "epss"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "matched 3 devices" in r.stdout
    findings = _json(sqlite_url)
    by = {(f["device_key"], f["vulnerability"]): f for f in findings}
    bk = by[("mac:00:00:00:00:00:02", "CVE-2019-0708")]
    assert bk["kev"] is True and bk["cvss"] == 9.8 and bk["epss"] is not None and bk["status"] == "affected"
    mx = by[("mac:00:00:00:00:00:01", "CVE-2018-10597")]
    assert mx["matcher"] == "nvd_cpe" and mx["evidence"]["matched"]
    yps = [f for f in findings if f["device_key"] == "mac:00:00:00:00:00:03"]
    assert yps and all(f["status"] == "possibly_affected" and f["reason"] for f in yps)
    assert {f["vulnerability"] for f in _json(sqlite_url, "--kev")} == {"CVE-2019-0708"}
    assert all(f["cvss"] >= 9 for f in _json(sqlite_url, "--min-cvss", "9"))
    assert {f["device_key"] for f in _json(sqlite_url, "--device", "00:00:00:00:00:01")} == {
        "mac:00:00:00:00:00:01"
    }

    t = runner.invoke(
        app,
        [
            "--db",
            sqlite_url,
            "triage",
            "set",
            "CVE-2019-0708",
            "--model",
            "Sysmex|XN-1000",
            "--state",
            "not_affected",
            "--justification",
            "protected_at_perimeter",
            "--author",
            "biomed",
            "--comment",
            "RDP blocked at VLAN",
        ],
    )
    assert t.exit_code == 0, t.output
    [bk] = [f for f in _json(sqlite_url, "--kev")]
    assert bk["analysis"]["state"] == "not_affected" and bk["analysis"]["scope"] == "model"
    h = runner.invoke(app, ["--db", sqlite_url, "triage", "history", "CVE-2019-0708"])
    assert h.exit_code == 0 and "biomed" in h.stdout

    c = runner.invoke(app, ["--db", sqlite_url, "vulns", "export", "--format", "csv"])
    assert c.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(c.stdout)))
    assert len(rows) == len(findings) and rows[0].keys() >= {"vulnerability", "matcher", "confidence"}
    v = runner.invoke(app, ["--db", sqlite_url, "vulns", "export", "--format", "cyclonedx-vex"])
    doc = json.loads(v.stdout)
    [vbk] = [x for x in doc["vulnerabilities"] if x["id"] == "CVE-2019-0708"]
    assert vbk["analysis"]["state"] == "not_affected" and vbk["affects"]

    s = runner.invoke(app, ["--db", sqlite_url, "feeds", "status", "--format", "json"])
    assert json.loads(s.stdout)["counts"]["kev"] == 5


def test_bad_feed_one_line_error_and_data_kept(sqlite_url: str, tmp_path: Path) -> None:
    ok = runner.invoke(app, ["--db", sqlite_url, "feeds", "import", str(FEEDS / "kev")])
    assert ok.exit_code == 0, ok.output
    bad = tmp_path / "broken.json"
    bad.write_text(
        '{"catalogVersion": "9999.01.01", "vulnerabilities": [{"cveID": "CVE-2000-0001", "dateAdded": "x"}, {"nope": 1}]}'
    )
    r = runner.invoke(app, ["--db", sqlite_url, "feeds", "import", str(bad)])
    assert r.exit_code == 2
    assert "Traceback" not in r.output and str(bad) in r.stderr and "entry 1" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    s = runner.invoke(app, ["--db", sqlite_url, "feeds", "status", "--format", "json"])
    assert json.loads(s.stdout)["counts"]["kev"] == 5
    missing = runner.invoke(app, ["--db", sqlite_url, "feeds", "import", str(tmp_path / "nothing.json")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    bad_fmt = runner.invoke(app, ["--db", sqlite_url, "vulns", "--format", "xml"])
    assert bad_fmt.exit_code == 2 and "--format" in bad_fmt.stderr


def test_findings_of_one_vulnerability(sqlite_url: str) -> None:
    from wardwatch.services import vulns

    _seed(sqlite_url)
    paths = [str(FEEDS / name) for name in ("nvd", "csaf", "kev", "epss")]
    assert runner.invoke(app, ["--db", sqlite_url, "feeds", "import", *paths]).exit_code == 0
    store = open_store(sqlite_url)
    try:
        everything = vulns.list_findings(store, include_inactive=True)
        assert everything
        for wanted in {r["vulnerability"] for r in everything} | {r["advisory_id"] for r in everything}:
            expected = [r for r in everything if wanted in (r["vulnerability"], r["advisory_id"])]
            got = vulns.list_findings(store, include_inactive=True, vulnerability=wanted)
            assert [(r["device_id"], r["vulnerability"], r["matcher"]) for r in got] == [
                (r["device_id"], r["vulnerability"], r["matcher"]) for r in expected
            ]
        assert vulns.list_findings(store, vulnerability="CVE-1999-0000") == []
    finally:
        store.close()
