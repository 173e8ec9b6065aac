"""A fast path for plain, well-formed RSS 2.0 and Atom 1.0 feeds, read with lxml.

feedparser reads anything, but slowly: on a cold poll of many feeds it is most of the time.
Most feeds are plain: a well-formed document whose entries use the few elements everyone uses.
``read_plain_feed`` reads exactly those, with lxml's C parser, into the same raw values feedparser
gives for them (dates through feedparser's own date parser), and returns None for anything
else, which feedparser then reads: any XML error, a DOCTYPE, ``xml:base``, RSS 0.9x/1.0/RDF,
an entry element it does not know, an element given twice, markup where text is expected,
XHTML content, out-of-line content. A test holds both paths to the same entries on every
well-formed file of the feedparser corpus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from feedparser.datetimes import _parse_date
from lxml import etree

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"

# RSS item children that feedparser turns into nothing we keep, or into exactly what we read.
_RSS_IGNORED = frozenset(
    {
        "category",
        "comments",
        "enclosure",
        "{http://purl.org/rss/1.0/modules/slash/}comments",
        "{http://wellformedweb.org/CommentAPI/}commentRss",
    }
)
_RSS_READ = frozenset({"title", "link", "description", "guid", "pubDate", "author", DC_CREATOR, CONTENT_ENCODED})
_ATOM_IGNORED = frozenset({ATOM + "category", ATOM + "rights", ATOM + "contributor"})
_ATOM_READ = frozenset(
    {ATOM + n for n in ("id", "title", "link", "published", "updated", "author", "summary", "content")}
)
_C1 = re.compile("[\x80-\x9f]")
_TEXT_TYPES = frozenset({"text", "html", "text/html", "text/plain"})


@dataclass(frozen=True, slots=True)
class PlainFeed:
    """What feedparser would have given, for the fields the monitor keeps."""

    version: str
    title: str | None
    ttl: str | None
    entries: tuple[dict[str, Any], ...]


class _Unusual(Exception):
    """Something feedparser reads in its own way: leave the document to it."""


def read_plain_feed(data: bytes, base_url: str) -> PlainFeed | None:
    """The feed, if it is plain RSS 2.0 or Atom 1.0; None when feedparser must read it."""
    head = data[:2048]
    if b"<!DOCTYPE" in head or b"<!doctype" in head or b"xml:base" in data:
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=False, remove_comments=True)
    try:
        root = etree.fromstring(data, parser)
    except (etree.LxmlError, ValueError):
        return None
    try:
        if root.tag == "rss" and root.get("version") == "2.0":
            return _rss(root)
        if root.tag == ATOM + "feed":
            return _atom(root, base_url)
    except _Unusual:
        return None
    return None


# ---------------------------------------------------------------- shared


def _text(element: Any) -> str:
    if len(element):  # child elements where text belongs: feedparser reads them as inline markup
        raise _Unusual
    text = str(element.text or "").strip()
    if _C1.search(text):  # Windows-1252 punctuation in the C1 range: feedparser repairs it
        raise _Unusual
    return text


def _children(parent: Any, read: frozenset[str], ignored: frozenset[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for child in parent:
        tag = child.tag
        if not isinstance(tag, str):  # processing instructions
            raise _Unusual
        if tag in ignored:
            if len(child):  # feedparser reads nested elements into the entry (an <image><title> …)
                raise _Unusual
            continue
        if tag not in read or tag in found:
            raise _Unusual
        found[tag] = child
    return found


def _date(element: Any | None) -> Any:
    return _parse_date(_text(element)) if element is not None else None


# ---------------------------------------------------------------- RSS 2.0


def _rss(root: Any) -> PlainFeed:
    channels = [c for c in root if c.tag == "channel"]
    if len(channels) != 1:
        raise _Unusual
    channel = channels[0]
    title = ttl = None
    entries = []
    for child in channel:
        if not isinstance(child.tag, str):
            raise _Unusual
        if child.tag.startswith("{") and child.tag.rsplit("}", 1)[1] in ("item", "title", "ttl"):
            raise _Unusual  # dc:title, items in another namespace …
        if child.tag == "item":
            entries.append(_rss_item(child))
        elif child.tag == "title" and not len(child):
            title = str(child.text or "").strip()
        elif child.tag == "ttl" and not len(child):
            ttl = str(child.text or "").strip()
    return PlainFeed("rss20", title, ttl, tuple(entries))


def _rss_item(item: Any) -> dict[str, Any]:
    if item.attrib:
        raise _Unusual
    found = _children(item, _RSS_READ, _RSS_IGNORED)
    entry: dict[str, Any] = {}
    if "title" in found:
        entry["title"] = _text(found["title"])
    guid = found.get("guid")
    if guid is not None:
        permalink = guid.get("isPermaLink", "true")
        if permalink not in ("true", "false") or set(guid.attrib) - {"isPermaLink"}:
            raise _Unusual
        entry["id"] = _text(guid)
        if permalink == "true" and entry["id"]:
            entry["link"] = entry["id"]
    if "link" in found:
        entry["link"] = _text(found["link"])
    if "description" in found:
        entry["summary"] = _text(found["description"])
    if CONTENT_ENCODED in found:
        entry["content"] = [{"value": _text(found[CONTENT_ENCODED])}]
    # feedparser keeps the last author-like element of the item.
    authors = [child for child in item if child.tag in ("author", DC_CREATOR)]
    if authors:
        entry["author"] = _text(authors[-1])
    published = _date(found.get("pubDate"))
    if published is not None:
        entry["published_parsed"] = published
    return entry


# ---------------------------------------------------------------- Atom 1.0


def _atom(root: Any, base_url: str) -> PlainFeed:
    title = None
    entries = []
    for child in root:
        if not isinstance(child.tag, str):
            raise _Unusual
        if child.tag.rsplit("}", 1)[-1] in ("entry", "item") and child.tag != ATOM + "entry":
            raise _Unusual  # entries in another namespace, RSS items in an Atom feed …
        if child.tag == ATOM + "entry":
            entries.append(_atom_entry(child, base_url))
        elif child.tag == ATOM + "title":
            title = _atom_text(child)
    return PlainFeed("atom10", title, None, tuple(entries))


def _atom_text(element: Any) -> str:
    kind = element.get("type", "text")
    if kind not in _TEXT_TYPES or set(element.attrib) - {"type"}:
        raise _Unusual
    return _text(element)


def _atom_entry(entry_element: Any, base_url: str) -> dict[str, Any]:
    if set(entry_element.attrib) - {"{http://www.w3.org/XML/1998/namespace}lang"}:
        raise _Unusual
    links = [child for child in entry_element if child.tag == ATOM + "link"]
    children = [child for child in entry_element if child.tag != ATOM + "link"]
    found = _children(children, _ATOM_READ, _ATOM_IGNORED)
    entry: dict[str, Any] = {}
    if ATOM + "id" in found:
        entry["id"] = _text(found[ATOM + "id"])
        if urljoin(base_url, entry["id"]) != entry["id"]:  # feedparser resolves (and so rewrites) it
            raise _Unusual
    if ATOM + "title" in found:
        entry["title"] = _atom_text(found[ATOM + "title"])
    alternates = [link for link in links if link.get("rel", "alternate") == "alternate"]
    if len(alternates) > 1 or any(len(link) or link.get("href") is None for link in links):
        raise _Unusual
    if not alternates:  # feedparser then takes the id for the link
        raise _Unusual
    if alternates:
        kind = alternates[0].get("type", "text/html")
        if kind not in ("text/html", "application/xhtml+xml"):
            raise _Unusual
        entry["link"] = urljoin(base_url, alternates[0].get("href").strip())
    if ATOM + "summary" in found:
        entry["summary"] = _atom_text(found[ATOM + "summary"])
    if ATOM + "content" in found:
        entry["content"] = [{"value": _atom_text(found[ATOM + "content"])}]
    if ATOM + "author" in found:
        entry["author"] = _atom_author(found[ATOM + "author"])
    for name, key in (("published", "published_parsed"), ("updated", "updated_parsed")):
        when = _date(found.get(ATOM + name))
        if when is not None:
            entry[key] = when
    return entry


def _atom_author(element: Any) -> str:
    parts = _children(element, frozenset({ATOM + "name", ATOM + "email"}), frozenset({ATOM + "uri"}))
    name = _text(parts[ATOM + "name"]) if ATOM + "name" in parts else ""
    email = _text(parts[ATOM + "email"]) if ATOM + "email" in parts else ""
    if name and email:
        return f"{name} ({email})"
    return name or email
