"""The command line: builds everything from the configuration; imported by nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from monitor import __version__
from monitor.cluster import ClusterRules
from monitor.config import (
    Config,
    EmailSubscriber,
    PollingConfig,
    SourceConfig,
    WebhookSubscriber,
    load_config,
    mask_url,
    parse_config,
    parse_listen,
    resolve_zone,
)
from monitor.decide import PollingPolicy
from monitor.discover import Discovery, discover
from monitor.errors import ConfigError, MonitorError, ParseError
from monitor.fetch import Fetcher, FetchLimits
from monitor.identity import KeyPolicy, canonical_url, url_key
from monitor.log import LOGGER_NAME, LogFormat, log_delivery, setup_logging
from monitor.match import Matcher
from monitor.match.evaluate import evaluate, load_labelled, report
from monitor.match.explain import render_explanation
from monitor.notify.digest import Catalog, SourceInfo
from monitor.notify.email import SmtpTransport
from monitor.notify.outbox import DeliveryOutcome, DeliveryReport, Outbox, OutboxSettings, Subscriber
from monitor.notify.webhook import HttpWebhookTransport
from monitor.parse.opml import read_opml, write_opml
from monitor.parse.selectors import check_selector
from monitor.pipeline import FeedSource, PreviewItem, SourcePreview, poll_cycle, preview_article, preview_source
from monitor.report import Progress, delivery_summary, delivery_table, outcome_table, truncate
from monitor.scheduler import Daemon, DaemonSettings, DeliveryJobs, DigestJob, cron_trigger, latest_fire_time
from monitor.sourcelist import (
    LANGUAGES,
    ORIGINS,
    SourcesBlockNotFound,
    import_outlines,
    insert_entries,
    slug,
    to_outline,
    unique_name,
    yaml_entries,
)
from monitor.store import Repository, open_engine
from monitor.store.migrate import check_tables
from monitor.store.migrate import status as schema_status
from monitor.store.migrate import upgrade as upgrade_schema
from monitor.types import MatchResult, RematchSummary, Selectors, SourceState, StoredItem
from monitor.updates import UpdateRules
from monitor.web import Metrics
from monitor.workers import ParsePool

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monitor", description="Watch the news about the Kosovo–Serbia dialogue.")
    parser.add_argument("--version", action="version", version=f"dialogue-monitor {__version__}")
    parser.add_argument("--config", default="config.yaml", help="configuration file (default: ./config.yaml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("check", help="validate the configuration and print a summary")

    poll = commands.add_parser("poll", help="poll the sources")
    poll.add_argument("--once", action="store_true", required=True, help="poll every enabled source once and exit")

    digest = commands.add_parser("digest", help="render the digest of matched items, or send it now")
    action = digest.add_mutually_exclusive_group(required=True)
    action.add_argument("--preview", action="store_true", help="render without sending or recording anything")
    action.add_argument("--send", action="store_true", help="send each digest subscriber what it has not had yet")
    digest.add_argument("--subscriber", metavar="NAME", help="only this subscriber")
    digest.add_argument("--since", help="only items since: an ISO date/time or an age like 24h, 7d")
    digest.add_argument("--out", help="with --preview: write the HTML to FILE and the text beside it (FILE with .txt)")

    deliveries = commands.add_parser("deliveries", help="list the outbox (digests and alerts), or retry one")
    deliveries.add_argument("--failed", action="store_true", help="only dead ones and ones waiting for a retry")
    deliveries.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    deliveries_actions = deliveries.add_subparsers(dest="deliveries_action", metavar="ACTION")
    retry = deliveries_actions.add_parser("retry", help="send a dead or waiting delivery again, now")
    retry.add_argument("id", type=int, help="the delivery's id, as `monitor deliveries` shows it")

    items = commands.add_parser("items", help="list stored items, newest first")
    items.add_argument("--matched", action="store_true", help="only items about the dialogue")
    items.add_argument("--limit", type=int, default=50, help="how many (default 50)")

    sources = commands.add_parser(
        "sources",
        help="list the configured sources and how their last poll went; resume, discover, import, export, test",
        description="Without an action: list the configured sources and how their last poll went.",
    )
    source_actions = sources.add_subparsers(dest="action", metavar="ACTION")
    resume = source_actions.add_parser("resume", help="resume a paused source: it is polled again at once")
    resume.add_argument("name", help="the source's name")
    _add_sources_actions(source_actions)

    stories = commands.add_parser("stories", help="list stories (one entry per development) with their outlets")
    stories.add_argument("--since", help="only stories seen or joined since: an ISO date/time or an age like 24h, 7d")
    stories.add_argument("--matched", action="store_true", help="only stories about the dialogue")
    stories.add_argument("--limit", type=int, default=50, help="how many (default 50)")

    run = commands.add_parser("run", help="run the daemon: poll on schedule, send digests, serve health and metrics")
    run.add_argument("--log-format", choices=[f.value for f in LogFormat], default="text", help="default: text")
    run.add_argument("--listen", help="HOST:PORT of /healthz and /metrics (default: web.listen of the config)")

    db = commands.add_parser("db", help="database schema")
    db_actions = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    db_actions.add_parser("upgrade", help="migrate the schema to the newest revision (also done at every start)")
    db_actions.add_parser("status", help="show the schema revision of the database and the newest one")

    health = commands.add_parser("health", help="ask a running daemon's /healthz; exit 0 when healthy")
    health.add_argument("--url", help="default: http://127.0.0.1:PORT/healthz with the port of web.listen")

    rematch = commands.add_parser("rematch", help="re-apply the current profile to stored items")
    rematch.add_argument("--since", help="only items first seen since: an ISO date/time or an age like 24h, 30d")
    rematch.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")

    explain = commands.add_parser("explain", help="show why a stored item matched or did not")
    explain.add_argument("item", metavar="URL-OR-ID", help="the item's id (from 'monitor items'), URL or key")

    commands.add_parser(
        "classify",
        help="classify JSON lines {id, title, text, lang} from standard input; one JSON line out per item",
    )

    evaluate = commands.add_parser("eval", help="precision and recall per language on a labelled set")
    evaluate.add_argument(
        "paths", nargs="*", default=["tests/match/eval"], help="labelled .yaml/.jsonl files or directories"
    )
    evaluate.add_argument("--min-precision", type=float, help="exit 1 if any language is below this precision")
    evaluate.add_argument("--min-recall", type=float, help="exit 1 if any language is below this recall")
    evaluate.add_argument("--quiet", action="store_true", help="only the table, not the wrong decisions")
    return parser


def _add_sources_actions(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    discover = commands.add_parser(
        "discover", help="list the feeds a site offers, as entries ready to paste into config.yaml"
    )
    discover.add_argument("url", help="a page of the site, usually its home page")
    discover.add_argument("--language", choices=LANGUAGES, help="language of the entries (default: the page's)")
    discover.add_argument("--origin", choices=ORIGINS, help="origin of the entries (default: international, to check)")

    import_ = commands.add_parser("import", help="read sources from an OPML file and print the new ones as entries")
    import_.add_argument("file", metavar="FILE.opml")
    import_.add_argument("--language", choices=LANGUAGES, help="for outlines that carry no language")
    import_.add_argument("--origin", choices=ORIGINS, help="for outlines that carry no origin")
    import_.add_argument(
        "--write", action="store_true", help="add the new sources to the configuration file (validated first)"
    )

    export = commands.add_parser("export", help="write the configured sources as OPML 2.0")
    export.add_argument("--out", metavar="FILE.opml", help="write to a file instead of standard output")
    export.add_argument("--enabled-only", action="store_true", help="leave out disabled sources")

    test = commands.add_parser(
        "test", help="fetch a source once and show what would be extracted and matched; stores nothing"
    )
    test.add_argument("target", metavar="NAME|URL", help="a configured source's name, or any URL")
    test.add_argument("--limit", type=int, default=5, help="how many entries or articles to show (default 5)")
    test.add_argument("--links", metavar="SELECTOR", help="for a URL: read it as a listing page with this selector")
    test.add_argument("--full-text", action="store_true", help="for a feed URL: read the linked articles too")
    test.add_argument("--language", choices=LANGUAGES, help="for a URL: the language to match in")


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
        handler = _HANDLERS[args.command]
        return handler(args, config, out)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _repository(config: Config) -> Repository:
    stories = config.stories
    rules = ClusterRules(
        window=timedelta(hours=stories.window_hours),
        min_overlap=stories.min_overlap,
        min_jaccard=stories.min_jaccard,
    )
    engine = open_engine(config.database.url, busy_timeout_seconds=config.database.busy_timeout_seconds)
    return Repository(engine, rules)


def update_rules(config: Config) -> UpdateRules:
    return UpdateRules(config.updates.max_revisions, config.updates.alert_on_new_mention)


def cmd_check(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    sources = config.sources
    enabled = config.enabled_sources
    print(f"{args.config}: OK", file=out)
    print(f"  database     {mask_url(config.database.url)}", file=out)
    print(f"  sources      {len(sources)} configured, {len(enabled)} enabled", file=out)
    groups: tuple[tuple[str, list[str]], ...] = (
        ("by language", [s.language for s in enabled]),
        ("by origin", [s.origin for s in enabled]),
        ("by kind", [s.kind for s in enabled]),
    )
    for label, values in groups:
        counts = ", ".join(f"{v} {values.count(v)}" for v in sorted(set(values)))
        print(f"    {label:<12} {counts}", file=out)
    print(f"  subscribers  {len(config.subscribers)}", file=out)
    for sub in config.subscribers:
        print(f"    {sub.name} ({sub.kind})", file=out)
    profile = config.profile
    print(
        f"  profile      {len(profile.dialogue)} dialogue terms, {len(profile.topics)} topics, "
        f"{len(profile.actors)} actors, threshold {profile.threshold:g}",
        file=out,
    )
    return EXIT_OK


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
        _repository(config) as repo,
        ParsePool(config.polling.parse_workers, fast_parser=config.polling.fast_parser, sources=len(feeds)) as pool,
        _outbox(config, repo, matcher) as outbox,
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


def parse_since(value: str | None, now: datetime) -> datetime | None:
    if not value:
        return None
    age = re.fullmatch(r"(\d+)\s*([mhdw])", value.strip())
    if age:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[age.group(2)]
        return now - timedelta(**{unit: int(age.group(1))})
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise MonitorError(
            f"--since {value!r}: expected an ISO date/time (2026-11-22, 2026-11-22T07:00) or an age (24h, 7d)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def cmd_digest(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    now = datetime.now(UTC)
    since = parse_since(args.since, now)
    if args.out and not args.preview:
        raise MonitorError("--out goes with --preview")
    subscribers = _digest_subscribers(config, args.subscriber, sending=args.send)
    with _repository(config) as repo, _outbox(config, repo) as outbox:
        if args.send:
            reports = [outbox.send_digest_now(sub, now, since) for sub in subscribers]
        elif args.subscriber:
            rendered = outbox.preview_digest(subscribers[0], now, since)
        else:
            rendered = outbox.preview_all(config.digest.timezone, now, since)
    if args.send:
        if not reports:
            print("no enabled subscriber receives digests (email, or webhook with mode: digest)", file=out)
            return EXIT_OK
        print(delivery_summary(reports), file=out)
        return EXIT_FAILURE if any(r.failed for r in reports) else EXIT_OK
    if args.out:
        html_path = Path(args.out)
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(rendered.html, encoding="utf-8")
        text_path = html_path.with_suffix(".txt")
        text_path.write_text(rendered.text, encoding="utf-8")
        print(f"{rendered.subject}\nwrote {html_path} and {text_path}", file=out)
    else:
        print(rendered.text, file=out)
    return EXIT_OK


def _digest_subscribers(config: Config, name: str | None, *, sending: bool) -> list[Subscriber]:
    if name is not None:
        sub = next((s for s in config.subscribers if s.name == name), None)
        if sub is None:
            known = ", ".join(s.name for s in config.subscribers) or "none configured"
            raise MonitorError(f"--subscriber {name!r}: no such subscriber in the configuration (known: {known})")
        if sending and isinstance(sub, WebhookSubscriber) and sub.mode == "immediate":
            raise MonitorError(
                f"--subscriber {name!r} is an immediate webhook: it gets alerts after each poll, no digest"
            )
        return [sub]
    return [
        s
        for s in config.subscribers
        if s.enabled and (isinstance(s, EmailSubscriber) or (isinstance(s, WebhookSubscriber) and s.mode == "digest"))
    ]


def cmd_deliveries(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    if args.deliveries_action == "retry":
        with _repository(config) as repo, _outbox(config, repo) as outbox:
            report = outbox.retry(args.id)
        print(delivery_summary([report]), file=out)
        return EXIT_FAILURE if report.failed else EXIT_OK
    if args.limit < 1:
        raise MonitorError("--limit must be at least 1")
    with _repository(config) as repo:
        rows = repo.deliveries(failed_only=args.failed, limit=args.limit)
    print(delivery_table(rows, resolve_zone(config.digest.timezone)), file=out)
    if not rows:
        print("no failed deliveries" if args.failed else "nothing sent yet", file=out)
    return EXIT_OK


def _catalog(config: Config) -> Catalog:
    profile = config.profile
    return Catalog(
        sources={s.name: SourceInfo(s.name, s.title, s.origin, s.language) for s in config.sources},
        topics={t.id: t.label for t in profile.topics},
        actors={a.id: a.label for a in profile.actors},
    )


def _snippet_marker(matcher: Matcher) -> Callable[[StoredItem], StoredItem]:
    """Runs the matcher again on a stored item without marked snippets (stored before they were kept)."""

    def annotate(stored: StoredItem) -> StoredItem:
        if stored.match is None or stored.match.marked_snippets:
            return stored
        fresh = matcher.match(stored.item.title, stored.item.text, stored.item.language)
        if not fresh.marked_snippets:
            return stored
        match = replace(stored.match, snippets=fresh.snippets, marked_snippets=fresh.marked_snippets)
        return replace(stored, match=match)

    return annotate


def delivery_jobs(outbox: Outbox, metrics: Metrics | None = None) -> DeliveryJobs:
    """The outbox plugged into the daemon: each subscriber's digest on its cron, and every
    ``delivery.alerts_every_seconds`` (and right after each poll that stored new matches) the
    alerts for new matches and the retries that are due. The outbox is synchronous (smtplib, the
    database), so each job runs it in a thread."""
    log = logging.getLogger(f"{LOGGER_NAME}.delivery")

    def logged(reports: Sequence[DeliveryReport], started: float) -> None:
        for one in reports:
            elapsed = time.monotonic() - started
            log_report(log, one, elapsed)
            if metrics is not None and one.delivery is not None and one.outcome is not DeliveryOutcome.TAKEN:
                metrics.observe_delivery(
                    one.subscriber, f"{one.delivery.channel}_{one.delivery.kind}", one.outcome.value, elapsed
                )

    def digest_job(sub: Subscriber) -> DigestJob:
        trigger = cron_trigger(sub.schedule.cron, sub.schedule.timezone)

        async def send(period: datetime) -> None:
            previous = latest_fire_time(trigger, period - timedelta(seconds=1)) or period - timedelta(days=1)
            started = time.monotonic()
            report = await asyncio.to_thread(outbox.send_due_digest, sub, previous, period)
            logged([report], started)

        return DigestJob(sub.name, sub.schedule.cron, sub.schedule.timezone, send)

    async def pending() -> None:
        started = time.monotonic()
        reports = await asyncio.to_thread(lambda: [*outbox.deliver_immediate_alerts(), *outbox.retry_due()])
        logged(reports, started)

    digests = tuple(
        digest_job(s)
        for s in outbox.enabled
        if isinstance(s, EmailSubscriber) or (isinstance(s, WebhookSubscriber) and s.mode == "digest")
    )
    return DeliveryJobs(
        digests=digests,
        pending=pending if outbox.enabled else None,
        pending_every=timedelta(seconds=outbox.settings.policy.alerts_every_seconds),
    )


def log_report(log: logging.Logger, report: DeliveryReport, elapsed: float) -> None:
    """One log line per delivery attempted (nothing for an empty or already-taken digest)."""
    delivery = report.delivery
    if delivery is None or report.outcome is DeliveryOutcome.TAKEN:
        return
    failed = report.outcome in (DeliveryOutcome.WILL_RETRY, DeliveryOutcome.DEAD)
    status = report.outcome.value
    if report.outcome is DeliveryOutcome.WILL_RETRY and delivery.next_attempt_at:
        status += f" at {delivery.next_attempt_at:%H:%M:%S} UTC"
    log_delivery(
        log,
        subscriber=report.subscriber,
        kind=f"{delivery.channel} {delivery.kind}",
        status=status,
        key=delivery.key,
        items=delivery.item_count,
        elapsed=elapsed,
        attempt=delivery.attempts,
        error=report.detail if failed else None,
    )


def outbox_settings(config: Config, matcher: Matcher | None = None) -> OutboxSettings:
    """The outbox's slice of the configuration (also used by the daemon and the tests).

    Pass the ``matcher`` the command already compiled: each compiled profile costs megabytes."""
    return OutboxSettings(
        subscribers=config.subscribers,
        catalog=_catalog(config),
        policy=config.delivery,
        sender=config.smtp.sender,
        max_items=config.digest.max_items,
        annotate=_snippet_marker(matcher or Matcher.compile(config.profile)),
    )


@contextmanager
def _outbox(config: Config, repo: Repository, matcher: Matcher | None = None) -> Iterator[Outbox]:
    settings = outbox_settings(config, matcher)
    timeout = config.delivery.webhook_timeout_seconds
    with HttpWebhookTransport(timeout_seconds=timeout, user_agent=config.http.user_agent) as webhooks:
        yield Outbox(repo, settings, email=SmtpTransport(config.smtp), webhooks=webhooks)


def cmd_items(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    if args.limit < 1:
        raise MonitorError("--limit must be at least 1")
    zone = resolve_zone(config.digest.timezone)
    with _repository(config) as repo:
        rows = repo.items(matched_only=args.matched, limit=args.limit)
    for stored in rows:
        item = stored.item
        when = (item.published or stored.first_seen).astimezone(zone).strftime("%Y-%m-%d %H:%M")
        mark = "*" if stored.match else " "
        print(f"{stored.id:>6} {mark} {when}  {item.source:<18} {truncate(item.title, 90)}", file=out)
        if item.url:
            print(f"{'':>27}{item.url}", file=out)
    if not rows:
        print("no items stored yet; run 'monitor poll --once'", file=out)
    return EXIT_OK


def cmd_sources(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    if args.action == "resume":
        return _resume_source(args.name, args.config, config, out)
    if args.action is not None:
        return _SOURCES_ACTIONS[args.action](args, config, out)
    with _repository(config) as repo:
        states = repo.source_states()
    zone = resolve_zone(config.digest.timezone)
    paused = 0
    for source in config.sources:
        state = states.get(source.name)
        flag = "on " if source.enabled else "off"
        print(f"{flag} {source.name:<22} {source.kind:<4} {source.language}  {_source_status(state, zone)}", file=out)
        paused += bool(state and state.paused and source.enabled)
        if state is not None and state.key_policy == KeyPolicy.LINK_DATE:
            share = f"{state.guid_problem_share:.0%}" if state.guid_problem_share is not None else "?"
            note = f"items keyed by link+date: the feed's GUIDs are unreliable ({share} empty or repeated last poll)"
            print(f"{'':<35}{note}", file=out)
    if paused:
        print(f"\n{paused} source(s) PAUSED: fix the cause, then `monitor sources resume NAME`.", file=out)
    return EXIT_OK


def _source_status(state: SourceState | None, zone: ZoneInfo) -> str:
    def when(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "?"

    if state is not None and state.paused:
        status = f"PAUSED since {when(state.paused_at)}: {state.paused_reason}; next probe {when(state.next_check_at)}"
    elif state is None or state.last_polled_at is None:
        status = "never polled"
    elif state.last_status == "error":
        kind = f" [{state.last_error_kind}]" if state.last_error_kind else ""
        status = (
            f"FAILING since {when(state.failing_since)} ({state.consecutive_errors}x){kind}: {state.last_error_message}"
        )
    else:
        status = f"{state.last_status}, {state.items_total} items"
    if state is not None and state.next_check_at and not state.paused:
        status += f"; next check {when(state.next_check_at)} ({state.next_check_reason})"
    return truncate(status, 160)


def _resume_source(name: str, config_file: str, config: Config, out: TextIO) -> int:
    if config.source(name) is None:
        known = ", ".join(s.name for s in config.sources[:8])
        raise MonitorError(f"no source named {name!r} in {config_file}; sources are: {known}, …")
    with _repository(config) as repo:
        before = repo.resume_source(name, datetime.now(UTC))
    if before is None or not before.paused:
        print(f"{name} is not paused; it will be polled at once.", file=out)
    else:
        print(
            f"{name} resumed (was paused since {before.paused_at:%Y-%m-%d %H:%M} UTC: {before.paused_reason}).",
            file=out,
        )
        print("A running daemon polls it within one tick.", file=out)
    return EXIT_OK


def cmd_run(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    handler = setup_logging(sys.stderr, LogFormat(args.log_format), config.secret_values())
    try:
        listen = parse_listen(args.listen) if args.listen else parse_listen(config.web.listen)
    except ValueError as exc:
        raise MonitorError(f"--listen: {exc}") from None
    daemon_config = config.daemon
    retention = config.retention
    settings = DaemonSettings(
        tick_seconds=daemon_config.tick_seconds,
        lease=timedelta(seconds=daemon_config.lease_seconds),
        shutdown_grace_seconds=daemon_config.shutdown_grace_seconds,
        concurrency=config.http.concurrency,
        housekeeping_every=timedelta(hours=daemon_config.housekeeping_interval_hours),
        keep_unmatched=timedelta(days=retention.unmatched_items_days) if retention.unmatched_items_days else None,
        keep_polls=timedelta(days=retention.poll_history_days) if retention.poll_history_days else None,
        keep_story_index=timedelta(days=retention.story_index_days) if retention.story_index_days else None,
        stale_after_seconds=config.web.stale_after_seconds,
        listen=listen if config.web.enabled or args.listen else None,
        update_rules=update_rules(config),
    )
    try:
        matcher = Matcher.compile(config.profile)
        feeds = feed_sources(config)
        with (
            _repository(config) as repo,
            ParsePool(config.polling.parse_workers, fast_parser=config.polling.fast_parser, sources=len(feeds)) as pool,
            _outbox(config, repo, matcher) as outbox,
        ):
            # Subscribers seen for the first time start now: history is not news for them.
            outbox.register()
            metrics = Metrics()
            daemon = Daemon(
                feeds,
                repo,
                matcher,
                fetch_limits(config),
                settings,
                metrics=metrics,
                parse_pool=pool,
                deliveries=delivery_jobs(outbox, metrics),
            )
            asyncio.run(daemon.run())
    except OSError as exc:
        raise MonitorError(f"cannot start: {exc}") from None
    finally:
        logging.getLogger().removeHandler(handler)
    return EXIT_OK


def cmd_db(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    engine = open_engine(config.database.url, migrate=False)
    try:
        if args.action == "status":
            state = schema_status(engine)
            verdict = "up to date" if state.up_to_date else "needs `monitor db upgrade`"
            where = mask_url(config.database.url)
            print(f"database {where}: revision {state.current or 'none'}, newest {state.head} ({verdict})", file=out)
            return EXIT_OK
        before = upgrade_schema(engine)
        check_tables(engine)
        if before.up_to_date:
            print(f"schema already at the newest revision {before.head}", file=out)
        else:
            print(f"schema upgraded from {before.current or 'empty'} to {before.head}", file=out)
        return EXIT_OK
    finally:
        engine.dispose()


def cmd_health(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    url = args.url
    if not url:
        host, port = parse_listen(config.web.listen)
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '', '::') else host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (a URL the operator gave)
            print(response.read().decode("utf-8", "replace").strip(), file=out)
            return EXIT_OK
    except urllib.error.HTTPError as exc:
        print(exc.read().decode("utf-8", "replace").strip(), file=out)
        return EXIT_FAILURE
    except (urllib.error.URLError, OSError) as exc:
        raise MonitorError(f"{url}: no answer ({getattr(exc, 'reason', exc)}); is `monitor run` running?") from None


def cmd_rematch(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    since = parse_since(args.since, datetime.now(UTC))
    matcher = Matcher.compile(config.profile)
    totals = RematchSummary()
    changes: list[str] = []
    with _repository(config) as repo:
        for batch in repo.items_in_batches(since=since):
            results = [(s.id, matcher.match(s.item.title, s.item.text, s.item.language)) for s in batch]
            for stored, (_, result) in zip(batch, results, strict=True):
                if result.relevant != (stored.match is not None):
                    sign = "+" if result.relevant else "-"
                    reason = f" ({result.rule})" if result.rule else ""
                    changes.append(f"{sign} {stored.id:>6}  {truncate(stored.item.title, 90)}{reason}")
            summary = _would_change(batch, results) if args.dry_run else repo.replace_matches(results, matcher.version)
            totals = _add(totals, summary)
    for line in changes[:200]:
        print(line, file=out)
    if len(changes) > 200:
        print(f"… and {len(changes) - 200} more", file=out)
    verb = "would be" if args.dry_run else "were"
    print(
        f"{totals.checked} items checked with profile {matcher.version}: {totals.added} newly matched, "
        f"{totals.removed} no longer matched, {totals.updated} updated, {totals.unchanged} unchanged"
        f"{' (dry run: nothing written)' if args.dry_run else ''}.",
        file=out,
    )
    if totals.added:
        print(f"Newly matched items {verb} stored as old news: they are never sent to subscribers.", file=out)
    return EXIT_OK


def _would_change(batch: Sequence[StoredItem], results: Sequence[tuple[int, MatchResult]]) -> RematchSummary:
    added = sum(1 for s, (_, r) in zip(batch, results, strict=True) if r.relevant and s.match is None)
    removed = sum(1 for s, (_, r) in zip(batch, results, strict=True) if not r.relevant and s.match is not None)
    updated = sum(
        1
        for s, (_, r) in zip(batch, results, strict=True)
        if r.relevant
        and s.match is not None
        and (s.match.score, s.match.rule, s.match.snippets) != (r.score, r.rule, r.snippets)
    )
    return RematchSummary(len(batch), added, updated, removed, len(batch) - added - removed - updated)


def _add(a: RematchSummary, b: RematchSummary) -> RematchSummary:
    return RematchSummary(
        a.checked + b.checked,
        a.added + b.added,
        a.updated + b.updated,
        a.removed + b.removed,
        a.unchanged + b.unchanged,
    )


def cmd_explain(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    with _repository(config) as repo:
        stored = repo.find_item(args.item)
        if stored is None and "://" in args.item:
            stored = repo.find_item(canonical_url(args.item))
    if stored is None:
        raise MonitorError(f"no stored item with id, URL or key {args.item!r}; 'monitor items' lists them")
    matcher = Matcher.compile(config.profile)
    item = stored.item
    print(f"item {stored.id}: {item.title}", file=out)
    print(f"  source {item.source}, language {item.language or '?'}, {item.url or 'no URL'}", file=out)
    if stored.match is not None:
        print(f"  stored as about the dialogue (score {stored.match.score:g}, rule {stored.match.rule})", file=out)
    else:
        print("  stored as not about the dialogue", file=out)
    print("", file=out)
    print(render_explanation(matcher.explain(item.title, item.text, item.language), matcher), file=out)
    return EXIT_OK


def cmd_classify(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    matcher = Matcher.compile(config.profile)
    bad = 0
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("title", ""), str):
                raise ValueError("expected an object with string fields title and text")
            text = record.get("text") or ""
            lang = record.get("lang")
            if not isinstance(text, str) or not (lang is None or isinstance(lang, str)):
                raise ValueError("text and lang must be strings")
        except ValueError as exc:
            bad += 1
            print(f"error: standard input line {number}: {exc}", file=sys.stderr)
            continue
        result = matcher.match(record.get("title") or "", text, lang)
        answer = {
            "id": record.get("id"),
            "relevant": result.relevant,
            "score": result.score,
            "topics": list(result.topics),
            "actors": list(result.actors),
            "snippets": list(result.marked_snippets),
            "rule": result.rule,
            "meeting_level": result.meeting_level,
        }
        print(json.dumps(answer, ensure_ascii=False), file=out)
    return EXIT_FAILURE if bad else EXIT_OK


def cmd_eval(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    matcher = Matcher.compile(config.profile)
    items = load_labelled([Path(p) for p in args.paths])
    scores = evaluate(matcher, items)
    print(f"profile {matcher.version}, {len(items)} labelled items", file=out)
    print(report(scores, show_errors=not args.quiet), file=out)
    below = [
        name
        for name, s in scores.items()
        if (args.min_precision is not None and s.precision < args.min_precision)
        or (args.min_recall is not None and s.recall < args.min_recall)
    ]
    if below:
        print(f"below the floor: {', '.join(below)}", file=out)
        return EXIT_FAILURE
    return EXIT_OK


def cmd_stories(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    if args.limit < 1:
        raise MonitorError("--limit must be at least 1")
    since = parse_since(args.since, datetime.now(UTC))
    zone = resolve_zone(config.digest.timezone)
    titles = {s.name: s.title for s in config.sources}
    with _repository(config) as repo:
        stories = repo.stories(since=since, limit=args.limit, relevant_only=args.matched)
    for story in stories:
        lead = story.lead or (story.outlets[0] if story.outlets else None)
        when = story.started.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        mark = "*" if story.relevant else " "
        print(f"#{story.id:<6}{mark} {when}  {truncate(lead.title if lead else '(item deleted)', 90)}", file=out)
        names = [titles.get(c.source, c.source) + (" (lead)" if c is story.lead else "") for c in story.outlets]
        count = f"{len(story.outlets)} outlet" + ("s" if len(story.outlets) != 1 else "")
        print(f"{'':<26}{count}: {truncate(', '.join(names), 100)}", file=out)
        if lead and lead.url:
            print(f"{'':<26}{lead.url}", file=out)
    if not stories:
        print("no stories" + (" since then" if since else " yet; run 'monitor poll --once'"), file=out)
    return EXIT_OK


_HANDLERS = {
    "check": cmd_check,
    "poll": cmd_poll,
    "digest": cmd_digest,
    "deliveries": cmd_deliveries,
    "items": cmd_items,
    "sources": cmd_sources,
    "stories": cmd_stories,
    "run": cmd_run,
    "db": cmd_db,
    "health": cmd_health,
    "rematch": cmd_rematch,
    "explain": cmd_explain,
    "classify": cmd_classify,
    "eval": cmd_eval,
}


# ---------------------------------------------------------------- monitor sources …


def cmd_sources_discover(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    url = _checked_cli_url(args.url)

    async def run() -> Discovery:
        async with Fetcher(fetch_limits(config)) as fetcher:
            return await discover(url, fetcher)

    found = asyncio.run(run())
    taken = {s.name for s in config.sources}
    known = {url_key(s.url): s.name for s in config.sources}
    print(f"# feeds offered by {url}", file=out)
    for candidate in found.candidates:
        link = candidate.link
        if candidate.feed is None:
            print(f"# not a usable feed ({link.how}): {link.url}: {candidate.problem}", file=out)
            continue
        feed_url = candidate.final_url or link.url
        feed = candidate.feed
        newest = max((e.published for e in feed.entries if e.published), default=None)
        facts = f"{len(feed.entries)} entries" + (f", newest {newest:%Y-%m-%d}" if newest else "")
        print(f"# {link.how}: {feed.title or link.title or feed_url} ({facts})", file=out)
        if url_key(feed_url) in known:
            print(f"#   already configured as {known[url_key(feed_url)]}", file=out)
            continue
        language = args.language or _supported(candidate.language) or _supported(found.page_language)
        title = feed.title or link.title or urlsplit(feed_url).hostname or feed_url
        name = unique_name(slug(title, feed_url), taken)
        taken.add(name)
        entry = {
            "name": name,
            "title": title,
            "kind": "feed",
            "url": feed_url,
            "language": language or "en",
            "origin": args.origin or "international",
        }
        checks = [k for k, given in (("language", language), ("origin", args.origin)) if not given]
        line = yaml_entries([entry]).rstrip("\n")
        print(line + (f"  # check {' and '.join(checks)}" if checks else ""), file=out)
    if not found.feeds:
        print(
            f"# no feed found. To follow the page itself, add a source with kind: page and selectors.links,\n"
            f"# and try the selector with: monitor sources test {url} --links 'CSS SELECTOR'",
            file=out,
        )
        return EXIT_FAILURE
    return EXIT_OK


def cmd_sources_import(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MonitorError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    try:
        outlines = read_opml(data)
    except ParseError as exc:
        raise MonitorError(f"{path}: {exc.message}") from None
    result = import_outlines(outlines, config.sources, args.language, args.origin)
    for outline, name in result.duplicates:
        print(f"# already configured as {name}: {outline.title} ({outline.url})", file=out)
    for problem in result.problems:
        print(f"# not imported: {problem}", file=out)
    if not result.entries:
        print(f"# {path}: no new sources ({len(outlines)} outlines read)", file=out)
        return EXIT_FAILURE if result.problems else EXIT_OK
    if not args.write:
        print(f"# {len(result.entries)} new sources from {path}; paste under 'sources:' in config.yaml:", file=out)
        print(yaml_entries(result.entries), end="", file=out)
        return EXIT_FAILURE if result.problems else EXIT_OK
    config_path = Path(args.config)
    text = config_path.read_text(encoding="utf-8")
    try:
        updated = insert_entries(text, result.entries)
    except SourcesBlockNotFound as exc:
        raise MonitorError(f"{config_path}: {exc}; paste the entries yourself (run without --write)") from None
    parse_config(updated, str(config_path), os.environ)  # raises ConfigError: then nothing is written
    temporary = config_path.with_name(config_path.name + ".tmp")
    temporary.write_text(updated, encoding="utf-8")
    temporary.replace(config_path)
    names = ", ".join(e["name"] for e in result.entries)
    print(f"added {len(result.entries)} sources to {config_path}: {names}", file=out)
    return EXIT_FAILURE if result.problems else EXIT_OK


def cmd_sources_export(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    chosen = config.enabled_sources if args.enabled_only else config.sources
    document = write_opml("dialogue-monitor sources", [to_outline(s) for s in chosen], datetime.now(UTC))
    if args.out:
        Path(args.out).write_text(document, encoding="utf-8")
        print(f"wrote {len(chosen)} sources to {args.out}", file=out)
    else:
        print(document, end="", file=out)
    return EXIT_OK


def cmd_sources_test(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    if args.limit < 1:
        raise MonitorError("--limit must be at least 1")
    source = _test_source(args, config)
    matcher = Matcher.compile(config.profile)
    zone = resolve_zone(config.digest.timezone)

    async def run() -> SourcePreview | tuple[PreviewItem, Discovery]:
        async with Fetcher(fetch_limits(config)) as fetcher:
            try:
                return await preview_source(source, fetcher, matcher, limit=args.limit)
            except ParseError:
                if source.is_page or config.source(source.name) is not None:
                    raise
            # An ad-hoc URL that is no feed: show it as an article, and the feeds it offers.
            article = await preview_article(source.url, fetcher, matcher, language=source.language)
            return article, await discover(source.url, fetcher, probe_common_paths=False)

    result = asyncio.run(run())
    if isinstance(result, SourcePreview):
        print_preview(result, zone, out)
    else:
        article, found = result
        print(f"source   {source.url} is not a feed; read as one article page:", file=out)
        print_preview_item(1, article, zone, out)
        for candidate in found.feeds:
            print(f"feed     it offers {candidate.final_url or candidate.link.url} ({candidate.link.how})", file=out)
    print("nothing was stored.", file=out)
    return EXIT_OK


def _test_source(args: argparse.Namespace, config: Config) -> FeedSource:
    configured = config.source(args.target)
    if configured is None and "://" in args.target:
        key = url_key(_checked_cli_url(args.target))
        configured = next((s for s in config.sources if url_key(s.url) == key), None)
        if configured is not None and args.links:
            configured = None  # the selector given on the command line is what is being tried
    if configured is not None:
        return pipeline_source(configured, config, with_policy=False)
    if "://" not in args.target:
        names = ", ".join(s.name for s in config.sources[:8])
        raise MonitorError(f"no source named {args.target!r} in {args.config} (e.g. {names}); or give a URL")
    if args.links:
        try:
            check_selector(args.links)
        except ValueError as exc:
            raise MonitorError(f"--links: {exc}") from None
    return FeedSource(
        name="test",
        url=args.target,
        language=args.language,
        kind="page" if args.links else "feed",
        full_text=bool(args.full_text) and not args.links,
        selectors=Selectors(links=args.links) if args.links else None,
    )


def print_preview(preview: SourcePreview, zone: tzinfo, out: TextIO) -> None:
    source = preview.source
    what = "full_text feed" if source.full_text else source.kind
    print(f"source   {source.name} ({what}) {preview.final_url}", file=out)
    if source.is_page and source.selectors:
        print(
            f"listing  {preview.title or '(no title)'}: {preview.found} links with selectors.links "
            f"{source.selectors.links!r}",
            file=out,
        )
    else:
        print(f"feed     {preview.title or '(no title)'}: {preview.found} entries", file=out)
    if preview.warning:
        print(f"warning  {preview.warning}", file=out)
    for number, item in enumerate(preview.items, 1):
        print_preview_item(number, item, zone, out)
    if preview.found > len(preview.items):
        print(f"… and {preview.found - len(preview.items)} more (--limit)", file=out)


def print_preview_item(number: int, preview: PreviewItem, zone: tzinfo, out: TextIO) -> None:
    item, article, match = preview.item, preview.article, preview.match
    print(f"{number:>3}. {item.title or '(no title)'}", file=out)
    rows: list[tuple[str, str]] = [("url", item.url or "(none)")]
    when = item.published.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if item.published else "(none)"
    rows.append(("date", when + (f" [{article.date_from}]" if article and article.date_from else "")))
    rows.append(("language", item.language or "(unknown)"))
    source_of_text = f" [{article.text_from}]" if article else ""
    rows.append(("text", f"{len(item.text)} chars{source_of_text}: {truncate(item.text, 160) or '(empty)'}"))
    if preview.problem:
        rows.append(("not read", preview.problem))
    if match.relevant:
        details = f"yes, score {match.score:g}, rule {match.rule}"
        details += f", topics {', '.join(match.topics)}" if match.topics else ""
        details += f", actors {', '.join(match.actors)}" if match.actors else ""
        rows.append(("match", details))
        rows.extend(("", f"“{truncate(snippet, 150)}”") for snippet in match.snippets[:2])
    else:
        rows.append(("match", f"no (score {match.score:g})"))
    for label, value in rows:
        print(f"     {label:<9} {value}", file=out)


def _checked_cli_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MonitorError(f"{url!r}: expected an http:// or https:// URL")
    return url


def _supported(language: str | None) -> str | None:
    primary = (language or "").lower().replace("_", "-").split("-")[0]
    return primary if primary in LANGUAGES else None


_SOURCES_ACTIONS = {
    "discover": cmd_sources_discover,
    "import": cmd_sources_import,
    "export": cmd_sources_export,
    "test": cmd_sources_test,
}
