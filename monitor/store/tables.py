"""The database schema (SQLModel tables). Times are stored in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text, TypeDecorator
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


class MatchRow(SQLModel, table=True):
    __tablename__ = "matches"

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="items.id", unique=True)
    score: float
    snippets: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
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
