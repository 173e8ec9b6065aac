"""Is the store right after a cycle? Reads the SQLite file directly, not through the code under test.

Every stored item is mapped back to the generator's article id (``farm.article_id``); the store
is right when every article of the cycle is stored exactly once, nothing else is stored, every
article about the dialogue has a match and no other article has one.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.farm import article_id


@dataclass(frozen=True, slots=True)
class StoreCheck:
    expected: int
    stored_rows: int
    missing: int
    duplicated: int
    unexpected: int
    relevant: int
    matched: int
    missed_matches: int
    false_matches: int

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicated or self.unexpected or self.missed_matches or self.false_matches)

    def summary(self) -> str:
        if self.ok:
            return f"OK: {self.stored_rows} articles stored once each, {self.matched} of {self.relevant} matched"
        return (
            f"WRONG: {self.missing} missing, {self.duplicated} stored twice, {self.unexpected} unexpected, "
            f"{self.missed_matches} relevant not matched, {self.false_matches} matched wrongly "
            f"({self.stored_rows} rows for {self.expected} articles)"
        )


def check_store(database: Path, truth: dict[int, bool]) -> StoreCheck:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT url, guid FROM items").fetchall()
        matched_rows = connection.execute(
            "SELECT i.url, i.guid FROM matches m JOIN items i ON i.id = m.item_id"
        ).fetchall()
    finally:
        connection.close()
    stored = Counter(article_id(url, guid) for url, guid in rows)
    matched = {article_id(url, guid) for url, guid in matched_rows}
    relevant = {a for a, is_relevant in truth.items() if is_relevant}
    return StoreCheck(
        expected=len(truth),
        stored_rows=len(rows),
        missing=sum(1 for a in truth if a not in stored),
        duplicated=sum(1 for a, n in stored.items() if n > 1 and a is not None),
        unexpected=sum(n for a, n in stored.items() if a not in truth),
        relevant=len(relevant),
        matched=len(matched & relevant),
        missed_matches=len(relevant - matched),
        false_matches=len(matched - relevant),
    )
