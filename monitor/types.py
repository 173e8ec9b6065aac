"""Plain, frozen records that cross stage boundaries (stdlib only).

Named by what they are at each step of the line:
``Fetched``/``NotModified`` (fetch) → ``FeedEntry`` (parse) → ``Item`` (identify)
→ ``MatchResult`` (match) → ``SourceOutcome`` (one poll of one source, for reports)
→ ``NextCheck`` (decide: when the source is checked again).
Listing pages give ``ListingLink``s and article pages an ``Article`` (parse), which the
pipeline turns into ``FeedEntry``s so pages and feeds share the rest of the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, get_args

# The languages matched and the origins a digest groups outlets by (config.yaml's sources).
Language = Literal["en", "sq", "sr"]
Origin = Literal["pristina", "belgrade", "international"]
LANGUAGES: tuple[str, ...] = get_args(Language)
ORIGINS: tuple[str, ...] = get_args(Origin)


@dataclass(frozen=True, slots=True)
class Validators:
    """What a server gave us to ask "has it changed?" next time (conditional GET)."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes
    validators: Validators
    elapsed: float


@dataclass(frozen=True, slots=True)
class NotModified:
    url: str
    validators: Validators
    elapsed: float
    # The caching headers of the 304 (Cache-Control, Expires), which still say when to come back.
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry as a feed (or page) gave it, already normalised to plain text and UTC."""

    guid: str | None
    link: str | None
    title: str
    text: str
    published: datetime | None
    language: str | None
    author: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str | None
    entries: tuple[FeedEntry, ...]
    # feedparser's "bozo" reason when the document was ill-formed but still gave entries.
    warning: str | None = None
    ttl_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class Selectors:
    """CSS selectors for a page source: links (and their title/date) on the listing, text/date on articles."""

    links: str | None = None
    title: str | None = None
    date: str | None = None
    article_text: str | None = None
    article_date: str | None = None


@dataclass(frozen=True, slots=True)
class ListingLink:
    """One article link found on a listing page, with what the listing says about it."""

    url: str
    title: str
    published: datetime | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    title: str | None
    links: tuple[ListingLink, ...]


@dataclass(frozen=True, slots=True)
class Article:
    """What was extracted from one article page; ``*_from`` say how, for ``monitor sources test``."""

    url: str
    title: str
    text: str
    published: datetime | None
    language: str | None
    author: str | None = None
    text_from: str = "extractor"  # extractor | selector | none
    date_from: str | None = None  # selector | metadata | extractor | None


@dataclass(frozen=True, slots=True)
class FeedLink:
    """A feed found on a web page by ``monitor sources discover``."""

    url: str
    title: str | None
    how: str  # advertised (<link rel="alternate">) | linked (<a href>) | common path


@dataclass(frozen=True, slots=True)
class Item:
    """An entry with its identity: what the store keeps once."""

    source: str
    key: str
    url: str | None
    guid: str | None
    title: str
    text: str
    published: datetime | None
    language: str | None
    content_hash: str
    author: str | None = None


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Why an item is (or is not) about the dialogue, so an editor can see the reason."""

    relevant: bool
    score: float
    snippets: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    meeting_level: str | None = None
    rule: str | None = None
    # The snippets again, with each matched term between ⟦ and ⟧ (for display; stored with the match).
    marked_snippets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RematchSummary:
    """What re-applying the profile to stored items changed (``monitor rematch``)."""

    checked: int = 0
    added: int = 0  # items the new rules catch that had no match (stored with notify=False)
    updated: int = 0  # items still caught, with a different score, reason or snippet
    removed: int = 0  # items the new rules no longer catch
    unchanged: int = 0


