"""The poll pipeline: the only module that knows the order of the stages.

    due sources ─▶ fetch ─▶ parse ─▶ identify ─▶ triage (new / changed / known) ─▶ match (new and changed)
        ─▶ plan updates ─▶ store (items, stories, updates, matches, validators: one transaction)
                                                                                   ├─▶ decide next check
                                                                                   └─▶ notify
    notify: immediate alerts after the cycle (``poll_cycle``); digests on their own schedule

Each source is polled on its own; whatever goes wrong with one becomes a ``SourceOutcome``
with an error kind and message, and never stops the others. Parse and identify, the CPU-bound
part, run in the parse pool's worker processes (``monitor/workers.py``) when one is given.
Which sources are due is the scheduler's business (``monitor.scheduler``); when a source is due
again is ``monitor.decide``'s, recorded in the same transaction as the poll. Alerts go out once
the whole cycle is stored, read back from the store through the outbox, so an alert never
announces an item that was not committed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from monitor import decide
from monitor.decide import PollingPolicy
from monitor.errors import FetchError, MonitorError, ParseError, StorageError
from monitor.fetch import Fetcher, FetchLimits
from monitor.match import Matcher
from monitor.notify.outbox import DeliveryReport
from monitor.store import Repository
from monitor.types import (
    Fetched,
    Item,
    ItemUpdate,
    MatchResult,
    NextCheck,
    OutcomeStatus,
    SourceHistory,
    SourceOutcome,
    Validators,
)
from monitor.updates import UpdateRules, plan_updates
from monitor.workers import IdentifiedFeed, ParsePool, parse_and_identify


@dataclass(frozen=True, slots=True)
class FeedSource:
    """What the pipeline needs to know of a configured source."""

    name: str
    url: str
    language: str | None = None
    # When given, the next check is decided and recorded with the poll.
    policy: PollingPolicy | None = None


ProgressCallback = Callable[[SourceOutcome], None]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PollContext:
    """How polls are recorded: who holds the sources' leases, the clock and the jitter draw."""

    lease_owner: str | None = None
    clock: Clock = utc_now
    draw: Callable[[], float] = field(default=random.random)
    # What a changed article does (revision cap, re-alert): the ``updates:`` section of config.yaml.
    update_rules: UpdateRules = field(default_factory=UpdateRules)


# Sends the alerts for what the cycle stored (``Outbox.deliver_immediate_alerts``).
AlertSender = Callable[[], Sequence[DeliveryReport]]


@dataclass(frozen=True, slots=True)
class CycleReport:
    outcomes: list[SourceOutcome]
    alerts: Sequence[DeliveryReport] = ()


async def poll_cycle(
    sources: Sequence[FeedSource],
    repo: Repository,
    matcher: Matcher,
    limits: FetchLimits,
    send_alerts: AlertSender | None = None,
    progress: ProgressCallback | None = None,
    parse_pool: ParsePool | None = None,
    update_rules: UpdateRules | None = None,
) -> CycleReport:
    """One poll cycle: poll every source, then send the immediate alerts for the new matches."""
    outcomes = await poll_once(sources, repo, matcher, limits, progress, parse_pool, update_rules)
    if send_alerts is None:
        return CycleReport(outcomes)
    # The outbox is synchronous (smtplib, database): keep the event loop free while it works.
    alerts = await asyncio.to_thread(send_alerts)
    return CycleReport(outcomes, alerts)


async def poll_once(
    sources: Sequence[FeedSource],
    repo: Repository,
    matcher: Matcher,
    limits: FetchLimits,
    progress: ProgressCallback | None = None,
    parse_pool: ParsePool | None = None,
    update_rules: UpdateRules | None = None,
) -> list[SourceOutcome]:
    """Poll every source once, concurrently within the fetch limits; outcomes in source order."""
    context = PollContext(update_rules=update_rules or UpdateRules())
    async with Fetcher(limits) as fetcher:

        async def one(source: FeedSource) -> SourceOutcome:
            outcome = await poll_source(source, fetcher, repo, matcher, parse_pool, context)
            if progress is not None:
                progress(outcome)
            return outcome

        return list(await asyncio.gather(*(one(s) for s in sources)))


