"""Feeds (RSS 0.9x/1.0/2.0, Atom, RDF) parsed by feedparser from the fetched bytes.

Never ``feedparser.parse(url)``: it has no total deadline and would also open local files.
The document is first made safe and bounded (``prepare``: one encoding, a DOCTYPE whose
entities cannot expand or read files, at most ``MAX_ENTRIES`` entries). HTML sanitising and
relative-URI resolution inside content are turned off because we keep only plain text
(``html_to_text``) and every renderer escapes it; that halves parse time.

What a feed says about an entry is untrusted and bounded here: titles and texts are plain,
single-spaced text of bounded length; links are absolute http(s) URLs or nothing (never
``javascript:`` or ``data:``); dates in the future are dropped. (GUIDs that entries of one feed
share are identity's business: ``identity.check_guids``.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from monitor.errors import ParseError
from monitor.parse.fast import read_plain_feed
from monitor.parse.normalize import MAX_TITLE_CHARS, clean_line, html_to_text, struct_to_utc
from monitor.parse.prepare import MAX_ENTRIES, prepare
from monitor.types import FeedEntry, ParsedFeed

__all__ = ["MAX_ENTRIES", "MAX_URL_CHARS", "parse_feed"]

# Longer links are not links a reader can use (and bloat every index they are stored in).
MAX_URL_CHARS = 4_000
_URL_STRIPPED = "".join(chr(c) for c in range(33))  # C0 controls and space
_URL_TAB_OR_NEWLINE = re.compile("[\t\n\r]")


def parse_feed(body: bytes, headers: Mapping[str, str], base_url: str, *, fast: bool = True) -> ParsedFeed:
    """Parse one feed document; raise ``ParseError`` when it holds no feed at all.

    With ``fast``, plain well-formed RSS 2.0 and Atom documents are read by ``fast.py`` (lxml,
    the same entries many times faster) and everything else by feedparser.
    """
    if not body.strip():
        raise ParseError("the server sent an empty body, not a feed")
    response_headers = {k.lower(): v for k, v in headers.items()}
    response_headers.setdefault("content-location", base_url)
    binary = _binary_kind(body, response_headers.get("content-type"))
    if binary:
        raise ParseError(f"the server sent {binary}, not a feed")
    prepared = prepare(body, response_headers)
    plain = read_plain_feed(prepared.data, base_url) if fast and not prepared.notes else None
    if plain is not None:
        return ParsedFeed(
            title=clean_line(plain.title) or None,
            entries=tuple(_entry(e, base_url) for e in plain.entries[:MAX_ENTRIES]),
            warning=None,
            ttl_minutes=_int_or_none(plain.ttl),
        )
    try:
        parsed = feedparser.parse(
            prepared.data,
            response_headers=prepared.headers,
            resolve_relative_uris=False,
            sanitize_html=False,
        )
    except Exception as exc:  # feedparser is the edge: whatever it raises is this document's problem
        raise ParseError(f"the feed parser failed on this document: {type(exc).__name__}: {exc}") from None
    bozo = _bozo_reason(parsed)
    if not parsed.entries and not parsed.feed.get("title") and not parsed.get("version"):
        raise ParseError(_not_a_feed(body, response_headers.get("content-type"), bozo))
    entries = [_entry(e, base_url) for e in parsed.entries[:MAX_ENTRIES]]
    notes = [*prepared.notes, *([bozo] if bozo else [])]
    return ParsedFeed(
        title=clean_line(parsed.feed.get("title")) or None,
        entries=tuple(entries),
        warning=clean_line("; ".join(notes), 500) or None,
        ttl_minutes=_int_or_none(parsed.feed.get("ttl")),
    )


def _entry(entry: Any, base_url: str) -> FeedEntry:
    content = entry.get("content") or []
    body = max((str(c.get("value", "")) for c in content), key=len, default="")
    summary = str(entry.get("summary", ""))
    text = html_to_text(body if len(body) > len(summary) else summary)
    return FeedEntry(
        guid=clean_line(entry.get("id"), 2_000) or None,
        link=safe_link(entry.get("link"), base_url),
        title=html_to_text(entry.get("title", ""), MAX_TITLE_CHARS),
        text=text,
        # dict.get: feedparser's own get maps a missing updated_parsed to published_parsed, with a warning.
        published=struct_to_utc(dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")),
        language=clean_line(entry.get("language") or "", 20) or None,
        author=clean_line(entry.get("author"), 200) or None,
    )


def safe_link(value: object, base_url: str) -> str | None:
    """An absolute http(s) URL, or None.

    Cleaned as a browser's URL parser does (outer spaces and controls stripped, tabs and line
    breaks removed, so ``java\nscript:`` is ``javascript:``), relative links resolved, and
    every scheme but http and https refused (``javascript:``, ``data:``, ``file:`` …).
    """
    if not isinstance(value, str):
        return None
    cleaned = _URL_TAB_OR_NEWLINE.sub("", value.strip(_URL_STRIPPED)).replace(" ", "%20")
    if not cleaned or len(cleaned) > MAX_URL_CHARS or not cleaned.isprintable():
        return None
    try:
        link = urljoin(base_url, cleaned)
        parts = urlsplit(link)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an invalid IPv6 literal or port
        return None
    return link if ok else None


def _bozo_reason(parsed: Any) -> str | None:
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    if exc is not None and type(exc).__name__ == "NonXMLContentType":
        return None  # said more usefully by _not_a_feed when it matters
    return clean_line(f"{type(exc).__name__}: {exc}", 300) if exc is not None else "ill-formed document"


# Magic numbers of what servers send instead of a feed when something is misconfigured.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "gzip-compressed data that was not declared as such"),
)


def _binary_kind(body: bytes, content_type: str | None) -> str | None:
    for magic, what in _MAGIC:
        if body.startswith(magic):
            return what
    head = body[:1024]
    # Text in UTF-16/32 has NUL bytes too, but then it starts with '<' (or a BOM) in that encoding.
    starts_like_text = head.lstrip(b"\x00\xef\xbb\xbf\xfe\xff \t\r\n").startswith(b"<")
    if not starts_like_text and sum(b < 9 or 13 < b < 32 for b in head) > len(head) // 10:
        return f"binary data ({content_type or 'no content type'})"
    return None


def _not_a_feed(body: bytes, content_type: str | None, warning: str | None) -> str:
    head = body[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or (content_type or "").startswith("text/html"):
        return f"the server sent an HTML page ({content_type or 'no content type'}), not a feed"
    if head.startswith((b"{", b"[")):
        return f"the server sent JSON ({content_type or 'no content type'}), not an RSS or Atom feed"
    return "no feed found in the document" + (f" ({warning})" if warning else "")


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