class OutcomeStatus(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """The result of polling one source once: a value, never an exception."""

    source: str
    status: OutcomeStatus
    entries: int = 0
    new_items: int = 0
    new_matches: int = 0
    updated_items: int = 0  # stored items rewritten with a newer version of their text
    capped_updates: int = 0  # changed items left alone: they reached updates.max_revisions
    error_kind: str | None = None
    error_message: str | None = None
    warning: str | None = None
    elapsed: float = 0.0
    validators: Validators = field(default_factory=Validators)
    # How this poll keyed the feed's items ("url+guid" or "link+date", see identity.KeyPolicy) and
    # the share of its entries with an empty or repeated GUID; None when nothing was parsed.
    key_policy: str | None = None
    guid_problem_share: float | None = None
    # What the server and the feed said about when to come back (input to ``monitor.decide``).
    retry_after: float | None = None  # seconds, from Retry-After on 429/503
    max_age: float | None = None  # seconds, from Cache-Control max-age
    ttl_minutes: int | None = None  # the feed's own <ttl>
    # When the source is checked next, once the poll is recorded (None for one-off polls).
    next_check: NextCheck | None = None


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item as read back from the store, with its match when it has one."""

    id: int
    item: Item
    first_seen: datetime
    match: MatchResult | None = None


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the store remembers about a source between polls."""

    name: str
    validators: Validators = field(default_factory=Validators)
    last_status: str | None = None
    last_error_kind: str | None = None
    last_error_message: str | None = None
    last_polled_at: datetime | None = None
    last_ok_at: datetime | None = None
    failing_since: datetime | None = None
    consecutive_errors: int = 0
    items_total: int = 0
    key_policy: str = "url+guid"
    guid_problem_share: float | None = None
    next_check_at: datetime | None = None
    next_check_reason: str | None = None
    paused_at: datetime | None = None
    paused_reason: str | None = None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


class CheckReason(StrEnum):
    """Why the next check of a source is when it is (shown in logs and ``monitor sources``)."""

    INTERVAL = "interval"  # the configured interval
    ADAPTIVE = "adaptive"  # the interval adapted to how often the source publishes
    BACKOFF = "backoff"  # after consecutive errors
    PROBE = "probe"  # the source is paused; this is the next probe
    TTL = "ttl"  # the feed's <ttl> asked for a longer wait
    CACHE_CONTROL = "cache-control"  # the server's Cache-Control max-age asked for a longer wait
    RETRY_AFTER = "retry-after"  # the server's Retry-After asked for a longer wait
    RESUMED = "resumed"  # resumed by hand: check at once


@dataclass(frozen=True, slots=True)
class NextCheck:
    """When a source is checked next and why; ``paused_reason`` set means it is (still) paused."""

    at: datetime
    reason: CheckReason
    paused_reason: str | None = None


@dataclass(frozen=True, slots=True)
class SourceHistory:
    """What the store knows of a source once a poll is recorded: what the next check depends on."""

    consecutive_errors: int
    # Items of the source published (or, undated, first seen) in the seven days before the poll.
    weekly_entries: int
    paused: bool
    # The feed's <ttl> as last seen in a full answer (a 304 does not repeat it).
    feed_ttl_minutes: int | None = None
    # Whether any poll of the source ever succeeded: until one has, there is nothing to adapt to.
    ever_ok: bool = True


# ---------------------------------------------------------------- updates and stories


@dataclass(frozen=True, slots=True)
class KnownItem:
    """A fetched item that is already stored: the version just fetched and what the store has."""

    item: Item
    stored_id: int
    stored_hash: str
    revisions: int
    matched: bool  # the stored item has a match: it was found to be about the dialogue
    # The source the stored item came from; a fetched version from another source is a syndicated
    # copy under the same key, not a revision (None: unknown, treated as the same source).
    stored_source: str | None = None


@dataclass(frozen=True, slots=True)
class Triage:
    """A poll's items sorted against the store: new ones, stored ones whose text changed, the rest."""

    new: tuple[Item, ...]
    changed: tuple[KnownItem, ...] = ()
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class ItemUpdate:
    """A stored item to be rewritten with a newer version of its title and text."""

    item_id: int
    item: Item
    revision: int  # the item's revision count after this update (the first version is 0)
    # The new text mentions the dialogue where the stored one did not: this match is stored, and
    # ``alert`` says whether it is news (a re-alert) or only shown (``updates.alert_on_new_mention``).
    new_match: MatchResult | None = None
    alert: bool = False


@dataclass(frozen=True, slots=True)
class StoryCopy:
    """One outlet's item in a story."""

    item_id: int
    source: str
    title: str
    url: str | None
    published: datetime | None
    first_seen: datetime


@dataclass(frozen=True, slots=True)
class StoryRef:
    """The story of one item, for digests and webhooks: show the story once, with its other outlets."""

    story_id: int
    lead_item_id: int | None
    size: int  # items in the story, this one included
    # The story's other outlets (one entry per source other than this item's, earliest item first).
    also_reported_by: tuple[StoryCopy, ...] = ()


@dataclass(frozen=True, slots=True)
class StorySummary:
    """A story as `monitor stories` lists it."""

    id: int
    lead: StoryCopy | None
    started: datetime
    first_seen: datetime
    size: int
    outlets: tuple[StoryCopy, ...]  # the first item of each source, earliest first (the lead's first)
    notified: bool  # one of its items was stored as news (a match with notify=True)
    relevant: bool  # one of its items is about the dialogue


class DeliveryStatus(StrEnum):
    """Where a delivery is in the outbox: pending → sending → sent, or back to pending, or dead."""

    PENDING = "pending"  # recorded, not sent yet (or waiting for its next attempt)
    SENDING = "sending"  # claimed by a process until ``lease_until``; taken over if it died
    SENT = "sent"
    DEAD = "dead"  # gave up: too many attempts or a permanent refusal; shown, never dropped


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery to record in the outbox before anything is sent."""

    key: str  # unique: "digest:<subscriber>:<period end>" or "event:<subscriber>:item:<id>"
    subscriber: str
    channel: str  # "email" or "webhook"
    kind: str  # "digest" or "event"
    message_id: str  # the Message-ID / webhook-id, the same on every attempt
    payload: str  # exactly what is sent: the MIME message or the JSON body
    recipients: tuple[str, ...] = ()
    period_start: datetime | None = None
    period_end: datetime | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery as the outbox holds it."""

    id: int
    key: str
    subscriber: str
    channel: str
    kind: str
    message_id: str
    payload: str
    recipients: tuple[str, ...]
    status: DeliveryStatus
    attempts: int
    item_count: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
