"""The quality gate: precision and recall per language on the labelled set may not drop.

The floors are the figures measured when the set was written, less a small margin; the run is
deterministic (no sampling, no seed), so a drop means a change made the matcher worse.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from monitor.match import Matcher
from monitor.match.evaluate import Scores, evaluate, load_labelled

EVAL_SET = Path(__file__).parent / "eval"
# Written by another author without seeing the rules (README, "Matching", "Measured"): 0.913 / 0.984
# overall when it arrived; the rules were then corrected on its errors, so it is no longer unseen.
BLIND_SET = Path(__file__).parent / "eval_blind"
# A third author's set, mostly full articles, also written blind: 0.873 / 1.000 when it arrived,
# then 0.960 / 1.000 after the rules were corrected on its errors (two false alarms left).
BLIND_SET_2 = Path(__file__).parent / "eval_blind2"
# Measured on 2026-11-22: precision 1.000 and recall 1.000 in every language on both sets.
PRECISION_FLOOR = 0.97
RECALL_FLOOR = 0.97
LANGUAGES = ("en", "sq", "sr-Cyrl", "sr-Latn")


@pytest.fixture(scope="module")
def scores(matcher: Matcher) -> dict[str, Scores]:
    return evaluate(matcher, load_labelled([EVAL_SET]))


@pytest.fixture(scope="module")
def blind_scores(matcher: Matcher) -> dict[str, Scores]:
    return evaluate(matcher, load_labelled([BLIND_SET]))


@pytest.fixture(scope="module")
def articles_scores(matcher: Matcher) -> dict[str, Scores]:
    return evaluate(matcher, load_labelled([BLIND_SET_2]))


def test_the_labelled_set_is_large_enough_and_hard_enough() -> None:
    items = load_labelled([EVAL_SET])
    assert len(items) >= 200
    per_language = Counter(i.lang for i in items)
    assert set(per_language) == set(LANGUAGES)
    assert min(per_language.values()) >= 50
    negatives = [i for i in items if not i.relevant]
    assert len(negatives) >= len(items) / 3
    assert sum(1 for i in negatives if i.kind == "hard") >= len(items) / 3


@pytest.mark.parametrize("language", LANGUAGES)
def test_precision_and_recall_stay_above_the_floor(scores: dict[str, Scores], language: str) -> None:
    s = scores[language]
    wrong = [f"{e.item.id}: {e.item.title}" for e in s.errors]
    assert s.precision >= PRECISION_FLOOR, f"precision {s.precision:.3f} in {language}; wrong: {wrong}"
    assert s.recall >= RECALL_FLOOR, f"recall {s.recall:.3f} in {language}; wrong: {wrong}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_precision_and_recall_on_the_second_authors_set_stay_above_the_floor(
    blind_scores: dict[str, Scores], language: str
) -> None:
    s = blind_scores[language]
    wrong = [f"{e.item.id}: {e.item.title}" for e in s.errors]
    assert s.total >= 35
    assert s.precision >= PRECISION_FLOOR, f"precision {s.precision:.3f} in {language}; wrong: {wrong}"
    assert s.recall >= RECALL_FLOOR, f"recall {s.recall:.3f} in {language}; wrong: {wrong}"


# Measured 2026-11-22 on the article set: en 1.000/1.000, sq 0.923/1.000, sr-Cyrl 0.923/1.000,
# sr-Latn 1.000/1.000; the floor keeps one more false alarm per language from failing CI, no more.
ARTICLES_PRECISION_FLOOR = 0.85


@pytest.mark.parametrize("language", LANGUAGES)
def test_precision_and_recall_on_full_articles_stay_above_the_floor(
    articles_scores: dict[str, Scores], language: str
) -> None:
    s = articles_scores[language]
    wrong = [f"{e.item.id}: {e.item.title}" for e in s.errors]
    assert s.total >= 30
    assert s.precision >= ARTICLES_PRECISION_FLOOR, f"precision {s.precision:.3f} in {language}; wrong: {wrong}"
    assert s.recall >= RECALL_FLOOR, f"recall {s.recall:.3f} in {language}; wrong: {wrong}"
