"""The poll pipeline: the only module that knows the order of the stages.

    due sources ─▶ fetch ─▶ parse ─▶ identify ─▶ triage (new / changed / known) ─▶ [read articles]
        ─▶ match (new and changed) ─▶ plan updates
        ─▶ store (items, stories, updates, matches, validators: one transaction)
                                                                                   ├─▶ decide next check
                                                                                   └─▶ notify
    notify: immediate alerts after the cycle (``poll_cycle``); digests on their own schedule

A feed gives entries; a listing page (``kind: page``) gives article links, and for the links
not seen before the article pages are read (fetch + extract) so each becomes an entry like a
feed's. A feed with ``full_text`` reads the linked article of each new (or changed) entry the
same way and matches on the article's text. What is new is decided before any article is
fetched, so a known, unchanged item is never fetched again; within a cycle each article URL is
fetched at most once (``ArticleReader``), and concurrency is bounded by the fetch limits
(global, per host, pacing).

Each source is polled on its own; whatever goes wrong with one becomes a ``SourceOutcome``
with an error kind and message, and never stops the others. An article that cannot be read is
a warning of its source, not an error: see ``_read_listing`` for what happens to it.

Parsing (feeds, and article extraction) is the CPU-bound part: it runs in the parse pool's
worker processes (``monitor/workers.py``) when one is given, and storing runs in a thread, so
the event loop keeps fetching for the other sources. Which sources are due is the scheduler's
business (``monitor.scheduler``); when a source is due again is ``monitor.decide``'s, recorded in
the same transaction as the poll. Alerts go out once
the whole cycle is stored, read back from the store through the outbox, so an alert never
announces an item that was not committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from monitor import decide
from monitor.cluster import Fingerprint
from monitor.decide import PollingPolicy
from monitor.errors import (
    FetchError,
    FetchErrorKind,
    MonitorError,
    ParseError,
    SelectorError,
    StorageError,
    kind_of,
)
from monitor.fetch import Fetcher, FetchLimits, RobotsCache
from monitor.identity import identify, url_key
from monitor.match import Matcher
from monitor.notify.outbox import DeliveryReport
from monitor.parse_worker import IdentifiedFeed, parse_and_identify, release_free_memory
from monitor.store import PollRecord, Repository
from monitor.types import (
    Article,
    FeedEntry,
    Fetched,
    Item,
    ItemUpdate,
    KnownItem,
    Listing,
    ListingLink,
    MatchResult,
    NextCheck,
    OutcomeStatus,
    Selectors,
    SourceHistory,
    SourceOutcome,
    SourceState,
    Validators,
)
from monitor.updates import UpdateRules, plan_updates
from monitor.workers import ParsePool

DEFAULT_MAX_ARTICLES = 30
# polling.sources_in_flight: sources of one cycle between the start of their fetch and stored.
DEFAULT_SOURCES_IN_FLIGHT = 16


@dataclass(frozen=True, slots=True)
class FeedSource:
    """What the pipeline needs to know of a configured source: a feed, or a listing page."""

    name: str
    url: str
    language: str | None = None
    # When given, the next check is decided and recorded with the poll.
    policy: PollingPolicy | None = None
    kind: str = "feed"  # feed | page
    full_text: bool = False
    selectors: Selectors | None = None
    # New articles read per poll (pages.max_articles_per_poll); the rest wait for the next poll.
    max_articles: int = DEFAULT_MAX_ARTICLES

    @property
    def is_page(self) -> bool:
        return self.kind == "page"


ProgressCallback = Callable[[SourceOutcome], None]
ArticleResult = Article | MonitorError
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
    # What a cycle shares between its sources (``poll_once``); a lone poll (the daemon's) has none.
    # The sources' states, read in one query at the start of the cycle.
    states: Mapping[str, SourceState] | None = None
    # Taken from the start of a source's fetch until its items are stored: bounds the memory.
    slots: asyncio.Semaphore | None = None
    # Records the polls that stored nothing, several in one transaction.
    records: PollLog | None = None


class ArticleReader:
    """Fetches and extracts article pages for one poll cycle.

    Each article is fetched at most once per cycle, keyed by its canonical URL, however many
    sources link to it; results are values (an ``Article`` or the error), never exceptions.
    """

    def __init__(self, fetcher: Fetcher, parse_pool: ParsePool | None = None) -> None:
        self.fetcher = fetcher
        self.parse_pool = parse_pool or ParsePool(0)
        self._results: dict[str, asyncio.Task[ArticleResult]] = {}

    async def read_all(self, urls: Sequence[str], selectors: Selectors | None, source: str) -> list[ArticleResult]:
        return list(await asyncio.gather(*(self.read(url, selectors, source) for url in urls)))

    async def read(self, url: str, selectors: Selectors | None, source: str) -> ArticleResult:
        key = url_key(url)
        task = self._results.get(key)
        if task is None:
            task = self._results[key] = asyncio.ensure_future(self._read(url, selectors, source))
        return await task

    async def _read(self, url: str, selectors: Selectors | None, source: str) -> ArticleResult:
        try:
            response = await self.fetcher.fetch(url, source=source, page=True)
            if not isinstance(response, Fetched):  # no validators were sent: a broken server
                return ParseError(f"{url} answered 304 Not Modified to an unconditional request")
            from monitor.parse.article import extract_article  # BeautifulSoup: see _page_parser

            return await self.parse_pool.run(
                extract_article, response.body, response.final_url, selectors, response.headers
            )
        except MonitorError as exc:
            return exc


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
    *,
    sources_in_flight: int = DEFAULT_SOURCES_IN_FLIGHT,
) -> CycleReport:
    """One poll cycle: poll every source, then send the immediate alerts for the new matches."""
    outcomes = await poll_once(
        sources, repo, matcher, limits, progress, parse_pool, update_rules, sources_in_flight=sources_in_flight
    )
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
    *,
    robots: RobotsCache | None = None,
    sources_in_flight: int = DEFAULT_SOURCES_IN_FLIGHT,
) -> list[SourceOutcome]:
    """Poll every source once, concurrently within the fetch limits; outcomes in source order.

    At most ``sources_in_flight`` sources are between the start of their fetch and their items
    stored: storing is serial and slower than fetching and parsing, and without a bound the
    parsed items of hundreds of sources would wait in memory for their turn. The sources' states
    are read in one query, and the polls that bring nothing to store (304, errors) are recorded
    several to a transaction (``PollLog``).

    Pass a ``robots`` cache to keep robots.txt rules across cycles (a daemon); without one
    each cycle reads them afresh.
    """
    try:
        states: Mapping[str, SourceState] | None = await asyncio.to_thread(repo.source_states)
    except StorageError:
        states = None  # each source reads its own, and meets the error there
    context = PollContext(
        update_rules=update_rules or UpdateRules(),
        states=states,
        slots=asyncio.Semaphore(sources_in_flight),
        records=PollLog(repo),
    )
    async with Fetcher(limits, robots=robots) as fetcher:
        articles = ArticleReader(fetcher, parse_pool)

        async def one(source: FeedSource) -> SourceOutcome:
            outcome = await poll_source(source, fetcher, repo, matcher, parse_pool, context, articles)
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
    articles: ArticleReader | None = None,
) -> SourceOutcome:
    """Poll one source; ``articles`` shares article fetches between the sources of one cycle."""
    context = context or PollContext()
    started = time.monotonic()
    articles = articles or ArticleReader(fetcher, parse_pool)
    async with context.slots or contextlib.nullcontext():
        done = await _poll_and_store(source, fetcher, repo, matcher, context, articles, started)
    if isinstance(done, SourceOutcome):
        return done
    # Nothing to store: the source's slot is free again while its poll is recorded.
    return await _record(source, done, repo, matcher, context, started)


async def _poll_and_store(
    source: FeedSource,
    fetcher: Fetcher,
    repo: Repository,
    matcher: Matcher,
    context: PollContext,
    articles: ArticleReader,
    started: float,
) -> SourceOutcome | _Unrecorded:
    """The stored poll's outcome, or (not modified, failed) the outcome still to be recorded."""
    try:
        # Every database call runs in a thread: one that waits (a lock, a retry while PostgreSQL
        # restarts) must not hold up the fetches of the other sources on the event loop.
        if context.states is not None:
            state = context.states.get(source.name) or SourceState(source.name)
        else:
            state = await asyncio.to_thread(repo.source_state, source.name)
        response = await fetcher.fetch(source.url, state.validators, source=source.name, page=source.is_page)
        if not isinstance(response, Fetched):
            outcome = SourceOutcome(
                source.name,
                OutcomeStatus.NOT_MODIFIED,
                elapsed=time.monotonic() - started,
                validators=response.validators,
                max_age=decide.max_age(response.headers),
            )
            return _Unrecorded(outcome)
        # The body is parsed and then let go (``_parse`` takes the only reference to it), so a
        # large feed is not held through the article fetches, matching and storing that follow.
        headers, final_url, validators = response.headers, response.final_url, response.validators
        body = _Body(response.body)
        del response
        parsed = await _parse(source, body, headers, final_url, state, articles)
        if isinstance(parsed, IdentifiedFeed):
            harvest = await _read_feed(source, parsed, validators, repo, articles)
        else:
            harvest = await _read_listing(source, parsed, validators, state, repo, articles)
        return await asyncio.to_thread(_store, source, harvest, headers, repo, matcher, started, context)
    except MonitorError as exc:
        return _Unrecorded(_error_outcome(source.name, exc, time.monotonic() - started))


