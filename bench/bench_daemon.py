"""The daemon's own cost: scheduling overhead against a one-off poll, memory over many cycles, replicas.

    python -m bench.bench_daemon [--feeds 200] [--items 10] [--window 15] [--postgres URL] [--repeat 2]
                                 [--out bench/results/daemon.md]

A farm of feeds (bench/farm.py) is served by nginx on 127.0.0.1 and polled until every feed
answers 304 (the steady state of a daemon). Then, in the same run:

1. ``monitor poll --once`` over all feeds, idle: sources per second (the baseline);
2. ``monitor run`` with an interval so short that every source is always due: polls per second
   over a window, so the cost of leasing, deciding the next check and recording it per poll shows
   as the ratio to (1); the daemon's RSS at the start and the end of the window, after how many
   cycles over all feeds;
3. with ``--postgres`` (or MONITOR_TEST_DATABASE_URL): one replica, then two replicas on one
   PostgreSQL schema, polls per second, and the check that no source was polled twice for one
   due time.

The machine is small and noisy: the ratios within one run are the result, not the absolute rates.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import yaml
from sqlalchemy import text

from bench.farm import FarmSpec, build_farm
from bench.nginx import Nginx
from monitor.cli import main as cli_main
from monitor.store import open_engine

ROOT = Path(__file__).resolve().parents[1]
INTERVAL_MINUTES = 0.005  # 0.3 s: every source is due again before a cycle over the farm ends


@dataclass
class Throughput:
    label: str
    polls: int
    seconds: float
    rss_start: int | None = None
    rss_end: int | None = None
    cycles: float = 0.0

    @property
    def rate(self) -> float:
        return self.polls / self.seconds


def write_config(path: Path, urls: list[tuple[str, str, str]], database: str) -> Path:
    raw = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    raw["sources"] = [
        {"name": name, "title": name, "url": url, "language": language, "origin": "international"}
        for name, url, language in urls
    ]
    raw["subscribers"] = []
    raw["database"] = {"url": database}
    raw["http"] = {**raw["http"], "per_host_concurrency": raw["http"]["concurrency"]}  # one host: the farm
    raw["polling"] = {
        "interval_minutes": INTERVAL_MINUTES,
        "min_interval_minutes": INTERVAL_MINUTES,
        "max_interval_minutes": INTERVAL_MINUTES,
        "adaptive": False,
        "jitter_percent": 0,
    }
    raw["daemon"] = {"tick_seconds": 0.2, "lease_seconds": 60, "shutdown_grace_seconds": 10}
    raw["web"] = {"enabled": False}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def monitor(*args: str) -> list[str]:
    return [sys.executable, "-m", "monitor", *args]


def poll_once(config: Path) -> float:
    """One ``monitor poll --once`` in this process (so no interpreter start is counted)."""
    out = io.StringIO()
    started = time.perf_counter()
    code = cli_main(["--config", str(config), "poll", "--once"], out=out)
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"monitor poll --once failed ({code}):\n{out.getvalue()[-3000:]}")
    return elapsed


def rss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def polls_in(log: Path) -> list[datetime]:
    times = []
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("event") == "poll":
            times.append(datetime.fromisoformat(entry["next_check_at"]))
    return times


def run_daemons(config: Path, replicas: int, warmup: float, window: float, feeds: int, work: Path) -> Throughput:
    logs = [work / f"replica{n}-{uuid.uuid4().hex[:6]}.log" for n in range(replicas)]
    processes = [
        subprocess.Popen(
            monitor("--config", str(config), "run", "--log-format", "json"),
            stderr=log.open("wb"),
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
        )
        for log in logs
    ]
    try:
        time.sleep(warmup)
        before = sum(len(polls_in(log)) for log in logs)
        rss_start = rss(processes[0].pid)
        started = time.perf_counter()
        time.sleep(window)
        elapsed = time.perf_counter() - started
        after = sum(len(polls_in(log)) for log in logs)
        rss_end = rss(processes[0].pid)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(60)
    total = sum(len(polls_in(log)) for log in logs)
    label = f"monitor run, {replicas} replica{'s' if replicas > 1 else ''}"
    return Throughput(label, after - before, elapsed, rss_start, rss_end, cycles=total / feeds)


def double_polls(database: str, interval_seconds: float, since: datetime) -> int:
    """Consecutive polls of one source closer than its interval (would mean two replicas served one due time)."""
    engine = open_engine(database, migrate=False)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT source, polled_at FROM polls WHERE polled_at > :since ORDER BY source, polled_at"),
                {"since": since},
            ).all()
    finally:
        engine.dispose()
    doubles = 0
    for (source_a, at_a), (source_b, at_b) in zip(rows, rows[1:], strict=False):
        if source_a == source_b and (at_b - at_a).total_seconds() < interval_seconds - 0.01:
            doubles += 1
    return doubles


def fresh_schema(base: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}", schema


def drop_schema(base: str, schema: str) -> None:
    with psycopg.connect(base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--window", type=float, default=15.0, help="seconds measured per daemon run")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds before the window starts")
    parser.add_argument("--postgres", default=os.environ.get("MONITOR_TEST_DATABASE_URL"))
    parser.add_argument("--repeat", type=int, default=2, help="PostgreSQL runs per replica count")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "daemon.md"))
    args = parser.parse_args(argv)

    farm = build_farm(FarmSpec(feeds=args.feeds, items=args.items), ROOT / "bench" / "out" / "farms")
    results: list[Throughput] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        work = Path(tmp)
        www = work / "www"
        farm.activate(www, 1)
        with Nginx(www) as nginx:
            urls = [(str(f["name"]), nginx.url("/" + str(f["path"])), str(f["language"])) for f in farm.feeds]
            config = write_config(work / "sqlite.yaml", urls, f"sqlite:///{work / 'monitor.db'}")
            cold = poll_once(config)
            idle = min(poll_once(config) for _ in range(3))
            results.append(Throughput("monitor poll --once, idle (in-process, best of 3)", args.feeds, idle))
            notes.append(f"cold `poll --once` (empty database, {args.feeds} x {args.items} items): {cold:.1f} s")
            results.append(run_daemons(config, 1, args.warmup, args.window, args.feeds, work))
            if args.postgres:
                # Alternated and repeated: the machine's load changes by the minute; the best of each counts.
                best: dict[int, Throughput] = {}
                database, schema = fresh_schema(args.postgres)
                try:
                    pg_config = write_config(work / "pg.yaml", urls, database)
                    poll_once(pg_config)  # fill the schema once, so every window is the steady state
                    for replicas in (1, 2) * args.repeat:
                        since = datetime.now(UTC)
                        result = run_daemons(pg_config, replicas, args.warmup, args.window, args.feeds, work)
                        doubles = double_polls(database, INTERVAL_MINUTES * 60, since)
                        notes.append(
                            f"{result.label} on PostgreSQL: {result.rate:.0f} polls/s, "
                            f"{doubles} source(s) polled twice for one due time"
                        )
                        if replicas not in best or result.rate > best[replicas].rate:
                            best[replicas] = result
                finally:
                    drop_schema(args.postgres, schema)
                for replicas in sorted(best):
                    best[replicas].label += f" (PostgreSQL, best of {args.repeat})"
                    results.append(best[replicas])
    report = render(args, results, notes)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report, encoding="utf-8")
    print(report)
    return 0


READING = (
    "Reading: the ratio of `monitor run` to `poll --once` is the per-poll cost of scheduling (leasing,\n"
    "deciding and recording the next check, the log line, the metrics) in the steady state. Replicas on\n"
    "this one machine share its two cores with nginx and PostgreSQL: they add availability (a replica\n"
    "may die), not throughput; throughput grows with machines. The RSS columns show whether memory\n"
    "grows from cycle to cycle."
)


def render(args: argparse.Namespace, results: list[Throughput], notes: list[str]) -> str:
    baseline = results[0].rate
    lines = [
        "# The daemon's cost (bench/bench_daemon.py)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {args.feeds} feeds x {args.items} items served by nginx on "
        f"127.0.0.1, every feed answering 304 (steady state); window {args.window:g} s after {args.warmup:g} s.",
        "",
        "| run | polls/s | ratio to poll --once | RSS at window start → end | cycles over the farm |",
        "|---|---:|---:|---|---:|",
    ]
    for result in results:
        memory = (
            f"{result.rss_start / 2**20:.0f} → {result.rss_end / 2**20:.0f} MiB"
            if result.rss_start and result.rss_end
            else ""
        )
        cycles = f"{result.cycles:.1f}" if result.cycles else ""
        lines.append(f"| {result.label} | {result.rate:.0f} | {result.rate / baseline:.2f} | {memory} | {cycles} |")
    lines += ["", *[f"- {note}" for note in notes], "", READING, ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
