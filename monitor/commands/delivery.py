"""The outbox built from the configuration; ``monitor digest`` and ``monitor deliveries``."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from monitor.commands import EXIT_FAILURE, EXIT_OK
from monitor.commands.common import parse_since, repository
from monitor.config import Config, EmailSubscriber, WebhookSubscriber, resolve_zone
from monitor.errors import MonitorError
from monitor.match import Matcher
from monitor.notify.digest import Catalog, SourceInfo
from monitor.notify.email import SmtpTransport
from monitor.notify.outbox import Outbox, OutboxSettings, Subscriber
from monitor.notify.webhook import HttpWebhookTransport
from monitor.report import delivery_summary, delivery_table
from monitor.store import Repository
from monitor.types import StoredItem


def cmd_digest(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    now = datetime.now(UTC)
    since = parse_since(args.since, now)
    if args.out and not args.preview:
        raise MonitorError("--out goes with --preview")
    subscribers = _digest_subscribers(config, args.subscriber, sending=args.send)
    with repository(config) as repo, open_outbox(config, repo) as outbox:
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
        with repository(config) as repo, open_outbox(config, repo) as outbox:
            report = outbox.retry(args.id)
        print(delivery_summary([report]), file=out)
        return EXIT_FAILURE if report.failed else EXIT_OK
    if args.limit < 1:
        raise MonitorError("--limit must be at least 1")
    with repository(config) as repo:
        rows = repo.deliveries(failed_only=args.failed, limit=args.limit)
    print(delivery_table(rows, resolve_zone(config.digest.timezone)), file=out)
    if not rows:
        print("no failed deliveries" if args.failed else "nothing sent yet", file=out)
    return EXIT_OK


def catalog(config: Config) -> Catalog:
    profile = config.profile
    return Catalog(
        sources={s.name: SourceInfo(s.name, s.title, s.origin, s.language) for s in config.sources},
        topics={t.id: t.label for t in profile.topics},
        actors={a.id: a.label for a in profile.actors},
    )


def snippet_marker(matcher: Matcher) -> Callable[[StoredItem], StoredItem]:
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


def outbox_settings(config: Config, matcher: Matcher | None = None) -> OutboxSettings:
    """The outbox's slice of the configuration (also used by the daemon and the tests).

    Pass the ``matcher`` the command already compiled: each compiled profile costs megabytes."""
    return OutboxSettings(
        subscribers=config.subscribers,
        catalog=catalog(config),
        policy=config.delivery,
        sender=config.smtp.sender,
        max_items=config.digest.max_items,
        annotate=snippet_marker(matcher or Matcher.compile(config.profile)),
    )


@contextmanager
def open_outbox(config: Config, repo: Repository, matcher: Matcher | None = None) -> Iterator[Outbox]:
    settings = outbox_settings(config, matcher)
    timeout = config.delivery.webhook_timeout_seconds
    with HttpWebhookTransport(timeout_seconds=timeout, user_agent=config.http.user_agent) as webhooks:
        yield Outbox(repo, settings, email=SmtpTransport(config.smtp), webhooks=webhooks)
