"""Database faults end in a retry or a recorded error, never a crash, and lose nothing.

- SQLite held by another writer: a short lock is waited out (the busy timeout); a lock longer
  than that makes each source's outcome a storage error, and the next poll stores everything.
- PostgreSQL going away in the middle of a cycle of ``monitor run``: the commits waiting for it
  are tried again until it is back, the daemon keeps running, and every item is stored once.
  This uses a private server (``tests/support/pgserver.py``), never the shared one.
"""

from __future__ import annotations

import io
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from monitor.cli import main
from tests.support import hostile
from tests.support.configs import feed_source, write_config
from tests.support.daemon import DaemonProcess, query, wait_until
from tests.support.httpserver import LocalServer, answer_feed, closed_port
from tests.support.pgserver import PrivatePostgres, postgres_bin

FEEDS = 4
ITEMS = 5


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


def feeds(server: LocalServer) -> list[dict[str, object]]:
    sources = []
    for f in range(FEEDS):
        items = "".join(
            hostile.rss_item(n, title=f"Feed {f} story {n}", link=f"https://db{f}.example/{n}") for n in range(ITEMS)
        )
        sources.append(feed_source(f"db{f}", server.add(f"/db/{f}.xml", hostile.rss(items))))
    return sources


def stored(database: Path) -> list[str]:
    db = sqlite3.connect(database)
    try:
        return [t for (t,) in db.execute("select title from items")]
    finally:
        db.close()


@pytest.fixture
def write_lock(tmp_path: Path) -> Iterator[Callable[[], None]]:
    """Takes the SQLite write lock of tmp_path/monitor.db as another process would; returns the release."""
    holder: sqlite3.Connection | None = None

    def take() -> Callable[[], None]:
        nonlocal holder
        holder = sqlite3.connect(tmp_path / "monitor.db", check_same_thread=False, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE sources SET items_total = items_total")

        def release() -> None:
            if holder is not None and holder.in_transaction:
                holder.execute("ROLLBACK")

        return release

    yield take  # type: ignore[misc]
    if holder is not None:
        holder.close()


def test_sqlite_locked_for_a_moment_is_waited_out(server: LocalServer, tmp_path: Path, write_lock: object) -> None:
    config = write_config(tmp_path, feeds(server))
    assert run("--config", str(config), "sources")[0] == 0  # creates the database
    release = write_lock()  # type: ignore[operator]
    threading.Timer(1.0, release).start()
    code, out = run("--config", str(config), "poll", "--once")
    assert code == 0, out
    assert f"{FEEDS} sources polled, 0 failed; {FEEDS * ITEMS} new items" in out
    assert len(stored(tmp_path / "monitor.db")) == FEEDS * ITEMS


def test_sqlite_locked_beyond_the_busy_timeout_is_an_error_then_nothing_is_lost(
    server: LocalServer, tmp_path: Path, write_lock: object
) -> None:
    config = write_config(
        tmp_path, feeds(server), database={"url": f"sqlite:///{tmp_path / 'monitor.db'}", "busy_timeout_seconds": 0.3}
    )
    assert run("--config", str(config), "sources")[0] == 0
    release = write_lock()  # type: ignore[operator]
    try:
        code, out = run("--config", str(config), "poll", "--once")
    finally:
        release()
    assert code == 1  # every source failed: the exit status says so
    assert out.count("[storage]") == FEEDS and "database is locked" in out
    assert stored(tmp_path / "monitor.db") == []
    # The validators never moved on without the items: the next poll stores all of them.
    code, out = run("--config", str(config), "poll", "--once")
    assert code == 0, out
    assert len(stored(tmp_path / "monitor.db")) == FEEDS * ITEMS


def test_an_unreachable_database_is_an_error_message_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/monitor?connect_timeout=2"
    config = write_config(tmp_path, [feed_source("a", "http://127.0.0.1:9/feed")], database={"url": url})
    code, _ = run("--config", str(config), "poll", "--once")
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ") and "cannot migrate the database schema" in err
    assert "Traceback" not in err


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        reason = "PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    pg = PrivatePostgres(bin_dir)
    try:
        yield pg.start()
    finally:
        pg.destroy()


def held_until(gate: threading.Event, body: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
    """A feed that answers only once the test opens the gate."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        gate.wait(30)
        answer_feed(request, body)

    return handle


def test_a_postgresql_restart_during_a_cycle_is_retried_and_the_daemon_goes_on(
    server: LocalServer, tmp_path: Path, private_postgres: PrivatePostgres
) -> None:
    gate = threading.Event()
    sources = []
    for f in range(FEEDS):
        items = "".join(
            hostile.rss_item(n, title=f"Restart {f}.{n}", link=f"https://pg{f}.example/{n}") for n in range(ITEMS)
        )
        url = server.add(f"/pg/{f}.xml", handler=held_until(gate, hostile.rss(items).encode()))
        sources.append(feed_source(f"pg{f}", url))
    config = write_config(
        tmp_path,
        sources,
        database={"url": private_postgres.url},
        polling={"interval_minutes": 60, "min_interval_minutes": 1, "max_interval_minutes": 120, "adaptive": False},
        daemon={"tick_seconds": 0.2, "lease_seconds": 60, "shutdown_grace_seconds": 5},
        web={"enabled": False},
        http={
            "user_agent": "dialogue-monitor-test (+http://127.0.0.1/)",
            "timeout_seconds": 30,
            "per_host_concurrency": 8,
            "min_host_delay_seconds": 0,
        },
    )
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    try:
        daemon.wait_started(30)
        # Every poll is in flight, waiting for its feed; then the server goes away under them.
        wait_until(lambda: all(server.requests_for(f"/pg/{f}.xml") for f in range(FEEDS)), 20, "every fetch")
        private_postgres.stop("fast")
        gate.set()  # the polls finish their fetch now, and want to commit while the server is down
        time.sleep(1.0)
        assert daemon.process.poll() is None, "the daemon died with the database"
        private_postgres.start()
        wait_until(
            lambda: query(private_postgres.url, "select count(*) from items")[0][0] == FEEDS * ITEMS,
            30,
            "every item stored after the restart",
        )
        assert daemon.process.poll() is None
        statuses = query(private_postgres.url, "select source, status from polls")
        assert sorted(statuses) == [(f"pg{f}", "ok") for f in range(FEEDS)], "one poll each, stored by a retry"
        titles = [t for (t,) in query(private_postgres.url, "select title from items")]
        assert len(titles) == len(set(titles)) == FEEDS * ITEMS
        assert daemon.terminate() == 0
    finally:
        daemon.close()
