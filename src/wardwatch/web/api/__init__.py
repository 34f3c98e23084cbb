"""The REST API, ``/api/v1``: one module per resource, each an ``APIRouter``.

:func:`routers` lists them; the app factory mounts each behind authentication. A subsystem adds
its resource by adding a module here and a line to :func:`routers`.
"""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """Every authenticated API router (health is public and mounted separately)."""
    from wardwatch.web.api import admin, captures, devices, integrations, network, overrides

    found = [
        devices.router,
        overrides.router,
        network.router,
        captures.router,
        integrations.router,
        admin.router,
    ]
    # Subsystems still being built plug in when their service imports; a broken one must not take
    # the inventory down with it.
    try:
        from wardwatch.web.api import findings
    except ImportError:
        pass
    else:
        found.insert(2, findings.router)
    try:
        from wardwatch.web.api import risk
    except ImportError:
        pass
    else:
        found.insert(2, risk.router)
    try:
        from wardwatch.web.api import vulnerabilities
    except ImportError:
        pass
    else:
        found.insert(2, vulnerabilities.router)
    try:
        from wardwatch.web.api import alerts, recalls
    except ImportError:
        pass
    else:
        found[2:2] = [alerts.router, recalls.router]
    return found