@dataclass(frozen=True, slots=True)
class _Unrecorded:
    """A poll that brought nothing to store (not modified, or failed), not recorded yet."""

    outcome: SourceOutcome


async def _record(
    source: FeedSource,
    unrecorded: _Unrecorded,
    repo: Repository,
    matcher: Matcher,
    context: PollContext,
    started: float,
) -> SourceOutcome:
    """Record a poll that stored nothing: with the cycle's other such polls when it has a
    ``PollLog``; on its own when not, or when that shared transaction failed.

    On its own: a not-modified poll whose record fails is recorded as that storage error, and
    when even that fails the error is only reported (the next poll tries again).
    """
    outcome = unrecorded.outcome
    if context.records is not None:
        with contextlib.suppress(StorageError):
            return await context.records.record(source, outcome, context)
    try:
        return await asyncio.to_thread(_commit, source, outcome, [], repo, matcher, context)
    except StorageError as exc:
        failed = _error_outcome(source.name, exc, time.monotonic() - started)
    if outcome.status is OutcomeStatus.ERROR:
        return failed
    try:
        return await asyncio.to_thread(_commit, source, failed, [], repo, matcher, context)
    except StorageError as exc:
        return _error_outcome(source.name, exc, time.monotonic() - started)


class PollLog:
    """Records the polls of a cycle that stored nothing, as many as are waiting in one transaction.

    A group commit: the first poll to come starts a transaction at once; the polls that come
    while it runs wait, and go together in the next one. So 1,000 feeds answering 304 cost a
    handful of transactions rather than 1,000. Each poll's awaited outcome is returned once its
    transaction committed (with its next check), or the transaction's ``StorageError`` raised.
    """

    def __init__(self, repo: Repository, batch: int = 500) -> None:
        self.repo = repo
        self.batch = batch
        self._waiting: list[tuple[FeedSource, SourceOutcome, PollContext, asyncio.Future[SourceOutcome]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, source: FeedSource, outcome: SourceOutcome, context: PollContext) -> SourceOutcome:
        future: asyncio.Future[SourceOutcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((source, outcome, context, future))
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write())
        return await future

    async def _write(self) -> None:
        batch: list[tuple[FeedSource, SourceOutcome, PollContext, asyncio.Future[SourceOutcome]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self.batch], self._waiting[self.batch :]
                polls = [(source, outcome, context) for source, outcome, context, _ in batch]
                try:
                    recorded = await asyncio.to_thread(_commit_many, polls, self.repo)
                except Exception as exc:  # noqa: BLE001 - handed to each waiting poll
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for (*_, future), outcome in zip(batch, recorded, strict=True):
                        if not future.done():
                            future.set_result(outcome)
                batch = []
        finally:
            self._writer = None
            for *_, future in (*batch, *self._waiting):  # cancelled: nobody waits in vain
                future.cancel()
            self._waiting = []


@dataclass(frozen=True, slots=True)
class _Harvest:
    """What one fetched feed or listing page yields before matching: its new items, ready to store."""

    entries: int
    new: list[Item]
    validators: Validators
    warning: str | None = None
    # Feeds: stored items whose text changed (a listing cannot tell: it has no article text).
    changed: tuple[KnownItem, ...] = ()
    key_policy: str | None = None  # feeds: how their items were keyed (see identity.KeyPolicy)
    guid_problem_share: float | None = None
    ttl_minutes: int | None = None  # feeds: their <ttl>, which monitor.decide honours
    # Feeds: fingerprints of new items taken by the parse workers (by key); the store takes the rest.
    fingerprints: dict[str, Fingerprint | None] = field(default_factory=dict)


class _Body:
    """A fetched body, handed on once: whoever takes it holds the only reference."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def take(self) -> bytes:
        data, self._data = self._data, None
        if data is None:
            raise RuntimeError("the body was already taken")
        return data


def _page_parser() -> Callable[[bytes, str, Selectors, Mapping[str, str]], Listing]:
    """The listing-page parser, imported on first use: it loads BeautifulSoup and soupsieve (~5 MB),
    which a poll of feeds alone never needs."""
    from monitor.parse.page import parse_listing

    return parse_listing


async def _parse(
    source: FeedSource,
    body: _Body,
    headers: dict[str, str],
    final_url: str,
    state: SourceState,
    articles: ArticleReader,
) -> IdentifiedFeed | Listing:
    pool = articles.parse_pool
    if source.is_page:
        assert source.selectors is not None
        return await pool.run(_page_parser(), body.take(), final_url, source.selectors, headers)
    return await pool.run(
        parse_and_identify,
        source.name,
        source.language,
        state.key_policy,
        body.take(),
        headers,
        final_url,
        pool.fast_parser,
    )


async def _read_feed(
    source: FeedSource, feed: IdentifiedFeed, validators: Validators, repo: Repository, articles: ArticleReader
) -> _Harvest:
    triage = await asyncio.to_thread(repo.triage, feed.items)
    new, changed = list(triage.new), triage.changed
    notes = [feed.warning] if feed.warning else []
    if source.full_text and (new or changed):
        # A changed entry is a corrected story: its article is read again, like a new one's.
        enriched, note = await _with_full_text(source, [*new, *(k.item for k in changed)], articles)
        new = enriched[: len(new)]
        changed = tuple(replace(k, item=item) for k, item in zip(changed, enriched[len(new) :], strict=True))
        notes += [note] if note else []
    return _Harvest(
        feed.entries,
        new,
        validators,
        "; ".join(notes) or None,
        changed,
        feed.key_policy,
        feed.guid_problem_share,
        feed.ttl_minutes,
        _parsed_fingerprints(feed, new),
    )


def _parsed_fingerprints(feed: IdentifiedFeed, new: Sequence[Item]) -> dict[str, Fingerprint | None]:
    """The worker's fingerprints of the ``new`` items that are still as parsed.

    An item given its article's text (``full_text``), or a duplicate key whose other entry was
    kept, differs from the parsed one: its fingerprint is left for the store to take.
    """
    parsed = {item.key: (item, fp) for item, fp in zip(feed.items, feed.fingerprints, strict=False)}
    return {item.key: found[1] for item in new if (found := parsed.get(item.key)) is not None and found[0] == item}


async def _with_full_text(source: FeedSource, items: list[Item], articles: ArticleReader) -> tuple[list[Item], str]:
    """Feed items with the text of their linked article where it says more than the summary.

    The content hash stays that of the feed entry: it identifies what the feed published, so a
    later look at the same entry compares equal. An article that cannot be read leaves the item
    with its summary (the feed may drop the entry before a retry could help).
    """
    linked = [item for item in items if item.url][: source.max_articles]
    results = await articles.read_all([item.url for item in linked if item.url], source.selectors, source.name)
    read = {item.key: result for item, result in zip(linked, results, strict=True)}
    enriched = []
    for item in items:
        result = read.get(item.key)
        if isinstance(result, Article) and len(result.text) > len(item.text):
            item = replace(item, text=result.text, published=item.published or result.published)
        enriched.append(item)
    problems = [r for r in results if isinstance(r, MonitorError)]
    notes = [_problems_note(problems, len(linked), "kept their feed summary")] if problems else []
    if len(items) > len(linked) and any(i.url for i in items[len(linked) :]):
        notes.append(f"{len(items) - len(linked)} items kept their feed summary (pages.max_articles_per_poll)")
    return enriched, "; ".join(notes)


async def _read_listing(
    source: FeedSource,
    listing: Listing,
    validators: Validators,
    state: SourceState,
    repo: Repository,
    articles: ArticleReader,
) -> _Harvest:
    """The new articles of a listing page, each read from its own page.

    An article that cannot be read for good (robots.txt disallows it, HTTP 404, not HTML) is
    stored with what the listing says (title, date, link) and reported, so it is never asked
    again; one that failed for a passing reason (timeout, network, HTTP 5xx, 429) is left for
    the next poll, and so are new links over ``max_articles_per_poll``. While any are left the
    listing's validators are not kept, so the next poll reads the listing in full again.
    """
    if not listing.links:
        raise SelectorError(_no_links_message(source, state))
    candidates = [_listing_item(source, link) for link in listing.links]
    links: dict[str, ListingLink] = {}
    for candidate, link in zip(candidates, listing.links, strict=True):
        links.setdefault(candidate.key, link)
    # Only new links are read: a listing says nothing about whether a known article changed.
    new = await asyncio.to_thread(repo.unknown, candidates)
    batch, later = new[: source.max_articles], new[source.max_articles :]
    results = await articles.read_all([links[item.key].url for item in batch], source.selectors, source.name)
    items: list[Item] = []
    problems: list[MonitorError] = []
    retried = 0
    for item, result in zip(batch, results, strict=True):
        if isinstance(result, Article):
            items.append(identify(source.name, _article_entry(links[item.key], result), source.language))
            continue
        problems.append(result)
        if _worth_retrying(result):
            retried += 1
        else:
            items.append(item)
    notes = []
    if problems:
        kept = len(problems) - retried
        fates = [f"{kept} stored with the listing's title only"] if kept else []
        fates += [f"{retried} retried next poll"] if retried else []
        notes.append(_problems_note(problems, len(batch), ", ".join(fates)))
    if later:
        notes.append(f"{len(later)} more new articles left for the next poll (pages.max_articles_per_poll)")
    kept_validators = validators if not later and not retried else Validators()
    return _Harvest(len(listing.links), items, kept_validators, "; ".join(notes) or None)


def _listing_item(source: FeedSource, link: ListingLink) -> Item:
    entry = FeedEntry(guid=None, link=link.url, title=link.title, text="", published=link.published, language=None)
    return identify(source.name, entry, source.language)


def _article_entry(link: ListingLink, article: Article) -> FeedEntry:
    # The listing's link, not the article's final URL, makes the key: the next poll of the
    # listing must recognise the item without fetching the article again.
    return FeedEntry(
        guid=None,
        link=link.url,
        title=article.title or link.title,
        text=article.text,
        published=article.published or link.published,
        language=article.language,
        author=article.author,
    )


def _worth_retrying(error: MonitorError) -> bool:
    if not isinstance(error, FetchError):
        return False
    if error.kind is FetchErrorKind.HTTP_STATUS:
        return (error.status or 0) >= 500
    return error.kind in (
        FetchErrorKind.TIMEOUT,
        FetchErrorKind.NETWORK,
        FetchErrorKind.TLS,
        FetchErrorKind.RATE_LIMITED,
    )


def _problems_note(problems: Sequence[MonitorError], tried: int, outcome: str) -> str:
    """'2 of 5 articles not read (1 stored with the listing's title only): [robots_denied] …; [timeout] …'."""
    shown = "; ".join(f"[{kind_of(p)}] {p.message}" for p in problems[:3])
    more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
    return f"{len(problems)} of {tried} articles not read ({outcome}): {shown}{more}"


def _no_links_message(source: FeedSource, state: SourceState) -> str:
    selector = source.selectors.links if source.selectors else None
    if state.items_total:
        history = f"where earlier polls found some ({state.items_total} items stored)"
    else:
        history = "and no poll has found any yet"
    return (
        f"no article links found on the page, {history}: selectors.links {selector!r} matches nothing. "
        f"The layout has probably changed (or the site sent another page, such as a bot check): "
        f"fix the selector and try it with 'monitor sources test {source.name}'"
    )


def _store(
    source: FeedSource,
    harvest: _Harvest,
    headers: dict[str, str],
    repo: Repository,
    matcher: Matcher,
    started: float,
    context: PollContext,
) -> SourceOutcome:
    matched = match_items(matcher, harvest.new)
    relevant = sum(1 for _, m in matched if m.relevant)
    rematched = [(k, matcher.match(k.item.title, k.item.text, k.item.language)) for k in harvest.changed]
    plan = plan_updates(rematched, context.update_rules)
    outcome = SourceOutcome(
        source.name,
        OutcomeStatus.OK,
        entries=harvest.entries,
        new_items=len(harvest.new),
        new_matches=relevant,
        updated_items=len(plan.updates),
        capped_updates=plan.capped,
        warning=harvest.warning,
        elapsed=time.monotonic() - started,
        validators=harvest.validators,
        key_policy=harvest.key_policy,
        guid_problem_share=harvest.guid_problem_share,
        max_age=decide.max_age(headers),
        ttl_minutes=harvest.ttl_minutes,
    )
    stored = _commit(source, outcome, matched, repo, matcher, context, plan.updates, harvest.fingerprints)
    # The poll's items, their matches and the statements' rows are free now: give the heap's free
    # pages back, or the peak of a cold cycle holds the fragments of every poll stored before it.
    release_free_memory()
    return stored


def _commit_many(
    polls: Sequence[tuple[FeedSource, SourceOutcome, PollContext]], repo: Repository
) -> list[SourceOutcome]:
    """Record several polls that stored nothing, each with its next check, in one transaction.

    They are polls of one cycle: one context (clock, lease owner) for all."""
    now = polls[0][2].clock()
    decided: list[list[NextCheck]] = []
    records = []
    for source, outcome, context in polls:
        decisions: list[NextCheck] = []
        decided.append(decisions)
        plan = _planner(source.policy, outcome, now, context, decisions) if source.policy else None
        records.append(PollRecord(outcome, plan))
    repo.record_polls(records, now, polls[0][2].lease_owner)
    return [
        replace(outcome, next_check=decisions[-1] if decisions else None)
        for (_, outcome, _), decisions in zip(polls, decided, strict=True)
    ]


def _planner(
    policy: PollingPolicy, outcome: SourceOutcome, now: datetime, context: PollContext, decided: list[NextCheck]
) -> Callable[[SourceHistory], NextCheck]:
    def plan(history: SourceHistory) -> NextCheck:
        decision = decide.next_check(policy, outcome, history, now, context.draw())
        decided.append(decision)
        return decision

    return plan


def _commit(
    source: FeedSource,
    outcome: SourceOutcome,
    matched: list[tuple[Item, MatchResult]],
    repo: Repository,
    matcher: Matcher,
    context: PollContext,
    updates: Sequence[ItemUpdate] = (),
    fingerprints: dict[str, Fingerprint | None] | None = None,
) -> SourceOutcome:
    """Record the poll, and with a policy its next check, in one transaction."""
    now = context.clock()
    decided: list[NextCheck] = []
    inserted = repo.commit_poll(
        outcome,
        matched,
        matcher.version,
        now,
        _planner(source.policy, outcome, now, context, decided) if source.policy else None,
        lease_owner=context.lease_owner,
        updates=updates,
        fingerprints=fingerprints,
    )
    if len(inserted) != outcome.new_items:  # another writer stored some of them first
        keys = {i.key for i in inserted}
        relevant = sum(1 for i, m in matched if m.relevant and i.key in keys)
        outcome = replace(outcome, new_items=len(inserted), new_matches=relevant)
    return replace(outcome, next_check=decided[-1] if decided else None)


# ---------------------------------------------------------------- preview (monitor sources test)


@dataclass(frozen=True, slots=True)
class PreviewItem:
    item: Item
    match: MatchResult
    article: Article | None = None
    problem: str | None = None  # why the article page could not be read


@dataclass(frozen=True, slots=True)
class SourcePreview:
    """What one poll of a source would extract and match; nothing of it is stored."""

    source: FeedSource
    final_url: str
    title: str | None
    found: int  # feed entries, or links on the listing page
    items: tuple[PreviewItem, ...]
    warning: str | None = None


async def preview_source(source: FeedSource, fetcher: Fetcher, matcher: Matcher, *, limit: int = 5) -> SourcePreview:
    """Fetch once (unconditionally) and run the stages up to matching for the first ``limit`` items.

    Raises the ``MonitorError`` a poll would record (fetch, parse, broken selector).
    """
    response = await fetcher.fetch(source.url, source=source.name, page=source.is_page)
    if not isinstance(response, Fetched):
        raise ParseError(f"{source.url} answered 304 Not Modified to an unconditional request")
    articles = ArticleReader(fetcher)
    if source.is_page:
        assert source.selectors is not None
        listing = _page_parser()(response.body, response.final_url, source.selectors, response.headers)
        if not listing.links:
            raise SelectorError(_no_links_message(source, SourceState(source.name)))
        links = listing.links[:limit]
        results = await articles.read_all([link.url for link in links], source.selectors, source.name)
        previews = [_preview_link(source, matcher, link, result) for link, result in zip(links, results, strict=True)]
        return SourcePreview(source, response.final_url, listing.title, len(listing.links), tuple(previews))
    from monitor.parse.feed import parse_feed  # feedparser and lxml: a poll with workers never needs them here

    parsed = parse_feed(response.body, response.headers, response.final_url)
    items = [identify(source.name, entry, source.language) for entry in parsed.entries[:limit]]
    read: dict[str, ArticleResult] = {}
    if source.full_text:
        linked = [item for item in items if item.url]
        results = await articles.read_all([item.url for item in linked if item.url], source.selectors, source.name)
        read = {item.key: result for item, result in zip(linked, results, strict=True)}
    previews = [_preview_feed_item(matcher, item, read.get(item.key)) for item in items]
    return SourcePreview(source, response.final_url, parsed.title, len(parsed.entries), tuple(previews), parsed.warning)


async def preview_article(
    url: str, fetcher: Fetcher, matcher: Matcher, *, language: str | None = None, selectors: Selectors | None = None
) -> PreviewItem:
    """Read one article page as a page source would, and match it; nothing is stored."""
    result = await ArticleReader(fetcher).read(url, selectors, "test")
    if isinstance(result, MonitorError):
        raise result
    link = ListingLink(url=url, title="")
    item = identify("test", _article_entry(link, result), language)
    return PreviewItem(item, matcher.match(item.title, item.text, item.language), result)


def _preview_link(source: FeedSource, matcher: Matcher, link: ListingLink, result: ArticleResult) -> PreviewItem:
    if isinstance(result, Article):
        item = identify(source.name, _article_entry(link, result), source.language)
        return PreviewItem(item, matcher.match(item.title, item.text, item.language), result)
    item = _listing_item(source, link)
    problem = f"[{kind_of(result)}] {result.message}"
    return PreviewItem(item, matcher.match(item.title, item.text, item.language), None, problem)


def _preview_feed_item(matcher: Matcher, item: Item, result: ArticleResult | None) -> PreviewItem:
    article = result if isinstance(result, Article) else None
    if article is not None and len(article.text) > len(item.text):
        item = replace(item, text=article.text, published=item.published or article.published)
    problem = f"[{kind_of(result)}] {result.message}" if isinstance(result, MonitorError) else None
    return PreviewItem(item, matcher.match(item.title, item.text, item.language), article, problem)


def match_items(matcher: Matcher, items: Sequence[Item]) -> list[tuple[Item, MatchResult]]:
    return [(item, matcher.match(item.title, item.text, item.language)) for item in items]


def _error_outcome(source: str, exc: MonitorError, elapsed: float) -> SourceOutcome:
    if isinstance(exc, FetchError):
        stage = "fetch"
    elif isinstance(exc, ParseError):
        stage = "parse"
    elif isinstance(exc, StorageError):
        stage = "store"
    else:
        stage = "poll"
    return SourceOutcome(
        source,
        OutcomeStatus.ERROR,
        error_kind=kind_of(exc),
        error_message=f"{stage}: {exc.message}",
        elapsed=elapsed,
        validators=Validators(),
        retry_after=exc.retry_after if isinstance(exc, FetchError) else None,
    )
