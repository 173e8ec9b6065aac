"""Building and rendering a digest: matched items grouped for an editor, as text and HTML.

Pure: stored items and what the configuration says about sources, topics and actors go in,
a ``RenderedDigest`` comes out. Everything a feed supplied is untrusted: HTML autoescaping is
on, links are kept only when they are http or https (feeds carry ``javascript:``, ``data:``
and ``vbscript:`` links), and control characters never reach the output.

Layout: one section per topic (items naming no topic of the profile come first, under "The
dialogue"); within a topic, the outlets of Pristina, then Belgrade, then international ones;
newest first within each. Each story appears once, under its first topic.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from monitor.match.engine import MARK_CLOSE, MARK_OPEN
from monitor.types import MatchResult, SourceState, StoredItem

if TYPE_CHECKING:
    from jinja2 import Environment

ORIGINS = ("pristina", "belgrade", "international")
ORIGIN_LABELS = {
    "pristina": "Pristina outlets",
    "belgrade": "Belgrade outlets",
    "international": "International outlets",
}
GENERAL_TOPIC = "The dialogue"
TIME_FORMAT = "%d %b %Y %H:%M"


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What a digest shows of a configured source (from the configuration, not the database)."""

    name: str
    title: str
    origin: str  # pristina | belgrade | international
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Catalog:
    """The names a digest needs: sources, and the labels of topics and actors."""

    sources: Mapping[str, SourceInfo]
    topics: Mapping[str, str]  # id → label, in profile order
    actors: Mapping[str, str]

    def source(self, name: str) -> SourceInfo:
        return self.sources.get(name) or SourceInfo(name, name, "international")


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a snippet; ``hit`` when it is one of the profile's terms (shown highlighted)."""

    text: str
    hit: bool = False


@dataclass(frozen=True, slots=True)
class DigestEntry:
    """One story as a digest (and a webhook payload) shows it."""

    item_id: int
    title: str
    url: str | None  # only http(s); None when the feed gave none or an unsafe one
    source: str
    source_title: str
    origin: str
    language: str | None
    published: datetime | None  # UTC
    first_seen: datetime  # UTC
    when: str  # shown time, in the reader's time zone
    snippet: tuple[Segment, ...]
    topics: tuple[str, ...]  # ids, profile order
    actors: tuple[str, ...]
    topic_labels: tuple[str, ...]
    actor_labels: tuple[str, ...]
    score: float = 0.0
    rule: str | None = None
    # Titles of the other outlets that carried the same story; filled by story clustering.
    also_reported_by: tuple[str, ...] = ()

    @property
    def snippet_text(self) -> str:
        return "".join(s.text for s in self.snippet)


@dataclass(frozen=True, slots=True)
class OriginGroup:
    origin: str
    label: str
    entries: tuple[DigestEntry, ...]


@dataclass(frozen=True, slots=True)
class TopicGroup:
    topic: str | None  # None for the general group
    label: str
    origins: tuple[OriginGroup, ...]

    @property
    def count(self) -> int:
        return sum(len(o.entries) for o in self.origins)


@dataclass(frozen=True, slots=True)
class HealthLine:
    source_title: str
    since: str
    errors: int
    message: str


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything a digest says, before it is put into words and markup."""

    groups: tuple[TopicGroup, ...]
    count: int
    period: str  # "since 21 Nov 2026 07:00" in the reader's zone; empty when unbounded
    day: str  # "22 Nov 2026"
    generated: str
    zone: str
    failing: tuple[HealthLine, ...] = ()
    sources_ok: int = 0
    held_back: int = 0  # items beyond the size cap, sent in the next digest
    entries: tuple[DigestEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    subject: str
    text: str
    html: str
    count: int


# ------------------------------------------------------------------ building


# Characters a URL may carry as they are; anything else (quotes, <, >, spaces…) is
# percent-encoded, so that no mail client's HTML parser can read it as markup.
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"


def safe_url(url: str | None) -> str | None:
    """The URL if it is an http(s) link with a host and no control characters, else None."""
    if not url:
        return None
    url = url.strip()
    # No control (C*) or separator (Z*) character: str.isprintable() is false for exactly those,
    # except the ASCII space, which it accepts and a URL may not carry either.
    if not url.isprintable() or " " in url:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return quote(url, safe=_URL_SAFE)


_CONTROLS = ("Cc", "Cf", "Zl", "Zp")
_WHITESPACE = re.compile(r"\s+")
_MARKS = re.compile(f"{MARK_OPEN}|{MARK_CLOSE}")


def clean_text(text: str) -> str:
    """Plain one-line text: control and line-separator characters become spaces."""
    # A printable string (str.isprintable(), in C) holds none of them: most titles and snippets.
    # Otherwise each distinct character is looked up once, not each occurrence.
    if not text.isprintable():
        controls = {ord(c): " " for c in set(text) if unicodedata.category(c) in _CONTROLS}
        if controls:
            text = text.translate(controls)
    return _WHITESPACE.sub(" ", text).strip()


def segments(marked: str) -> tuple[Segment, ...]:
    """A snippet with the matcher's ⟦marks⟧ around matched terms, as plain and highlighted pieces."""
    out: list[Segment] = []
    for index, piece in enumerate(_MARKS.split(marked)):
        if piece:
            out.append(Segment(piece, hit=index % 2 == 1))
    return tuple(out)


def build_entries(stored: Sequence[StoredItem], catalog: Catalog, zone: ZoneInfo) -> list[DigestEntry]:
    """One entry per stored item, newest first, times shown in the reader's zone.

    The snippet is the match's first marked snippet (matched terms between ⟦ and ⟧) when the
    match carries one, else its plain first snippet.
    """
    ordered = sorted(stored, key=lambda s: (s.item.published or s.first_seen, s.id), reverse=True)
    return [_entry(s, catalog, zone) for s in ordered]


def _snippet(match: MatchResult | None) -> tuple[Segment, ...]:
    if match is None:
        return ()
    if match.marked_snippets:
        return segments(clean_text(match.marked_snippets[0]))
    return segments(clean_text(match.snippets[0])) if match.snippets else ()


def _entry(stored: StoredItem, catalog: Catalog, zone: ZoneInfo) -> DigestEntry:
    item, match = stored.item, stored.match
    source = catalog.source(item.source)
    topics = tuple(t for t in catalog.topics if match and t in match.topics)
    topics += tuple(t for t in (match.topics if match else ()) if t not in topics)
    actors = match.actors if match else ()
    return DigestEntry(
        item_id=stored.id,
        title=clean_text(item.title) or "(untitled)",
        url=safe_url(item.url),
        source=item.source,
        source_title=clean_text(source.title),
        origin=source.origin if source.origin in ORIGINS else "international",
        language=item.language,
        published=item.published,
        first_seen=stored.first_seen,
        when=(item.published or stored.first_seen).astimezone(zone).strftime(TIME_FORMAT),
        snippet=_snippet(match),
        topics=topics,
        actors=actors,
        topic_labels=tuple(catalog.topics.get(t, t) for t in topics),
        actor_labels=tuple(catalog.actors.get(a, a) for a in actors),
        score=match.score if match else 0.0,
        rule=match.rule if match else None,
    )


def group_entries(entries: Sequence[DigestEntry], topic_labels: Mapping[str, str]) -> tuple[TopicGroup, ...]:
    """By first topic (general group first, then profile order), then by origin; order kept within."""
    order: list[str | None] = [None, *topic_labels]
    by_topic: dict[str | None, list[DigestEntry]] = {}
    for entry in entries:
        key = entry.topics[0] if entry.topics else None
        if key not in order:
            order.append(key)
        by_topic.setdefault(key, []).append(entry)
    groups = []
    for topic in order:
        members = by_topic.get(topic)
        if not members:
            continue
        origins = tuple(
            OriginGroup(origin, ORIGIN_LABELS[origin], tuple(e for e in members if e.origin == origin))
            for origin in ORIGINS
            if any(e.origin == origin for e in members)
        )
        label = GENERAL_TOPIC if topic is None else topic_labels.get(topic, topic)
        groups.append(TopicGroup(topic, label, origins))
    return tuple(groups)


def health_lines(states: Mapping[str, SourceState], catalog: Catalog, zone: ZoneInfo) -> tuple[HealthLine, ...]:
    """The configured sources whose last poll failed: since when, how often, why."""
    lines = []
    for name, info in catalog.sources.items():
        state = states.get(name)
        if state is None or state.last_status != "error":
            continue
        since = state.failing_since.astimezone(zone).strftime(TIME_FORMAT) if state.failing_since else "?"
        message = clean_text(state.last_error_message or state.last_error_kind or "unknown error")
        lines.append(HealthLine(clean_text(info.title), since, state.consecutive_errors, message[:200]))
    return tuple(sorted(lines, key=lambda h: h.source_title.lower()))


def build_digest(
    entries: Sequence[DigestEntry],
    catalog: Catalog,
    zone: ZoneInfo,
    now: datetime,
    *,
    since: datetime | None = None,
    states: Mapping[str, SourceState] | None = None,
    held_back: int = 0,
    zone_name: str | None = None,
) -> Digest:
    """``zone_name``: the zone as the reader wrote it (Europe/Pristina is Europe/Belgrade to tzdata)."""
    local_now = now.astimezone(zone)
    failing = health_lines(states or {}, catalog, zone)
    return Digest(
        groups=group_entries(entries, catalog.topics),
        count=len(entries),
        period=f"since {since.astimezone(zone).strftime(TIME_FORMAT)}" if since else "",
        day=local_now.strftime("%d %b %Y").lstrip("0"),
        generated=local_now.strftime(f"{TIME_FORMAT} %Z"),
        zone=zone_name or str(zone.key),
        failing=failing,
        sources_ok=len(catalog.sources) - len(failing),
        held_back=held_back,
        entries=tuple(entries),
    )


# ------------------------------------------------------------------ rendering


def subject_for(count: int, day: str) -> str:
    if count == 0:
        return f"Kosovo–Serbia dialogue: no new developments — {day}"
    noun = "item" if count == 1 else "items"
    return f"Kosovo–Serbia dialogue: {count} new {noun} — {day}"


def _environment() -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("monitor.notify", "templates"),
        autoescape=select_autoescape(["html", "html.j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


class DigestRenderer:
    """Jinja2 templates and the CSS inliner, loaded once and reused for every digest.

    Jinja2 and css-inline are imported here, when the first renderer is made, not with this
    module: ``monitor poll`` builds digest entries for alerts but renders no digest, and the
    two libraries cost it about 5 MB and 0.1 s of start-up.
    """

    def __init__(self) -> None:
        import css_inline

        self._env = _environment()
        # Mail clients drop <style> blocks: every rule goes into style="" attributes; only
        # @media rules (narrow screens) stay in a <style> block for the clients that read it.
        self._inliner = css_inline.CSSInliner(keep_style_tags=False, keep_at_rules=True, load_remote_stylesheets=False)

    def render(self, digest: Digest) -> RenderedDigest:
        subject = subject_for(digest.count, digest.day)
        context = {"subject": subject, "digest": digest}
        html = self._env.get_template("digest.html.j2").render(context)
        return RenderedDigest(
            subject=subject,
            text=self._env.get_template("digest.txt.j2").render(context),
            html=self._inliner.inline(html),
            count=digest.count,
        )
