"""The database schema (SQLModel tables). Times are stored in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class SourceRow(SQLModel, table=True):
    __tablename__ = "sources"

    name: str = Field(primary_key=True, max_length=64)
    etag: str | None = Field(default=None, sa_column=Column(Text))
    last_modified: str | None = Field(default=None, max_length=100)
    last_status: str | None = Field(default=None, max_length=20)
    last_error_kind: str | None = Field(default=None, max_length=40)
    last_error_message: str | None = Field(default=None, sa_column=Column(Text))
    last_polled_at: datetime | None = _time()
    last_ok_at: datetime | None = _time()
    failing_since: datetime | None = _time()
    consecutive_errors: int = 0
    items_total: int = 0
    # "url+guid", or "link+date" once the feed's GUIDs proved untrustworthy (identity.KeyPolicy).
    key_policy: str = Field(default="url+guid", max_length=20)
    guid_problem_share: float | None = None
    # Scheduling (``monitor run``): when the source is due, why, and which replica holds it.
    feed_ttl_minutes: int | None = None
    next_check_at: datetime | None = _time(index=True)
    next_check_reason: str | None = Field(default=None, max_length=20)
    paused_at: datetime | None = _time()
    paused_reason: str | None = Field(default=None, sa_column=Column(Text))
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = _time()


class ItemRow(SQLModel, table=True):
    __tablename__ = "items"
    __table_args__ = (Index("ix_items_source_guid", "source", "guid"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    source: str = Field(max_length=64, index=True)
    guid: str | None = Field(default=None, sa_column=Column(Text))
    url: str | None = Field(default=None, sa_column=Column(Text))
    title: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    published_at: datetime | None = _time()
    language: str | None = Field(default=None, max_length=20)
    author: str | None = Field(default=None, sa_column=Column(Text))
    content_hash: str = Field(max_length=64)
    first_seen_at: datetime = _time(nullable=False, index=True)
    # How many times a newer version of the text replaced the stored one (0: never updated).
    # (a server default, so rows written by other tools and added columns on old databases are valid)
    revisions: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    revised_at: datetime | None = _time()


class MatchRow(SQLModel, table=True):
    __tablename__ = "matches"

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="items.id", unique=True)
    score: float
    snippets: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The snippets with the matched terms between ⟦ and ⟧, as the digest shows them (so it need not
    # run the matcher again). Rows stored before this column have [] (the digest then re-matches).
    marked_snippets: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default=text("'[]'"))
    )
    actors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    meeting_level: str | None = Field(default=None, max_length=40)
    rule: str | None = Field(default=None, sa_column=Column(Text))
    matcher_version: str = Field(max_length=40)
    matched_at: datetime = _time(nullable=False, index=True)
    # False for matches found later by re-applying the profile to old items (``monitor rematch``):
    # those are shown but never sent to subscribers as news.
    notify: bool = True


class PollRow(SQLModel, table=True):
    """One line per source per poll: the history behind ``monitor sources``."""

    __tablename__ = "polls"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64, index=True)
    polled_at: datetime = _time(nullable=False, index=True)
    status: str = Field(max_length=20)
    error_kind: str | None = Field(default=None, max_length=40)
    error_message: str | None = Field(default=None, sa_column=Column(Text))
    entries: int = 0
    new_items: int = 0
    new_matches: int = 0
    elapsed: float = 0.0


class TombstoneRow(SQLModel, table=True):
    """The key of an item deleted by retention: it is never stored (or alerted) again."""

    __tablename__ = "tombstones"
    __table_args__ = (Index("ix_tombstones_source_guid", "source", "guid"),)

    key: str = Field(sa_column=Column(Text, primary_key=True))
    source: str = Field(max_length=64)
    guid: str | None = Field(default=None, sa_column=Column(Text))
    deleted_at: datetime = _time(nullable=False)


# --------------------------------------------------------------------------- stories
# A story is one development as several outlets carried it. Every item belongs to exactly one story
# (a story of its own when nothing similar was seen). Membership never changes once written.


class StoryRow(SQLModel, table=True):
    __tablename__ = "stories"

    id: int | None = Field(default=None, primary_key=True)
    # The item that started the story; NULL only if retention deleted that item.
    lead_item_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("items.id", ondelete="SET NULL"), unique=True)
    )
    started_at: datetime = _time(nullable=False, index=True)  # the lead's published (else first-seen) time
    first_seen_at: datetime = _time(nullable=False, index=True)
    last_joined_at: datetime = _time(nullable=False)
    size: int = 1
    # A match of one of its items was stored with notify=True: later copies are not news again.
    notified: bool = False


class StoryItemRow(SQLModel, table=True):
    __tablename__ = "story_items"

    item_id: int = Field(
        sa_column=Column(Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    )
    story_id: int = Field(
        sa_column=Column(Integer, ForeignKey("stories.id", ondelete="CASCADE"), index=True, nullable=False)
    )
    source: str = Field(max_length=64)
    at: datetime = _time(nullable=False)  # published, else first seen
    joined_at: datetime = _time(nullable=False)
    # The 32-bit ids of its lead's shingles (monitor.cluster); NULL for texts too short to compare.
    shingle_ids: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    shingle_count: int = 0
    # Their bitmap (monitor.cluster.shingle_bits, 64 bytes): candidates failing on it are not decoded.
    # NULL for texts too short to compare, and for items stored before it existed and not yet filled.
    shingle_bits: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    # For items that joined an existing story: the item they were found similar to, and how similar.
    similar_item_id: int | None = None
    similarity: float | None = None


class StoryBandRow(SQLModel, table=True):
    """The LSH index: one row per band key of an item's fingerprint.

    The primary key starts with the item's day (``at_epoch // 86400``): new rows go into the
    recent end of the tree, which stays in cache, and a lookup probes the band keys within the few
    days its window covers. So both the insert and the lookup cost the same with ten thousand or a
    million items stored (bench/bench_cluster.py). Without a rowid on SQLite, the primary key is
    the table. No foreign key to items on purpose: deleting an item would then search this table
    by item; rows of deleted items are dropped by the join with story_items at lookup, and
    ``Repository.prune_story_index`` removes rows older than any window still looks at.
    """

    __tablename__ = "story_bands"
    __table_args__ = {"sqlite_with_rowid": False}

    day: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    band_key: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    at_epoch: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    item_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))


# --------------------------------------------------------------- deliveries (outbox)


class SubscriptionRow(SQLModel, table=True):
    """When the outbox first saw a subscriber: older matches are history, not news for it."""

    __tablename__ = "subscriptions"

    name: str = Field(primary_key=True, max_length=64)
    since: datetime = _time(nullable=False)


class DeliveryRow(SQLModel, table=True):
    """One digest or one alert to one subscriber, recorded before it is sent.

    ``key`` is unique: one row per (subscriber, digest period) and per (subscriber, event), so
    two processes deciding to send the same thing can never both record it.
    """

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    subscriber: str = Field(max_length=64, index=True)
    channel: str = Field(max_length=20)
    kind: str = Field(max_length=20)
    message_id: str = Field(sa_column=Column(Text, nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=20)
    attempts: int = 0
    item_count: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    period_start: datetime | None = _time()
    period_end: datetime | None = _time()
    created_at: datetime = _time(nullable=False, index=True)
    next_attempt_at: datetime | None = _time()
    lease_until: datetime | None = _time()
    sent_at: datetime | None = _time()


class DeliveryItemRow(SQLModel, table=True):
    """Which items a delivery carries; each item goes to each subscriber in one delivery only."""

    __tablename__ = "delivery_items"
    __table_args__ = (UniqueConstraint("subscriber", "item_id", name="uq_delivery_items_subscriber_item"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(
        sa_column=Column(Integer, ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    subscriber: str = Field(max_length=64)
    item_id: int = Field(sa_column=Column(Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False))
