"""Small pure functions that make feed-supplied text safe and uniform."""

from __future__ import annotations

import html
import re
import time
import unicodedata
from datetime import UTC, datetime, timedelta

from bs4 import BeautifulSoup

MAX_TITLE_CHARS = 1_000
MAX_TEXT_CHARS = 50_000
# Dates further ahead than this are a server's clock or a typo, not news from the future.
FUTURE_TOLERANCE = timedelta(days=1)

_SPACE = re.compile(r"\s+")
# Line and paragraph separators, plus other control characters, never belong in a title.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085]")


# Markup is cut to this many times the text limit before parsing: the text it yields is cut
# anyway, and parsing a megabyte of markup for a title costs a second.
MARKUP_FACTOR = 4


def html_to_text(value: str | None, limit: int = MAX_TEXT_CHARS) -> str:
    """Markup → plain text with single spaces; entities decoded, scripts and styles dropped."""
    if not value:
        return ""
    value = value[: limit * MARKUP_FACTOR]
    if "<" in value:
        soup = BeautifulSoup(value, "html.parser")
        for tag in soup(["script", "style", "noscript", "template"]):
            tag.decompose()
        value = soup.get_text(" ")
    else:
        value = html.unescape(value)
    return clean_line(value, limit)


def clean_line(value: str | None, limit: int = MAX_TITLE_CHARS) -> str:
    """One line of text: no control characters or line breaks, collapsed spaces, NFC, bounded."""
    if not value:
        return ""
    value = unicodedata.normalize("NFC", value)
    value = _SPACE.sub(" ", _CONTROL.sub(" ", value)).strip()
    if len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    return value


def struct_to_utc(parsed: time.struct_time | None, now: datetime | None = None) -> datetime | None:
    """feedparser's UTC struct_time → aware datetime; None when missing or implausibly in the future."""
    if parsed is None:
        return None
    try:
        when = datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(UTC)
    if when > now + FUTURE_TOLERANCE:
        return None
    return when
