"""Opening the database: SQLite (WAL, busy timeout) by default, PostgreSQL via psycopg.

The schema comes from the Alembic migrations (``monitor.store.migrate``), applied on open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import create_engine

from monitor.store import tables  # noqa: F401  (registers the tables)
from monitor.store.migrate import check_tables, upgrade

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Prepared statements each SQLite connection keeps (Python's default: 128). A poll runs some 20
# statements for every feed, and a few hundred that differ only by their number of rows
# (multi-row INSERTs of 1 to 50 items, IN lists), each prepared once and kept: on a cold poll of
# 250 feeds SQLite's memory reached 23 MB with 128, 10 MB with 32 (which keep the repeated ones).
SQLITE_CACHED_STATEMENTS = 32
# Pages (4 KiB) the write-ahead log may hold before a commit copies it back into the database file
# (SQLite's default is 1,000). A poll of a busy feed writes about a thousand band-index rows, each
# into another page of the index, so with the default nearly every poll's commit checkpointed, and a
# checkpoint waits for the disk (fsync) while the store's lock is held. With 10,000 pages (about
# 40 MB of log) a replay of a 1,000-feed cold cycle's store took 80.7 s instead of 112.6 s
# (bench/analysis.md, 2026-11-23).
SQLITE_WAL_AUTOCHECKPOINT = 10_000


def open_engine(
    url: str, *, migrate: bool = True, busy_timeout_seconds: float = SQLITE_BUSY_TIMEOUT_MS / 1000
) -> Engine:
    """An engine for ``url``; with ``migrate`` the schema is first brought to the newest revision.

    ``busy_timeout_seconds`` (SQLite): how long a statement waits for another connection's lock
    before failing with "database is locked".
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, parsed.database, int(busy_timeout_seconds * 1000))
    else:
        if parsed.drivername == "postgresql":
            url = str(parsed.set(drivername="postgresql+psycopg"))
        engine = create_engine(url, pool_pre_ping=True)
    if migrate:
        try:
            upgrade(engine)
            check_tables(engine)
        except BaseException:
            engine.dispose()
            raise
    return engine


def _sqlite_engine(url: str, database: str | None, busy_timeout_ms: int) -> Engine:
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args = {
        "check_same_thread": False,
        "timeout": busy_timeout_ms / 1000,
        "cached_statements": SQLITE_CACHED_STATEMENTS,
    }
    engine = create_engine(url, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine
