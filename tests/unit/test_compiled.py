"""The mypyc-compiled modules (ADR 013): which build runs, and when the source must run instead.

``make unit`` runs this file twice: as the rest of the suite (the compiled build must be the one
imported, and current) and with ``WARDWATCH_PURE_PYTHON`` set at start-up (every listed module
must come from its ``.py`` file). Where no compiled build was made (``WARDWATCH_NO_MYPYC``, no
mypyc, no C compiler) the first case skips, saying so.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import wardwatch
from wardwatch import _pure

PACKAGE = Path(wardwatch.__file__).parent


def test_the_modules_run_from_the_build_they_should() -> None:
    modules = [importlib.import_module(m) for m in _pure.COMPILED]
    if os.environ.get("WARDWATCH_PURE_PYTHON"):
        assert _pure.reason == "WARDWATCH_PURE_PYTHON is set"
        assert [m.__name__ for m in modules if _pure.compiled(m)] == []
        return
    if not _pure.built(PACKAGE):
        pytest.skip("no mypyc build (WARDWATCH_NO_MYPYC, no mypyc or no C compiler at install)")
    assert _pure.reason is None, f"the compiled build is not used: {_pure.reason}"
    assert [m.__name__ for m in modules if not _pure.compiled(m)] == []


def test_every_listed_module_has_its_source() -> None:
    for module in _pure.COMPILED:
        assert _pure.source_path(PACKAGE, module).is_file(), module


def _package(tmp_path: Path) -> Path:
    """A copy of the listed sources, a stand-in shared library and the digest record."""
    root = tmp_path / "wardwatch"
    for module in _pure.COMPILED:
        target = _pure.source_path(root, module)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_pure.source_path(PACKAGE, module).read_bytes())
    (root / f"_compiled__mypyc{importlib.machinery.EXTENSION_SUFFIXES[0]}").write_bytes(b"")
    (root / _pure.STAMP).write_text(_pure.stamp_text(root), encoding="ascii")
    return root


def test_a_build_of_the_present_sources_is_current(tmp_path: Path) -> None:
    root = _package(tmp_path)
    assert _pure.built(root)
    assert _pure.stale(root) is None


def test_an_edited_source_makes_the_build_stale(tmp_path: Path) -> None:
    root = _package(tmp_path)
    edited = _pure.source_path(root, _pure.COMPILED[-1])
    edited.write_bytes(edited.read_bytes() + b"\n# edited\n")
    assert f"{edited} changed since it was compiled" in str(_pure.stale(root))
    # put back as it was (a branch checked out again): current again, whatever the file times
    original = _pure.source_path(PACKAGE, _pure.COMPILED[-1]).read_bytes()
    edited.write_bytes(original)
    assert _pure.stale(root) is None
    # the same size, one byte else: the CRC tells
    edited.write_bytes(original.replace(b"def ", b"def_", 1))
    assert f"{edited} changed since it was compiled" in str(_pure.stale(root))


def test_a_source_that_cannot_be_read_makes_the_build_stale(tmp_path: Path) -> None:
    root = _package(tmp_path)
    source = _pure.source_path(root, _pure.COMPILED[0])
    source.unlink()
    assert f"{source} cannot be read" in str(_pure.stale(root))


def test_a_build_without_its_record_is_not_trusted(tmp_path: Path) -> None:
    root = _package(tmp_path)
    (root / _pure.STAMP).unlink()
    assert "cannot tell what the compiled build was made from" in str(_pure.stale(root))
    lines = _pure.stamp_text(root).splitlines()
    cut = "x\n \n" + "\n".join([*lines[:-1], " ".join(lines[-1].split()[:3])])  # last CRC lost
    for damaged in ("wardwatch.sensor.dissect.arp 00\n", "\n\n", cut):
        (root / _pure.STAMP).write_text(damaged, encoding="ascii")
        assert "changed since it was compiled" in str(_pure.stale(root)), damaged


def test_no_build_means_nothing_to_choose(tmp_path: Path) -> None:
    root = _package(tmp_path)
    next(root.glob("_compiled__mypyc*")).unlink()
    assert not _pure.built(root)


def test_the_source_first_finder_imports_the_python_file() -> None:
    """In a fresh process with WARDWATCH_PURE_PYTHON set, a listed module comes from its .py
    file and an unlisted one (the hand-written C module) from wherever it is."""
    code = (
        "import wardwatch.sensor.dissect.tls as t, wardwatch.sensor.flows.config as c\n"
        "print(t.__file__); print(c.__file__)\n"
    )
    env = {**os.environ, "WARDWATCH_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    tls, config = out.stdout.split()
    assert tls == str(PACKAGE / "sensor" / "dissect" / "tls.py")
    assert config == str(PACKAGE / "sensor" / "flows" / "config.py")
