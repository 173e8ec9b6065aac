"""The poll pipeline: the only module that knows the order of the stages.

    due sources ─▶ fetch ─▶ parse ─▶ identify ─▶ decide new ─▶ match (new only) ─▶ store
                                                                                   └─▶ notify (later)

Each source is polled on its own; whatever goes wrong with one becomes a ``SourceOutcome``
with an error kind and message, and never stops the others. Parse and identify, the CPU-bound
part, run in the parse pool's worker processes (``monitor/workers.py``) when one is given.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from monitor.errors import FetchError, MonitorError, ParseError, StorageError
from monitor.fetch import Fetcher, FetchLimits
from monitor.match import Matcher
from monitor.store import Repository
from monitor.types import Fetched, Item, MatchResult, OutcomeStatus, SourceOutcome, Validators
from monitor.workers import IdentifiedFeed, ParsePool, parse_and_identify


@dataclass(frozen=True, slots=True)
class FeedSource:
    """What the pipeline needs to know of a configured source."""

    name: str
    url: str
    language: str | None = None


ProgressCallback = Callable[[SourceOutcome], None]


async def poll_once(
    sources: Sequence[FeedSource],
    repo: Repository,
    matcher: Matcher,
    limits: FetchLimits,
    progress: ProgressCallback | None = None,
    parse_pool: ParsePool | None = None,
) -> list[SourceOutcome]:
    """Poll every source once, concurrently within the fetch limits; outcomes in source order."""
    async with Fetcher(limits) as fetcher:

        async def one(source: FeedSource) -> SourceOutcome:
            outcome = await poll_source(source, fetcher, repo, matcher, parse_pool)
            if progress is not None:
                progress(outcome)
            return outcome

        return list(await asyncio.gather(*(one(s) for s in sources)))


async def poll_source(
    source: FeedSource, fetcher: Fetcher, repo: Repository, matcher: Matcher, parse_pool: ParsePool | None = None
) -> SourceOutcome:
    started = time.monotonic()
    try:
        state = repo.source_state(source.name)
        response = await fetcher.fetch(source.url, state.validators, source=source.name)
        if not isinstance(response, Fetched):
            outcome = SourceOutcome(
                source.name,
                OutcomeStatus.NOT_MODIFIED,
                elapsed=time.monotonic() - started,
                validators=response.validators,
            )
            repo.commit_poll(outcome, [], matcher.version)
            return outcome
        # Parsing and storing are CPU and disk work: done on the event loop, a 5,000-entry feed
        # would hold up every other source's fetch long enough to blow its deadline. Parsing
        # runs in the pool's processes (or a thread without one), storing in a thread.
        feed = await (parse_pool or ParsePool(0)).run(
            parse_and_identify,
            source.name,
            source.language,
            state.key_policy,
            response.body,
            response.headers,
            response.final_url,
        )
        return await asyncio.to_thread(_store_identified, source, feed, response, repo, matcher, started)
    except MonitorError as exc:
        outcome = _error_outcome(source.name, exc, time.monotonic() - started)
        try:
            repo.commit_poll(outcome, [], matcher.version)
        except StorageError as storage_exc:
            return _error_outcome(source.name, storage_exc, time.monotonic() - started)
        return outcome


def _store_identified(
    source: FeedSource, feed: IdentifiedFeed, response: Fetched, repo: Repository, matcher: Matcher, started: float
) -> SourceOutcome:
    new = repo.unknown(feed.items)
    matched = match_items(matcher, new)
    relevant = sum(1 for _, m in matched if m.relevant)
    outcome = SourceOutcome(
        source.name,
        OutcomeStatus.OK,
        entries=feed.entries,
        new_items=len(new),
        new_matches=relevant,
        warning=feed.warning,
        elapsed=time.monotonic() - started,
        validators=response.validators,
        key_policy=feed.key_policy,
        guid_problem_share=feed.guid_problem_share,
    )
    inserted = repo.commit_poll(outcome, matched, matcher.version)
    if len(inserted) != len(new):  # another writer stored some of them first
        keys = {i.key for i in inserted}
        relevant = sum(1 for i, m in matched if m.relevant and i.key in keys)
        outcome = replace(outcome, new_items=len(inserted), new_matches=relevant)
    return outcome


def match_items(matcher: Matcher, items: Sequence[Item]) -> list[tuple[Item, MatchResult]]:
    return [(item, matcher.match(item.title, item.text, item.language)) for item in items]


def _error_outcome(source: str, exc: MonitorError, elapsed: float) -> SourceOutcome:
    if isinstance(exc, FetchError):
        kind, stage = exc.kind.value, "fetch"
    elif isinstance(exc, ParseError):
        kind, stage = "parse", "parse"
    elif isinstance(exc, StorageError):
        kind, stage = "storage", "store"
    else:
        kind, stage = "error", "poll"
    return SourceOutcome(
        source,
        OutcomeStatus.ERROR,
        error_kind=kind,
        error_message=f"{stage}: {exc.message}",
        elapsed=elapsed,
        validators=Validators(),
    )
