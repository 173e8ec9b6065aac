"""The poll pipeline: the only module that knows the order of the stages.

    due sources ─▶ fetch ─▶ parse ─▶ identify ─▶ decide new ─▶ match (new only) ─▶ store
                                                                                   └─▶ notify (later)

Each source is polled on its own; whatever goes wrong with one becomes a ``SourceOutcome``
with an error kind and message, and never stops the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from monitor.errors import FetchError, MonitorError, ParseError, StorageError
from monitor.fetch import Fetcher, FetchLimits
from monitor.identity import KeyPolicy, check_guids, choose_key_policy, identify
from monitor.match import Matcher
from monitor.parse.feed import parse_feed
from monitor.store import Repository
from monitor.types import Fetched, Item, MatchResult, OutcomeStatus, SourceOutcome, SourceState, Validators


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
) -> list[SourceOutcome]:
    """Poll every source once, concurrently within the fetch limits; outcomes in source order."""
    async with Fetcher(limits) as fetcher:

        async def one(source: FeedSource) -> SourceOutcome:
            outcome = await poll_source(source, fetcher, repo, matcher)
            if progress is not None:
                progress(outcome)
            return outcome

        return list(await asyncio.gather(*(one(s) for s in sources)))


async def poll_source(source: FeedSource, fetcher: Fetcher, repo: Repository, matcher: Matcher) -> SourceOutcome:
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
        # would hold up every other source's fetch long enough to blow its deadline.
        return await asyncio.to_thread(_store_fetched, source, state, response, repo, matcher, started)
    except MonitorError as exc:
        outcome = _error_outcome(source.name, exc, time.monotonic() - started)
        try:
            repo.commit_poll(outcome, [], matcher.version)
        except StorageError as storage_exc:
            return _error_outcome(source.name, storage_exc, time.monotonic() - started)
        return outcome


def _store_fetched(
    source: FeedSource, state: SourceState, response: Fetched, repo: Repository, matcher: Matcher, started: float
) -> SourceOutcome:
    parsed = parse_feed(response.body, response.headers, response.final_url)
    guids = check_guids(parsed.entries)
    policy = choose_key_policy(KeyPolicy(state.key_policy), guids)
    items = [identify(source.name, entry, source.language, policy) for entry in parsed.entries]
    new = repo.unknown(items)
    matched = match_items(matcher, new)
    relevant = sum(1 for _, m in matched if m.relevant)
    outcome = SourceOutcome(
        source.name,
        OutcomeStatus.OK,
        entries=len(parsed.entries),
        new_items=len(new),
        new_matches=relevant,
        warning=parsed.warning,
        elapsed=time.monotonic() - started,
        validators=response.validators,
        key_policy=policy.value,
        guid_problem_share=guids.share if guids.entries else None,
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