async def poll_source(
    source: FeedSource,
    fetcher: Fetcher,
    repo: Repository,
    matcher: Matcher,
    parse_pool: ParsePool | None = None,
    context: PollContext | None = None,
) -> SourceOutcome:
    context = context or PollContext()
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
                max_age=decide.max_age(response.headers),
            )
            return _commit(source, outcome, [], repo, matcher, context)
        # Parsing and storing are CPU and disk work: done on the event loop, a 5,000-entry feed
        # would hold up every other source's fetch long enough to blow its deadline. Parsing
        # runs in the pool's processes (or a thread without one), storing in a thread.
        pool = parse_pool or ParsePool(0)
        feed = await pool.run(
            parse_and_identify,
            source.name,
            source.language,
            state.key_policy,
            response.body,
            response.headers,
            response.final_url,
            pool.fast_parser,
        )
        return await asyncio.to_thread(_store_identified, source, feed, response, repo, matcher, started, context)
    except MonitorError as exc:
        outcome = _error_outcome(source.name, exc, time.monotonic() - started)
        try:
            return _commit(source, outcome, [], repo, matcher, context)
        except StorageError as storage_exc:
            return _error_outcome(source.name, storage_exc, time.monotonic() - started)


def _store_identified(
    source: FeedSource,
    feed: IdentifiedFeed,
    response: Fetched,
    repo: Repository,
    matcher: Matcher,
    started: float,
    context: PollContext,
) -> SourceOutcome:
    triage = repo.triage(feed.items)
    new = triage.new
    matched = match_items(matcher, new)
    relevant = sum(1 for _, m in matched if m.relevant)
    rematched = [(k, matcher.match(k.item.title, k.item.text, k.item.language)) for k in triage.changed]
    plan = plan_updates(rematched, context.update_rules)
    outcome = SourceOutcome(
        source.name,
        OutcomeStatus.OK,
        entries=feed.entries,
        new_items=len(new),
        new_matches=relevant,
        updated_items=len(plan.updates),
        capped_updates=plan.capped,
        warning=feed.warning,
        elapsed=time.monotonic() - started,
        validators=response.validators,
        key_policy=feed.key_policy,
        guid_problem_share=feed.guid_problem_share,
        max_age=decide.max_age(response.headers),
        ttl_minutes=feed.ttl_minutes,
    )
    return _commit(source, outcome, matched, repo, matcher, context, plan.updates)


def _commit(
    source: FeedSource,
    outcome: SourceOutcome,
    matched: list[tuple[Item, MatchResult]],
    repo: Repository,
    matcher: Matcher,
    context: PollContext,
    updates: Sequence[ItemUpdate] = (),
) -> SourceOutcome:
    """Record the poll, and with a policy its next check, in one transaction."""
    now = context.clock()
    decided: list[NextCheck] = []
    policy = source.policy

    def plan(history: SourceHistory) -> NextCheck:
        assert policy is not None
        decision = decide.next_check(policy, outcome, history, now, context.draw())
        decided.append(decision)
        return decision

    inserted = repo.commit_poll(
        outcome,
        matched,
        matcher.version,
        now,
        plan if policy else None,
        lease_owner=context.lease_owner,
        updates=updates,
    )
    if len(inserted) != outcome.new_items:  # another writer stored some of them first
        keys = {i.key for i in inserted}
        relevant = sum(1 for i, m in matched if m.relevant and i.key in keys)
        outcome = replace(outcome, new_items=len(inserted), new_matches=relevant)
    return replace(outcome, next_check=decided[-1] if decided else None)


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
        retry_after=exc.retry_after if isinstance(exc, FetchError) else None,
    )
