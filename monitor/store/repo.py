"""The repository: every read and write of the application goes through here.

``commit_poll`` writes the outcome of one poll of one source in a single transaction: the new
items, their matches, the source's new validators (ETag/Last-Modified) and its poll record.
So a crash leaves either all of it or none of it; in particular the validators never move on
without the items they vouch for, which would make the next poll answer 304 and lose them.
The source's next check (and its pause, and the release of the replica's lease) is part of the
same transaction.

Scheduling state lives on the ``sources`` rows: ``claim_due`` hands each due source to exactly
one replica by setting a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises
writers, so one UPDATE is enough there), which expires if that replica dies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, TypeVar

from sqlalchemy import (
    Boolean,
    Engine,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    nulls_first,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlmodel import Session, col

from monitor.cluster import (
    Candidate,
    ClusterRules,
    Fingerprint,
    StoredShingles,
    band_keys,
    best_story,
    fingerprint,
    stored_bits,
)
from monitor.errors import StorageError
from monitor.identity import legacy_key
from monitor.store.tables import (
    DeliveryItemRow,
    DeliveryRow,
    ItemRow,
    MatchRow,
    PollRow,
    SourceRow,
    StoryBandRow,
    StoryItemRow,
    StoryRow,
    SubscriptionRow,
    TombstoneRow,
)
from monitor.types import (
    CheckReason,
    Delivery,
    DeliveryStatus,
    Item,
    ItemUpdate,
    KnownItem,
    MatchResult,
    NewDelivery,
    NextCheck,
    OutcomeStatus,
    RematchSummary,
    SourceHistory,
    SourceOutcome,
    SourceState,
    StoredItem,
    StoryCopy,
    StoryRef,
    StorySummary,
    Triage,
    Validators,
)

# Decides the next check from what the store knows once the poll is recorded (monitor.decide).
Planner = Callable[[SourceHistory], NextCheck]
WEEK = timedelta(days=7)
# Pauses before trying a poll's transaction again when PostgreSQL was briefly unavailable (a
# restart takes a few seconds). SQLite needs none: its busy timeout already waited.
RETRY_DELAYS = (0.5, 1.5, 4.0)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PollRecord:
    """A poll that stored nothing, to record (``Repository.record_polls``); with ``plan``, its
    source's next check is decided from its history and recorded too."""

    outcome: SourceOutcome
    plan: Planner | None = None


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one housekeeping run removed."""

    items: int
    polls: int


class Repository:
    def __init__(
        self,
        engine: Engine,
        cluster_rules: ClusterRules | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.cluster_rules = cluster_rules or ClusterRules()
        self._retry_delays = tuple(retry_delays)
        self._sleep = sleep
        # SQLite has one writer at a time. A poll's threads that all write at once would wait in
        # SQLite's busy handler, which is not a queue: under a long run of writes (a cold cycle of
        # 1,000 feeds) one can lose the race past the busy timeout and its poll fails with
        # "database is locked". Writers of this process queue here instead, with no time limit;
        # the busy timeout still covers other processes. PostgreSQL has row locks: no queue.
        self._sqlite_writer = threading.Lock() if engine.dialect.name == "sqlite" else None

    def close(self) -> None:
        self.engine.dispose()

    def _writer(self) -> AbstractContextManager[object]:
        """This process's turn to write (SQLite), or nothing to wait for (PostgreSQL)."""
        return self._sqlite_writer if self._sqlite_writer is not None else nullcontext()

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
            raise StorageError(
                f"database error: {type(exc).__name__}: {str(exc).splitlines()[0]}", transient=self._transient(exc)
            ) from exc

    def _transient(self, exc: SQLAlchemyError) -> bool:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        # On PostgreSQL these are the server going away or not accepting connections yet; on
        # SQLite an OperationalError is "locked" after the busy timeout, or worse: not retried.
        return self.engine.dialect.name == "postgresql" and isinstance(exc, OperationalError | InterfaceError)

    def _retrying(self, work: Callable[[], T]) -> T:
        """``work`` (one whole transaction), tried again after a pause while the failure is transient."""
        for delay in (*self._retry_delays, None):
            try:
                return work()
            except StorageError as exc:
                if not exc.transient or delay is None:
                    raise
            self._sleep(delay)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ sources

    def source_state(self, name: str) -> SourceState:
        return self._retrying(lambda: self._source_state(name))

    def _source_state(self, name: str) -> SourceState:
        with self._session() as session:
            row = session.get(SourceRow, name)
            return _state(row) if row else SourceState(name)

    def source_states(self) -> dict[str, SourceState]:
        with self._session() as session:
            return {row.name: _state(row) for row in session.execute(select(SourceRow)).scalars()}

    # ------------------------------------------------------------------ items

    def unknown(self, items: Sequence[Item]) -> list[Item]:
        """The items not stored yet (by key, or by guid within the same source); first of a key wins."""
        return list(self.triage(items).new)

    def triage(self, items: Sequence[Item]) -> Triage:
        """Sort a poll's items into new ones, stored ones whose text changed, and unchanged ones.

        An item is stored when its key is, when its GUID is stored for the same source (a
        re-slugged article), or, for link+date keys, under the key its feed used before. An item
        deleted by retention (a tombstone by key, or by GUID in the same source) is never new again.
        """
        unique: dict[str, Item] = {}
        for item in items:
            unique.setdefault(item.key, item)
        if not unique:
            return Triage(new=())
        return self._retrying(lambda: self._triage(unique))

    def _triage(self, unique: dict[str, Item]) -> Triage:
        with self._session() as session:
            stored = self._stored_by_key(session, list(unique))
            rest = [i for k, i in unique.items() if k not in stored]
            stored.update(self._stored_by_guid(session, rest))
            rest = [i for i in rest if i.key not in stored]
            stored.update(self._stored_under_legacy_keys(session, rest))
            rest = [i for i in rest if i.key not in stored]
            buried = self._buried(session, rest)
        new = tuple(i for k, i in unique.items() if k not in stored and k not in buried)
        changed = tuple(
            KnownItem(item, row.id, row.content_hash, row.revisions, row.matched, row.source)
            for k, item in unique.items()
            if (row := stored.get(k)) is not None and row.content_hash != item.content_hash
        )
        return Triage(new=new, changed=changed, unchanged=len(unique) - len(new) - len(changed))

    def _stored_rows(self, session: Session, *where: Any) -> list[Any]:
        statement = (
            select(
                col(ItemRow.id),
                col(ItemRow.key),
                col(ItemRow.source),
                col(ItemRow.guid),
                col(ItemRow.published_at),
                col(ItemRow.content_hash),
                col(ItemRow.revisions),
                col(MatchRow.id).is_not(None).label("matched"),
            )
            .join(MatchRow, col(MatchRow.item_id) == col(ItemRow.id), isouter=True)
            .where(*where)
        )
        return list(session.execute(statement).all())

    def _stored_by_key(self, session: Session, keys: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for chunk in _chunks(keys, 500):
            found.update((row.key, row) for row in self._stored_rows(session, col(ItemRow.key).in_(chunk)))
        return found

    def _stored_by_guid(self, session: Session, items: Sequence[Item]) -> dict[str, Any]:
        by_source: dict[str, dict[str, Item]] = {}
        for item in items:
            if item.guid:
                by_source.setdefault(item.source, {}).setdefault(item.guid, item)
        found: dict[str, Any] = {}
        for source, guids in by_source.items():
            for chunk in _chunks(sorted(guids), 500):
                for row in self._stored_rows(session, col(ItemRow.source) == source, col(ItemRow.guid).in_(chunk)):
                    found[guids[row.guid].key] = row
        return found

    def _stored_under_legacy_keys(self, session: Session, items: Sequence[Item]) -> dict[str, Any]:
        """Link+date items already stored under the key their feed used before the switch.

        Same link, same source and same published minute: the same item, not a new one.
        """
        legacy = {lk: i for i in items if (lk := legacy_key(i)) is not None}
        found: dict[str, Any] = {}
        for chunk in _chunks(list(legacy), 500):
            for row in self._stored_rows(session, col(ItemRow.key).in_(chunk)):
                item = legacy[row.key]
                if row.source == item.source and _same_minute(row.published_at, item.published):
                    found[item.key] = row
        return found

    def _buried(self, session: Session, items: Sequence[Item]) -> set[str]:
        """Keys of the items that retention deleted (tombstones), by key or by GUID in the same source."""
        buried = self._tombstoned(session, [i.key for i in items])
        by_source: dict[str, dict[str, Item]] = {}
        for item in items:
            if item.guid and item.key not in buried:
                by_source.setdefault(item.source, {}).setdefault(item.guid, item)
        for source, guids in by_source.items():
            for chunk in _chunks(sorted(guids), 500):
                rows = session.execute(
                    select(col(TombstoneRow.guid)).where(
                        col(TombstoneRow.source) == source, col(TombstoneRow.guid).in_(chunk)
                    )
                ).scalars()
                buried.update(guids[g].key for g in rows if g is not None)
        return buried

    def commit_poll(
        self,
        outcome: SourceOutcome,
        new_items: Sequence[tuple[Item, MatchResult]],
        matcher_version: str,
        now: datetime | None = None,
        plan: Planner | None = None,
        lease_owner: str | None = None,
        updates: Sequence[ItemUpdate] = (),
        fingerprints: Mapping[str, Fingerprint | None] | None = None,
    ) -> list[Item]:
        """Store a poll's new items with their matches and stories, its updates, and the source's
        outcome, atomically.

        With ``plan``, the source's next check is decided from its history (after this poll) and
        recorded too; the lease ``lease_owner`` held on the source is released.
        ``fingerprints`` (by item key) are those already taken of the new items' final title and
        text (by the parse workers); the others are taken here.
        Returns the items actually inserted (a concurrent writer may have stored some first).
        While PostgreSQL is briefly unavailable the whole transaction is tried again.
        """
        when = now or datetime.now(UTC)
        # Fingerprinting is CPU work: done before the transaction, so the write lock is held less.
        given = fingerprints or {}
        prints = {
            item.key: given[item.key] if item.key in given else fingerprint(item.title, item.text)
            for item, _ in new_items
        }

        def transaction() -> list[Item]:
            with self._writer(), self._session() as session:
                if new_items or updates:
                    # First thing in the transaction, before any row is locked: writers then always
                    # take the story lock before row locks, and cannot deadlock on each other.
                    self._lock_stories(session)
                inserted = self._insert_items(session, new_items, when, matcher_version, prints)
                self._apply_updates(session, updates, when, matcher_version)
                row = self._record_source(session, outcome, len(inserted), when)
                # A poll that outlived its lease (the process stalled) finds the source taken over by
                # another replica: its items and record stand, the schedule is the new holder's.
                taken_over = lease_owner is not None and row.lease_owner not in (None, lease_owner)
                if plan is not None and not taken_over:
                    _schedule(row, plan(self._history(session, row, when)), when)
                if lease_owner is not None and row.lease_owner == lease_owner:
                    row.lease_owner = row.lease_expires_at = None
            return inserted

        return self._retrying(transaction)

    def _history(self, session: Session, row: SourceRow, now: datetime) -> SourceHistory:
        session.flush()
        when = func.coalesce(col(ItemRow.published_at), col(ItemRow.first_seen_at))
        weekly = session.execute(
            select(func.count())
            .select_from(ItemRow)
            .where(col(ItemRow.source) == row.name, when >= now - WEEK, when <= now + timedelta(days=1))
        ).scalar_one()
        return _source_history(row, int(weekly))

    def _insert_items(
        self,
        session: Session,
        new_items: Sequence[tuple[Item, MatchResult]],
        now: datetime,
        version: str,
        prints: dict[str, Fingerprint | None],
    ) -> list[Item]:
        # One multi-row INSERT … ON CONFLICT DO NOTHING RETURNING for the whole poll: a first poll
        # of a busy feed brings dozens of items, and one statement per item dominated the cycle.
        buried = self._tombstoned(session, [item.key for item, _ in new_items])
        new_items = [(item, match) for item, match in new_items if item.key not in buried]
        if not new_items:
            return []
        conn = session.connection()
        statement = self._insert(_ITEMS).on_conflict_do_nothing(index_elements=["key"])
        statement = statement.returning(_ITEMS.c.id, _ITEMS.c.key)
        rows = conn.execute(statement, [_item_values(item, now) for item, _ in new_items]).all()
        ids: dict[str, int] = {key: item_id for item_id, key in rows}
        stored: list[tuple[int, Item, MatchResult]] = []
        for item, match in new_items:
            item_id = ids.pop(item.key, None)  # pop: of two items with one key, only the first was inserted
            if item_id is not None:
                stored.append((item_id, item, match))
        if stored:
            self._cluster_and_match(session, stored, now, version, prints)
        return [item for _, item, _ in stored]

    def _cluster_and_match(
        self,
        session: Session,
        stored: Sequence[tuple[int, Item, MatchResult]],
        now: datetime,
        version: str,
        prints: dict[str, Fingerprint | None],
    ) -> None:
        """Give each newly inserted item its story, index its fingerprint and store its match.

        The outcome is the one of storing the items one after the other (each finds, among its
        candidates, the items stored before it in the same poll), but the statements are per poll,
        not per item: the candidates of the whole poll are read in one query per few days of
        publication, the assignment is decided in memory, and stories, story items, band rows and
        matches are written with one statement each (executemany).
        """
        conn = session.connection()
        window = self.cluster_rules.window
        pending = [_Pending(item_id, item, match, prints.get(item.key), now, window) for item_id, item, match in stored]
        index = self._band_index(conn, [p for p in pending if p.fp is not None])
        new_stories: list[dict[str, Any]] = []  # story -(n+1) is new_stories[n] until it has an id
        notified: dict[int, bool] = dict(index.notified)
        joined: dict[int, int] = {}  # existing story -> items that joined it in this poll
        story_items: list[dict[str, Any]] = []
        bands: list[tuple[int, int, int, int]] = []
        matches: list[dict[str, Any]] = []
        for p in pending:
            assignment = None
            if p.fp is not None:
                assignment = best_story(p.fp, index.candidates(p, self.MAX_CANDIDATES), self.cluster_rules)
            if assignment is not None:
                story = assignment.story_id
                if story > 0:
                    joined[story] = joined.get(story, 0) + 1
                else:
                    new_stories[-story - 1]["size"] += 1
            else:
                new_stories.append(
                    {
                        "lead_item_id": p.item_id,
                        "started_at": p.at,
                        "first_seen_at": now,
                        "last_joined_at": now,
                        "size": 1,
                        "notified": False,
                    }
                )
                story = -len(new_stories)
                notified[story] = False
            story_items.append(
                {
                    "item_id": p.item_id,
                    "story_id": story,
                    "source": p.item.source,
                    "at": p.at,
                    "joined_at": now,
                    "shingle_ids": p.fp.shingles_bytes() if p.fp else None,
                    "shingle_count": p.fp.size if p.fp else 0,
                    "shingle_bits": p.fp.bits_bytes() if p.fp else None,
                    "similar_item_id": assignment.similar_item_id if assignment else None,
                    "similarity": round(assignment.score, 4) if assignment else None,
                }
            )
            if p.fp is not None:
                index.add(p, story)
                day = p.epoch // DAY_SECONDS
                bands.extend((day, key, p.epoch, p.item_id) for key in set(p.keys))
            if p.match.relevant:
                # New items have no match yet: it is news unless its story already was.
                notify = not notified[story]
                matches.append(_match_values(p.item_id, p.match, version, now, notify))
                notified[story] = notified[story] or notify
        story_ids: list[int] = []
        if new_stories:
            for n, values in enumerate(new_stories):
                values["notified"] = notified[-n - 1]
            # One multi-row INSERT … RETURNING; a story is known by its lead item (unique).
            by_lead = {lead: story for lead, story in conn.execute(_NEW_STORIES, new_stories)}
            story_ids = [by_lead[values["lead_item_id"]] for values in new_stories]
        for row in story_items:
            if row["story_id"] < 0:
                row["story_id"] = story_ids[-row["story_id"] - 1]
        if joined:
            conn.execute(
                _JOIN_STORIES,
                [
                    {"b_story": story, "b_count": count, "b_now": now, "b_notified": notified[story]}
                    for story, count in sorted(joined.items())
                ],
            )
        conn.execute(_NEW_STORY_ITEM, story_items)
        if bands:
            # Plain integers, twenty rows an item: straight to the driver's executemany, without
            # SQLAlchemy's per-row parameter processing (which cost more than the insert itself).
            conn.exec_driver_sql(_BANDS_INSERT[self.engine.dialect.paramstyle], bands)
        if matches:
            conn.execute(self._insert(_MATCHES).on_conflict_do_nothing(index_elements=["item_id"]), matches)

    def _band_index(self, conn: Any, pending: Sequence[_Pending]) -> _BandIndex:
        """The band-index rows the poll's items can meet, read in one query per few days of items."""
        index = _BandIndex()
        mark = _MARK[self.engine.dialect.paramstyle]
        ordered = sorted(pending, key=lambda p: p.epoch)
        start = 0
        while start < len(ordered):
            end = start + 1
            first_day = ordered[start].lo // DAY_SECONDS
            while (
                end < len(ordered)
                and end - start < self.CANDIDATE_BATCH
                and ordered[end].hi // DAY_SECONDS - first_day < self.CANDIDATE_DAYS
            ):
                end += 1
            group = ordered[start:end]
            lo, hi = min(p.lo for p in group), max(p.hi for p in group)
            days = range(lo // DAY_SECONDS, hi // DAY_SECONDS + 1)
            keys = sorted({key for p in group for key in p.keys})
            # Written out for the driver and fetched from its cursor as plain tuples: a cold cycle reads
            # well over a million such rows, and SQLAlchemy's compiling of the two expanding IN lists
            # and its row objects cost more than SQLite's reading of them.
            statement = _BAND_ROWS_SQL.format(
                days=", ".join([mark] * len(days)), keys=", ".join([mark] * len(keys)), mark=mark
            )
            result = conn.exec_driver_sql(statement, (*days, *keys, lo, hi))
            try:
                index.load(result.cursor.fetchall())
            finally:
                result.close()
            start = end
        return index

    def _insert(self, table: Any) -> Any:
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _tombstoned(self, session: Session, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(keys, 500):
            found.update(
                session.execute(select(col(TombstoneRow.key)).where(col(TombstoneRow.key).in_(chunk))).scalars()
            )
        return found

    def record_polls(self, polls: Sequence[PollRecord], now: datetime, lease_owner: str | None = None) -> None:
        """Record many sources' polls that stored nothing (not modified, failed) in one transaction.

        Each is recorded as ``commit_poll`` records it (status, validators, poll record, next
        check, lease released), all of them or none: a poll cycle's unchanged feeds cost one
        transaction instead of one each. They carry no items, so a crash before the commit loses
        no item, only these records: the next poll of those sources asks again.
        """
        if any(p.outcome.new_items or p.outcome.updated_items for p in polls):
            raise ValueError("record_polls records polls without items; commit_poll stores items")
        if polls:
            self._retrying(lambda: self._record_polls(polls, now, lease_owner))

    def _record_polls(self, polls: Sequence[PollRecord], now: datetime, lease_owner: str | None) -> None:
        # Through the driver, not the ORM: an idle cycle records a poll for every source, and loading,
        # tracking and flushing a SourceRow each cost more than the update itself. The rows are read
        # as plain records, changed by the same functions as ``commit_poll``'s (``_apply_poll``,
        # ``_schedule``), and written back with one UPDATE and one INSERT (executemany).
        names = list(dict.fromkeys(p.outcome.source for p in polls))
        with self._writer(), self._session() as session:
            conn = session.connection()
            rows = self._source_records(conn, names)
            missing = [name for name in names if name not in rows]
            if missing:  # a source polled before ``ensure_sources`` knew it: created with defaults
                session.add_all(SourceRow(name=name) for name in missing)
                session.flush()
                rows.update(self._source_records(conn, missing))
            weekly = self._weekly_items(session, names, now)
            history: list[dict[str, Any]] = []
            for poll in polls:
                name = poll.outcome.source
                row = rows[name]
                _apply_poll(row, poll.outcome, 0, now)
                history.append(_poll_values(poll.outcome, 0, now))
                taken_over = lease_owner is not None and row.lease_owner not in (None, lease_owner)
                if poll.plan is not None and not taken_over:
                    _schedule(row, poll.plan(_source_history(row, weekly.get(name, 0))), now)
                if lease_owner is not None and row.lease_owner == lease_owner:
                    row.lease_owner = row.lease_expires_at = None
            conn.execute(_UPDATE_SOURCE, [{"b_name": name, **vars(rows[name])} for name in names])
            conn.execute(_INSERT_POLL, history)

    def _source_records(self, conn: Any, names: Sequence[str]) -> dict[str, SimpleNamespace]:
        """The sources' rows as plain records (attributes as on ``SourceRow``), locked on PostgreSQL."""
        found: dict[str, SimpleNamespace] = {}
        for chunk in _chunks(names, 500):
            statement = select(*_SOURCE_COLUMNS).where(_SOURCES.c.name.in_(chunk))
            if self.engine.dialect.name == "postgresql":
                statement = statement.with_for_update()
            for record in conn.execute(statement):
                values = record._asdict()
                found[values.pop("name")] = SimpleNamespace(**values)
        return found

    def _weekly_items(self, session: Session, names: Sequence[str], now: datetime) -> dict[str, int]:
        """Items each source published in the week before ``now`` (as ``_history`` counts them)."""
        when = func.coalesce(col(ItemRow.published_at), col(ItemRow.first_seen_at))
        counts: dict[str, int] = {}
        for chunk in _chunks(list(names), 500):
            statement = (
                select(col(ItemRow.source), func.count())
                .where(col(ItemRow.source).in_(chunk), when >= now - WEEK, when <= now + timedelta(days=1))
                .group_by(col(ItemRow.source))
            )
            counts.update((source, int(count)) for source, count in session.execute(statement).all())
        return counts

    def _record_source(
        self, session: Session, outcome: SourceOutcome, inserted: int, now: datetime, row: SourceRow | None = None
    ) -> SourceRow:
        """Record a poll on its source's row (``row``: already read and locked in this session)."""
        if row is None:
            row = session.get(SourceRow, outcome.source, with_for_update=True) or SourceRow(name=outcome.source)
        _apply_poll(row, outcome, inserted, now)
        session.add(row)
        session.add(PollRow(**_poll_values(outcome, inserted, now)))
        return row

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

    # ------------------------------------------------------------------ scheduling

    def ping(self) -> None:
        """Raise ``StorageError`` unless the database answers."""
        with self._session() as session:
            session.execute(text("SELECT 1"))

    def ensure_sources(self, names: Sequence[str], now: datetime) -> int:
        """Give every configured source a row (due at once when new); returns how many were added."""
        with self._session() as session:
            known = set(session.execute(select(col(SourceRow.name))).scalars())
            missing = [n for n in names if n not in known]
            for name in missing:
                statement = self._insert(SourceRow).values(
                    name=name, next_check_at=now, consecutive_errors=0, items_total=0
                )
                session.execute(statement.on_conflict_do_nothing(index_elements=["name"]))
                session.flush()
            return len(missing)

    def claim_due(self, names: Sequence[str], owner: str, now: datetime, lease: timedelta, limit: int) -> list[str]:
        """Lease up to ``limit`` of the named sources that are due and not leased by anyone.

        A source is held until its poll is recorded (``commit_poll`` releases it), the lease is
        renewed, or it expires; so each due source is polled by one replica at a time.
        """
        if not names or limit <= 0:
            return []
        due = (
            select(col(SourceRow.name))
            .where(
                col(SourceRow.name).in_(list(names)),
                or_(col(SourceRow.next_check_at).is_(None), col(SourceRow.next_check_at) <= now),
                or_(col(SourceRow.lease_expires_at).is_(None), col(SourceRow.lease_expires_at) <= now),
            )
            .order_by(nulls_first(col(SourceRow.next_check_at)), col(SourceRow.name))
            .limit(limit)
        )
        if self.engine.dialect.name == "postgresql":
            # Rows another replica is claiming right now are skipped, not waited for.
            due = due.with_for_update(skip_locked=True)
        statement = (
            update(SourceRow)
            .where(col(SourceRow.name).in_(due.scalar_subquery()))
            .values(lease_owner=owner, lease_expires_at=now + lease)
            .returning(col(SourceRow.name))
        )
        with self._session() as session:
            return sorted(session.execute(statement).scalars())

    def renew_leases(self, owner: str, now: datetime, lease: timedelta) -> int:
        """Extend the leases ``owner`` still holds (sources whose poll is in flight)."""
        statement = (
            update(SourceRow)
            .where(col(SourceRow.lease_owner) == owner, col(SourceRow.lease_expires_at) > now)
            .values(lease_expires_at=now + lease)
        )
        with self._session() as session:
            return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]

    def release_leases(self, owner: str) -> int:
        """Give up every lease of ``owner`` (at shutdown), so others need not wait for expiry."""
        statement = (
            update(SourceRow).where(col(SourceRow.lease_owner) == owner).values(lease_owner=None, lease_expires_at=None)
        )
        with self._session() as session:
            return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]

    def resume_source(self, name: str, now: datetime) -> SourceState | None:
        """Lift a pause by hand: the source is due at once and its failure count starts again.

        Returns the state before resuming, or None when the source has no row yet."""
        with self._session() as session:
            row = session.get(SourceRow, name, with_for_update=True)
            if row is None:
                return None
            before = _state(row)
            row.paused_at = row.paused_reason = None
            row.consecutive_errors = 0
            row.next_check_at = now
            row.next_check_reason = CheckReason.RESUMED.value
            session.add(row)
            return before

    def prune(self, now: datetime, unmatched_before: datetime | None, polls_before: datetime | None) -> Pruned:
        """Housekeeping: delete unmatched items first seen before ``unmatched_before`` (leaving a
        tombstone for each, in the same transaction) and poll history before ``polls_before``."""
        items = polls = 0
        with self._session() as session:
            if unmatched_before is not None:
                unmatched = (
                    select(col(ItemRow.id), col(ItemRow.key), col(ItemRow.source), col(ItemRow.guid))
                    .where(
                        col(ItemRow.first_seen_at) < unmatched_before,
                        ~exists().where(col(MatchRow.item_id) == col(ItemRow.id)),
                    )
                    .limit(5000)
                )
                while rows := session.execute(unmatched).all():
                    for _, key, source, guid in rows:
                        tomb = self._insert(TombstoneRow).values(key=key, source=source, guid=guid, deleted_at=now)
                        session.execute(tomb.on_conflict_do_nothing(index_elements=["key"]))
                    session.execute(delete(ItemRow).where(col(ItemRow.id).in_([r[0] for r in rows])))
                    items += len(rows)
            if polls_before is not None:
                result = session.execute(delete(PollRow).where(col(PollRow.polled_at) < polls_before))
                polls = int(result.rowcount)  # type: ignore[attr-defined]
        return Pruned(items, polls)

    def count_tombstones(self) -> int:
        with self._session() as session:
            return int(session.execute(select(func.count()).select_from(TombstoneRow)).scalar_one())

    # --- matching (rematch / explain)

    def items_in_batches(self, *, since: datetime | None = None, batch: int = 500) -> Iterator[list[StoredItem]]:
        """Every stored item first seen since ``since`` (all when None), oldest first, with its match."""
        last_id = 0
        while True:
            statement = (
                select(ItemRow, MatchRow)
                .join(MatchRow, col(MatchRow.item_id) == col(ItemRow.id), isouter=True)
                .where(col(ItemRow.id) > last_id)
            )
            if since is not None:
                statement = statement.where(col(ItemRow.first_seen_at) >= since)
            statement = statement.order_by(col(ItemRow.id)).limit(batch)
            with self._session() as session:
                rows = [_stored(item, match) for item, match in session.execute(statement).all()]
            if not rows:
                return
            yield rows
            last_id = rows[-1].id

    def replace_matches(
        self,
        results: Sequence[tuple[int, MatchResult]],
        matcher_version: str,
        now: datetime | None = None,
    ) -> RematchSummary:
        """Store re-computed matches for stored items (by item id), in one transaction.

        A match found only now is stored with ``notify=False``: an old item caught by new rules is
        shown (digest preview, ``items --matched``) but never sent to subscribers as news. A match
        still found is updated and keeps its ``notify`` flag; one no longer found is removed.
        """
        now = now or datetime.now(UTC)
        added = updated = removed = unchanged = 0
        with self._session() as session:
            ids = [item_id for item_id, _ in results]
            existing: dict[int, MatchRow] = {}
            for chunk in _chunks(ids, 500):
                rows = session.execute(select(MatchRow).where(col(MatchRow.item_id).in_(chunk))).scalars()
                existing.update({row.item_id: row for row in rows})
            for item_id, match in results:
                row = existing.get(item_id)
                if row is None and match.relevant:
                    new_row = _match_row(item_id, match, matcher_version, now)
                    new_row.notify = False
                    session.add(new_row)
                    added += 1
                elif row is not None and not match.relevant:
                    session.delete(row)
                    removed += 1
                elif row is not None:
                    if _same_match(row, match):
                        unchanged += 1
                        if row.marked_snippets != list(match.marked_snippets):  # a row stored before they were
                            row.marked_snippets = list(match.marked_snippets)
                            session.add(row)
                    else:
                        _update_match_row(row, match, matcher_version, now)
                        session.add(row)
                        updated += 1
                else:
                    unchanged += 1
        return RematchSummary(len(results), added, updated, removed, unchanged)

    def find_item(self, reference: str) -> StoredItem | None:
        """A stored item by its id, its URL (as stored) or its key."""
        reference = reference.strip()
        condition = col(ItemRow.url) == reference
        if reference.isdigit():
            condition = col(ItemRow.id) == int(reference)
        statement = (
            select(ItemRow, MatchRow).join(MatchRow, col(MatchRow.item_id) == col(ItemRow.id), isouter=True).limit(1)
        )
        with self._session() as session:
            for where in (condition, col(ItemRow.key) == reference):
                row = session.execute(statement.where(where)).first()
                if row is not None:
                    return _stored(row[0], row[1])
        return None

    # --- stories and updates
    #
    # Every stored item belongs to one story. A new item looks for a story through the LSH index
    # (story_bands: band keys of its fingerprint within the time window), in the same transaction
    # that stores it, so a crash never leaves an item without its story. Matches of an item that
    # joins a story already alerted about are stored with notify=False: a story that grows a new
    # outlet is not news again.

    # At most this many candidate items are compared per new item; only a degenerate flood of
    # identical texts inside one window comes near it.
    MAX_CANDIDATES = 500

    # The candidates of a poll's items are read for up to this many items at a time, whose windows
    # span at most this many days together (the lookup probes every day for every band key).
    CANDIDATE_BATCH = 50
    CANDIDATE_DAYS = 7

    # Key of the PostgreSQL advisory lock that serialises story assignment ("stories" in ASCII).
    STORY_LOCK_KEY = 0x73746F72696573

    def _lock_stories(self, session: Session) -> None:
        """Serialise story assignment between concurrent writers (threads, replicas) until commit.

        Two copies of one dispatch stored at the same moment by two transactions would otherwise
        not see each other and start two stories. Taken at the start of ``commit_poll`` when it has
        items or updates to write. SQLite needs nothing: its writers are serial (the first write
        of a transaction takes the database's write lock).
        """
        if self.engine.dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self.STORY_LOCK_KEY})

    def _join_story(self, session: Session, item_id: int, item: Item, fp: Fingerprint | None, now: datetime) -> _Story:
        # Core statements on the session's connection (same transaction): the ORM unit of work
        # cost more than the clustering itself, several times per item.
        conn = session.connection()
        at = item.published or now
        assignment = best_story(fp, self._story_candidates(session, fp, at), self.cluster_rules) if fp else None
        if assignment is not None:
            story_id = assignment.story_id
            notified = conn.execute(_JOIN_STORY, {"story": story_id, "now": now}).scalar_one()
        else:
            story_id = conn.execute(
                _NEW_STORY,
                {"lead_item_id": item_id, "started_at": at, "first_seen_at": now, "last_joined_at": now},
            ).scalar_one()
            notified = False
        conn.execute(
            _NEW_STORY_ITEM,
            {
                "item_id": item_id,
                "story_id": story_id,
                "source": item.source,
                "at": at,
                "joined_at": now,
                "shingle_ids": fp.shingles_bytes() if fp else None,
                "shingle_count": fp.size if fp else 0,
                "shingle_bits": fp.bits_bytes() if fp else None,
                "similar_item_id": assignment.similar_item_id if assignment else None,
                "similarity": round(assignment.score, 4) if assignment else None,
            },
        )
        if fp is not None:
            self._index_fingerprint(session, item_id, fp, at)
        return _Story(story_id, bool(notified))

    def _index_fingerprint(self, session: Session, item_id: int, fp: Fingerprint, at: datetime) -> None:
        epoch = int(at.timestamp())
        day = epoch // DAY_SECONDS
        rows = [{"day": day, "band_key": key, "at_epoch": epoch, "item_id": item_id} for key in set(band_keys(fp))]
        session.connection().execute(self._insert(_STORY_BANDS).on_conflict_do_nothing(), rows)

    def _story_candidates(self, session: Session, fp: Fingerprint, at: datetime) -> list[Candidate]:
        """Items sharing a band key with ``fp`` within the window: index probes, then primary-key reads."""
        window = self.cluster_rules.window
        lo, hi = int((at - window).timestamp()), int((at + window).timestamp())
        params = {
            "days": list(range(lo // DAY_SECONDS, hi // DAY_SECONDS + 1)),
            "keys": list(band_keys(fp)),
            "lo": lo,
            "hi": hi,
            "limit": self.MAX_CANDIDATES,
        }
        rows = session.connection().execute(_CANDIDATES, params)
        return [
            Candidate(story_id, item_id, StoredShingles(blob), stored_bits(bits))
            for story_id, item_id, blob, bits in rows
            if blob
        ]

    def _add_match(
        self,
        session: Session,
        story: _Story,
        item_id: int,
        match: MatchResult,
        version: str,
        now: datetime,
        *,
        alert: bool,
    ) -> None:
        """Store a match; it is news (notify=True) only if asked and its story was not news already."""
        notify = alert and not story.notified
        values = _match_row(item_id, match, version, now, notify).model_dump(exclude={"id"})
        statement = self._insert(MatchRow).values(**values).on_conflict_do_nothing(index_elements=["item_id"])
        stored = session.execute(statement.returning(MatchRow.id)).scalar()
        if stored is not None and notify:
            session.connection().execute(update(_STORIES).where(_STORIES.c.id == story.id).values(notified=True))

    def _story_of(self, session: Session, item_id: int, item: Item, now: datetime) -> _Story:
        """The item's story; items stored before stories existed get one now."""
        row = (
            session.connection()
            .execute(
                select(_STORIES.c.id, _STORIES.c.notified)
                .join(_STORY_ITEMS, _STORY_ITEMS.c.story_id == _STORIES.c.id)
                .where(_STORY_ITEMS.c.item_id == item_id)
            )
            .first()
        )
        if row is not None:
            return _Story(row.id, bool(row.notified))
        return self._join_story(session, item_id, item, fingerprint(item.title, item.text), now)

    def _apply_updates(self, session: Session, updates: Sequence[ItemUpdate], now: datetime, version: str) -> None:
        for change in updates:
            item = change.item
            result = session.execute(
                update(ItemRow)
                .where(col(ItemRow.id) == change.item_id, col(ItemRow.content_hash) != item.content_hash)
                .values(
                    title=item.title,
                    text=item.text,
                    content_hash=item.content_hash,
                    published_at=item.published,
                    author=item.author,
                    revisions=change.revision,
                    revised_at=now,
                )
            )
            if not getattr(result, "rowcount", 1):  # another writer applied this version already
                continue
            story = self._story_of(session, change.item_id, item, now)
            self._refingerprint(session, change.item_id, item, now)
            if change.new_match is not None:
                self._add_match(session, story, change.item_id, change.new_match, version, now, alert=change.alert)

    def _refingerprint(self, session: Session, item_id: int, item: Item, now: datetime) -> None:
        """A revised text is indexed too, so copies of either version find the story."""
        fp = fingerprint(item.title, item.text)
        row = session.get(StoryItemRow, item_id)
        if fp is None or row is None or row.shingle_ids == fp.shingles_bytes():
            return
        row.shingle_ids, row.shingle_count = fp.shingles_bytes(), fp.size
        session.add(row)
        self._index_fingerprint(session, item_id, fp, row.at)

    def stories_for_items(self, item_ids: Iterable[int]) -> dict[int, StoryRef]:
        """For each item id, its story and the story's other outlets (for digests and webhooks).

        Items of one story share the ``story_id``: show the story once. Ids without a story (items
        stored before stories existed) are absent from the result.
        """
        ids = sorted(set(item_ids))
        with self._session() as session:
            story_of: dict[int, int] = {}
            for chunk in _chunks(ids, 500):
                statement = select(col(StoryItemRow.item_id), col(StoryItemRow.story_id)).where(
                    col(StoryItemRow.item_id).in_(chunk)
                )
                story_of.update((item_id, story_id) for item_id, story_id in session.execute(statement).all())
            copies = self._story_copies(session, sorted(set(story_of.values())))
            leads = self._story_leads(session, sorted(set(story_of.values())))
        refs: dict[int, StoryRef] = {}
        for item_id, story_id in story_of.items():
            members = copies.get(story_id, [])
            own = next((c.source for c in members if c.item_id == item_id), None)
            refs[item_id] = StoryRef(
                story_id=story_id,
                lead_item_id=leads.get(story_id),
                size=len(members),
                also_reported_by=_first_per_source([c for c in members if c.source != own]),
            )
        return refs

    def _story_copies(self, session: Session, story_ids: Sequence[int]) -> dict[int, list[StoryCopy]]:
        copies: dict[int, list[StoryCopy]] = {}
        for chunk in _chunks(story_ids, 500):
            # The columns a copy shows, not whole rows: a story's copies are full articles.
            statement = (
                select(
                    col(StoryItemRow.story_id),
                    col(ItemRow.id),
                    col(ItemRow.source),
                    col(ItemRow.title),
                    col(ItemRow.url),
                    col(ItemRow.published_at),
                    col(ItemRow.first_seen_at),
                )
                .join(ItemRow, col(ItemRow.id) == col(StoryItemRow.item_id))
                .where(col(StoryItemRow.story_id).in_(chunk))
                .order_by(col(StoryItemRow.joined_at), col(ItemRow.id))
            )
            for story_id, item_id, source, title, url, published, first_seen in session.execute(statement).all():
                copies.setdefault(story_id, []).append(
                    StoryCopy(
                        item_id=item_id,
                        source=source,
                        title=title,
                        url=url,
                        published=published,
                        first_seen=first_seen,
                    )
                )
        return copies

    def _story_leads(self, session: Session, story_ids: Sequence[int]) -> dict[int, int | None]:
        leads: dict[int, int | None] = {}
        for chunk in _chunks(story_ids, 500):
            statement = select(col(StoryRow.id), col(StoryRow.lead_item_id)).where(col(StoryRow.id).in_(chunk))
            leads.update((story_id, lead) for story_id, lead in session.execute(statement).all())
        return leads

    def stories(
        self, *, since: datetime | None = None, limit: int = 50, relevant_only: bool = False, min_outlets: int = 1
    ) -> list[StorySummary]:
        """Stories, newest first (by the time of their lead), each with its outlets."""
        relevant = (
            select(col(StoryItemRow.story_id))
            .join(MatchRow, col(MatchRow.item_id) == col(StoryItemRow.item_id))
            .where(col(StoryItemRow.story_id) == col(StoryRow.id))
            .exists()
        )
        statement = select(StoryRow, relevant.label("relevant"))
        if since is not None:
            statement = statement.where(col(StoryRow.last_joined_at) >= since)
        if relevant_only:
            statement = statement.where(relevant)
        if min_outlets > 1:
            statement = statement.where(col(StoryRow.size) >= min_outlets)
        statement = statement.order_by(col(StoryRow.started_at).desc(), col(StoryRow.id).desc()).limit(limit)
        with self._session() as session:
            rows = session.execute(statement).all()
            story_ids = [story.id for story, _ in rows if story.id is not None]
            copies = self._story_copies(session, story_ids)
        summaries = []
        for story, is_relevant in rows:
            assert story.id is not None
            members = copies.get(story.id, [])
            lead = next((c for c in members if c.item_id == story.lead_item_id), None)
            ordered = ([lead] if lead else []) + [c for c in members if c is not lead]
            summaries.append(
                StorySummary(
                    id=story.id,
                    lead=lead,
                    started=story.started_at,
                    first_seen=story.first_seen_at,
                    size=len(members),
                    outlets=_first_per_source(ordered),
                    notified=story.notified,
                    relevant=bool(is_relevant),
                )
            )
        return summaries

    def prune_story_index(self, before: datetime) -> int:
        """Drop LSH index rows of items older than ``before``; returns how many.

        Housekeeping, optional: lookups only read rows within the clustering window of the new
        item, so rows older than the window plus the oldest published date a feed may still
        deliver are dead weight. Stories and their members are kept.
        """
        with self._session() as session:
            epoch = int(before.timestamp())
            result = session.execute(
                delete(StoryBandRow).where(
                    col(StoryBandRow.day) <= epoch // DAY_SECONDS, col(StoryBandRow.at_epoch) < epoch
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    # --- deliveries (outbox)
    # The outbox records every digest and alert before it is sent and marks it after, so a crash
    # can only cause a repeat (with the same Message-ID / webhook-id), never a loss. Uniqueness
    # of ``deliveries.key`` and of (subscriber, item) in ``delivery_items`` is what keeps several
    # processes from sending the same thing twice.

    def subscription_since(self, name: str, default: datetime) -> datetime:
        """When the outbox first saw this subscriber; recorded as ``default`` on first sight."""
        with self._session() as session:
            statement = self._insert(SubscriptionRow).values(name=name, since=default)
            session.execute(statement.on_conflict_do_nothing(index_elements=["name"]))
            row = session.get(SubscriptionRow, name)
            assert row is not None
            return row.since

    def undelivered_matches(self, subscriber: str, after: datetime, until: datetime) -> list[StoredItem]:
        """Matches worth telling (``notify``), matched in (after, until], not yet in a delivery to the subscriber."""
        delivered = exists().where(
            col(DeliveryItemRow.subscriber) == subscriber, col(DeliveryItemRow.item_id) == col(ItemRow.id)
        )
        statement = (
            select(ItemRow, MatchRow)
            .join(MatchRow, col(MatchRow.item_id) == col(ItemRow.id))
            .where(
                col(MatchRow.notify).is_(True),
                col(MatchRow.matched_at) > after,
                col(MatchRow.matched_at) <= until,
                ~delivered,
            )
            .order_by(col(MatchRow.matched_at), col(ItemRow.id))
        )
        with self._session() as session:
            return [_stored(item, match) for item, match in session.execute(statement).all()]

    def create_delivery(self, new: NewDelivery, item_ids: Sequence[int], now: datetime) -> Delivery | None:
        """Record a delivery and the items it carries, atomically.

        None when its key is taken (another process recorded the same digest or event) or when
        one of the items already went into another delivery to this subscriber.
        """
        try:
            with self._session() as session:
                values = _delivery_values(new, len(item_ids), now)
                statement = self._insert(DeliveryRow).values(**values)
                statement = statement.on_conflict_do_nothing(index_elements=["key"]).returning(DeliveryRow.id)
                delivery_id = session.execute(statement).scalar()
                if delivery_id is None:
                    return None
                if item_ids:
                    rows = [{"delivery_id": delivery_id, "subscriber": new.subscriber, "item_id": i} for i in item_ids]
                    links = self._insert(DeliveryItemRow).values(rows)
                    links = links.on_conflict_do_nothing(index_elements=["subscriber", "item_id"])
                    inserted = session.execute(links.returning(DeliveryItemRow.id)).scalars().all()
                    if len(inserted) != len(item_ids):
                        raise _ItemsTaken
                row = session.get(DeliveryRow, delivery_id)
                assert row is not None
                return _delivery(row)
        except _ItemsTaken:
            return None

    def claim_delivery(self, delivery_id: int, now: datetime, lease_until: datetime) -> Delivery | None:
        """Take a due delivery for sending until ``lease_until``; None if it is not due or someone has it."""
        due = or_(
            and_(
                col(DeliveryRow.status) == DeliveryStatus.PENDING.value,
                or_(col(DeliveryRow.next_attempt_at).is_(None), col(DeliveryRow.next_attempt_at) <= now),
            ),
            and_(col(DeliveryRow.status) == DeliveryStatus.SENDING.value, col(DeliveryRow.lease_until) < now),
        )
        statement = (
            update(DeliveryRow)
            .where(col(DeliveryRow.id) == delivery_id, due)
            .values(
                status=DeliveryStatus.SENDING.value,
                lease_until=lease_until,
                attempts=col(DeliveryRow.attempts) + 1,
            )
        )
        with self._session() as session:
            if session.execute(statement).rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = session.get(DeliveryRow, delivery_id)
            assert row is not None
            session.refresh(row)
            return _delivery(row)

    def delivery_sent(self, delivery_id: int, now: datetime, note: str | None = None) -> None:
        """Mark sent; ``note`` keeps what is worth knowing (e.g. recipients the server refused)."""
        self._update_delivery(
            delivery_id,
            status=DeliveryStatus.SENT.value,
            sent_at=now,
            lease_until=None,
            next_attempt_at=None,
            last_error=note,
        )

    def subscription(self, name: str) -> datetime | None:
        with self._session() as session:
            row = session.get(SubscriptionRow, name)
            return row.since if row else None

    def delivery_failed(self, delivery_id: int, error: str, next_attempt_at: datetime | None) -> None:
        """Back to pending until ``next_attempt_at``, or dead when there is none."""
        status = DeliveryStatus.PENDING if next_attempt_at is not None else DeliveryStatus.DEAD
        self._update_delivery(
            delivery_id, status=status.value, last_error=error, next_attempt_at=next_attempt_at, lease_until=None
        )

    def requeue_delivery(self, delivery_id: int, now: datetime) -> None:
        """Make a delivery due now with a fresh count of attempts (``monitor deliveries retry``)."""
        self._update_delivery(
            delivery_id, status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now, lease_until=None
        )

    def _update_delivery(self, delivery_id: int, **values: Any) -> None:
        with self._session() as session:
            session.execute(update(DeliveryRow).where(col(DeliveryRow.id) == delivery_id).values(**values))

    def due_deliveries(self, now: datetime, subscribers: Sequence[str] | None = None) -> list[Delivery]:
        """Deliveries to attempt now, oldest first: pending and due, or claimed by a process that died."""
        statement = select(DeliveryRow).where(
            or_(
                and_(
                    col(DeliveryRow.status) == DeliveryStatus.PENDING.value,
                    or_(col(DeliveryRow.next_attempt_at).is_(None), col(DeliveryRow.next_attempt_at) <= now),
                ),
                and_(col(DeliveryRow.status) == DeliveryStatus.SENDING.value, col(DeliveryRow.lease_until) < now),
            )
        )
        if subscribers is not None:
            statement = statement.where(col(DeliveryRow.subscriber).in_(list(subscribers)))
        with self._session() as session:
            return [_delivery(row) for row in session.execute(statement.order_by(col(DeliveryRow.id))).scalars()]

    def deliveries(self, *, failed_only: bool = False, limit: int = 50) -> list[Delivery]:
        """Newest first; ``failed_only``: dead, or waiting for a retry after a failed attempt."""
        statement = select(DeliveryRow)
        if failed_only:
            statement = statement.where(
                or_(
                    col(DeliveryRow.status) == DeliveryStatus.DEAD.value,
                    and_(
                        col(DeliveryRow.status) != DeliveryStatus.SENT.value, col(DeliveryRow.last_error).is_not(None)
                    ),
                )
            )
        statement = statement.order_by(col(DeliveryRow.id).desc()).limit(limit)
        with self._session() as session:
            return [_delivery(row) for row in session.execute(statement).scalars()]

    def delivery(self, delivery_id: int) -> Delivery | None:
        with self._session() as session:
            row = session.get(DeliveryRow, delivery_id)
            return _delivery(row) if row else None

    def delivery_by_key(self, key: str) -> Delivery | None:
        with self._session() as session:
            row = session.execute(select(DeliveryRow).where(col(DeliveryRow.key) == key)).scalar_one_or_none()
            return _delivery(row) if row else None

    def delivery_item_ids(self, delivery_id: int) -> list[int]:
        statement = select(col(DeliveryItemRow.item_id)).where(col(DeliveryItemRow.delivery_id) == delivery_id)
        with self._session() as session:
            return list(session.execute(statement.order_by(col(DeliveryItemRow.item_id))).scalars())


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


DAY_SECONDS = 86_400
_STORIES = StoryRow.__table__  # type: ignore[attr-defined]
_STORY_ITEMS = StoryItemRow.__table__  # type: ignore[attr-defined]
_STORY_BANDS = StoryBandRow.__table__  # type: ignore[attr-defined]
_ITEMS = ItemRow.__table__  # type: ignore[attr-defined]
_MATCHES = MatchRow.__table__  # type: ignore[attr-defined]
_SOURCES = SourceRow.__table__  # type: ignore[attr-defined]
_POLLS = PollRow.__table__  # type: ignore[attr-defined]
# A source's row as ``_record_polls`` reads and writes it back: every column (name is the key).
_SOURCE_COLUMNS = tuple(_SOURCES.c)
_UPDATE_SOURCE = (
    update(_SOURCES)
    .where(_SOURCES.c.name == bindparam("b_name"))
    .values({c.name: bindparam(c.name) for c in _SOURCES.c if c.name != "name"})
)
_INSERT_POLL = insert(_POLLS)


# Built once: the statement is compiled once and cached, only the parameters change per item.
_CANDIDATES = select(
    _STORY_ITEMS.c.story_id, _STORY_ITEMS.c.item_id, _STORY_ITEMS.c.shingle_ids, _STORY_ITEMS.c.shingle_bits
).where(
    _STORY_ITEMS.c.item_id.in_(
        select(_STORY_BANDS.c.item_id)
        .where(
            _STORY_BANDS.c.day.in_(bindparam("days", expanding=True)),
            _STORY_BANDS.c.band_key.in_(bindparam("keys", expanding=True)),
            _STORY_BANDS.c.at_epoch.between(bindparam("lo"), bindparam("hi")),
        )
        .distinct()
        .limit(bindparam("limit"))
        .scalar_subquery()
    )
)


# A poll's band-index rows: every row sharing a band key with one of its items in their days, with
# the story, shingles and shingle bitmap of the row's item (NULL when retention deleted the item). Placeholders by
# the driver's parameter style (``_MARK``): {days} and {keys} are filled with one per value.
_BAND_ROWS_SQL = (
    "SELECT story_bands.band_key, story_bands.at_epoch, story_bands.item_id, story_items.story_id,"
    " story_items.shingle_ids, story_items.shingle_bits, stories.notified"
    " FROM story_bands"
    " LEFT OUTER JOIN story_items ON story_items.item_id = story_bands.item_id"
    " LEFT OUTER JOIN stories ON stories.id = story_items.story_id"
    " WHERE story_bands.day IN ({days}) AND story_bands.band_key IN ({keys})"
    " AND story_bands.at_epoch BETWEEN {mark} AND {mark}"
)
_MARK = {"qmark": "?", "format": "%s", "pyformat": "%s"}
# The band-index rows of a poll's items, by the driver's parameter style (sqlite3: qmark, psycopg: format).
_BANDS_INSERT = {
    style: f"INSERT INTO story_bands (day, band_key, at_epoch, item_id) VALUES ({m}, {m}, {m}, {m}) "
    "ON CONFLICT DO NOTHING"
    for style, m in (("qmark", "?"), ("format", "%s"), ("pyformat", "%s"))
}
# New stories, in the order they were started: ids in that order, as one insert each would give.
_NEW_STORIES = insert(_STORIES).returning(_STORIES.c.lead_item_id, _STORIES.c.id)
# Stories a poll's items joined: one row each, however many of its items joined.
_JOIN_STORIES = (
    update(_STORIES)
    .where(_STORIES.c.id == bindparam("b_story"))
    .values(
        size=_STORIES.c.size + bindparam("b_count"),
        last_joined_at=bindparam("b_now"),
        notified=or_(_STORIES.c.notified, bindparam("b_notified", type_=Boolean)),
    )
)
_NEW_STORY = insert(_STORIES).values(size=1, notified=False).returning(_STORIES.c.id)
_JOIN_STORY = (
    update(_STORIES)
    .where(_STORIES.c.id == bindparam("story"))
    .values(size=_STORIES.c.size + 1, last_joined_at=bindparam("now"))
    .returning(_STORIES.c.notified)
)
_NEW_STORY_ITEM = insert(_STORY_ITEMS)


class _Pending:
    """A newly inserted item on its way into a story: where it sits in time and in the band index."""

    __slots__ = ("item_id", "item", "match", "fp", "at", "epoch", "lo", "hi", "keys")

    def __init__(
        self, item_id: int, item: Item, match: MatchResult, fp: Fingerprint | None, now: datetime, window: timedelta
    ) -> None:
        self.item_id, self.item, self.match, self.fp = item_id, item, match, fp
        self.at = at = item.published or now
        self.epoch = int(at.timestamp())
        # As the candidate lookup of one item computed them (``_story_candidates``).
        self.lo, self.hi = int((at - window).timestamp()), int((at + window).timestamp())
        self.keys: tuple[int, ...] = band_keys(fp) if fp is not None else ()


class _BandIndex:
    """The band-index rows a poll's items can meet: those read from the database before the poll's
    own rows were written, and the poll's items as they get their stories.

    ``candidates`` gives an item what the one-item lookup (``_CANDIDATES``) read from the database
    with the poll's earlier items stored: the items sharing a band key within its window, in item
    id order, at most ``limit`` of them (the first in the index's order, as SQLite's lookup did).
    """

    def __init__(self) -> None:
        self.rows: dict[int, set[tuple[int, int]]] = {}  # band key -> (at_epoch, item id)
        # item id -> story, shingle ids, shingle bitmap (as stored)
        self.items: dict[int, tuple[int | None, bytes | None, bytes | None]] = {}
        self.notified: dict[int, bool] = {}  # stories met, as stored
        self._candidates: dict[int, Candidate] = {}

    def load(self, rows: Iterable[Any]) -> None:
        for band_key, at_epoch, item_id, story_id, blob, bits, notified in rows:
            self.rows.setdefault(band_key, set()).add((at_epoch, item_id))
            self.items.setdefault(item_id, (story_id, blob, bits))
            if story_id is not None:
                self.notified[story_id] = bool(notified)

    def add(self, pending: _Pending, story: int) -> None:
        assert pending.fp is not None
        for key in set(pending.keys):
            self.rows.setdefault(key, set()).add((pending.epoch, pending.item_id))
        self.items[pending.item_id] = (story, pending.fp.packed_shingles, pending.fp.bits_bytes())

    def candidates(self, pending: _Pending, limit: int) -> list[Candidate]:
        lo, hi = pending.lo, pending.hi
        found = {
            item_id for key in pending.keys for at_epoch, item_id in self.rows.get(key, ()) if lo <= at_epoch <= hi
        }
        if len(found) > limit:  # a flood of near-identical texts: the first ``limit`` in index order
            hits = sorted(
                (at_epoch // DAY_SECONDS, key, at_epoch, item_id)
                for key in set(pending.keys)
                for at_epoch, item_id in self.rows.get(key, ())
                if lo <= at_epoch <= hi
            )
            found = set()
            for *_, item_id in hits:
                if len(found) == limit:
                    break
                found.add(item_id)
        candidates = []
        for item_id in sorted(found):
            # One per item (its story does not change within the poll), decoded at most once, however
            # many of the poll's items meet it.
            candidate = self._candidates.get(item_id)
            if candidate is None:
                story, blob, bits = self.items[item_id]
                if story is None or not blob:
                    continue
                candidate = self._candidates[item_id] = Candidate(
                    story, item_id, StoredShingles(blob), stored_bits(bits)
                )
            candidates.append(candidate)
        return candidates


@dataclass(frozen=True, slots=True)
class _Story:
    id: int
    notified: bool  # a match of the story was already stored as news


def _first_per_source(copies: Sequence[StoryCopy]) -> tuple[StoryCopy, ...]:
    seen: set[str] = set()
    first = []
    for copy in copies:
        if copy.source not in seen:
            seen.add(copy.source)
            first.append(copy)
    return tuple(first)


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


def _match_values(item_id: int, match: MatchResult, version: str, now: datetime, notify: bool) -> dict[str, Any]:
    """The row ``_match_row`` makes, as values for a Core insert (no model object per match)."""
    return {
        "item_id": item_id,
        "score": match.score,
        "snippets": list(match.snippets),
        "marked_snippets": list(match.marked_snippets),
        "actors": list(match.actors),
        "topics": list(match.topics),
        "meeting_level": match.meeting_level,
        "rule": match.rule,
        "matcher_version": version,
        "matched_at": now,
        "notify": notify,
    }


def _match_row(item_id: int, match: MatchResult, version: str, now: datetime, notify: bool = True) -> MatchRow:
    return MatchRow(
        item_id=item_id,
        score=match.score,
        snippets=list(match.snippets),
        marked_snippets=list(match.marked_snippets),
        actors=list(match.actors),
        topics=list(match.topics),
        meeting_level=match.meeting_level,
        rule=match.rule,
        matcher_version=version,
        matched_at=now,
        notify=notify,
    )


def _same_match(row: MatchRow, match: MatchResult) -> bool:
    return (
        row.score == match.score
        and row.snippets == list(match.snippets)
        and row.actors == list(match.actors)
        and row.topics == list(match.topics)
        and row.meeting_level == match.meeting_level
        and row.rule == match.rule
    )


def _update_match_row(row: MatchRow, match: MatchResult, version: str, now: datetime) -> None:
    row.score = match.score
    row.snippets = list(match.snippets)
    row.marked_snippets = list(match.marked_snippets)
    row.actors = list(match.actors)
    row.topics = list(match.topics)
    row.meeting_level = match.meeting_level
    row.rule = match.rule
    row.matcher_version = version
    row.matched_at = now


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
            marked_snippets=tuple(match.marked_snippets),
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
        next_check_at=row.next_check_at,
        next_check_reason=row.next_check_reason,
        paused_at=row.paused_at,
        paused_reason=row.paused_reason,
    )


def _apply_poll(row: SourceRow | SimpleNamespace, outcome: SourceOutcome, inserted: int, now: datetime) -> None:
    """A poll's outcome on its source's row (a ``SourceRow`` or the plain record of ``_record_polls``)."""
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
        if outcome.status is OutcomeStatus.OK:
            row.feed_ttl_minutes = outcome.ttl_minutes


def _poll_values(outcome: SourceOutcome, inserted: int, now: datetime) -> dict[str, Any]:
    """The poll's line in the history (``polls``)."""
    return {
        "source": outcome.source,
        "polled_at": now,
        "status": outcome.status.value,
        "error_kind": outcome.error_kind,
        "error_message": outcome.error_message,
        "entries": outcome.entries,
        "new_items": inserted,
        "new_matches": outcome.new_matches,
        "elapsed": outcome.elapsed,
    }


def _source_history(row: SourceRow | SimpleNamespace, weekly: int) -> SourceHistory:
    return SourceHistory(
        row.consecutive_errors,
        weekly,
        row.paused_at is not None,
        row.feed_ttl_minutes,
        ever_ok=row.last_ok_at is not None,
    )


def _schedule(row: SourceRow | SimpleNamespace, decision: NextCheck, now: datetime) -> None:
    row.next_check_at = decision.at
    row.next_check_reason = decision.reason.value
    if decision.paused_reason is None:
        row.paused_at = row.paused_reason = None
    else:
        row.paused_at = row.paused_at or now
        row.paused_reason = decision.paused_reason


class _ItemsTaken(Exception):
    """Rolls back a delivery whose items another delivery to the same subscriber already holds."""


def _delivery_values(new: NewDelivery, item_count: int, now: datetime) -> dict[str, Any]:
    return {
        "key": new.key,
        "subscriber": new.subscriber,
        "channel": new.channel,
        "kind": new.kind,
        "message_id": new.message_id,
        "payload": new.payload,
        "recipients": list(new.recipients),
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "item_count": item_count,
        "period_start": new.period_start,
        "period_end": new.period_end,
        "created_at": now,
        "next_attempt_at": now,
    }


def _delivery(row: DeliveryRow) -> Delivery:
    assert row.id is not None
    return Delivery(
        id=row.id,
        key=row.key,
        subscriber=row.subscriber,
        channel=row.channel,
        kind=row.kind,
        message_id=row.message_id,
        payload=row.payload,
        recipients=tuple(row.recipients),
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        item_count=row.item_count,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        lease_until=row.lease_until,
        sent_at=row.sent_at,
        last_error=row.last_error,
        period_start=row.period_start,
        period_end=row.period_end,
    )
