"""Re-matching stored items on SQLite and PostgreSQL: new matches are never news."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.identity import identify
from monitor.store import Repository, open_engine
from monitor.types import FeedEntry, MatchResult, OutcomeStatus, SourceOutcome

NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
OLD = MatchResult(True, 4.0, ("Chief negotiators met.",), ("bislimi",), ("asm",), None, "dialogue+both-sides")
NEW = MatchResult(True, 5.0, ("Chief negotiators met again.",), ("bislimi",), ("asm",), "trilateral", "topic:asm")
NONE = MatchResult(False, 0.0)


def stored_three(repo: Repository) -> list[int]:
    entries = [FeedEntry(None, f"https://wire.example/a/{n}", f"Title {n}", f"Text {n}", NOW, "en") for n in range(3)]
    items = [identify("wire", e, "en") for e in entries]
    repo.commit_poll(
        SourceOutcome("wire", OutcomeStatus.OK), [(items[0], OLD), (items[1], NONE), (items[2], OLD)], "v1", NOW
    )
    return [s.id for batch in repo.items_in_batches() for s in batch]


def test_replace_matches_adds_quietly_updates_and_removes(database_url: str) -> None:
    with Repository(open_engine(database_url)) as repo:
        first, second, third = stored_three(repo)
        summary = repo.replace_matches([(first, NEW), (second, NEW), (third, NONE)], "v2", NOW + timedelta(days=1))
        assert (summary.checked, summary.added, summary.updated, summary.removed) == (3, 1, 1, 1)
        by_title = {s.item.title: s.match for s in repo.items(matched_only=True)}
        assert set(by_title) == {"Title 0", "Title 1"}
        assert by_title["Title 0"] == NEW and by_title["Title 1"] == NEW
        again = repo.replace_matches([(first, NEW), (second, NEW), (third, NONE)], "v2")
        assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 3)


def test_items_in_batches_pages_through_everything_since_a_time(database_url: str) -> None:
    with Repository(open_engine(database_url)) as repo:
        ids = stored_three(repo)
        batches = list(repo.items_in_batches(batch=2))
        assert [len(b) for b in batches] == [2, 1]
        assert [s.id for b in batches for s in b] == sorted(ids)
        assert list(repo.items_in_batches(since=NOW + timedelta(seconds=1))) == []


def test_find_item_by_id_url_or_key(database_url: str) -> None:
    with Repository(open_engine(database_url)) as repo:
        first, *_ = stored_three(repo)
        by_id = repo.find_item(str(first))
        assert by_id is not None and by_id.item.title == "Title 0" and by_id.match == OLD
        by_url = repo.find_item("https://wire.example/a/1")
        assert by_url is not None and by_url.item.title == "Title 1" and by_url.match is None
        assert repo.find_item(by_url.item.key) == by_url
        assert repo.find_item("https://wire.example/nothing") is None
