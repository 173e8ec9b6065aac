"""The parse pool: the same items as parsing in the main process, and a dead worker costs one feed."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.cluster import fingerprint
from monitor.errors import ParseError
from monitor.parse_worker import PARENT_CHECK_SECONDS, IdentifiedFeed, parse_and_identify
from monitor.workers import LARGE_BODY_BYTES, POOL_MIN_SOURCES, ParsePool, default_workers
from tests.conftest import FIXTURES
from tests.support.configs import feed_source, write_config
from tests.support.httpserver import LocalServer

FEEDS = ("en_rss.xml", "sq_atom.xml", "sr_latin_rdf.xml", "sr_cyrillic_rss.xml")


def _parse(name: str) -> tuple[str, str | None, str, bytes, dict[str, str], str]:
    body = (FIXTURES / "feeds" / name).read_bytes()
    return (name, "en", "url+guid", body, {"content-type": "application/rss+xml"}, f"http://127.0.0.1/{name}")


async def test_workers_give_the_same_items_as_the_main_process() -> None:
    inline = [parse_and_identify(*_parse(name)) for name in FEEDS]
    with ParsePool(2) as pool:
        pooled = [await pool.run(parse_and_identify, *_parse(name)) for name in FEEDS]
    assert pooled == inline
    assert all(isinstance(feed, IdentifiedFeed) and feed.items for feed in pooled)
    # Each item comes with its fingerprint, taken on its text as parsed, for the store to use.
    for feed in pooled:
        assert feed.fingerprints == tuple(fingerprint(item.title, item.text) for item in feed.items)
    assert any(fp is not None for feed in pooled for fp in feed.fingerprints)


def test_the_parse_workers_do_not_import_the_matcher() -> None:
    """Fingerprints fold words as the matcher does, but the workers must stay small (see parse_worker.py)."""
    code = (
        "import sys, monitor.parse_worker\n"
        "print(sorted(m for m in sys.modules if m.startswith(('monitor.match', 'pydantic'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['monitor.match', 'monitor.match.fold']"


async def test_a_parse_worker_holds_the_feed_parser_only() -> None:
    """Each worker is forked from a fork server that imports ``monitor.parse_worker``: not the
    pool's event loop, and BeautifulSoup only when page sources or full-text feeds need it."""
    modules_of_worker = "sorted(__import__('sys').modules)"
    with ParsePool(1) as pool:
        feed = await pool.run(parse_and_identify, *_parse("en_rss.xml"))
        worker = set(await pool.run(eval, modules_of_worker))
    assert feed.items
    assert "monitor.parse_worker" in worker and "feedparser" in worker
    assert sorted(m for m in ("asyncio", "bs4", "soupsieve", "monitor.workers") if m in worker) == []
    # A process has one fork server, started with the first pool's preload: a new process.
    script = (
        "import asyncio\n"
        "from monitor.workers import ParsePool\n"
        "async def main():\n"
        "    with ParsePool(1, html_pages=True) as pool:\n"
        f"        print(' '.join(await pool.run(eval, {modules_of_worker!r})))\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert {"bs4", "monitor.parse.page", "monitor.parse.article"} <= set(done.stdout.split())


async def test_a_parse_error_in_a_worker_reaches_the_caller_as_a_parse_error() -> None:
    with ParsePool(1) as pool, pytest.raises(ParseError, match="empty body"):
        await pool.run(parse_and_identify, "empty", "en", "url+guid", b"  ", {}, "http://127.0.0.1/empty")


async def test_a_worker_that_dies_costs_one_feed_and_the_pool_recovers() -> None:
    with ParsePool(1) as pool:
        with pytest.raises(ParseError, match="worker process died"):
            await pool.run(os._exit, 3)
        feed = await pool.run(parse_and_identify, *_parse("en_rss.xml"))
    assert len(feed.items) == 4


def test_one_worker_per_core_but_the_main_process_s_by_default() -> None:
    """The main process stores and matches: a core's work of its own (issue #8: a second worker
    on two cores made the cycle no faster and held 13 MB more at its peak)."""
    cores = len(os.sched_getaffinity(0))
    assert default_workers() == (0 if cores < 2 else min(cores - 1, 4))
    assert default_workers(sources=1000) == default_workers()


@pytest.mark.parametrize("workers", [0, 2])
def test_a_poll_stores_the_same_with_or_without_workers(server: LocalServer, tmp_path: Path, workers: int) -> None:
    sources = []
    for name in FEEDS:
        url = server.add(f"/{name}", (FIXTURES / "feeds" / name).read_bytes())
        sources.append(feed_source(name.split(".")[0].replace("_", "-"), url, "en"))
    config = write_config(tmp_path, sources, polling={"interval_minutes": 30, "parse_workers": workers})
    out = io.StringIO()
    assert main(["--config", str(config), "poll", "--once"], out=out) == 0
    db = sqlite3.connect(tmp_path / "monitor.db")
    try:
        titles = sorted(row[0] for row in db.execute("SELECT title FROM items"))
    finally:
        db.close()
    assert len(titles) == 12
    assert "12 new items" in out.getvalue()


def test_workers_leave_when_the_process_that_started_them_is_killed(tmp_path: Path) -> None:
    script = (
        "import asyncio, os, sys\n"
        "from monitor.workers import ParsePool\n"
        "async def main():\n"
        "    pool = ParsePool(2)\n"
        "    pids = {await pool.run(os.getpid) for _ in range(8)}\n"
        "    open(sys.argv[1], 'w').write(' '.join(map(str, pids)))\n"
        "    os.kill(os.getpid(), 9)\n"
        "asyncio.run(main())\n"
    )
    pids = tmp_path / "pids"
    done = subprocess.run([sys.executable, "-c", script, str(pids)], stdout=subprocess.DEVNULL, timeout=60)
    assert done.returncode == -signal.SIGKILL
    workers = [int(pid) for pid in pids.read_text().split()]
    assert workers
    deadline = time.monotonic() + 10 * PARENT_CHECK_SECONDS
    while time.monotonic() < deadline and any(_exists(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(_exists(pid) for pid in workers)


def _exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"  # a zombie has left already
    except FileNotFoundError:
        return False


def test_a_configuration_of_few_sources_parses_in_the_main_process() -> None:
    cores = len(os.sched_getaffinity(0))
    assert default_workers(sources=POOL_MIN_SOURCES - 1) == 0
    assert default_workers(sources=POOL_MIN_SOURCES) == (0 if cores < 2 else min(cores - 1, 4))
    assert ParsePool(sources=3).workers == 0
    assert ParsePool(2, sources=3).workers == 2  # a configured number is honoured


class _Overlap:
    """Counts how many jobs run at once (jobs run in threads of this process with workers=0)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def job(self, body: bytes) -> int:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        return len(body)


@pytest.mark.parametrize(("size", "at_once"), [(LARGE_BODY_BYTES, 1), (LARGE_BODY_BYTES - 1, 4)])
async def test_large_documents_are_parsed_one_at_a_time(size: int, at_once: int) -> None:
    overlap = _Overlap()
    pool = ParsePool(0)
    sizes = await asyncio.gather(*(pool.run(overlap.job, b"x" * size) for _ in range(4)))
    assert sizes == [size] * 4
    assert overlap.most == at_once


# Eight threads allocate at once (as a poll's store and fetch threads do) in a fresh process;
# glibc's malloc_stats then lists one "Arena N:" block per arena on stderr.
_ARENAS_SCRIPT = """
import ctypes, sys, threading
from monitor.parse_worker import tune_allocator
if sys.argv[1] == "tuned":
    assert tune_allocator()
start = threading.Barrier(8)
def work():
    start.wait()
    held = [bytearray(2048) for _ in range(20000)]
    start.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str, **env: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _ARENAS_SCRIPT, mode],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
        env={k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env,
    )
    assert done.returncode == 0, done.stderr
    return sum(1 for line in done.stderr.splitlines() if line.startswith("Arena "))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_stats")
def test_the_poller_s_threads_share_two_malloc_arenas_unless_the_operator_sets_their_number() -> None:
    # Each arena keeps what its threads freed: with one per thread a poll held more memory.
    assert _arenas("default") > 2  # the control: glibc's default gives threads arenas of their own
    assert _arenas("tuned") <= 2
    assert _arenas("tuned", MALLOC_ARENA_MAX="4") > 2  # the environment's setting wins
