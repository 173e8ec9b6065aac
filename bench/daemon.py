"""RSS of the daemon (``monitor run``) over many short cycles.

The daemon runs against the farm with a database a cold cycle filled, so every poll is a
conditional request answered 304: its steady state. Every source is due every
``interval_seconds`` (no adaptation, no jitter), so a "cycle" is one poll of every source;
cycles are counted from the poll history in the database (read-only, beside the daemon).
RSS (the daemon and any pool workers) is taken after ``warmup`` cycles and again after
``warmup + cycles``; the daemon is then stopped with SIGTERM, as an operator would.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.measure import tree_rss_bytes

STALL_SECONDS = 60


@dataclass
class DaemonMemory:
    sources: int
    warmup: int
    cycles_done: float = 0.0
    rss_after_warmup: int = 0
    rss_at_end: int = 0
    seconds: float = 0.0
    series: list[tuple[float, int]] = field(default_factory=list)  # (cycles done, tree RSS)
    stopped_cleanly: bool = False

    @property
    def growth_percent(self) -> float | None:
        if not self.rss_after_warmup or not self.rss_at_end:
            return None
        return 100.0 * (self.rss_at_end - self.rss_after_warmup) / self.rss_after_warmup


def _polls(database: Path) -> int:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    try:
        return int(connection.execute("SELECT count(*) FROM polls").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        connection.close()


def measure(
    config: Path, database: Path, sources: int, cycles: int, warmup: int, timeout: float, cwd: Path
) -> DaemonMemory:
    result = DaemonMemory(sources=sources, warmup=warmup)
    before = _polls(database)
    command = [sys.executable, "-m", "monitor", "--config", str(config), "run"]
    log = database.parent / "daemon.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log_file)
        _watch(process, database, result, before, cycles, timeout)
    if result.cycles_done == 0 or (
        process.returncode not in (0, -signal.SIGTERM) and result.cycles_done < warmup + cycles
    ):
        raise RuntimeError(f"monitor run stopped early ({process.returncode}): {log.read_text()[-2000:]}")
    return result


def _watch(
    process: subprocess.Popen[bytes], database: Path, result: DaemonMemory, before: int, cycles: int, timeout: float
) -> None:
    sources, warmup = result.sources, result.warmup
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout and process.poll() is None:
            time.sleep(0.5)
            done = (_polls(database) - before) / sources
            rss = tree_rss_bytes(process.pid)[1]
            result.series.append((done, rss))
            result.cycles_done = done
            if done == 0 and time.monotonic() - started > STALL_SECONDS:
                break  # not polling at all: reported below with the daemon's log
            if not result.rss_after_warmup and done >= warmup:
                result.rss_after_warmup = rss
            if done >= warmup + cycles:
                break
        result.rss_at_end = tree_rss_bytes(process.pid)[1]
        result.seconds = time.monotonic() - started
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
            result.stopped_cleanly = process.returncode == 0
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
