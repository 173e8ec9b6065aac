"""Alembic's entry point for the migrations of dialogue-monitor.

``monitor db upgrade`` (and every start of the application) runs these through
``monitor.store.migrate.upgrade`` with its own connection. Developers generate a new revision
after changing ``monitor/store/tables.py`` with ``make migration m="what changed"``, which runs
alembic's autogenerate against a scratch SQLite database at the current head.
"""

from __future__ import annotations

import os
from typing import Any

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

from monitor.store import tables  # noqa: F401  (registers the tables on the metadata)
from monitor.store.db import open_engine
from monitor.store.migrate import render_item

target_metadata = SQLModel.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things in place: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection: Any = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("MONITOR_DATABASE_URL")
    if not url:
        raise SystemExit("set MONITOR_DATABASE_URL (or sqlalchemy.url) to run alembic by hand")
    engine = open_engine(url, migrate=False)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


run()
