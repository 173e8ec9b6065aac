"""Memory against hostile servers: peak RSS of ``monitor poll --once`` across every hostile endpoint.

    python -m bench.bench_hostile [--out bench/results/hostile.md]

One local HTTP server (127.0.0.1, ``tests/support/hostile.py``) serves an endpoint per hostile
behaviour: gzip bombs, endless and dripping bodies, 100,000-entry feeds, entity bombs, CPU bombs,
non-feeds… The poller runs with the default limits (10 MB body cap), except a 5 s deadline so
the stalling endpoints end sooner (the deadline does not change what is held in memory).

Measured in one session, as peak RSS of the poller's process tree (its parse workers included),
sampled every 20 ms:

- the baseline: one ordinary feed, the same command;
- each hostile endpoint alone;
- every hostile endpoint in one poll (the figure the target of 200 MB is about), with the default
  settings (27 sources: below ``POOL_MIN_SOURCES``, so parsed in the main process), and again
  with two parse workers forced (``polling.parse_workers: 2``);
- whether the parse pool pays off just below ``POOL_MIN_SOURCES``: a cold poll of that many
  ordinary feeds less one, in the main process and with two workers;
- how far past the body cap a gzip bomb gets: our inflater against httpx's ``aiter_bytes``
  (which inflates each network read whole), on the same bomb from the same server.

Every request goes to 127.0.0.1; every run has a time limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path

import httpx
import yaml

from bench.measure import load_average, machine_facts, rss_bytes
from monitor.errors import FetchError
from monitor.fetch import INFLATE_STEP, Fetcher, FetchLimits
from monitor.workers import POOL_MIN_SOURCES
from tests.support import hostile
from tests.support.configs import default_raw, feed_source
from tests.support.httpserver import LocalServer

ROOT = Path(__file__).resolve().parents[1]
TARGET_MB = 200
RUN_TIMEOUT = 300
CAP = 10_000_000  # the default http.max_body_bytes
MB = 1 << 20
AGENT = "dialogue-monitor-bench/1 (+http://127.0.0.1/)"


def ordinary_feed(outlet: int = 0) -> bytes:
    items = "".join(
        hostile.rss_item(
            n + 1000 * outlet,
            title=f"Chief negotiators meet in Brussels, round {n} (outlet {outlet})",
            description="Dialogue. " * 40,
        )
        for n in range(50)
    )
    return hostile.rss(items).encode()


def hostile_routes(server: LocalServer, secret: Path) -> dict[str, str]:
    """Endpoint name → URL, one per hostile behaviour."""
    add = server.add
    lol = hostile_bombs(secret)
    many = "".join(f"<item><title>T{n}</title><link>https://bulk.example/{n}</link></item>" for n in range(100_000))
    big_text = hostile.rss(hostile.rss_item(1, description="&lt;p&gt;Dijalog " + "x" * 9_000_000))
    routes = {
        "drip (1 byte / 0.2 s)": add("/drip", handler=hostile.drip(server)),
        "no headers": add("/silent", handler=hostile.silent(server)),
        "header drip": add("/header-drip", handler=hostile.header_drip(server)),
        "endless headers": add("/endless-headers", handler=hostile.endless_headers(server)),
        "gzip bomb (10 GB)": add("/bomb", handler=hostile.gzip_bomb()),
        "gzip of gzip bomb": add("/bomb2", handler=hostile.gzip_bomb(total=100 * hostile.GB, layers=2)),
        "endless plain body": add("/endless", handler=hostile.streaming(lambda: (b"x" * 65536 for _ in range(4096)))),
        "declares 50 MB": add("/declared", handler=declared_big()),
        "100,000 entries (~6 MB)": add("/many", hostile.rss(many)),
        "one 9 MB entry": add("/big-text", big_text),
        "1 MB title": add("/title", hostile.rss(hostile.rss_item(1, title="Kosovo " * 150_000))),
        **{name: add(f"/xml/{n}", body) for n, (name, body) in enumerate(lol.items())},
        "50,000 attributes": add(
            "/attrs",
            hostile.rss(
                hostile.rss_item(1).replace("<item>", "<item " + " ".join(f'a{i}="v"' for i in range(50_000)) + ">")
            ),
        ),
        "100,000 nested elements": add(
            "/deep", hostile.rss(hostile.rss_item(1).replace("</item>", "<x>" * 100_000 + "</x>" * 100_000 + "</item>"))
        ),
        "HTML page": add("/html", b"<!DOCTYPE html><html><body>" + b"<p>portal</p>" * 10_000, content_type="text/html"),
        "PNG image": add("/png", b"\x89PNG\r\n\x1a\n" + bytes(2 * MB), content_type="image/png"),
        "empty body": add("/empty", b""),
        "redirect loop": add("/loop", status=302, headers={"Location": "/loop"}),
        "redirect to file:": add("/to-file", status=302, headers={"Location": f"file://{secret}"}),
        "429 Retry-After 120": add("/429", b"", status=429, headers={"Retry-After": "120"}),
        "503 Retry-After date": add(
            "/503", b"", status=503, headers={"Retry-After": formatdate(time.time() + 600, usegmt=True)}
        ),
        "corrupt gzip": add("/corrupt", b"\x1f\x8b\x08\x00not-gzip", headers={"Content-Encoding": "gzip"}),
        "brotli not asked for": add("/br", b"\x0b\x02\x80hello\x03", headers={"Content-Encoding": "br"}),
        "wrong charset": add(
            "/charset",
            hostile.rss(hostile.rss_item(1, title="Вучић и Курти")).encode(),
            content_type="text/xml; charset=iso-8859-1",
        ),
    }
    return routes


def hostile_bombs(secret: Path) -> dict[str, bytes]:
    levels = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    head = '<?xml version="1.0"?>'
    return {
        "billion laughs": (
            head + f"<!DOCTYPE rss [{levels}]>" + hostile.rss(hostile.rss_item(1, title="&lol9;"), head="")
        ).encode(),
        "quadratic entity": (
            head
            + '\n<!DOCTYPE rss [\n<!ENTITY a "'
            + "A" * 100_000
            + '">\n]>\n'
            + hostile.rss(hostile.rss_item(1, title="&a;" * 3000), head="")
        ).encode(),
        "external entity": (
            head
            + f'<!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]>'
            + hostile.rss(hostile.rss_item(1, title="&x;"), head="")
        ).encode(),
    }


def declared_big() -> hostile.Handler:
    def handle(request: object) -> None:
        r = request  # BaseHTTPRequestHandler
        try:
            r.send_response(200)  # type: ignore[attr-defined]
            r.send_header("Content-Type", "application/rss+xml")  # type: ignore[attr-defined]
            r.send_header("Content-Length", str(50 * MB))  # type: ignore[attr-defined]
            r.end_headers()  # type: ignore[attr-defined]
            for _ in range(50 * 16):
                r.wfile.write(b"x" * 65536)  # type: ignore[attr-defined]
        except (BrokenPipeError, ConnectionResetError):
            pass

    return handle


def _descendants(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    children = [int(c) for c in handle.read().split()]
                found += children
                pending += children
        except OSError:
            continue
    return found


def pss_bytes(pid: int) -> int:
    """Proportional set size: shared pages divided among the processes sharing them; 0 when gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Peaks:
    """Peaks of one process tree, sampled every ``interval`` seconds in a thread."""

    pid: int
    interval: float = 0.02
    own_rss: int = 0  # the main process alone
    tree_rss: int = 0  # RSS summed over the tree: pages shared with forked workers count once per process
    tree_pss: int = 0  # PSS summed over the tree: each page counted once, the tree's real footprint
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = [self.pid, *_descendants(self.pid)]
            rss = [rss_bytes(p) for p in pids]
            self.own_rss = max(self.own_rss, rss[0])
            self.tree_rss = max(self.tree_rss, sum(rss))
            self.tree_pss = max(self.tree_pss, sum(pss_bytes(p) for p in pids))
            self._stop.wait(self.interval)

    def __enter__(self) -> Peaks:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


