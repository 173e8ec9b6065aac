"""A py-spy profile of a cold cycle as it really runs: the main process and its parse workers.

pyinstrument (bench/poll_cmd.py) profiles inside the process, so that profile is taken with the
parse pool off; py-spy samples from outside, every process of the tree, so here the cycle runs
with its default configuration. py-spy writes collapsed stacks ("raw" format), one line per
distinct stack with its sample count, each stack starting with the processes it runs under:

    process 11:"python -m monitor ...";process 12:"python -c from multiprocessing...";main (cli.py:9);... 42

``aggregate`` turns that into seconds per (role, category); it is pure and tested. py-spy runs
with ``--gil``: it keeps only samples of the thread holding the GIL, so a process's figures are
the seconds it ran Python code (at most its wall time; I/O, sqlite and lxml work done with the
GIL released are not counted).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.poll_cmd import CATEGORIES

RATE = 200  # samples per second per process
MAIN = "main process"
WORKER = "parse pool (fork server, workers)"
_PROCESS_START = re.compile(r'^process \d+:"')
_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*):\d+\)$")


@dataclass
class SpyProfile:
    rate: int
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)  # role -> category -> CPU seconds
    top: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # role -> (function, seconds)
    error: str = ""

    def total(self, role: str) -> float:
        return sum(self.seconds.get(role, {}).values())


def category_of(path: str) -> str | None:
    marked = "/" + path.replace("\\", "/")
    for marker, name in CATEGORIES:
        if marker in marked:
            return name
    return None


def role_of(commands: list[str]) -> str:
    """A stack under a process started by multiprocessing (the fork server's children) is a worker's."""
    return WORKER if any("multiprocessing" in c or "forkserver" in c for c in commands) else MAIN


def split_stack(stack: str) -> tuple[list[str], list[str]]:
    """(command lines of the processes, frames) of one collapsed stack.

    Parts are separated by ";", but a command line may hold ";" itself (the fork server's does:
    ``-c from multiprocessing.forkserver import main; main(...)``), so a process part runs from
    ``process N:"`` to the first part that ends with a quote.
    """
    commands: list[str] = []
    frames: list[str] = []
    pending: list[str] | None = None
    for part in stack.split(";"):
        if pending is None and _PROCESS_START.match(part):
            pending = []
        if pending is None:
            frames.append(part)
            continue
        pending.append(part)
        if part.endswith('"'):
            commands.append(";".join(pending).split(":", 1)[1][1:-1])
            pending = None
    return commands, frames


def aggregate(collapsed: str, rate: int) -> SpyProfile:
    profile = SpyProfile(rate=rate)
    leaves: dict[str, dict[str, float]] = {}
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        seconds = int(count) / rate
        commands, frames = split_stack(stack)
        role = role_of(commands)
        category = "other"
        for frame in reversed(frames):  # innermost categorised frame wins, as in the pyinstrument breakdown
            found = _FRAME.match(frame)
            named = category_of(found.group("path")) if found else None
            if named:
                category = named
                break
        by_category = profile.seconds.setdefault(role, {})
        by_category[category] = by_category.get(category, 0.0) + seconds
        if frames:
            leaf = leaves.setdefault(role, {})
            leaf[frames[-1]] = leaf.get(frames[-1], 0.0) + seconds
    for role, by_category in profile.seconds.items():
        profile.seconds[role] = dict(sorted(by_category.items(), key=lambda kv: -kv[1]))
    for role, by_leaf in leaves.items():
        profile.top[role] = sorted(by_leaf.items(), key=lambda kv: -kv[1])[:12]
    return profile


def py_spy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


def record(command: list[str], out: Path, cwd: Path, timeout: float) -> SpyProfile:
    """Run ``command`` under ``py-spy record --subprocesses``; an unusable py-spy is reported, not raised."""
    spy = py_spy()
    if spy is None:
        return SpyProfile(rate=RATE, error="py-spy is not installed (pip install -e '.[bench]')")
    done = subprocess.run(
        [spy, "record", "--subprocesses", "--gil", "--format", "raw", "--rate", str(RATE), "--output", str(out)]
        + ["--", *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if not out.exists():
        return SpyProfile(rate=RATE, error=f"py-spy wrote nothing (exit {done.returncode}): {done.stderr[-500:]}")
    return aggregate(out.read_text(encoding="utf-8", errors="replace"), RATE)
