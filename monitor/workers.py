"""The CPU-bound half of polling a feed (parse, identify, fingerprint), and the process pool that runs it.

A cold cycle over many feeds is nearly all parsing, and parsing is pure Python: one process can
use one core. ``ParsePool`` runs ``parse_and_identify`` in worker processes so a poll uses every
core, while the event loop keeps fetching and the main process stores and matches.

- Workers are started by a fork server that has imported only this module (the parser and
  ``identity``, not the database, the HTTP client or the matcher), so each stays small.
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

This module must stay light: everything it imports is imported again by each worker.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Self, TypeVar

from monitor.cluster import Fingerprint, fingerprint
from monitor.errors import ParseError
from monitor.identity import KeyPolicy, check_guids, choose_key_policy, identify
from monitor.parse.feed import parse_feed
from monitor.types import Item

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


@dataclass(frozen=True, slots=True)
class IdentifiedFeed:
    """A fetched feed, parsed and identified: what a worker sends back."""

    items: tuple[Item, ...]
    entries: int
    warning: str | None
    key_policy: str
    guid_problem_share: float | None
    ttl_minutes: int | None = None  # the feed's <ttl>, which monitor.decide honours
    # One per item, of its title and text as parsed (monitor.cluster): storing is the main
    # process's bottleneck in a cold cycle, so this CPU work is done here, beside the parse.
    fingerprints: tuple[Fingerprint | None, ...] = ()


def parse_and_identify(
    source: str,
    language: str | None,
    key_policy: str,
    body: bytes,
    headers: Mapping[str, str],
    base_url: str,
    fast_parser: bool = True,
) -> IdentifiedFeed:
    """Parse one fetched feed and give each entry its identity (pure: runs in a worker)."""
    parsed = parse_feed(body, headers, base_url, fast=fast_parser)
    guids = check_guids(parsed.entries)
    policy = choose_key_policy(KeyPolicy(key_policy), guids)
    items = tuple(identify(source, entry, language, policy) for entry in parsed.entries)
    return IdentifiedFeed(
        items=items,
        entries=len(parsed.entries),
        warning=parsed.warning,
        key_policy=policy.value,
        guid_problem_share=guids.share if guids.entries else None,
        ttl_minutes=parsed.ttl_minutes,
        fingerprints=tuple(fingerprint(item.title, item.text) for item in items),
    )


# glibc's malloc serves blocks from this size up with their own mappings, returned to the
# operating system as soon as they are freed. By default the threshold rises (up to 32 MB) each
# time such a block is freed, after which a 10 MB body or a parser's large strings come from the
# heap and their memory stays with the process after the poll: the next large one adds to it.
MMAP_THRESHOLD_BYTES = 256 * 1024
# glibc gives each thread that allocates its own arena (up to 8 per core), and memory freed in one
# arena serves only that arena's threads: a poll's store and fetch threads each kept a partly
# empty heap of their own. Two arenas (the main thread's and one shared) is what
# MALLOC_ARENA_MAX=2 sets; an operator's MALLOC_ARENA_MAX in the environment is left as it is.
MALLOC_ARENAS = 2
_M_MMAP_THRESHOLD = -3  # mallopt's parameter numbers (malloc.h)
_M_ARENA_MAX = -8


def tune_allocator() -> bool:
    """Make freed large blocks go back to the OS at once and bound the malloc arenas (glibc only;
    elsewhere nothing changes). Call it before the process starts its threads."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): their allocators do their own thing
        return False
    if "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def default_workers(sources: int | None = None) -> int:
    """One worker per core, at most ``MAX_AUTO_WORKERS``; none on a single core (no one to share with).

    Given the number of ``sources`` to poll, none below ``POOL_MIN_SOURCES`` either."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores < 2 or (sources is not None and sources < POOL_MIN_SOURCES):
        return 0
    return min(cores, MAX_AUTO_WORKERS)


PARENT_CHECK_SECONDS = 1.0


def _start_worker(parent: int) -> None:
    tune_allocator()
    _leave_with(parent)


def _leave_with(parent: int) -> None:
    """In a worker: exit as soon as ``parent`` (the process owning the pool) no longer runs."""

    def watch() -> None:
        while not _gone(parent):
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="leave-with-parent", daemon=True).start()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # PermissionError: the pid now belongs to another user
        return True
    try:  # a killed process stays a zombie until its own parent reaps it
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return False


class ParsePool:
    """``with ParsePool(2) as pool: feed = await pool.run(parse_and_identify, ...)``"""

    def __init__(self, workers: int | None = None, *, fast_parser: bool = True, sources: int | None = None) -> None:
        self.workers = default_workers(sources) if workers is None else workers
        # Handed to parse_and_identify by the pipeline: False reads every feed with feedparser.
        self.fast_parser = fast_parser
        tune_allocator()  # parsing in this process (workers=0) and the bodies it fetches
        self._executor: Executor | None = None
        # One lock per event loop (a lock is bound to the loop it first waited in).
        self._large: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def _pool(self) -> Executor:
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
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