@dataclass
class Run:
    label: str
    own_rss_mb: float
    tree_rss_mb: float
    tree_pss_mb: float
    seconds: float
    exit_code: int
    table: str


def poll(label: str, urls: dict[str, str], workdir: Path, parse_workers: int | None = None) -> Run:
    workdir.mkdir(parents=True, exist_ok=True)
    raw = default_raw()
    raw["sources"] = [feed_source(f"s{n:02d}", url) for n, url in enumerate(urls.values())]
    raw["database"] = {"url": f"sqlite:///{workdir / 'monitor.db'}"}
    raw["http"] = {
        **raw["http"],
        "user_agent": AGENT,
        "timeout_seconds": 5,
        "per_host_concurrency": 8,
        "min_host_delay_seconds": 0,
    }
    raw["polling"] = {**raw.get("polling", {}), "parse_workers": parse_workers}
    raw["subscribers"] = []
    config = workdir / "config.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "poll", "--once"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with Peaks(process.pid) as peaks:
        out, _ = process.communicate(timeout=RUN_TIMEOUT)
    names = {f"s{n:02d}": name for n, name in enumerate(urls)}
    table = "\n".join(_rename(line, names) for line in out.splitlines())
    seconds = time.monotonic() - started
    return Run(label, peaks.own_rss / MB, peaks.tree_rss / MB, peaks.tree_pss / MB, seconds, process.returncode, table)


