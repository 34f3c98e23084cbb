"""The CLI imports what a command needs when it runs, so start-up stays cheap.

``wardwatch --help`` (or any command) used to import SQLAlchemy with every PostgreSQL dialect,
Alembic, NumPy and the sensor, the risk and vulnerability services and rich's progress bar before
doing anything: a third of a short run. These tests fail when a change brings one back into the
start-up path, or into a command that does not need it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from wardwatch.store.sql import open_store

#: Imported by none of the command modules at start-up.
LAZY = (
    "sqlalchemy",
    "sqlalchemy.dialects.postgresql",
    "alembic",
    "psycopg",
    "numpy",
    "rich.progress",
    "rich.table",
    "wardwatch.store.sql",
    "wardwatch.services.discovery",
    "wardwatch.services.risk",
    "wardwatch.services.vulns",
    "wardwatch.sensor",
)


def _imported(code: str, modules: tuple[str, ...] = LAZY) -> dict[str, bool]:
    """Run ``code`` in a fresh interpreter; which of ``modules`` it imported."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {modules!r}}}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    result: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_importing_the_cli_imports_none_of_the_heavy_modules() -> None:
    imported = _imported("import wardwatch.services.cli.main")
    assert [m for m, yes in imported.items() if yes] == []


def test_a_command_on_a_current_sqlite_store_needs_neither_alembic_nor_postgresql(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'current.sqlite'}"
    open_store(url).close()  # created and migrated here: the command opens a current store
    imported = _imported(
        "from wardwatch.services.cli.main import app\n"
        f"app(['--db', {url!r}, 'devices', '--format', 'json'], standalone_mode=False)"
    )
    assert imported["sqlalchemy"] and imported["wardwatch.store.sql"]  # the command did open it
    unneeded = (
        "sqlalchemy.dialects.postgresql",
        "alembic",
        "psycopg",
        "numpy",
        "rich.progress",
        "wardwatch.services.discovery",
        "wardwatch.services.risk",
        "wardwatch.services.vulns",
    )
    assert [m for m in unneeded if imported[m]] == []


def test_discover_without_certificates_imports_neither_pydantic_nor_x509(tmp_path: Path) -> None:
    # pydantic came with typer 0.29 (pinned below it in pyproject.toml); cryptography's X.509
    # code serves the TLS dissector's certificates only (tls_cert.py, imported on the first one).
    capture = Path(__file__).parents[1] / "data" / "captures" / "dicom-pynetdicom.pcap"
    url = f"sqlite:///{tmp_path / 'd.sqlite'}"
    imported = _imported(
        "from wardwatch.services.cli.main import app\n"
        f"app(['--db', {url!r}, 'discover', '--format', 'json', {str(capture)!r}], standalone_mode=False)",
        ("wardwatch.services.discovery", "pydantic", "cryptography.x509"),
    )
    assert imported == {"wardwatch.services.discovery": True, "pydantic": False, "cryptography.x509": False}
