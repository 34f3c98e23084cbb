"""The ASGI entry point uvicorn imports (``wardwatch.web.asgi:app``), one app per worker process,
on the database named by ``$WARDWATCH_DB``."""

from __future__ import annotations

import os

from wardwatch.web.app import create_app

app = create_app(os.environ.get("WARDWATCH_DB"))
