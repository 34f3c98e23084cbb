"""Alembic environment for wardwatch.

At run time migrations are applied by :meth:`wardwatch.store.sql.SqlStore.migrate`, which passes
an open connection (already inside a transaction, holding the migration lock) in
``config.attributes["connection"]``; no ``alembic.ini`` is involved.

To author a revision (``versions/000N_name.py``), run Alembic from Python against a scratch
database already at head, e.g.::

    from alembic import command
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", "src/wardwatch/store/migrations")
    cfg.set_main_option("sqlalchemy.url", "sqlite:///scratch.sqlite")
    command.revision(cfg, "add finding", autogenerate=True, rev_id="0002")

then edit the result into explicit operations (see ``0001_initial.py``) and update ``schema.py``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine

from wardwatch.store.schema import metadata

config = context.config


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode recreates tables when needed.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    x = context.get_x_argument(as_dictionary=True)
    return x.get("url") or config.get_main_option("sqlalchemy.url") or os.environ.get("WARDWATCH_DB", "")


def run_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``)."""
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run against the connection handed over by the store, else against the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    engine = create_engine(_url())
    with engine.connect() as conn:
        _configure_and_run(conn)
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
