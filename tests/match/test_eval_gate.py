"""The quality gate: precision and recall per language on the labelled sets may not drop.

The floors are the figures measured when each set was written (or after the rules were corrected
on it), less a margin; the run is deterministic (no sampling, no seed), so a drop means a change
made the matcher worse.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.match import Matcher
from monitor.match.evaluate import Scores, evaluate, load_labelled

HERE = Path(__file__).parent
LANGUAGES = ("en", "sq", "sr-Cyrl", "sr-Latn")


@dataclass(frozen=True)
class Gate:
    name: str
    precision: float
    recall: float
    min_items: int  # per language


# Measured on 2026-11-22 and 2026-11-23 (README, "Matching", "Measured"):
GATES = [
    # written for the project; 1.000 / 1.000 in every language
    Gate("eval", 0.97, 0.97, 50),
    # a second author, blind: 0.913 / 0.984 as it arrived; 1.000 / 1.000 after the corrections
    Gate("eval_blind", 0.97, 0.97, 35),
    # a third author, blind, mostly full articles: 0.873 / 1.000 as it arrived; now en 1.000,
    # sq 0.923, sr-Cyrl 0.923, sr-Latn 1.000 precision, recall 1.000: one more false alarm per
    # language would still pass, no more
    Gate("eval_blind2", 0.85, 0.97, 30),
    # a fourth author, blind: 0.898 / 0.946 as it arrived; now en 0.933, sq 0.824, sr-Cyrl 1.000,
    # sr-Latn 1.000 precision, recall 1.000 (four false alarms left, see the README)
    Gate("eval_blind3", 0.80, 0.97, 30),
    # a fifth author, blind, varied forms (live blogs, features, interviews): 0.962 / 0.981 as it
    # arrived; now en 0.929 precision, sr-Cyrl 0.923 recall, the rest 1.000
    Gate("eval_blind4", 0.90, 0.90, 30),
    # a sixth author, blind, text as feeds deliver it (related headlines, tags, TV listings):
    # 0.754 / 1.000 as it arrived; 1.000 / 1.000 after page furniture
    Gate("eval_blind5", 0.95, 0.95, 30),
    # a seventh author, blind, actors and allusions (the talks named by their people, places and
    # agenda, not by "dialogue"): 1.000 / 0.857 as it arrived (sr-Cyrl recall 0.714); now
    # precision 1.000, recall 0.929 in en, sq and sr-Cyrl and 1.000 in sr-Latn
    Gate("eval_blind6", 0.95, 0.90, 30),
    # an eighth author, blind, the north and the local press: 1.000 / 0.962 as it arrived; now
    # precision 1.000 everywhere, recall 1.000 but 0.923 in English (a passage naming neither party)
    Gate("eval_blind7", 0.95, 0.90, 30),
    # a ninth author, blind, wires and broadcasters as feeds deliver them: 0.980 / 0.962 as it
    # arrived (Albanian 0.917 / 0.846); now 1.000 / 1.000 (the north's places name Kosovo)
    Gate("eval_blind8", 0.95, 0.90, 30),
    # a tenth author, blind, the news of 2024-2026: 0.964 / 0.964 as it arrived (en 0.929 / 0.929,
    # sq 0.933 / 1.000, sr-Latn recall 0.929); now recall 1.000, precision 0.933 in en and sq (one
    # passing clause each): one more false alarm or one miss per language would still pass, no more
    Gate("eval_blind9", 0.90, 0.90, 30),
    # an eleventh author, blind, long articles in full (analyses, columns, interviews, session
    # reports): 0.947 / 1.000 as it arrived (sq and sr-Latn precision 0.900), unchanged since
    Gate("eval_blind10", 0.85, 0.88, 20),
    # a twelfth author, blind, tabloids, portals and partisan media: 0.929 / 1.000 as it arrived
    # (sr-Cyrl precision 0.867); now precision 1.000 but 0.929 in sr-Cyrl, recall 1.000
    Gate("eval_blind11", 0.90, 0.90, 30),
    # a thirteenth author, blind, official and institutional sources (press releases, statements):
    # 0.945 / 1.000 as it arrived (en precision 0.867); now 0.929 in en, 1.000 elsewhere
    Gate("eval_blind12", 0.90, 0.90, 30),
]


@pytest.fixture(scope="module")
def scores(matcher: Matcher) -> dict[str, dict[str, Scores]]:
    return {gate.name: evaluate(matcher, load_labelled([HERE / gate.name])) for gate in GATES}


def test_the_labelled_set_is_large_enough_and_hard_enough() -> None:
    items = load_labelled([HERE / "eval"])
    assert len(items) >= 200
    per_language = Counter(i.lang for i in items)
    assert set(per_language) == set(LANGUAGES)
    assert min(per_language.values()) >= 50
    negatives = [i for i in items if not i.relevant]
    assert len(negatives) >= len(items) / 3
    assert sum(1 for i in negatives if i.kind == "hard") >= len(items) / 3


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("gate", GATES, ids=lambda g: g.name)
def test_precision_and_recall_stay_above_the_floor(
    scores: dict[str, dict[str, Scores]], gate: Gate, language: str
) -> None:
    s = scores[gate.name][language]
    wrong = [f"{e.item.id}: {e.item.title}" for e in s.errors]
    assert s.total >= gate.min_items, f"{gate.name}: only {s.total} items in {language}"
    assert s.precision >= gate.precision, f"{gate.name}: precision {s.precision:.3f} in {language}; wrong: {wrong}"
    assert s.recall >= gate.recall, f"{gate.name}: recall {s.recall:.3f} in {language}; wrong: {wrong}"
