"""The clustering fixture articles, and storing them the way polls would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from monitor.identity import identify
from monitor.store import Repository
from monitor.types import FeedEntry, Item, MatchResult, OutcomeStatus, SourceOutcome

ARTICLES = Path(__file__).parents[1] / "fixtures" / "stories" / "articles.yaml"
IRRELEVANT = MatchResult(False, 0.0)


@dataclass(frozen=True)
class Article:
    id: str
    story: str  # the gold label: articles with the same label are copies of one story
    source: str
    language: str
    published: datetime
    url: str
    title: str
    text: str

    def item(self) -> Item:
        entry = FeedEntry(None, self.url, self.title, self.text, self.published, self.language)
        return identify(self.source, entry, self.language)


def load_articles() -> list[Article]:
    raw: list[dict[str, Any]] = yaml.safe_load(ARTICLES.read_text(encoding="utf-8"))["articles"]
    return [Article(**{**a, "published": datetime.fromisoformat(a["published"])}) for a in raw]


def store_one(repo: Repository, article: Article, match: MatchResult = IRRELEVANT, delay_minutes: int = 10) -> None:
    """One poll of the article's outlet that finds it, a few minutes after it was published."""
    outcome = SourceOutcome(article.source, OutcomeStatus.OK, entries=1, new_items=1)
    repo.commit_poll(outcome, [(article.item(), match)], "m1", article.published + timedelta(minutes=delay_minutes))


def predicted_stories(repo: Repository, articles: list[Article]) -> dict[str, int]:
    """Article id → the story id the store gave it."""
    ids = {s.item.url: s.id for s in repo.items(limit=10_000)}
    refs = repo.stories_for_items(ids.values())
    return {a.id: refs[ids[a.item().url]].story_id for a in articles}


@dataclass(frozen=True)
class Quality:
    precision: float
    recall: float
    true_pairs: int
    predicted_pairs: int

    def __str__(self) -> str:
        return (
            f"precision {self.precision:.3f}, recall {self.recall:.3f} "
            f"({self.true_pairs} same-story pairs, {self.predicted_pairs} predicted)"
        )


def pairwise_quality(articles: list[Article], predicted: dict[str, int]) -> Quality:
    """Precision and recall over pairs of articles: put together rightly, and put together at all."""
    gold = {(a.id, b.id) for a, b in itertools.combinations(articles, 2) if a.story == b.story}
    found = {(a.id, b.id) for a, b in itertools.combinations(articles, 2) if predicted[a.id] == predicted[b.id]}
    right = len(gold & found)
    precision = right / len(found) if found else 1.0
    recall = right / len(gold) if gold else 1.0
    return Quality(precision, recall, len(gold), len(found))
