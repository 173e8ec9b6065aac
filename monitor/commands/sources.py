"""``monitor sources discover | import | export | test``: finding, importing and trying sources."""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from monitor.commands import EXIT_FAILURE, EXIT_OK
from monitor.commands.polling import fetch_limits, pipeline_source
from monitor.config import Config, parse_config, resolve_zone
from monitor.discover import Discovery, discover
from monitor.errors import MonitorError, ParseError
from monitor.fetch import Fetcher
from monitor.identity import url_key
from monitor.match import Matcher
from monitor.parse.opml import read_opml, write_opml
from monitor.parse.selectors import check_selector
from monitor.pipeline import FeedSource, PreviewItem, SourcePreview, preview_article, preview_source
from monitor.report import truncate
from monitor.sourcelist import (
    SourcesBlockNotFound,
    import_outlines,
    insert_entries,
    slug,
    to_outline,
    unique_name,
    yaml_entries,
)
from monitor.types import LANGUAGES, Selectors


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
