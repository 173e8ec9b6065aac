"""What runs in a parse worker: the CPU-bound half of polling a feed (parse, identify,
fingerprint), and the worker's start-up.

The parse pool's fork server imports only this module and the feed parser (``monitor.workers``
holds the pool, which the workers never use), and each worker is forked from it: what they
import is in every worker process. So this module imports ``identity`` and ``cluster``, and
neither the event loop nor the database, the HTTP client, the matcher or BeautifulSoup (see
``monitor.parse.normalize``). The feed parser itself (feedparser, lxml) is imported by the job,
so the main process, which imports this module to read what the workers send back, holds it
only when it parses itself (no workers).
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.cluster import Fingerprint, fingerprint
from monitor.identity import KeyPolicy, check_guids, choose_key_policy, identify
from monitor.types import Item


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
    # Imported here, and by the fork server before it forks the workers (monitor.workers): the
    # main process unpickles what the workers send back but, with workers, parses nothing, and
    # feedparser and lxml would take about 3 MB of its peak.
    from monitor.parse.feed import parse_feed

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


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt  # noqa: B018  (glibc's; musl and macOS have neither it nor malloc_trim)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):  # not glibc (musl, macOS): their allocators do their own thing
        return None
    return libc


def tune_allocator() -> bool:
    """Make freed large blocks go back to the OS at once and bound the malloc arenas (glibc only;
    elsewhere nothing changes). Call it before the process starts its threads."""
    libc = _glibc()
    if libc is None:
        return False
    if "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def release_free_memory() -> bool:
    """Give the free pages inside glibc's heaps back to the OS (``malloc_trim``; glibc only).

    Freed blocks under the mmap threshold stay in the heap, and between the blocks still in use
    they cannot be given back by the heap's usual trimming of its top: after each poll the main
    process's heap held another few MB of such holes (12 MB free of 48 at the peak of a cold
    1,000-feed cycle). A call takes well under a millisecond. True when glibc released anything.
    """
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


PARENT_CHECK_SECONDS = 1.0


def start_worker(parent: int) -> None:
    """The pool's initializer, run first in each worker."""
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
