"""Opening the database: SQLite (WAL, busy timeout) by default, PostgreSQL via psycopg.

The schema comes from the Alembic migrations (``monitor.store.migrate``), applied on open.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import create_engine

from monitor.errors import StorageError
from monitor.store import tables  # noqa: F401  (registers the tables)
from monitor.store.migrate import check_tables, needs_upgrade, upgrade

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
# Page cache of each SQLite connection, in KiB (SQLite's default: 2,000 KiB). A poll keeps about three
# connections (the store's, the triage's and the poll records'), each filling its cache with pages
# of the items' and the band index's indexes, which a cold cycle reads all over: with the default
# they held about 6 MB of the poller's peak; the operating system's file cache serves the misses.
SQLITE_CACHE_KIB = 512


def open_engine(
    url: str,
    *,
    migrate: bool = True,
    busy_timeout_seconds: float = SQLITE_BUSY_TIMEOUT_MS / 1000,
    migrate_apart: bool = False,
) -> Engine:
    """An engine for ``url``; with ``migrate`` the schema is first brought to the newest revision.

    ``busy_timeout_seconds`` (SQLite): how long a statement waits for another connection's lock
    before failing with "database is locked". With ``migrate_apart`` a migration that must run
    runs in a child process (``migrate_in_child``), so this process never loads Alembic.
    """
    given = url  # for a migration in a child process, which opens its own engine
    parsed = make_url(url)
    in_memory = parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, parsed.database, int(busy_timeout_seconds * 1000))
    else:
        # The URL object itself, not str() of it: str() writes the password as "***".
        target = parsed.set(drivername="postgresql+psycopg") if parsed.drivername == "postgresql" else parsed
        engine = create_engine(target, pool_pre_ping=True)
    if migrate:
        try:
            # An in-memory database would be another, empty one in the child.
            if migrate_apart and not in_memory:
                migrate_in_child(engine, given, busy_timeout_seconds)
            else:
                upgrade(engine)
            check_tables(engine)
        except BaseException:
            engine.dispose()
            raise
    return engine


# The child imports this very package (not another ``monitor`` that its working directory may hold).
_UPGRADE_CHILD = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from monitor.store.upgrade import main; raise SystemExit(main(sys.argv[1:]))"
)


def migrate_in_child(engine: Engine, url: str, busy_timeout_seconds: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> None:
    """Bring the schema to the newest revision in a child process, when it is not there yet.

    Alembic, Mako (and Pygments, which Mako loads when it is installed) and the migration
    scripts take about 8 MB that a process keeps once it has loaded them: the commands that
    go on working after a migration (``monitor poll``, ``monitor run``) migrate an empty or old
    database in a child, which exits with it. A database already at the newest revision costs
    one query here, as with ``upgrade``. The URL goes to the child on its standard input, not
    its command line (it may hold a password).
    """
    if not needs_upgrade(engine):
        return
    done = subprocess.run(
        [sys.executable, "-c", _UPGRADE_CHILD, str(Path(__file__).parents[2]), str(busy_timeout_seconds)],
        input=url,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise StorageError(lines[-1] if lines else f"the schema migration exited with status {done.returncode}")


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
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    return engine
