"""``monitor poll --once``, and the pipeline's pieces built from the configuration.

The pieces are used by the daemon and by ``monitor sources test`` too.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import TextIO

from monitor.commands import EXIT_FAILURE, EXIT_OK
from monitor.commands.common import repository
from monitor.commands.delivery import open_outbox
from monitor.config import Config, PollingConfig, SourceConfig
from monitor.decide import PollingPolicy
from monitor.fetch import FetchLimits
from monitor.match import Matcher
from monitor.notify.outbox import DeliveryReport
from monitor.pipeline import FeedSource, poll_cycle
from monitor.report import Progress, delivery_summary, outcome_table
from monitor.types import Selectors
from monitor.updates import UpdateRules
from monitor.workers import ParsePool


def update_rules(config: Config) -> UpdateRules:
    return UpdateRules(config.updates.max_revisions, config.updates.alert_on_new_mention)


def polling_policy(source: SourceConfig, polling: PollingConfig) -> PollingPolicy:
    return PollingPolicy(
        interval=timedelta(minutes=source.interval_minutes or polling.interval_minutes),
        min_interval=timedelta(minutes=polling.min_interval_minutes),
        max_interval=timedelta(minutes=polling.max_interval_minutes),
        fixed=source.interval_minutes is not None or not polling.adaptive,
        jitter=polling.jitter_percent / 100,
        pause_after=polling.pause_after_failures,
        probe_interval=timedelta(minutes=polling.probe_interval_minutes),
    )


def pipeline_source(source: SourceConfig, config: Config, *, with_policy: bool = True) -> FeedSource:
    selectors = Selectors(**source.selectors.model_dump()) if source.selectors else None
    return FeedSource(
        source.name,
        source.url,
        source.language,
        polling_policy(source, config.polling) if with_policy else None,
        source.kind,
        source.full_text,
        selectors,
        config.pages.max_articles_per_poll,
    )


def feed_sources(config: Config) -> list[FeedSource]:
    """Every enabled source, feeds and listing pages, as the pipeline takes them."""
    return [pipeline_source(s, config) for s in config.enabled_sources]


def parse_pool(config: Config, feeds: Sequence[FeedSource]) -> ParsePool:
    """The parse workers for ``feeds``, as ``polling:`` configures them (HTML parsers preloaded only for pages)."""
    return ParsePool(
        config.polling.parse_workers,
        fast_parser=config.polling.fast_parser,
        sources=len(feeds),
        html_pages=any(f.is_page or f.full_text for f in feeds),
    )


def fetch_limits(config: Config) -> FetchLimits:
    http = config.http
    return FetchLimits(
        user_agent=http.user_agent,
        timeout_seconds=http.timeout_seconds,
        connect_timeout_seconds=http.connect_timeout_seconds,
        max_body_bytes=http.max_body_bytes,
        max_redirects=http.max_redirects,
        concurrency=http.concurrency,
        per_host_concurrency=http.per_host_concurrency,
        min_host_delay_seconds=http.min_host_delay_seconds,
        robots_cache_seconds=http.robots_cache_minutes * 60.0,
    )


def cmd_poll(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    feeds = feed_sources(config)
    # Built on the first item to match: a poll in which every feed answers 304 never builds it.
    matcher = Matcher.compile(config.profile, lazy=True)
    limits = fetch_limits(config)
    progress = Progress(len(feeds), sys.stderr) if sys.stderr.isatty() else None
    with (
        repository(config) as repo,
        parse_pool(config, feeds) as pool,
        open_outbox(config, repo, matcher) as outbox,
    ):
        # Subscribers seen for the first time start now: this poll's matches are news for them.
        outbox.register()

        def send_alerts() -> list[DeliveryReport]:
            return [*outbox.deliver_immediate_alerts(), *outbox.retry_due()]

        cycle = asyncio.run(
            poll_cycle(
                feeds,
                repo,
                matcher,
                limits,
                send_alerts if outbox.enabled else None,
                progress.update if progress else None,
                pool,
                update_rules(config),
                sources_in_flight=config.polling.sources_in_flight,
            )
        )
    if progress:
        progress.close()
    outcomes = cycle.outcomes
    print(outcome_table(outcomes), file=out)
    failed = sum(1 for o in outcomes if o.status == "error")
    new = sum(o.new_items for o in outcomes)
    matches = sum(o.new_matches for o in outcomes)
    updated = sum(o.updated_items for o in outcomes)
    capped = sum(o.capped_updates for o in outcomes)
    print(
        f"\n{len(outcomes)} sources polled, {failed} failed; {new} new items, {matches} about the dialogue; "
        f"{updated} updated" + (f", {capped} changes ignored (revision cap)" if capped else "") + ".",
        file=out,
    )
    if cycle.alerts:
        print(delivery_summary(cycle.alerts), file=out)
    # Non-zero only when nothing could be polled at all, so cron jobs notice a dead network.
    return EXIT_FAILURE if outcomes and failed == len(outcomes) else EXIT_OK