def _rename(line: str, names: dict[str, str]) -> str:
    key = line.split(" ", 1)[0]
    return f"{names[key]:<26} {line[len(key) :].strip()}" if key in names else line


@dataclass
class Overshoot:
    reader: str
    decoded_when_stopped: int
    largest_piece: int
    traced_peak: int


async def inflate_overshoot(url: str) -> list[Overshoot]:
    """Decoded bytes held when the cap stops a bomb: our fetcher, then httpx's own decoding."""
    results = []
    tracemalloc.start()
    async with Fetcher(FetchLimits(user_agent=AGENT, max_body_bytes=CAP, timeout_seconds=30)) as fetcher:
        with contextlib.suppress(FetchError):
            await fetcher.fetch(url)
    ours_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # Ours stops at most one step past the cap: the step is the largest piece it ever holds.
    results.append(
        Overshoot(
            "monitor.fetch (raw bytes, zlib in steps; an upper bound)", CAP + INFLATE_STEP, INFLATE_STEP, ours_peak
        )
    )  # noqa: E501

    tracemalloc.start()
    size = largest = 0
    async with httpx.AsyncClient(timeout=30) as client, client.stream("GET", url) as response:
        async for piece in response.aiter_bytes():
            largest = max(largest, len(piece))
            size += len(piece)
            if size > CAP:
                break
    httpx_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    results.append(Overshoot("httpx aiter_bytes (inflates each read)", size, largest, httpx_peak))
    return results


def met(run: Run) -> bool:
    """The target: the process tree's footprint and the main process's RSS both under it."""
    return run.tree_pss_mb < TARGET_MB and run.own_rss_mb < TARGET_MB


