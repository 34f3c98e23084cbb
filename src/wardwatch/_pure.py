"""Which build of wardwatch's mypyc-compiled modules runs: the compiled one or the source (ADR 013).

``setup.py`` compiles the modules of :data:`COMPILED` with mypyc into extension modules beside
their ``.py`` files, and Python's import system finds an extension module before the source.
The source stays the reference, so :func:`configure` (called by ``wardwatch/__init__.py`` before
any other wardwatch module is imported) puts :class:`SourceFirst` in front of the usual finders,
to import the ``.py`` files of :data:`COMPILED` instead, when

* ``WARDWATCH_PURE_PYTHON`` is set at start-up (the tests run the source this way too), or
* the compiled build is stale: ``setup.py`` records each source it compiles (:data:`STAMP`:
  size, time and CRC-32), and a source that no longer matches its record (edited, or another branch
  checked out, since the last ``make install``) means the build is not of this code. Running
  it would run old code; the source is always right, only slower. All the modules then run as
  source, never a mix: compiled modules call each other directly.

Start-up cost: a ``stat`` per listed source (their size and time as recorded: under 1 ms);
only a source whose size or time differs is read and its CRC-32 compared (a file checked out
again with the same content is still current). Nothing heavier is imported here (no
``importlib.util``/``abc``, no ``hashlib``: 20 to 80 ms on every command).

Other modules are never touched; the hand-written C ``wardwatch.sensor._native`` has no source
twin, and its callers choose their Python path themselves (ADR 010).
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: The modules mypyc compiles (``setup.py`` reads this list): the per-flow and per-observation
#: Python of ``discover``. Not the modules of the data classes that the engine builds through
#: slot descriptors (``dissect/base.py``, ``model``): mypyc makes its own kind of class.
COMPILED: tuple[str, ...] = (
    "wardwatch.sensor.dissect.arp",
    "wardwatch.sensor.dissect.bacnet",
    "wardwatch.sensor.dissect.cdp",
    "wardwatch.sensor.dissect.dhcp",
    "wardwatch.sensor.dissect.dhcpv6",
    "wardwatch.sensor.dissect.dicom",
    "wardwatch.sensor.dissect.dns",
    "wardwatch.sensor.dissect.fhir",
    "wardwatch.sensor.dissect.hl7",
    "wardwatch.sensor.dissect.http",
    "wardwatch.sensor.dissect.intellivue",
    "wardwatch.sensor.dissect.lldp",
    "wardwatch.sensor.dissect.modbus",
    "wardwatch.sensor.dissect.mqtt",
    "wardwatch.sensor.dissect.nbns",
    "wardwatch.sensor.dissect.poct1",
    "wardwatch.sensor.dissect.sdc",
    "wardwatch.sensor.dissect.smb",
    "wardwatch.sensor.dissect.snmp",
    "wardwatch.sensor.dissect.ssdp",
    "wardwatch.sensor.dissect.syslog",
    "wardwatch.sensor.dissect.tcpstack",
    "wardwatch.sensor.dissect.tls",
    "wardwatch.sensor.dissect.tls_cert",
    "wardwatch.sensor.dissect.upnp",
    "wardwatch.sensor.flows.engine",
    "wardwatch.inventory.build",
    "wardwatch.identify.engine",
)

#: mypyc's group: its shared library is the extension module ``wardwatch._compiled__mypyc``.
GROUP = "wardwatch._compiled"

#: What ``setup.py`` writes beside the package's ``__init__.py``: one line per compiled module,
#: its name and the size, modification time (ns) and CRC-32 of the source it was compiled from.
STAMP = "_compiled.sources"

#: Why the source runs instead of the compiled build (None: the compiled build runs, or none is
#: built): set by :func:`configure`, reported by the tests.
reason: str | None = None


def source_path(package_dir: Path, module: str) -> Path:
    """The ``.py`` file of ``module`` (a ``wardwatch.*`` name) under ``package_dir``."""
    return package_dir.joinpath(*module.split(".")[1:]).with_suffix(".py")


def record(path: Path) -> tuple[int, int, int]:
    """A source file's size, modification time (ns) and CRC-32, as :data:`STAMP` records them."""
    st = path.stat()
    return st.st_size, st.st_mtime_ns, zlib.crc32(path.read_bytes())


def stamp_text(package_dir: Path) -> str:
    """The :data:`STAMP` file's text for the sources under ``package_dir`` as they are now."""
    return "".join("{} {} {} {}\n".format(m, *record(source_path(package_dir, m))) for m in COMPILED)


def built(package_dir: Path) -> bool:
    """Whether mypyc's shared library is built under ``package_dir``."""
    name = GROUP.rpartition(".")[2] + "__mypyc"
    return any(
        (package_dir / f"{name}{suffix}").is_file() for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )


def stale(package_dir: Path) -> str | None:
    """Why the compiled build under ``package_dir`` is not of its sources, or None if it is."""
    try:
        lines = (package_dir / STAMP).read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return f"no readable {STAMP}: cannot tell what the compiled build was made from"
    found: dict[str, list[str]] = {}
    for line in lines:
        words = line.split()
        if words:  # a damaged record must not stop wardwatch from starting: it only fails to match
            found[words[0]] = words[1:]
    for module in COMPILED:
        source = source_path(package_dir, module)
        recorded = found.get(module, [])
        try:
            st = source.stat()
            if len(recorded) != 3 or (
                [str(st.st_size), str(st.st_mtime_ns)] != recorded[:2]
                and (str(st.st_size) != recorded[0] or str(zlib.crc32(source.read_bytes())) != recorded[2])
            ):
                return f"{source} changed since it was compiled (make install compiles it again)"
        except OSError:
            return f"{source} cannot be read"
    return None


class SourceFirst:
    """A meta-path finder that imports the ``.py`` source of the :data:`COMPILED` modules."""

    def __init__(self, package_dir: Path) -> None:
        self._paths = {m: source_path(package_dir, m) for m in COMPILED}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """The spec of ``fullname``'s source file, for a compiled module; else None (the usual finders)."""
        source = self._paths.get(fullname)
        if source is None:
            return None
        loader = importlib.machinery.SourceFileLoader(fullname, str(source))
        spec = importlib.machinery.ModuleSpec(fullname, loader, origin=str(source))
        spec.has_location = True  # __file__ and the cached bytecode, as for any source module
        return spec


def configure(package_dir: Path) -> None:
    """Import the sources of :data:`COMPILED` rather than their build when it is asked for
    (``WARDWATCH_PURE_PYTHON``) or the build is stale; see the module docstring."""
    global reason
    if os.environ.get("WARDWATCH_PURE_PYTHON"):
        reason = "WARDWATCH_PURE_PYTHON is set"
    elif built(package_dir):
        reason = stale(package_dir)
    if reason is not None and not any(isinstance(f, SourceFirst) for f in sys.meta_path):
        sys.meta_path.insert(0, SourceFirst(package_dir))


def compiled(module: ModuleType) -> bool:
    """Whether ``module`` was imported from a compiled extension rather than its source."""
    return not str(getattr(module, "__file__", "") or "").endswith(".py")
