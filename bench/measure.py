"""Small measuring tools: medians, process-tree RSS sampling, machine and version facts."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Self


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float]) -> str:
    """min–max of the runs, to show the noise next to the median."""
    return f"{min(values):.2f}–{max(values):.2f}" if values else "–"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(c) for c in handle.read().split())
    except OSError:
        pass
    return found


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (VmRSS), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pss_bytes(pid: int) -> int:
    """Proportional set size of one process (Pss of smaps_rollup), 0 when it is gone.

    Pages shared between processes (the code and libraries of forked workers) count once in the
    sum of PSS over a tree, where a sum of RSS counts them once per process.
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_pids(pid: int) -> list[int]:
    """The process and all its descendants."""
    found = [pid]
    pending = _children(pid)
    while pending:
        child = pending.pop()
        found.append(child)
        pending.extend(_children(child))
    return found


def tree_rss_bytes(pid: int) -> tuple[int, int]:
    """(RSS of the process, RSS of the process and all its descendants)."""
    pids = tree_pids(pid)
    sizes = [rss_bytes(p) for p in pids]
    return sizes[0], sum(sizes)


def tree_pss_bytes(pid: int) -> int:
    """PSS of the process and all its descendants: the tree's share of physical memory."""
    return sum(pss_bytes(p) for p in tree_pids(pid))


@dataclass
class RssSampler:
    """Samples a process tree's memory every ``interval`` seconds in a thread; keeps the peaks.

    What each figure means (``peak_tree_pss`` is the honest one for a tree):

    - RSS of one process counts every page it maps, also pages it shares: a parse worker forked
      from the fork server reports the server's pages (interpreter, parser, libraries) as its own,
      though they are in memory once. A sum of RSS over the tree (``peak_tree``) counts them once
      per process: an upper bound, not the memory the tree occupies.
    - PSS splits each shared page among the processes sharing it, so the PSS summed over the tree
      at one instant (``peak_tree_pss``) is the physical memory the tree occupies then, and
      ``peak_own_pss`` / ``peak_pool_pss`` are its parts at that instant: the process itself and
      its descendants (the parse pool: fork server, resource tracker, workers). Parts, not each
      one's own peak: a child that ends before the tree's peak (a poll migrating an empty
      database in a child process) is no part of it.

    RSS is cheap to read (``/proc/PID/status``); PSS walks every mapping (``smaps_rollup``: milliseconds
    for a large process, and it holds the process's memory-map lock), so it is read every
    ``pss_every`` samples, for the whole tree at once.
    """

    pid: int
    interval: float = 0.02
    pss_every: int = 5
    peak_own: int = 0
    peak_tree: int = 0
    peak_tree_pss: int = 0
    peak_own_pss: int = 0
    peak_pool_pss: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        samples = 0
        while not self._stop.is_set():
            pids = tree_pids(self.pid)
            sizes = [rss_bytes(p) for p in pids]
            self.peak_own = max(self.peak_own, sizes[0])
            self.peak_tree = max(self.peak_tree, sum(sizes))
            if samples % self.pss_every == 0:
                shares = [pss_bytes(p) for p in pids]
                if sum(shares) > self.peak_tree_pss:
                    self.peak_tree_pss = sum(shares)
                    self.peak_own_pss, self.peak_pool_pss = shares[0], sum(shares[1:])
            samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _first_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return ((done.stdout or done.stderr).strip().splitlines() or ["?"])[0]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def memory_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def versions(packages: Sequence[str]) -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine_facts() -> dict[str, str]:
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": memory_total(),
        "kernel": platform.release(),
        "os": _first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
    }


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started
