"""Commands on what is stored: items, sources and their state, stories, the schema, re-matching, explanations."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from monitor.commands import EXIT_OK
from monitor.commands.common import parse_since, repository
from monitor.config import Config, mask_url, resolve_zone
from monitor.errors import MonitorError
from monitor.identity import KeyPolicy, canonical_url
from monitor.match import Matcher
from monitor.match.explain import render_explanation
from monitor.report import truncate
from monitor.store import open_engine
from monitor.store.migrate import check_tables
from monitor.store.migrate import status as schema_status
from monitor.store.migrate import upgrade as upgrade_schema
from monitor.types import MatchResult, RematchSummary, SourceState, StoredItem


def cmd_items(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    if args.limit < 1:
        raise MonitorError("--limit must be at least 1")
    zone = resolve_zone(config.digest.timezone)
    with repository(config) as repo:
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
    with repository(config) as repo:
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
    with repository(config) as repo:
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


def cmd_stories(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    if args.limit < 1:
        raise MonitorError("--limit must be at least 1")
    since = parse_since(args.since, datetime.now(UTC))
    zone = resolve_zone(config.digest.timezone)
    titles = {s.name: s.title for s in config.sources}
    with repository(config) as repo:
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


def cmd_rematch(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    since = parse_since(args.since, datetime.now(UTC))
    matcher = Matcher.compile(config.profile)
    totals = RematchSummary()
    changes: list[str] = []
    with repository(config) as repo:
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
    with repository(config) as repo:
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
