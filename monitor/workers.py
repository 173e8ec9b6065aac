"""The CPU-bound half of polling a feed (parse, then identify), and the process pool that runs it.

A cold cycle over many feeds is nearly all parsing, and parsing is pure Python: one process can
use one core. ``ParsePool`` runs ``parse_and_identify`` in worker processes so a poll uses every
core, while the event loop keeps fetching and the main process stores and matches.

- Workers are started by a fork server that has imported only this module (the parser and
  ``identity``, not the database, the HTTP client or the matcher), so each stays small.
- Workers start on the first job: a cycle in which every feed answers 304 starts none.
- ``workers=0`` runs the job in a thread of this process (one core, tiny configurations), so
  the event loop is never held up by a parse either way.
- A worker that dies (killed, out of memory, a crash in a C extension) costs the feed being
  parsed a ``ParseError``; the pool is replaced for the feeds after it.
- Workers leave when the process that started them is gone, even if it was killed with
  SIGKILL and could not shut the pool down: a worker would otherwise wait for work forever
  (it holds the fork server's pipe open, so the fork server stays too).

This module must stay light: everything it imports is imported again by each worker.
"""

from __future__ import annotations

import asyncio
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

from monitor.errors import ParseError
from monitor.identity import KeyPolicy, check_guids, choose_key_policy, identify
from monitor.parse.feed import parse_feed
from monitor.types import Item

T = TypeVar("T")
MAX_AUTO_WORKERS = 4


@dataclass(frozen=True, slots=True)
class IdentifiedFeed:
    """A fetched feed, parsed and identified: what a worker sends back."""

    items: tuple[Item, ...]
    entries: int
    warning: str | None
    key_policy: str
    guid_problem_share: float | None
    ttl_minutes: int | None = None  # the feed's <ttl>, which monitor.decide honours


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
    )


def default_workers() -> int:
    """One worker per core, at most ``MAX_AUTO_WORKERS``; none on a single core (no one to share with)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 0 if cores < 2 else min(cores, MAX_AUTO_WORKERS)


PARENT_CHECK_SECONDS = 1.0


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

    def __init__(self, workers: int | None = None, *, fast_parser: bool = True) -> None:
        self.workers = default_workers() if workers is None else workers
        # Handed to parse_and_identify by the pipeline: False reads every feed with feedparser.
        self.fast_parser = fast_parser
        self._executor: Executor | None = None

    def _pool(self) -> Executor:
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_leave_with, initargs=(os.getpid(),)
            )
        return self._executor

    async def run(self, job: Callable[..., T], *args: object) -> T:
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
