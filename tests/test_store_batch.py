"""Storing a poll's new items as one batch: the same rows as storing them one poll at a time, with a
number of statements that does not grow with the number of items (the cold cycle stores about fifty
items per source, and statements per item bound it)."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, text

from monitor.identity import identify
from monitor.store import Repository, open_engine
from monitor.types import FeedEntry, Item, MatchResult, OutcomeStatus, SourceOutcome

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NEWS = MatchResult(True, 4.0, ("Pregovarači su se sastali u Briselu.",), ("EU",), ("dialogue",), None, "dialogue+party")
OTHER = MatchResult(False, 0.0)

# Words of the three languages the monitor reads; a story's lead is a random run of them, so two
# stories share next to no word triples while copies of one story share all of theirs.
WORDS = " ".join(
    (
        "the council approved new bus lines for the old town after a long debate on Monday evening",
        "kuvendi komunal miratoi buxhetin për rrugët e reja në qytet pas një takimi të gjatë me banorët",
        "gradsko veće je usvojilo plan za nove parkove i biciklističke staze posle duge rasprave u sredu",
    )
).split()


def lead(story: int) -> str:
    return " ".join(random.Random(story).choices(WORDS, k=40))


def item(source: str, n: int, story: int, published: datetime, extra: str = "") -> Item:
    entry = FeedEntry(None, f"https://{source}.example/{n}", f"Vijest {n}", lead(story) + extra, published, "sr")
    return identify(source, entry, "sr")


def digest(repo: Repository) -> dict[str, str]:
    """Every row the store wrote for items, stories, the band index and matches."""
    tables = {
        "items": "id, key, source, url, title, text, published_at, first_seen_at",
        "stories": "id, lead_item_id, started_at, first_seen_at, last_joined_at, size, notified",
        "story_items": "item_id, story_id, source, at, joined_at, shingle_ids, shingle_count, similar_item_id,"
        " similarity",
        "story_bands": "day, band_key, at_epoch, item_id",
        "matches": "id, item_id, score, snippets, actors, topics, rule, matcher_version, matched_at, notify",
    }
    found = {}
    with repo.engine.connect() as conn:
        for table, columns in tables.items():
            rows = sorted(repr(tuple(row)) for row in conn.execute(text(f"select {columns} from {table}")))
            found[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return found


def poll(source: str, items: list[tuple[Item, MatchResult]]) -> SourceOutcome:
    return SourceOutcome(source, OutcomeStatus.OK, entries=len(items), new_items=len(items))


def earlier_story(published: datetime) -> list[tuple[Item, MatchResult]]:
    """A story an earlier poll stored, and told as news."""
    return [(item("wire", 0, 1000, published - timedelta(hours=3)), NEWS)]


def busy_poll(units: int, published: datetime) -> list[tuple[Item, MatchResult]]:
    """Per unit: a new story that is news, its copy in the same poll, a copy of the earlier story,
    an item that is not news, and the first item again (a feed listing an entry twice)."""
    batch: list[tuple[Item, MatchResult]] = []
    for unit in range(units):
        at = published + timedelta(minutes=unit)
        first = item("daily", 10 * unit, unit, at)
        batch += [
            (first, NEWS),
            (item("daily", 10 * unit + 1, unit, at, " Izvor: agencije."), NEWS),
            (item("daily", 10 * unit + 2, 1000, at, " Još detalja uskoro."), NEWS),
            (item("daily", 10 * unit + 3, 500 + unit, at), OTHER),
            (first, NEWS),
        ]
    return batch


def reset(repo: Repository) -> None:
    """Empty the store, ids starting again from 1."""
    with repo.engine.begin() as conn:
        if repo.engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "truncate matches, story_bands, story_items, stories, items, polls, sources"
                    " restart identity cascade"
                )
            )
        else:
            for table in ("matches", "story_bands", "story_items", "stories", "items", "polls", "sources"):
                conn.execute(text(f"delete from {table}"))


def notify_flags(repo: Repository) -> dict[str, bool]:
    with repo.engine.connect() as conn:
        rows = conn.execute(text("select i.url, m.notify from matches m join items i on i.id = m.item_id")).all()
    return {url: bool(flag) for url, flag in rows}


def test_a_poll_stores_what_one_poll_per_item_would(database_url: str) -> None:
    """Copies within the poll find each other, the first copy alone is news, an item listed twice is
    stored once: row for row what storing the items one poll at a time gives."""
    published = NOW - timedelta(hours=1)
    batch = busy_poll(3, published)
    with Repository(open_engine(database_url)) as repo:
        repo.commit_poll(poll("wire", earlier_story(published)), earlier_story(published), "m1", NOW)
        inserted = repo.commit_poll(poll("daily", batch), batch, "m1", NOW)
        assert len(inserted) == 12, "the item listed twice is stored once"
        together = digest(repo)
        flags = notify_flags(repo)
        assert flags["https://daily.example/0"] and flags["https://daily.example/10"], "a new story is news"
        assert not flags["https://daily.example/1"], "its copy in the same poll is not news again"
        assert not any(flags[f"https://daily.example/{10 * u + 2}"] for u in range(3)), "the earlier story was news"
        assert sorted(s.size for s in repo.stories()) == [1, 1, 1, 2, 2, 2, 4]
        reset(repo)
        repo.commit_poll(poll("wire", earlier_story(published)), earlier_story(published), "m1", NOW)
        for entry in batch:
            repo.commit_poll(poll("daily", [entry]), [entry], "m1", NOW)
        assert digest(repo) == together


def count_statements(repo: Repository, work: Any) -> int:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        statements.append(statement)

    event.listen(repo.engine, "before_cursor_execute", count)
    try:
        work()
    finally:
        event.remove(repo.engine, "before_cursor_execute", count)
    return len(statements)


def test_a_polls_items_cost_the_same_statements_however_many_there_are(database_url: str) -> None:
    """Four items or forty: the store's statements are per poll, not per item (new stories,
    copies within the poll and of stored stories, matches, an item listed twice)."""
    published = NOW - timedelta(hours=1)
    with Repository(open_engine(database_url)) as repo:
        repo.commit_poll(poll("wire", earlier_story(published)), earlier_story(published), "m1", NOW)
        small, large = busy_poll(1, published), busy_poll(8, published + timedelta(minutes=30))
        large = [(replace_source(i, "weekly"), m) for i, m in large]
        few = count_statements(repo, lambda: repo.commit_poll(poll("daily", small), small, "m1", NOW))
        many = count_statements(repo, lambda: repo.commit_poll(poll("weekly", large), large, "m1", NOW))
        assert repo.count_items() == 1 + 4 + 32
    assert many == few, f"{few} statements for 4 items, {many} for 32"


def replace_source(original: Item, source: str) -> Item:
    entry = FeedEntry(
        None,
        (original.url or "").replace("daily", source),
        original.title,
        original.text,
        original.published,
        original.language,
    )
    return identify(source, entry, "sr")
