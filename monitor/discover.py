"""Feed discovery for ``monitor sources discover URL``: which feeds does a site offer?

The page is fetched like a page source's (robots.txt obeyed); the feeds it advertises
(``<link rel="alternate">``, links that look like feeds) and the common feed paths of its host
are then each fetched and parsed, and only what parses as a feed is offered.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from monitor.errors import MonitorError, ParseError, kind_of
from monitor.fetch import Fetcher
from monitor.identity import url_key
from monitor.parse.article import page_language
from monitor.parse.feed import parse_feed
from monitor.parse.page import advertised_feeds, common_feed_urls
from monitor.types import FeedLink, Fetched, ParsedFeed


@dataclass(frozen=True, slots=True)
class Candidate:
    link: FeedLink
    feed: ParsedFeed | None = None
    final_url: str | None = None
    problem: str | None = None  # why it is not a usable feed
    language: str | None = None  # as the feed declares it

    @property
    def ok(self) -> bool:
        return self.feed is not None


@dataclass(frozen=True, slots=True)
class Discovery:
    url: str
    page_language: str | None
    candidates: tuple[Candidate, ...]

    @property
    def feeds(self) -> list[Candidate]:
        return [c for c in self.candidates if c.ok]


async def discover(url: str, fetcher: Fetcher, *, probe_common_paths: bool = True) -> Discovery:
    """The feeds of the site at ``url``; raises the ``FetchError`` of the page itself."""
    page = await fetcher.fetch(url, page=True)
    if not isinstance(page, Fetched):
        raise ParseError(f"{url} answered 304 Not Modified to an unconditional request")
    try:  # the URL may be a feed already
        feed = parse_feed(page.body, page.headers, page.final_url)
        given = FeedLink(page.final_url, feed.title, "given")
        return Discovery(url, None, (Candidate(given, feed, page.final_url, language=feed_language(page.body)),))
    except ParseError:
        pass
    links = advertised_feeds(page.body, page.final_url, page.headers)
    seen = {url_key(link.url) for link in links}
    if probe_common_paths:
        for candidate in common_feed_urls(page.final_url):
            if url_key(candidate) not in seen:
                seen.add(url_key(candidate))
                links.append(FeedLink(candidate, None, "common path"))
    checked = await asyncio.gather(*(_check(link, fetcher) for link in links))
    # A common path that is not a feed is noise (most sites have none); say why only for advertised ones.
    shown = tuple(c for c in checked if c.ok or c.link.how != "common path")
    return Discovery(url, page_language(page.body, page.headers), _without_copies(shown))


async def _check(link: FeedLink, fetcher: Fetcher) -> Candidate:
    try:
        response = await fetcher.fetch(link.url)
        if not isinstance(response, Fetched):
            return Candidate(link, problem="answered 304 Not Modified to an unconditional request")
        feed = parse_feed(response.body, response.headers, response.final_url)
        return Candidate(link, feed, response.final_url, language=feed_language(response.body))
    except MonitorError as exc:
        return Candidate(link, problem=f"[{kind_of(exc)}] {exc.message}")


def _without_copies(candidates: tuple[Candidate, ...]) -> tuple[Candidate, ...]:
    """Several paths often redirect to one feed (/rss → /feed/): keep the first of each."""
    seen: set[str] = set()
    kept = []
    for candidate in candidates:
        key = url_key(candidate.final_url or candidate.link.url)
        if key not in seen:
            seen.add(key)
            kept.append(candidate)
    return tuple(kept)


_DECLARED_LANGUAGE = re.compile(
    rb"<(?:dc:)?language>\s*([A-Za-z]{2,3})|<(?:rss|channel|feed)\b[^>]*\bxml:lang=[\"']([A-Za-z]{2,3})"
)


def feed_language(body: bytes) -> str | None:
    """The language a feed declares near its top (RSS ``<language>``/``<dc:language>``, Atom
    ``xml:lang``), as a primary subtag; only a suggestion for the entry ``discover`` prints."""
    found = _DECLARED_LANGUAGE.search(body[:20_000])
    if not found:
        return None
    return (found.group(1) or found.group(2)).decode("ascii").lower()
