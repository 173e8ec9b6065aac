"""Running `monitor run` as a real subprocess in tests, and reading what it did."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from monitor.store import open_engine
from tests.support.configs import ROOT

# The two lines of Python's warning (the message, then the source line that raised it).
_TRACKER_AFTER_KILL = re.compile(
    r"multiprocessing/resource_tracker\.py:\d+: UserWarning: resource_tracker: There appear"
    r"|^\s+warnings\.warn\('resource_tracker: There appear"
)


def wait_until(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


class DaemonProcess:
    """One `monitor run` replica with JSON logs in a file."""

    def __init__(self, config: Path, log: Path, *extra: str) -> None:
        self.log_path = log
        self._log = log.open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run", "--log-format", "json", *extra],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            env=env,
        )

    def lines(self) -> list[dict[str, Any]]:
        entries = []
        for raw in self.log_path.read_text(encoding="utf-8").splitlines():
            if _TRACKER_AFTER_KILL.search(raw):
                # Not the daemon's: after a kill -9 of the daemon, multiprocessing's resource
                # tracker (which shares its stderr) reports the parse pool's semaphores it cleans up.
                continue
            entries.append(json.loads(raw))  # every line is a JSON object: fails the test otherwise
        return entries

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.lines() if e.get("event") == name]

    def wait_started(self, timeout: float = 20) -> dict[str, Any]:
        wait_until(lambda: bool(self.events("started")) or self.process.poll() is not None, timeout, "the daemon")
        assert self.process.poll() is None, self.log_path.read_text(encoding="utf-8")
        return self.events("started")[0]

    def terminate(self, timeout: float = 20) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        self.process.kill()
        self.wait(10)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


def poll_rows(database_url: str) -> list[tuple[str, datetime, str]]:
    """(source, polled_at, status) of every recorded poll, oldest first."""
    engine = open_engine(database_url, migrate=False)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT source, polled_at, status FROM polls ORDER BY polled_at, id"))
            return [(r[0], _aware(r[1]), r[2]) for r in rows]
    finally:
        engine.dispose()


def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = open_engine(database_url, migrate=False)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(sql))]
    finally:
        engine.dispose()


def execute(database_url: str, sql: str) -> None:
    engine = open_engine(database_url, migrate=False)
    try:
        with engine.begin() as connection:
            connection.execute(text(sql))
    finally:
        engine.dispose()


def _aware(value: datetime | str) -> datetime:
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
