"""Run ``monitor`` commands in this process and report timings: ``python -m bench.poll_cmd``.

    python -m bench.poll_cmd --report R.json [--profile P.txt] -- --config C poll --once
    python -m bench.poll_cmd --report R.json --cycles 100 --warmup 5 -- --config C poll --once

The report separates the interpreter's imports from the command itself (what a long-running
daemon pays per cycle), and gives the process's own peak RSS. With ``--cycles`` the command runs
``warmup + cycles`` times in this one process and the RSS after each run is recorded, to see
whether memory grows from cycle to cycle.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import resource
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()


def _rss() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# Where a sample's time is counted: the innermost frame on its stack that falls in one of these.
CATEGORIES = (
    ("monitor/parse/normalize", "html → text (ours + bs4)"),
    ("/bs4/", "html → text (ours + bs4)"),
    ("/feedparser/", "feedparser"),
    ("sgmllib", "feedparser"),
    ("/lxml/", "lxml"),
    ("monitor/parse/", "parse (ours)"),
    ("monitor/identity", "identify"),
    ("monitor/match/", "match"),
    ("monitor/store/", "store (ours + SQLAlchemy + sqlite3)"),
    ("/sqlalchemy/", "store (ours + SQLAlchemy + sqlite3)"),
    ("/sqlmodel/", "store (ours + SQLAlchemy + sqlite3)"),
    ("/httpx/", "fetch (httpx, httpcore, h11)"),
    ("/httpcore/", "fetch (httpx, httpcore, h11)"),
    ("/h11/", "fetch (httpx, httpcore, h11)"),
    ("monitor/fetch", "fetch (httpx, httpcore, h11)"),
    ("/concurrent/futures/", "process pool (hand-off)"),
    ("/multiprocessing/", "process pool (hand-off)"),
    ("/asyncio/", "event loop"),
    ("/pydantic", "config (pydantic, yaml)"),
    ("/yaml/", "config (pydantic, yaml)"),
)


def _category(frame: Any) -> str | None:
    if frame.identifier.startswith("[await]"):
        return "waiting (await: network or pool)"
    path = (frame.file_path or "").replace("\\", "/")
    if "built-in" in path and str(frame.function).endswith(("poll", "select")):
        return "waiting (await: network or pool)"  # the event loop's selector: nothing to run
    for marker, name in CATEGORIES:
        if marker in path:
            return name
    return None


def breakdown(root: Any) -> dict[str, float]:
    """Seconds of the profile per category (innermost categorised frame wins)."""
    totals: dict[str, float] = {}
    stack = [(root, "other")]
    while stack:
        frame, inherited = stack.pop()
        category = _category(frame) or inherited
        own = frame.time - sum(child.time for child in frame.children)
        totals[category] = totals.get(category, 0.0) + max(own, 0.0)
        stack.extend((child, category) for child in frame.children)
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.poll_cmd")
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--profile", type=Path, help="write a pyinstrument profile of the command here")
    parser.add_argument("--cycles", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    argv = [a for a in args.argv if a != "--"]

    from monitor.cli import build_parser, load_command
    from monitor.cli import main as monitor_main

    # The CLI imports each command's modules when it runs; importing them here keeps them in
    # "imports" (start-up), as they were when the CLI imported everything up front.
    parsed = build_parser().parse_args(argv)
    load_command(parsed.command, getattr(parsed, "action", None))
    imported = time.perf_counter()
    report: dict[str, object] = {"imports": imported - STARTED}
    out = io.StringIO()
    if args.cycles:
        rss, times = [], []
        for _ in range(args.warmup + args.cycles):
            began = time.perf_counter()
            code = monitor_main(argv, out=io.StringIO())
            times.append(time.perf_counter() - began)
            gc.collect()
            rss.append(_rss())
            if code != 0:
                break
        report.update({"exit": code, "rss_after_each": rss, "cycle_times": times, "warmup": args.warmup})
    elif args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
        profiler.start()
        code = monitor_main(argv, out=out)
        profiler.stop()
        report["command"] = time.perf_counter() - imported
        report["exit"] = code
        args.profile.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
        session = profiler.last_session
        if session is not None and session.root_frame() is not None:
            report["breakdown"] = breakdown(session.root_frame())
    else:
        code = monitor_main(argv, out=out)
        report["command"] = time.perf_counter() - imported
        report["exit"] = code
    report["summary"] = out.getvalue().strip().splitlines()[-1:] if out.getvalue() else []
    report["maxrss_self"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    report["maxrss_children"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    args.report.write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
