"""Listing pages: the article links a CSS selector picks out, with their titles and dates.

A listing entry is the block around one link (a card, a list item): the largest ancestor of
the link that holds no link to another article. The optional ``title`` and ``date`` selectors
are looked up inside that block, so one selector works for every card of the page. Without a
``date`` selector a ``<time datetime>`` in the block is used; without a ``title`` selector the
link's own text (or its ``title`` attribute, or an image's ``alt``).

Also here: the feeds a page advertises, for ``monitor sources discover``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

from bs4 import BeautifulSoup, Tag

from monitor.errors import ParseError
from monitor.identity import url_key
from monitor.parse.dates import parse_date_text
from monitor.parse.normalize import clean_line, html_to_text
from monitor.types import FeedLink, Listing, ListingLink, Selectors

MAX_LINKS = 500
FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/rdf+xml": "rdf",
    "application/feed+json": "json",
    "application/xml": "xml",
    "text/xml": "xml",
}
# Paths where sites commonly publish their feed, tried by ``monitor sources discover``.
COMMON_FEED_PATHS = (
    "/feed/",
    "/rss",
    "/rss.xml",
    "/feed.xml",
    "/atom.xml",
    "/index.xml",
    "/feeds/posts/default",
    "/?feed=rss2",
    "/api/",
)


def soup_of(body: bytes, headers: Mapping[str, str] | None = None) -> BeautifulSoup:
    """Parse an HTML document, honouring the charset of the Content-Type header when there is one."""
    charset = _charset((headers or {}).get("content-type"))
    try:
        return BeautifulSoup(body, "lxml", from_encoding=charset)
    except LookupError:  # an unknown charset name: let the document's own declaration decide
        return BeautifulSoup(body, "lxml")


def parse_listing(
    body: bytes, base_url: str, selectors: Selectors, headers: Mapping[str, str] | None = None
) -> Listing:
    """The article links of a listing page; raise ``ParseError`` when the body is not HTML at all."""
    if not selectors.links:
        raise ParseError("a page source needs selectors.links to find its article links")
    if not body.strip():
        raise ParseError("the server sent an empty page")
    soup = soup_of(body, headers)
    if soup.find() is None:
        raise ParseError("the page holds no HTML elements")
    base = _base_href(soup, base_url)
    anchors = [(element, anchor) for element in soup.select(selectors.links) if (anchor := _anchor(element))]
    urls = {id(anchor): _article_url(anchor, base) for _, anchor in anchors}
    blocks = _entry_blocks([(anchor, url) for _, anchor in anchors if (url := urls[id(anchor)])])
    listing_key = url_key(base_url)
    links: dict[str, ListingLink] = {}
    for element, anchor in anchors:
        url = urls[id(anchor)]
        if url is None or url_key(url) == listing_key:
            continue
        block = blocks.get(id(anchor), anchor)
        found = ListingLink(
            url=url,
            title=_title(element, anchor, block, selectors.title),
            published=_date(block, selectors.date),
        )
        key = url_key(url)
        known = links.get(key)
        if known is None:
            if len(links) < MAX_LINKS:
                links[key] = found
        elif len(found.title) > len(known.title):  # an image link (alt text) first, then the headline
            links[key] = ListingLink(known.url, found.title, known.published or found.published)
    title = clean_line(soup.title.get_text(" ")) if soup.title else None
    return Listing(title=title or None, links=tuple(links.values()))


def _anchor(element: Tag) -> Tag | None:
    if element.name == "a" and element.get("href"):
        return element
    inner = element.find("a", href=True)
    if isinstance(inner, Tag):
        return inner
    parent = element.find_parent("a", href=True)
    return parent if isinstance(parent, Tag) else None


def _article_url(anchor: Tag, base: str) -> str | None:
    href = str(anchor.get("href") or "").strip()
    if not href or href.startswith("#"):
        return None
    url = urljoin(base, href)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit(parts._replace(fragment=""))


def _base_href(soup: BeautifulSoup, page_url: str) -> str:
    base = soup.find("base", href=True)
    return urljoin(page_url, str(base["href"])) if isinstance(base, Tag) else page_url


def _entry_blocks(anchors: list[tuple[Tag, str]]) -> dict[int, Tag]:
    """For each link, the largest ancestor whose links all lead to the same article."""
    urls_below: dict[int, set[str]] = {}
    for anchor, url in anchors:
        key = url_key(url)
        for ancestor in anchor.parents:
            urls_below.setdefault(id(ancestor), set()).add(key)
    blocks: dict[int, Tag] = {}
    for anchor, _ in anchors:
        block: Tag = anchor
        for ancestor in anchor.parents:
            if ancestor.name in ("body", "html", "[document]") or len(urls_below[id(ancestor)]) > 1:
                break
            block = ancestor
        blocks[id(anchor)] = block
    return blocks


def _title(element: Tag, anchor: Tag, block: Tag, selector: str | None) -> str:
    if selector:
        found = block.select_one(selector)
        if found is not None:
            return clean_line(found.get_text(" "))
    for candidate in (anchor.get_text(" "), element.get_text(" "), anchor.get("title"), _image_alt(anchor)):
        text = clean_line(str(candidate or ""))
        if text:
            return text
    return ""


def _image_alt(anchor: Tag) -> str | None:
    image = anchor.find("img", alt=True)
    return str(image["alt"]) if isinstance(image, Tag) else None


def _date(block: Tag, selector: str | None) -> datetime | None:
    found = block.select_one(selector) if selector else block.find("time")
    return date_of(found) if isinstance(found, Tag) else None


def date_of(element: Tag) -> datetime | None:
    """The date an element carries: a machine attribute first, then its visible text."""
    for attribute in ("datetime", "content", "data-date", "data-timestamp", "title"):
        value = element.get(attribute)
        if isinstance(value, str) and (when := parse_date_text(value)):
            return when
    return parse_date_text(element.get_text(" "))


def text_of(elements: Iterable[Tag]) -> str:
    """The visible text of some elements, scripts and styles left out, as one line."""
    return clean_line(" ".join(html_to_text(str(element)) for element in elements), 50_000)


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


# ---------------------------------------------------------------- feed discovery


def advertised_feeds(body: bytes, base_url: str, headers: Mapping[str, str] | None = None) -> list[FeedLink]:
    """Feeds a page points to: ``<link rel="alternate" type="application/rss+xml">`` and kin, then
    ``<a href>`` links that look like feeds. In page order, each URL once."""
    soup = soup_of(body, headers)
    base = _base_href(soup, base_url)
    found: dict[str, FeedLink] = {}
    for link in soup.find_all("link", href=True):
        rel = {r.lower() for r in _as_list(link.get("rel"))}
        kind = str(link.get("type") or "").split(";")[0].strip().lower()
        if ("alternate" in rel or "feed" in rel) and kind in FEED_TYPES:
            url = urljoin(base, str(link["href"]).strip())
            title = clean_line(str(link.get("title") or "")) or None
            found.setdefault(url_key(url), FeedLink(url, title, "advertised"))
    for anchor in soup.find_all("a", href=True):
        href = str(anchor["href"]).strip()
        path = urlsplit(href).path.lower().rstrip("/")
        if path.endswith(("/feed", "/rss", ".rss", "/atom", ".atom", "rss.xml", "atom.xml", "feed.xml")):
            url = urljoin(base, href)
            if urlsplit(url).scheme in ("http", "https"):
                found.setdefault(url_key(url), FeedLink(url, clean_line(anchor.get_text(" ")) or None, "linked"))
    return list(found.values())


def common_feed_urls(page_url: str) -> list[str]:
    parts = urlsplit(page_url)
    root = f"{parts.scheme}://{parts.netloc}"
    return [root + path for path in COMMON_FEED_PATHS]


def _as_list(value: object) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(v) for v in value]
    return []