def report(
    baseline: Run,
    each: list[Run],
    together: Run,
    pooled: Run,
    small: list[Run],
    overshoot: list[Overshoot],
) -> str:
    facts = machine_facts()
    verdict = "met" if met(together) else "NOT met"
    lines = [
        "# Hostile servers: memory of `monitor poll --once`",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m bench.bench_hostile` "
        f"(load average {load_average()}). Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()) + ".",
        "",
        "Peaks sampled every 20 ms over the poller's process tree (the main process and, when parse",
        "workers run, their fork server and the workers). PSS counts each memory page once, split among the",
        "processes sharing it: the tree's real footprint. Summed RSS counts the pages forked workers share",
        "with their fork server once per process, so it overstates. Default limits (10 MB body cap), 5 s",
        f"deadline. With `polling.parse_workers` not set, a poll of fewer than {POOL_MIN_SOURCES} sources parses",
        "in the main process, so the default run below has no workers.",
        "",
        f"## Every hostile endpoint in one poll (target: under {TARGET_MB} MB, tree PSS and main RSS: {verdict})",
        "",
        "| run | main process RSS MB | tree PSS MB | tree RSS summed MB | seconds | exit |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for run in (together, pooled, baseline):
        lines.append(
            f"| {run.label} | {run.own_rss_mb:.0f} | {run.tree_pss_mb:.0f} | {run.tree_rss_mb:.0f} | "
            f"{run.seconds:.1f} | {run.exit_code} |"
        )
    lines += [
        "",
        f"Ratio to the baseline (tree PSS): {together.tree_pss_mb / baseline.tree_pss_mb:.2f}.",
        "",
        "## Each endpoint alone (default settings)",
        "",
        "| endpoint | main process RSS MB | tree PSS MB | tree RSS summed MB | seconds |",
        "|---|---:|---:|---:|---:|",
    ]
    for run in each:
        lines.append(
            f"| {run.label} | {run.own_rss_mb:.0f} | {run.tree_pss_mb:.0f} | {run.tree_rss_mb:.0f} | "
            f"{run.seconds:.1f} |"
        )
    lines += [
        "",
        f"## Is the parse pool worth it below {POOL_MIN_SOURCES} sources? "
        f"A cold poll of {POOL_MIN_SOURCES - 1} ordinary feeds",
        "",
        "50 entries each (about 30 KB), one local server, empty database; one run each (noisy on a shared machine).",
        "",
        "| run | seconds | main process RSS MB | tree PSS MB |",
        "|---|---:|---:|---:|",
    ]
    for run in small:
        lines.append(f"| {run.label} | {run.seconds:.1f} | {run.own_rss_mb:.0f} | {run.tree_pss_mb:.0f} |")
    lines += [
        "",
        "## How far past the cap a gzip bomb gets (10 MB cap, bomb of 10 GB of zeros)",
        "",
        "| reader | decoded bytes when stopped | largest piece held | traced peak (tracemalloc) |",
        "|---|---:|---:|---:|",
    ]
    for o in overshoot:
        lines.append(f"| {o.reader} | {o.decoded_when_stopped:,} | {o.largest_piece:,} | {o.traced_peak / MB:.1f} MB |")
    lines += ["", "## What each source ended as (the poll of every endpoint)", "", "```", together.table, "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "hostile.md")
    args = parser.parse_args(argv)
    server = LocalServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="monitor-hostile-") as tmp:
            work = Path(tmp)
            secret = work / "secret.txt"
            secret.write_text("not for feeds", encoding="utf-8")
            ordinary = {"ordinary feed": server.add("/ordinary", ordinary_feed())}
            routes = hostile_routes(server, secret)
            baseline = poll("baseline: one ordinary feed", ordinary, work / "baseline")
            print(f"baseline {baseline.tree_pss_mb:.0f} MB PSS", file=sys.stderr)
            each = []
            for n, (name, url) in enumerate(routes.items()):
                run = poll(name, {name: url}, work / f"each-{n}")
                print(f"{name}: {run.tree_pss_mb:.0f} MB PSS", file=sys.stderr)
                each.append(run)
            together = poll("every endpoint, default settings", {**routes, **ordinary}, work / "all")
            print(f"all: {together.tree_pss_mb:.0f} MB PSS, main {together.own_rss_mb:.0f} MB", file=sys.stderr)
            pooled = poll("every endpoint, parse_workers: 2", {**routes, **ordinary}, work / "pooled", 2)
            print(f"all, two workers: {pooled.tree_pss_mb:.0f} MB PSS", file=sys.stderr)
            feeds = {f"outlet {n}": server.add(f"/outlet/{n}", ordinary_feed(n)) for n in range(POOL_MIN_SOURCES - 1)}
            small = [
                poll(f"{len(feeds)} feeds, {label}", feeds, work / f"small-{workers}", workers)
                for workers, label in ((0, "in the main process (the default)"), (2, "two parse workers"))
            ]
            print(", ".join(f"{run.label}: {run.seconds:.1f} s" for run in small), file=sys.stderr)
            overshoot = asyncio.run(inflate_overshoot(routes["gzip bomb (10 GB)"]))
    finally:
        server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(baseline, each, together, pooled, small, overshoot), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if met(together) else 1


if __name__ == "__main__":
    sys.exit(main())
