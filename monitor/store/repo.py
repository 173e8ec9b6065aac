"""The repository: every read and write of the application goes through here.

``commit_poll`` writes the outcome of one poll of one source in a single transaction: the new
items, their matches, the source's new validators (ETag/Last-Modified) and its poll record.
So a crash leaves either all of it or none of it; in particular the validators never move on
without the items they vouch for, which would make the next poll answer 304 and lose them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col

from monitor.errors import StorageError
from monitor.identity import legacy_key
from monitor.store.tables import ItemRow, MatchRow, PollRow, SourceRow
from monitor.types import (
    Item,
    MatchResult,
    OutcomeStatus,
    SourceOutcome,
    SourceState,
    StoredItem,
    Validators,
)


class Repository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                yield session
                session.commit()
        except SQLAlchemyError as exc:
            raise StorageError(f"database error: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc

    # ------------------------------------------------------------------ sources

    def source_state(self, name: str) -> SourceState:
        with self._session() as session:
            row = session.get(SourceRow, name)
            return _state(row) if row else SourceState(name)

    def source_states(self) -> dict[str, SourceState]:
        with self._session() as session:
            return {row.name: _state(row) for row in session.execute(select(SourceRow)).scalars()}

    # ------------------------------------------------------------------ items

    def unknown(self, items: Sequence[Item]) -> list[Item]:
        """The items not stored yet (by key, or by guid within the same source); first of a key wins."""
        unique: dict[str, Item] = {}
        for item in items:
            unique.setdefault(item.key, item)
        if not unique:
            return []
        with self._session() as session:
            known_keys: set[str] = set()
            keys = list(unique)
            for chunk in _chunks(keys, 500):
                known_keys.update(
                    session.execute(select(col(ItemRow.key)).where(col(ItemRow.key).in_(chunk))).scalars()
                )
            by_source: dict[str, set[str]] = {}
            for item in unique.values():
                if item.guid:
                    by_source.setdefault(item.source, set()).add(item.guid)
            known_guids: set[tuple[str, str]] = set()
            for source, guids in by_source.items():
                for chunk in _chunks(sorted(guids), 500):
                    rows = session.execute(
                        select(col(ItemRow.guid)).where(col(ItemRow.source) == source, col(ItemRow.guid).in_(chunk))
                    ).scalars()
                    known_guids.update((source, g) for g in rows)
            fresh = [i for k, i in unique.items() if k not in known_keys and (i.source, i.guid) not in known_guids]
            stored_before_switch = self._stored_under_legacy_keys(session, fresh)
        return [i for i in fresh if i.key not in stored_before_switch]

    def _stored_under_legacy_keys(self, session: Session, items: Sequence[Item]) -> set[str]:
        """Keys of link+date items already stored under the key their feed used before the switch.

        Same link, same source and same published minute: the same item, not a new one.
        """
        legacy = {lk: i for i in items if (lk := legacy_key(i)) is not None}
        found: set[str] = set()
        for chunk in _chunks(list(legacy), 500):
            rows = session.execute(
                select(col(ItemRow.key), col(ItemRow.source), col(ItemRow.published_at)).where(
                    col(ItemRow.key).in_(chunk)
                )
            ).all()
            for key, source, published in rows:
                item = legacy[key]
                if source == item.source and _same_minute(published, item.published):
                    found.add(item.key)
        return found

    def commit_poll(
        self,
        outcome: SourceOutcome,
        new_items: Sequence[tuple[Item, MatchResult]],
        matcher_version: str,
        now: datetime | None = None,
    ) -> list[Item]:
        """Store a poll's new items with their matches and the source's outcome, atomically.

        Returns the items actually inserted (a concurrent writer may have stored some first).
        """
        now = now or datetime.now(UTC)
        with self._session() as session:
            inserted = self._insert_items(session, new_items, now, matcher_version)
            self._record_source(session, outcome, len(inserted), now)
        return inserted

    def _insert_items(
        self, session: Session, new_items: Sequence[tuple[Item, MatchResult]], now: datetime, version: str
    ) -> list[Item]:
        # One multi-row INSERT … ON CONFLICT DO NOTHING RETURNING for the whole poll: a first poll
        # of a busy feed brings dozens of items, and one statement per item dominated the cycle.
        if not new_items:
            return []
        statement = self._insert(ItemRow).on_conflict_do_nothing(index_elements=["key"])
        statement = statement.returning(col(ItemRow.id), col(ItemRow.key))
        rows = session.execute(statement, [_item_values(item, now) for item, _ in new_items]).all()
        ids: dict[str, int] = {key: item_id for item_id, key in rows}
        inserted: list[Item] = []
        for item, match in new_items:
            item_id = ids.pop(item.key, None)  # pop: of two items with one key, only the first was inserted
            if item_id is None:
                continue
            inserted.append(item)
            if match.relevant:
                session.add(_match_row(item_id, match, version, now))
        return inserted

    def _insert(self, table: Any) -> Any:
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _record_source(self, session: Session, outcome: SourceOutcome, inserted: int, now: datetime) -> None:
        row = session.get(SourceRow, outcome.source) or SourceRow(name=outcome.source)
        row.last_status = outcome.status.value
        row.last_polled_at = now
        if outcome.status is OutcomeStatus.ERROR:
            row.last_error_kind = outcome.error_kind
            row.last_error_message = outcome.error_message
            row.consecutive_errors += 1
            row.failing_since = row.failing_since or now
        else:
            row.etag = outcome.validators.etag
            row.last_modified = outcome.validators.last_modified
            row.last_error_kind = None
            row.last_error_message = None
            row.consecutive_errors = 0
            row.failing_since = None
            row.last_ok_at = now
            row.items_total += inserted
            if outcome.key_policy is not None:
                row.key_policy = outcome.key_policy
                row.guid_problem_share = outcome.guid_problem_share
        session.add(row)
        session.add(
            PollRow(
                source=outcome.source,
                polled_at=now,
                status=outcome.status.value,
                error_kind=outcome.error_kind,
                error_message=outcome.error_message,
                entries=outcome.entries,
                new_items=inserted,
                new_matches=outcome.new_matches,
                elapsed=outcome.elapsed,
            )
        )

    def items(self, *, matched_only: bool = False, limit: int = 50, since: datetime | None = None) -> list[StoredItem]:
        """Stored items, newest first, each with its match when relevant."""
        statement = select(ItemRow, MatchRow).join(
            MatchRow, col(MatchRow.item_id) == col(ItemRow.id), isouter=not matched_only
        )
        if since is not None:
            statement = statement.where(col(ItemRow.first_seen_at) >= since)
        newest = func.coalesce(col(ItemRow.published_at), col(ItemRow.first_seen_at))
        statement = statement.order_by(newest.desc(), col(ItemRow.id).desc()).limit(limit)
        with self._session() as session:
            return [_stored(item, match) for item, match in session.execute(statement).all()]

    def count_items(self) -> int:
        with self._session() as session:
            return int(session.execute(select(func.count()).select_from(ItemRow)).scalar_one())


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _same_minute(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return False
    return a.astimezone(UTC).replace(second=0, microsecond=0) == b.astimezone(UTC).replace(second=0, microsecond=0)


def _item_values(item: Item, now: datetime) -> dict[str, Any]:
    return {
        "key": item.key,
        "source": item.source,
        "guid": item.guid,
        "url": item.url,
        "title": item.title,
        "text": item.text,
        "published_at": item.published,
        "language": item.language,
        "author": item.author,
        "content_hash": item.content_hash,
        "first_seen_at": now,
    }


def _match_row(item_id: int, match: MatchResult, version: str, now: datetime) -> MatchRow:
    return MatchRow(
        item_id=item_id,
        score=match.score,
        snippets=list(match.snippets),
        actors=list(match.actors),
        topics=list(match.topics),
        meeting_level=match.meeting_level,
        rule=match.rule,
        matcher_version=version,
        matched_at=now,
    )


def _stored(row: ItemRow, match: MatchRow | None) -> StoredItem:
    item = Item(
        source=row.source,
        key=row.key,
        url=row.url,
        guid=row.guid,
        title=row.title,
        text=row.text,
        published=row.published_at,
        language=row.language,
        content_hash=row.content_hash,
        author=row.author,
    )
    result = None
    if match is not None:
        result = MatchResult(
            relevant=True,
            score=match.score,
            snippets=tuple(match.snippets),
            actors=tuple(match.actors),
            topics=tuple(match.topics),
            meeting_level=match.meeting_level,
            rule=match.rule,
        )
    assert row.id is not None
    return StoredItem(id=row.id, item=item, first_seen=row.first_seen_at, match=result)


def _state(row: SourceRow) -> SourceState:
    return SourceState(
        name=row.name,
        validators=Validators(row.etag, row.last_modified),
        last_status=row.last_status,
        last_error_kind=row.last_error_kind,
        last_error_message=row.last_error_message,
        last_polled_at=row.last_polled_at,
        last_ok_at=row.last_ok_at,
        failing_since=row.failing_since,
        consecutive_errors=row.consecutive_errors,
        items_total=row.items_total,
        key_policy=row.key_policy,
        guid_problem_share=row.guid_problem_share,
    )
