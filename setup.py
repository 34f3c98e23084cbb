"""Build the optional native code; every other setting is in pyproject.toml.

Two kinds, both optional (ADR 013): where one cannot be built the install prints a warning and
still succeeds, and wardwatch runs the Python it was built from.

* ``wardwatch.sensor._native``: hand-written C (packet decode, pcap walk, flow table, ...);
  without it wardwatch runs the NumPy/Python code that the C code mirrors.
* The modules of ``wardwatch._pure.COMPILED``, compiled by mypyc from their own (type-checked) source into
  extension modules that Python imports in place of the ``.py`` files; the source stays the
  reference, and ``WARDWATCH_PURE_PYTHON`` set at start-up imports it instead (``wardwatch._pure``).
  ``WARDWATCH_NO_MYPYC=1`` skips them at build time.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _pure() -> ModuleType:
    """``src/wardwatch/_pure.py`` on its own (not the package: its ``__init__`` would run)."""
    spec = importlib.util.spec_from_file_location("_wardwatch_pure", "src/wardwatch/_pure.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _warn(message: str) -> None:
    print(f"warning: {message}; wardwatch will run those modules as Python", file=sys.stderr)


def _compiled() -> list[Extension]:
    """The mypyc extensions of ``wardwatch._pure.COMPILED``, or none (with a warning) when they cannot be made."""
    if os.environ.get("WARDWATCH_NO_MYPYC"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _warn("mypyc is not installed")
        return []
    pure = _pure()
    package = Path("src/wardwatch")
    sources = [str(pure.source_path(package, m)) for m in pure.COMPILED]
    # The package imports the build only while every source matches the digest recorded with it
    # (wardwatch._pure.stale). Taken before mypyc reads the sources; written once the build is
    # done (BuildExt), and the old record is removed first, so a failed build never looks current.
    stamp = package / pure.STAMP
    _STAMP[stamp] = pure.stamp_text(package)
    stamp.unlink(missing_ok=True)
    try:
        extensions = mypycify(sources, group_name=pure.GROUP, opt_level="3")
    except (Exception, SystemExit) as err:  # mypycify exits on a type error
        _warn(f"mypyc could not compile {len(sources)} modules ({err})")
        return []
    for ext in extensions:
        ext.optional = True  # no C compiler: the install still succeeds
    return extensions


#: The digest record (path -> text) to write once the extensions are built.
_STAMP: dict[Path, str] = {}


class BuildExt(build_ext):
    """``build_ext`` that records what the mypyc modules were compiled from once they are built."""

    def run(self) -> None:
        super().run()
        for path, text in _STAMP.items():
            # in place (an editable install, make install) or into the tree a wheel is made of
            where = path if self.inplace else Path(self.build_lib, "wardwatch", path.name)
            if _pure().built(where.parent):
                where.write_text(text, encoding="ascii")


setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=[
        Extension(
            "wardwatch.sensor._native",
            [
                "src/wardwatch/sensor/_native.c",
                "src/wardwatch/sensor/_sightings.c",
                "src/wardwatch/sensor/_meter.c",
                "src/wardwatch/sensor/_uid.c",
                "src/wardwatch/sensor/_conversations.c",
                "src/wardwatch/sensor/_flowtable.c",
            ],
            depends=[
                "src/wardwatch/sensor/_native.h",
                "src/wardwatch/sensor/_lru.h",
                "src/wardwatch/sensor/_meter.h",
            ],
            optional=True,
            extra_compile_args=["-O2"],
        ),
        *_compiled(),
    ],
)
