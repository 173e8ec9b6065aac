"""The process pool that runs the CPU-bound half of polling a feed (``monitor.parse_worker``).

A cold cycle over many feeds is nearly all parsing, and parsing is pure Python: one process can
use one core. ``ParsePool`` runs ``parse_and_identify`` in worker processes so a poll uses every
core, while the event loop keeps fetching and the main process stores and matches (a core's
work of its own: by default one worker per core but one).

- Workers are started by a fork server that has imported only ``monitor.parse_worker`` (the
  parser, ``identity`` and ``cluster``; not this module and its event loop, the database, the
  HTTP client or the matcher), so each stays small.
- Workers start on the first job: a cycle in which every feed answers 304 starts none.
- ``workers=0`` runs the job in a thread of this process (one core, or fewer sources than
  ``POOL_MIN_SOURCES`` when the number of workers is not configured), so the event loop is
  never held up by a parse either way.
- Large documents (``LARGE_BODY_BYTES``) are parsed one at a time, in workers or not: parsing
  costs several times a document's size, and this bounds how much of it is held at once.
- A worker that dies (killed, out of memory, a crash in a C extension) costs the feed being
  parsed a ``ParseError``; the pool is replaced for the feeds after it.
- Workers leave when the process that started them is gone, even if it was killed with
  SIGKILL and could not shut the pool down: a worker would otherwise wait for work forever
  (it holds the fork server's pipe open, so the fork server stays too).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from types import TracebackType
from typing import Self, TypeVar

from monitor.errors import ParseError
from monitor.parse_worker import start_worker, tune_allocator

T = TypeVar("T")
MAX_AUTO_WORKERS = 4
# With fewer sources than this (and ``polling.parse_workers`` not set) feeds are parsed in the
# main process: a few dozen ordinary feeds parse in well under a second, less than starting the
# workers takes, and the fork server and each worker would hold tens of MB of their own.
POOL_MIN_SOURCES = 100
# Parsing a document costs several times its size (a 9 MB feed: about 35 MB). Documents from
# this size up are parsed one at a time, whatever the number of workers, so a cycle that meets
# several large ones holds one large parse at once. Ordinary feeds (tens to hundreds of KB) are
# far below it and keep every worker busy.
LARGE_BODY_BYTES = 512 * 1024
# The feed parser (feedparser, lxml), which parse_and_identify imports on first use: the fork
# server imports it once for every worker.
_FEED_PARSER = "monitor.parse.feed"
# The jobs of page sources and full-text feeds (monitor.pipeline hands them to the pool).
_HTML_JOBS = ("monitor.parse.page", "monitor.parse.article")


def default_workers(sources: int | None = None) -> int:
    """One worker per core but one, at most ``MAX_AUTO_WORKERS``; none on a single core (no one to
    share with).

    The main process keeps a core busy itself in a cold cycle: it stores, clusters and matches
    every item, the longer half of the work (on the bench's 1,000 feeds 48.7 s of Python against
    the pool's 35.4 s). On two cores one worker keeps up with it: a second made the cycle no
    faster (three pairs, bench/analysis.md, 2026-11-23) and added 13 MB to the poll's peak (its
    own pages and the fork server's copies of those it touches).

    Given the number of ``sources`` to poll, none below ``POOL_MIN_SOURCES`` either."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores < 2 or (sources is not None and sources < POOL_MIN_SOURCES):
        return 0
    return min(cores - 1, MAX_AUTO_WORKERS)


class ParsePool:
    """``with ParsePool(2) as pool: feed = await pool.run(parse_and_identify, ...)``"""

    def __init__(
        self,
        workers: int | None = None,
        *,
        fast_parser: bool = True,
        sources: int | None = None,
        html_pages: bool = False,
    ) -> None:
        self.workers = default_workers(sources) if workers is None else workers
        # Page sources and full-text feeds are read with BeautifulSoup: when there are any, the
        # fork server imports it once for every worker, else no worker holds it (about 5 MB).
        self._preload = [start_worker.__module__, _FEED_PARSER, *(_HTML_JOBS if html_pages else ())]
        # Handed to parse_and_identify by the pipeline: False reads every feed with feedparser.
        self.fast_parser = fast_parser
        tune_allocator()  # parsing in this process (workers=0) and the bodies it fetches
        self._executor: Executor | None = None
        # One lock per event loop (a lock is bound to the loop it first waited in).
        self._large: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def _pool(self) -> Executor:
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            # The fork server (and so each worker) imports the worker's side only.
            context.set_forkserver_preload(self._preload)
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=start_worker, initargs=(os.getpid(),)
            )
        return self._executor

    async def run(self, job: Callable[..., T], *args: object) -> T:
        if sum(len(a) for a in args if isinstance(a, bytes | bytearray)) >= LARGE_BODY_BYTES:
            async with self._large_lock():
                return await self._run(job, *args)
        return await self._run(job, *args)

    def _large_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._large is None or self._large[0] is not loop:
            self._large = (loop, asyncio.Lock())
        return self._large[1]

    async def _run(self, job: Callable[..., T], *args: object) -> T:
        if self.workers <= 0:
            return await asyncio.to_thread(job, *args)
        executor = self._pool()
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, partial(job, *args))
        except BrokenProcessPool:
            if self._executor is executor:
                self._executor = None
                executor.shutdown(wait=False, cancel_futures=True)
            raise ParseError("the parser's worker process died while parsing this feed") from None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
