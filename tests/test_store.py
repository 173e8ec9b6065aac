"""The repository on SQLite and on PostgreSQL: items stored once, poll outcomes atomic."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from monitor.errors import StorageError
from monitor.identity import identify
from monitor.store import Repository, open_engine
from monitor.types import FeedEntry, MatchResult, OutcomeStatus, SourceOutcome, Validators

NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
RELEVANT = MatchResult(
    True, 4.0, ("Chief negotiators met in Brussels.",), ("bislimi",), ("asm",), None, "dialogue+party"
)
IRRELEVANT = MatchResult(False, 0.0)


def entry(n: int, link: str | None = None, guid: str | None = None) -> FeedEntry:
    return FeedEntry(guid=guid, link=link, title=f"Title {n}", text=f"Text {n}", published=NOW, language="en")


def ok(source: str, etag: str = '"v1"') -> SourceOutcome:
    return SourceOutcome(source, OutcomeStatus.OK, validators=Validators(etag, "Sun, 22 Nov 2026 06:00:00 GMT"))


def test_items_are_stored_once_and_matches_kept(database_url: str) -> None:
    with Repository(open_engine(database_url)) as repo:
        items = [identify("wire", entry(i, f"https://wire.example/a/{i}"), "en") for i in range(3)]
        new = repo.unknown(items)
        assert len(new) == 3
        inserted = repo.commit_poll(
            ok("wire"), [(new[0], RELEVANT), (new[1], IRRELEVANT), (new[2], IRRELEVANT)], "m1", NOW
        )
        assert len(inserted) == 3
        assert repo.unknown(items) == []
        # storing the same again inserts nothing, even when the caller did not filter first
        assert repo.commit_poll(ok("wire"), [(items[0], RELEVANT)], "m1", NOW) == []
        assert repo.count_items() == 3
        matched = repo.items(matched_only=True)
        assert [s.item.title for s in matched] == ["Title 0"]
        assert matched[0].match == RELEVANT
        assert matched[0].first_seen == NOW


def test_guid_known_in_the_same_source_is_not_new_even_under_a_new_link(database_url: str) -> None:
    with Repository(open_engine(database_url)) as repo:
        first = identify("wire", entry(1, "https://wire.example/a/old-slug", guid="g-1"), "en")
        repo.commit_poll(ok("wire"), [(first, IRRELEVANT)], "m1", NOW)
        moved = identify("wire", entry(1, "https://wire.example/a/new-slug", guid="g-1"), "en")
        assert repo.unknown([moved]) == []
        other_source = identify("other", entry(1, "https://other.example/x", guid="g-1"), "en")
        assert repo.unknown([other_source]) == [other_source]


def test_source_state_tracks_validators_and_failures(database_url: str) -> None:
    with Repository(open_engine(database_url)) as repo:
        repo.commit_poll(ok("wire", '"abc"'), [], "m1", NOW)
        assert repo.source_state("wire").validators.etag == '"abc"'
        failed = SourceOutcome("wire", OutcomeStatus.ERROR, error_kind="timeout", error_message="fetch: slow")
        repo.commit_poll(failed, [], "m1", NOW)
        repo.commit_poll(failed, [], "m1", NOW)
        state = repo.source_state("wire")
        assert state.consecutive_errors == 2
        assert state.failing_since == NOW
        assert state.validators.etag == '"abc"', "an error must not forget the validators"
        repo.commit_poll(ok("wire", '"abd"'), [], "m1", NOW)
        state = repo.source_state("wire")
        assert (state.consecutive_errors, state.failing_since, state.last_status) == (0, None, "ok")


def test_a_large_poll_is_stored_in_one_go_and_reports_only_what_it_inserted(database_url: str) -> None:
    with Repository(open_engine(database_url)) as repo:
        items = [identify("wire", entry(i, f"https://wire.example/a/{i}"), "en") for i in range(300)]
        # another writer stored every third item first
        repo.commit_poll(ok("other"), [(item, IRRELEVANT) for item in items[::3]], "m1", NOW)
        batch = [(item, RELEVANT if i % 2 else IRRELEVANT) for i, item in enumerate(items)]
        batch.append((items[1], RELEVANT))  # the same key twice in one poll: stored once
        inserted = repo.commit_poll(ok("wire"), batch, "m1", NOW)
        assert [i.key for i in inserted] == [item.key for n, item in enumerate(items) if n % 3]
        assert repo.count_items() == 300
        matched = {s.item.key for s in repo.items(matched_only=True, limit=1000)}
        assert matched == {item.key for n, item in enumerate(items) if n % 3 and n % 2}
        assert repo.source_state("wire").items_total == 200


def test_marked_snippets_are_stored_with_the_match(database_url: str) -> None:
    # The digest shows them as stored: it need not run the matcher again at render time.
    marked = replace(RELEVANT, marked_snippets=("⟦Chief negotiators⟧ met in ⟦Brussels⟧.",))
    with Repository(open_engine(database_url)) as repo:
        item = identify("wire", entry(1, "https://wire.example/a/1"), "en")
        repo.commit_poll(ok("wire"), [(item, marked)], "m1", NOW)
        assert repo.items(matched_only=True)[0].match == marked
        # a rematch that finds the same match with other marks keeps it unchanged but takes the marks
        stored_id = repo.items(matched_only=True)[0].id
        remarked = replace(RELEVANT, marked_snippets=("Chief negotiators met in ⟦Brussels⟧.",))
        summary = repo.replace_matches([(stored_id, remarked)], "m2", NOW)
        assert (summary.unchanged, summary.updated) == (1, 0)
        assert repo.items(matched_only=True)[0].match == remarked


def test_polls_stored_from_many_threads_at_once_all_land_on_sqlite(tmp_path: Path) -> None:
    # A cold poll stores every source from a thread pool at the same time. SQLite has one writer:
    # the others must wait their turn, however long, never fail with "database is locked" (a
    # bench of 1,000 feeds lost two sources' items to it before writers queued in the process).
    engine = open_engine(f"sqlite:///{tmp_path / 'monitor.db'}", busy_timeout_seconds=0.001)
    sources, per_source = 12, 40
    failures: list[BaseException] = []
    with Repository(engine) as repo:

        def store(source: str) -> None:
            items = [identify(source, entry(i, f"https://{source}.example/a/{i}"), "en") for i in range(per_source)]
            try:
                repo.commit_poll(ok(source), [(item, IRRELEVANT) for item in items], "m1", NOW)
            except StorageError as exc:
                failures.append(exc)

        threads = [threading.Thread(target=store, args=(f"outlet{n}",)) for n in range(sources)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert repo.count_items() == sources * per_source


def test_sqlite_checkpoints_its_write_ahead_log_every_ten_thousand_pages(tmp_path: Path) -> None:
    """A cold poll's commits each add about a thousand pages to the log: with SQLite's default of
    1,000 pages nearly every commit waited for a checkpoint (and its fsync) under the store's lock."""
    engine = open_engine(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000
    finally:
        engine.dispose()
