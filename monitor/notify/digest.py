"""Rendering a digest of matched items as plain text and HTML (Jinja2).

Everything a feed supplied is untrusted: HTML autoescaping is on, and links are kept only
when they are http or https (feeds carry ``javascript:`` and ``data:`` links).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from monitor.types import StoredItem


@dataclass(frozen=True, slots=True)
class DigestEntry:
    title: str
    url: str | None
    source: str
    source_title: str
    when: str
    language: str | None
    snippet: str | None
    topics: tuple[str, ...]
    actors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    subject: str
    text: str
    html: str
    count: int


def safe_url(url: str | None) -> str | None:
    """The URL if it is a plain http(s) link, else None."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.hostname else None


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("monitor.notify", "templates"),
        autoescape=select_autoescape(["html", "html.j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


_ENV = _environment()


def build_entries(stored: Sequence[StoredItem], zone: ZoneInfo, source_titles: dict[str, str]) -> list[DigestEntry]:
    """Newest first; each entry's time shown in the reader's time zone."""
    ordered = sorted(stored, key=lambda s: (s.item.published or s.first_seen, s.id), reverse=True)
    return [
        DigestEntry(
            title=s.item.title or "(untitled)",
            url=safe_url(s.item.url),
            source=s.item.source,
            source_title=source_titles.get(s.item.source, s.item.source),
            when=(s.item.published or s.first_seen).astimezone(zone).strftime("%d %b %Y %H:%M"),
            language=s.item.language,
            snippet=s.match.snippets[0] if s.match and s.match.snippets else None,
            topics=s.match.topics if s.match else (),
            actors=s.match.actors if s.match else (),
        )
        for s in ordered
    ]


def subject_for(count: int, day: datetime) -> str:
    noun = "item" if count == 1 else "items"
    return f"Kosovo–Serbia dialogue: {count} new {noun} — {day.strftime('%d %b %Y').lstrip('0')}"


def render_digest(entries: Sequence[DigestEntry], now: datetime, zone: ZoneInfo) -> RenderedDigest:
    local_now = now.astimezone(zone)
    subject = subject_for(len(entries), local_now)
    context = {"subject": subject, "entries": entries, "generated": local_now.strftime("%d %b %Y %H:%M %Z")}
    return RenderedDigest(
        subject=subject,
        text=_ENV.get_template("digest.txt.j2").render(context),
        html=_ENV.get_template("digest.html.j2").render(context),
        count=len(entries),
    )
