"""Article pages → title, main text, publication date and language.

trafilatura finds the main text (menus, cookie banners, share bars, related-article lists and
comments left out) and, through htmldate, the publication date from the page's metadata
(``article:published_time``, JSON-LD, ``<time datetime>``…). Its "extensive" date search is
off: it falls back to any date on the page, down to the copyright year in the footer, and a
wrong date is worse than none (the pipeline then uses the listing's date or the first-seen time).

A source's ``selectors.article_text`` / ``selectors.article_date``, when set and matching,
take precedence: an operator sets them after seeing the extractor get a site wrong
(``monitor sources test``), so they must win. When they match nothing the extractor's result
is used, so a redesign of the site degrades to the extractor rather than to nothing.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from monitor.errors import ParseError
from monitor.parse.dates import parse_date_text
from monitor.parse.normalize import MAX_TEXT_CHARS, clean_line
from monitor.parse.page import date_of, soup_of, text_of
from monitor.types import Article, Selectors

if TYPE_CHECKING:
    import trafilatura.settings

_DATE_PARAMS = {"extensive_search": False, "original_date": True, "outputformat": "%Y-%m-%dT%H:%M:%S%z"}
_HTML_LANG = re.compile(rb"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def extract_article(
    body: bytes, url: str, selectors: Selectors | None = None, headers: Mapping[str, str] | None = None
) -> Article:
    """Extract one article; raise ``ParseError`` when the page is empty or not HTML."""
    if not body.strip():
        raise ParseError(f"the article page {url} is empty")
    document = _extract(body, url, headers)
    title = clean_line(document.title if document and document.title else _html_title(body))
    text = _without_leading_title(document.text if document and document.text else "", title)
    text_from = "extractor" if text else "none"
    published = parse_date_text(document.date) if document and document.date else None
    date_from = "extractor" if published else None
    if selectors and (selectors.article_text or selectors.article_date):
        soup = soup_of(body, headers)
        if selectors.article_text and (elements := soup.select(selectors.article_text)):
            text, text_from = text_of(elements), "selector"
        element = soup.select_one(selectors.article_date) if selectors.article_date else None
        if element is not None and (when := date_of(element)):
            published, date_from = when, "selector"
    return Article(
        url=url,
        title=title,
        text=clean_line(text, MAX_TEXT_CHARS),
        published=published,
        language=page_language(body, headers),
        author=(clean_line(document.author, 200) or None) if document else None,
        text_from=text_from,
        date_from=date_from,
    )


def _extract(body: bytes, url: str, headers: Mapping[str, str] | None) -> trafilatura.settings.Document | None:
    content_type = (headers or {}).get("content-type", "")
    if content_type and not any(t in content_type.lower() for t in ("html", "xml", "text/plain")):
        raise ParseError(f"{url} is not a web page ({content_type})")
    # Imported on first use: a process (or parse worker) that reads no article pages does not
    # carry trafilatura and its dictionaries.
    import trafilatura

    try:
        document = trafilatura.bare_extraction(
            _decoded(body, content_type),
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            favor_precision=True,
            date_extraction_params=_DATE_PARAMS,
        )
    # trafilatura and lxml raise a variety of errors on broken markup; for us each means
    # "no text could be extracted from this page", which the caller reports per article.
    except Exception as exc:  # noqa: BLE001
        raise ParseError(f"no text could be extracted from {url}: {type(exc).__name__}: {exc}") from exc
    return document if isinstance(document, trafilatura.settings.Document) else None


def _decoded(body: bytes, content_type: str) -> str | bytes:
    """The page as text when the server named its charset; otherwise bytes for trafilatura to sniff."""
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "charset":
            try:
                return body.decode(value.strip().strip("\"'"), errors="replace")
            except LookupError:
                break
    return body


def _without_leading_title(text: str, title: str) -> str:
    """trafilatura often repeats the headline as the first line of the text; the item has it already."""
    first, _, rest = text.partition("\n")
    if title and clean_line(first).casefold() == title.casefold():
        return rest
    return text


def _html_title(body: bytes) -> str:
    found = _TITLE.search(body[:200_000])
    return html.unescape(found.group(1).decode("utf-8", errors="replace")) if found else ""


def page_language(body: bytes, headers: Mapping[str, str] | None = None) -> str | None:
    """The primary language subtag the page declares (``sr-Cyrl`` → ``sr``), or None."""
    found = _HTML_LANG.search(body[:20_000])
    if found:
        return found.group(1).decode("ascii").lower()
    declared = (headers or {}).get("content-language", "").split(",")[0].strip()
    return declared.split("-")[0].lower() or None
