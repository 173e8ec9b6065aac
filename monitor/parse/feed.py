"""Feeds (RSS 0.9x/1.0/2.0, Atom, RDF) parsed by feedparser from the fetched bytes.

Never ``feedparser.parse(url)``: it has no total deadline and would also open local files.
HTML sanitising and relative-URI resolution inside content are turned off because we keep
only plain text (``html_to_text``) and every renderer escapes it; that halves parse time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import feedparser

from monitor.errors import ParseError
from monitor.parse.normalize import clean_line, html_to_text, struct_to_utc
from monitor.types import FeedEntry, ParsedFeed

MAX_ENTRIES = 5_000


def parse_feed(body: bytes, headers: Mapping[str, str], base_url: str) -> ParsedFeed:
    """Parse one feed document; raise ``ParseError`` when it holds no feed at all."""
    if not body.strip():
        raise ParseError("the server sent an empty body, not a feed")
    response_headers = {k.lower(): v for k, v in headers.items()}
    response_headers.setdefault("content-location", base_url)
    parsed = feedparser.parse(
        body,
        response_headers=response_headers,
        resolve_relative_uris=False,
        sanitize_html=False,
    )
    warning = _bozo_reason(parsed)
    if not parsed.entries and not parsed.feed.get("title") and not parsed.get("version"):
        raise ParseError(_not_a_feed(body, response_headers.get("content-type"), warning))
    entries = tuple(_entry(e, base_url) for e in parsed.entries[:MAX_ENTRIES])
    return ParsedFeed(
        title=clean_line(parsed.feed.get("title")) or None,
        entries=entries,
        warning=warning,
        ttl_minutes=_int_or_none(parsed.feed.get("ttl")),
    )


def _entry(entry: Any, base_url: str) -> FeedEntry:
    link = entry.get("link") or None
    if link:
        link = urljoin(base_url, link.strip())
    content = entry.get("content") or []
    body = max((c.get("value", "") for c in content), key=len, default="")
    summary = entry.get("summary", "")
    text = html_to_text(body if len(body) > len(summary) else summary)
    return FeedEntry(
        guid=clean_line(entry.get("id"), 2_000) or None,
        link=link,
        title=clean_line(html_to_text(entry.get("title", ""))),
        text=text,
        published=struct_to_utc(entry.get("published_parsed") or entry.get("updated_parsed")),
        language=clean_line(entry.get("language") or "", 20) or None,
        author=clean_line(entry.get("author"), 200) or None,
    )


def _bozo_reason(parsed: Any) -> str | None:
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    return clean_line(f"{type(exc).__name__}: {exc}", 300) if exc is not None else "ill-formed document"


def _not_a_feed(body: bytes, content_type: str | None, warning: str | None) -> str:
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or (content_type or "").startswith("text/html"):
        return f"the server sent an HTML page ({content_type or 'no content type'}), not a feed"
    return "no feed found in the document" + (f" ({warning})" if warning else "")


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
