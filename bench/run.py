"""``make bench``: every measurement of issue 8 in one session, written to bench/RESULTS.md.

    python -m bench.run [--feeds 1000] [--items 50] [--runs 3] [--out bench/RESULTS.md]

Order: generate (or reuse) the farm, serve it with nginx on 127.0.0.1, choose the fetch
concurrency of the floor by a sweep, then for each run: the floor, the naive loop, and a round
of ``monitor poll --once`` (cold on an empty database, idle with every feed answering 304,
changed after 10% of the feeds gained items), each checked against the farm's ground truth.
Then the matcher, the digest, a profile of a cold cycle and the memory of the daemon (``monitor
run``) over many short cycles.
Every request goes to 127.0.0.1; every step has a time limit.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bench import daemon, report, spy
from bench.check import StoreCheck, check_store
from bench.farm import Farm, FarmSpec, build_farm
from bench.measure import RssSampler, load_average, machine_facts, median, versions
from bench.nginx import Nginx

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
SAVED = OUT / "results.pickle"  # the last run's measurements, for --render-only
STEP_TIMEOUT = 900  # seconds; no single step of the bench may hang the session
DAEMON_INTERVAL_MINUTES = report.DAEMON_INTERVAL_MINUTES
SWEEP = (0, 1, 2, 4, 8, 16, 32)
PACKAGES = ("httpx", "httpcore", "anyio", "sniffio", "feedparser", "beautifulsoup4", "lxml", "SQLAlchemy", "sqlmodel")


@dataclass
class Cycle:
    label: str
    wall: float  # the whole command, interpreter start included
    command: float  # the command after imports: what a daemon pays per cycle
    imports: float
    peak_tree_rss: int
    peak_own_rss: int
    peak_tree_pss: int
    check: StoreCheck
    summary: str
    # The parts of peak_tree_pss (each its own peak): the poll's process, and its parse pool.
    peak_own_pss: int = 0
    peak_pool_pss: int = 0


@dataclass
class Results:
    spec: FarmSpec
    farm_bytes: int
    started: datetime
    facts: dict[str, str]
    versions: dict[str, str]
    load_before: str
    monitor_concurrency: int = 0
    load_after: str = ""
    sweep: dict[int, list[float]] = field(default_factory=dict)
    sweep304: dict[int, list[float]] = field(default_factory=dict)
    best_concurrency: int = 4
    floor: list[dict[str, float]] = field(default_factory=list)
    fetch304: list[float] = field(default_factory=list)
    changed_floor: list[dict[str, float]] = field(default_factory=list)
    naive: list[float] = field(default_factory=list)
    cycles: dict[str, list[Cycle]] = field(
        default_factory=lambda: {"cold": [], "idle": [], "changed": [], "cold_feedparser": []}
    )
    components: dict[str, Any] = field(default_factory=dict)
    match_speed: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    spy_profile: spy.SpyProfile | None = None
    spy_wall: float = 0.0
    spy_check: str = ""
    daemon: daemon.DaemonMemory | None = None
    farm_truth1: dict[int, bool] = field(default_factory=dict)
    farm_truth2: dict[int, bool] = field(default_factory=dict)
    farm_feeds: list[dict[str, Any]] = field(default_factory=list)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.python = sys.executable
        self.work = OUT / "run"
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.www = self.work / "www"
        self.spec = FarmSpec(feeds=args.feeds, items=args.items)
        self.farm: Farm = build_farm(self.spec, OUT / "farms")
        self.urls_file = self.work / "urls.txt"
        self.nginx = Nginx(self.www)

    # ------------------------------------------------------------ helpers

    def say(self, message: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def module(self, name: str, *argv: str) -> dict[str, Any]:
        done = subprocess.run(
            [self.python, "-m", name, *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(argv)} failed: {done.stderr[-2000:]}")
        return json.loads(done.stdout) if done.stdout.strip() else {}

    def floor(self, mode: str, *extra: str, concurrency: int | None = None) -> dict[str, Any]:
        c = self.results.best_concurrency if concurrency is None else concurrency
        return self.module("bench.floor", mode, str(self.urls_file), "--concurrency", str(c), *extra)

    def write_config(self, database: Path, **sections: dict[str, Any]) -> Path:
        raw = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
        for name, values in sections.items():
            raw[name] = {**(raw.get(name) or {}), **values}
        concurrency = int(raw["http"].get("concurrency", 8))
        self.results.monitor_concurrency = concurrency
        # Every farm feed lives on 127.0.0.1; real feeds live on as many hosts as there are
        # outlets, so the per-host limit is lifted to the global one here, and the per-host
        # pacing (http.min_host_delay_seconds) is turned off.
        raw["http"] = {**raw["http"], "per_host_concurrency": concurrency, "min_host_delay_seconds": 0}
        raw["database"] = {"url": f"sqlite:///{database}"}
        raw["subscribers"] = []
        raw["sources"] = [
            {
                "name": f["name"],
                "title": f"Farm outlet {f['name']}",
                "kind": "feed",
                "url": self.nginx.url("/" + str(f["path"])),
                "language": f["language"],
                "origin": "international",
            }
            for f in self.farm.feeds
        ]
        path = database.parent / "config.yaml"
        path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    def poll(self, label: str, config: Path, cycle: int, *, profile: Path | None = None) -> Cycle:
        report = config.parent / f"{label}.json"
        command = [self.python, "-m", "bench.poll_cmd", "--report", str(report)]
        if profile is not None:
            command += ["--profile", str(profile)]
        command += ["--", "--config", str(config), "poll", "--once"]
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with RssSampler(process.pid) as sampler:
            try:
                _, stderr = process.communicate(timeout=STEP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                raise RuntimeError(f"monitor poll ({label}) took more than {STEP_TIMEOUT} s") from None
        wall = time.perf_counter() - started
        if process.returncode != 0:
            raise RuntimeError(f"monitor poll ({label}) failed: {stderr[-2000:]}")
        data = json.loads(report.read_text())
        if data.get("exit") != 0:
            raise RuntimeError(f"monitor poll ({label}) exited {data.get('exit')}: {data.get('summary')}")
        check = check_store(config.parent / "monitor.db", self.farm.truth(cycle))
        return Cycle(
            label=label,
            wall=wall,
            command=float(data["command"]),
            imports=float(data["imports"]),
            # Sampled only: the command's own ru_maxrss holds this runner's pages too (a child's
            # peak RSS starts at its parent's when it is spawned), 175 MB in every row of a run.
            peak_tree_rss=sampler.peak_tree,
            peak_own_rss=sampler.peak_own,
            peak_tree_pss=sampler.peak_tree_pss,
            check=check,
            summary=" ".join(data.get("summary", [])),
            peak_own_pss=sampler.peak_own_pss,
            peak_pool_pss=sampler.peak_pool_pss,
        )

    def match_speed(self, out: Path) -> dict[str, Any]:
        """bench/bench_match.py (the matcher's own bench, 1 KB items), run as it is, figures read back."""
        done = subprocess.run(
            [self.python, "-m", "bench.bench_match", "--out", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )
        # It exits 1 when a mix is under its target: that is a figure to report, not a failure.
        if done.returncode not in (0, 1) or not out.exists():
            return {"error": f"bench.bench_match exited {done.returncode}: {done.stderr[-500:]}"}
        return {"rates": report.match_rates(done.stdout), "table": out.read_text(encoding="utf-8")}

    # ------------------------------------------------------------ the steps

    def run(self) -> Results:
        self.results = Results(
            spec=self.spec,
            farm_bytes=sum(p.stat().st_size for p in (self.farm.root / "cycle1").rglob("*") if p.is_file()),
            started=datetime.now(UTC),
            facts=machine_facts(),
            versions=versions(PACKAGES),
            load_before=load_average(),
            farm_truth1=self.farm.truth(1),
            farm_truth2=self.farm.truth(2),
            farm_feeds=self.farm.feeds,
        )
        self.farm.activate(self.www, 1)
        with self.nginx:
            self.results.versions["nginx"] = self.nginx.version()
            self.urls_file.write_text("\n".join(self.nginx.url("/" + str(f["path"])) for f in self.farm.feeds))
            self.say(f"farm {self.farm.root.name} served by nginx on port {self.nginx.port}")
            self.floor("fetch", concurrency=4)  # warm the page cache and nginx
            self.sweep()
            for number in range(1, self.args.runs + 1):
                self.say(f"run {number}/{self.args.runs}")
                self.round(number)
            self.extras()
        self.results.load_after = load_average()
        return self.results

    def sweep(self) -> None:
        for concurrency in SWEEP:
            for _ in range(self.args.sweep_runs):
                self.results.sweep.setdefault(concurrency, []).append(
                    float(self.floor("fetch", concurrency=concurrency)["fetch"])
                )
                self.results.sweep304.setdefault(concurrency, []).append(
                    float(self.floor("fetch304", concurrency=concurrency)["fetch304"])
                )
        best = min(self.results.sweep, key=lambda c: median(self.results.sweep[c]))
        self.results.best_concurrency = best
        self.say(f"fetch concurrency sweep: fastest full fetch at {best or 'sequential'}")

    def round(self, number: int) -> None:
        results = self.results
        self.farm.activate(self.www, 1)
        floor = self.floor("floor")
        results.floor.append(floor)
        best304 = min(results.sweep304, key=lambda c: median(results.sweep304[c]))
        results.fetch304.append(float(self.floor("fetch304", concurrency=best304)["fetch304"]))
        if number <= self.args.naive_runs:
            results.naive.append(float(self.module("bench.floor", "naive", str(self.urls_file))["naive"]))
        directory = self.work / f"round-{number}"
        directory.mkdir()
        config = self.write_config(directory / "monitor.db")
        validators = directory / "validators.json"
        self.floor("validators", "--validators", str(validators))
        for label, cycle in (("cold", 1), ("idle", 1), ("changed", 2)):
            if label == "changed":
                self.farm.activate(self.www, 2)
            done = self.poll(label, config, cycle)
            results.cycles[label].append(done)
            self.say(f"{label}: {done.command:.2f} s in the command, {done.wall:.2f} s in all; {done.check.summary()}")
        results.changed_floor.append(self.floor("changed", "--validators", str(validators)))
        self.farm.activate(self.www, 1)
        without = self.work / f"round-{number}-feedparser"
        without.mkdir()
        done = self.poll("cold", self.write_config(without / "monitor.db", polling={"fast_parser": False}), 1)
        results.cycles["cold_feedparser"].append(done)
        self.say(f"cold with feedparser only: {done.command:.2f} s; {done.check.summary()}")

    def extras(self) -> None:
        results = self.results
        directory = self.work / "extras"
        directory.mkdir()
        # One process (no parse pool) so that the profile sees every part of the work.
        config = self.write_config(directory / "monitor.db", polling={"parse_workers": 0})
        self.farm.activate(self.www, 1)
        profile = directory / "profile.txt"
        cold = self.poll("profiled-cold", config, 1, profile=profile)
        results.profile = {
            "text": profile.read_text(),
            "command": cold.command,
            "breakdown": json.loads((directory / "profiled-cold.json").read_text()).get("breakdown", {}),
        }
        self.say("profiled a cold cycle with pyinstrument (no pool)")
        # The same cycle as it really runs, parse pool on, sampled from outside by py-spy.
        spy_dir = self.work / "spy"
        spy_dir.mkdir()
        spy_config = self.write_config(spy_dir / "monitor.db")
        started = time.perf_counter()
        results.spy_profile = spy.record(
            [self.python, "-m", "monitor", "--config", str(spy_config), "poll", "--once"],
            spy_dir / "py-spy.txt",
            cwd=ROOT,
            timeout=STEP_TIMEOUT,
        )
        results.spy_wall = time.perf_counter() - started
        results.spy_check = check_store(spy_dir / "monitor.db", self.farm.truth(1)).summary()
        self.say(f"profiled a cold cycle with py-spy: {results.spy_profile.error or results.spy_check}")
        results.components = self.module(
            "bench.components", "--config", str(config), "--report", str(directory / "components.json")
        ) or json.loads((directory / "components.json").read_text())
        self.say("matcher and digest measured")
        results.match_speed = self.match_speed(directory / "match.md")
        self.say(f"bench.bench_match: {results.match_speed.get('rates')}")
        # The daemon's steady state: every source due every couple of seconds, all answering 304.
        # A cold poll with the same configuration fills its database and makes every source due.
        daemon_dir = self.work / "daemon"
        daemon_dir.mkdir()
        daemon_config = self.write_config(
            daemon_dir / "monitor.db",
            polling={
                "interval_minutes": DAEMON_INTERVAL_MINUTES,
                "min_interval_minutes": DAEMON_INTERVAL_MINUTES,
                "max_interval_minutes": 60,
                "adaptive": False,
                "jitter_percent": 0,
                "pause_after_failures": 0,
            },
            daemon={"tick_seconds": 0.5},
            web={"enabled": False},
        )
        self.poll("daemon-cold", daemon_config, 1)
        memory = daemon.measure(
            daemon_config,
            daemon_dir / "monitor.db",
            sources=len(self.farm.feeds),
            cycles=self.args.cycles,
            warmup=self.args.warmup,
            timeout=STEP_TIMEOUT,
            cwd=ROOT,
        )
        results.daemon = memory
        self.say(f"daemon: {memory.cycles_done:.0f} cycles in {memory.seconds:.0f} s, growth {memory.growth_percent}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    parser.add_argument("--naive-runs", type=int, default=int(os.environ.get("BENCH_NAIVE_RUNS", "3")))
    parser.add_argument("--sweep-runs", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=100, help="daemon cycles for the memory growth")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help=f"measure nothing: write --out again from the measurements the last run saved in {SAVED}",
    )
    args = parser.parse_args(argv)
    if args.render_only:
        results = pickle.loads(SAVED.read_bytes())
        args.out.write_text(report.render(results), encoding="utf-8")
        print(f"wrote {args.out} from {SAVED} (measured {results.started:%Y-%m-%d %H:%M} UTC)", file=sys.stderr)
        return 0
    # A kill of the bench leaves the with-blocks, so nginx and the step in flight are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    results = Bench(args).run()
    SAVED.write_bytes(pickle.dumps(results))
    args.out.write_text(report.render(results), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
