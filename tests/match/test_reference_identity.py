"""The fast matcher gives exactly the results of the frozen reference (tests/match/reference.py).

Speed work on the engine must not change a single decision, score, rule, topic, actor, meeting
level or snippet, nor what ``monitor explain`` prints. Both engines run on the whole labelled sets
(eval and eval_blind to eval_blind12) and on a few thousand seeded generated items: leads stitched into
long items, the same items in Cyrillic, upper case and without diacritics, long items, feed-like
stories from the bench generator, word soups of profile terms, and every combination of the words
that only support evidence. Any difference fails, with the item that shows it. Sentence breaks (a
regular expression now, a loop before) are compared on Hypothesis texts.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.texts import LANGUAGE_FORMS, dialogue_story, filler_story
from monitor.config import load_config
from monitor.match import Matcher
from monitor.match.engine import sentence_starts
from monitor.match.evaluate import LabelledItem, load_labelled
from monitor.match.explain import render_explanation
from monitor.match.profile import MatchProfile, term_text
from tests.match import reference
from tests.match.translit import to_cyrillic
from tests.support.configs import DEFAULT_CONFIG

LABELLED_SETS = [
    Path(__file__).parent / name
    for name in (
        "eval",
        "eval_blind",
        "eval_blind2",
        "eval_blind3",
        "eval_blind4",
        "eval_blind5",
        "eval_blind6",
        "eval_blind7",
        "eval_blind8",
        "eval_blind9",
        "eval_blind10",
        "eval_blind11",
        "eval_blind12",
    )
]
Item = tuple[str, str, str | None]


@pytest.fixture(scope="module")
def profile() -> MatchProfile:
    return load_config(DEFAULT_CONFIG).profile


@pytest.fixture(scope="module")
def engines(profile: MatchProfile) -> tuple[Matcher, reference.Matcher]:
    return Matcher.compile(profile), reference.Matcher.compile(profile)


@pytest.fixture(scope="module")
def labelled() -> list[LabelledItem]:
    return load_labelled(LABELLED_SETS)


def _plain(text: str) -> str:
    text = text.replace("đ", "dj").replace("Đ", "Dj")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _stitched(labelled: list[LabelledItem], rng: random.Random, size: int) -> Item:
    """Leads of one language joined into one item of about ``size`` bytes, relevant or not."""
    lang = rng.choice(sorted({i.lang or "?" for i in labelled}))
    pool = [i for i in labelled if (i.lang or "?") == lang]
    first = rng.choice(pool)
    parts = [first.text]
    while len("\n".join(parts).encode()) < size:
        other = rng.choice(pool)
        parts.append(rng.choice([other.text, other.title + ".", other.title + " " + other.text]))
    joiner = rng.choice(["\n", " ", "\n\n"])
    return first.title, joiner.join(parts), rng.choice([first.lang, first.lang, None, "sq", "en-GB", "sr_RS"])


def _terms_by_kind(profile: MatchProfile) -> dict[str, list[str]]:
    """Profile terms by what they are evidence of; the first six only support other evidence."""
    return {
        "kosovo": [term_text(t) for t in profile.sides.kosovo],
        "serbia": [term_text(t) for t in profile.sides.serbia],
        "eu": [term_text(t) for t in profile.eu],
        "context topics": [term_text(t) for topic in profile.topics for t in topic.context_terms]
        + [term_text(t) for topic in profile.topics if topic.strength != "strong" for t in topic.terms],
        "levels": [term_text(t) for group in profile.meeting_levels for t in group.terms],
        "others": [term_text(t) for t in (*profile.other_contexts, *profile.unrelated_senses)],
        "strong topics": [term_text(t) for topic in profile.topics if topic.strength == "strong" for t in topic.terms],
        "dialogue": [term_text(t) for t in (*profile.dialogue, *profile.talks)],
        "actors": [term_text(t) for actor in profile.actors for t in actor.terms],
    }


def _supporting_combinations(profile: MatchProfile, rng: random.Random) -> Iterator[Item]:
    """Every combination of the supporting kinds, one term each, in one sentence or spread out."""
    kinds = list(_terms_by_kind(profile).items())[:6]
    for mask in range(1, 2 ** len(kinds)):
        for variant in range(6):
            words = [
                rng.choice(terms).replace(" ... ", " i ").replace("*", "")
                for bit, (_, terms) in enumerate(kinds)
                if mask >> bit & 1
            ]
            rng.shuffle(words)
            joiner = " and " if variant % 2 else ". Then "
            yield words[0], joiner.join(words[1:]) + ".", rng.choice(["en", "sq", "sr", None])


def _soup(profile: MatchProfile, rng: random.Random, *, context_only: bool = False) -> Item:
    """Profile terms and everyday words in random order, with abbreviations and initials at breaks.

    ``context_only``: no dialogue, talks, actor or strong-topic term, only the words that support
    them (parties, the EU, context topics, meeting levels): the engine's quick exit is for such items.
    """
    kinds = _terms_by_kind(profile)
    if context_only:  # a few kinds of supporting words, so that every combination of them occurs
        chosen = [kind for kind in list(kinds)[:6] if rng.random() < 0.5] or ["kosovo"]
        terms = [t for kind in chosen for t in kinds[kind]]
    else:
        terms = [t for group in kinds.values() for t in group]
    terms = [t.replace(" ... ", " i ") for t in terms]
    filler = ["the", "and", "je", "u", "i", "në", "me", "said", "city", "Mr.", "Dr.", "J.", "etc.", "No.", "…", "?"]
    words = [
        rng.choice(terms).replace("*", rng.choice(["", "", "a", "e", "it", "ima"]))
        if rng.random() < 0.35
        else rng.choice(filler)
        for _ in range(rng.randint(3, 160))
    ]
    breaks = [". ", "! ", "? ", "\n", ", ", " ", " ", " ", "» ", ".” ", "... "]
    text = "".join(w + rng.choice(breaks) for w in words)
    if rng.random() < 0.3:
        text = to_cyrillic(text)
    return words[0], text, rng.choice(["en", "sq", "sr", "sr-Latn", None])


def _scattered(profile: MatchProfile, rng: random.Random) -> Item:
    """Words of terms of several words, some of them left out, the rest out of order among everyday
    words ("chief" without "negotiator", "negotiator" three sentences before "chief"): what the
    engine's quick exits see in everyday news, where a first word alone is common."""
    kinds = _terms_by_kind(profile)
    long_terms = [t for group in kinds.values() for t in group if " " in t.strip()]
    words: list[str] = []
    for term in rng.sample(long_terms, rng.randint(1, 6)):
        parts = [w.replace("*", rng.choice(["", "a", "e", "it"])) for w in term.split() if w != "..."]
        words += [w for w in parts if rng.random() < 0.7]
    if rng.random() < 0.3:  # now and then a word that counts on its own, or a party
        words.append(rng.choice(kinds[rng.choice(["kosovo", "serbia", "eu", "dialogue", "levels"])]).replace("*", ""))
    words += rng.choices(["the", "and", "je", "u", "në", "said", "city", "Mr.", "…", "?", "."], k=rng.randint(2, 40))
    rng.shuffle(words)
    text = " ".join(words)
    if rng.random() < 0.3:
        text = to_cyrillic(text)
    return words[0], text, rng.choice(["en", "sq", "sr", None])


def _feed_story(rng: random.Random) -> Item:
    form = rng.choice(LANGUAGE_FORMS)
    roll = rng.random()
    if roll < 0.3:
        story = dialogue_story(form, rng.randint(1, 8), rng)
    else:
        story = filler_story(form, rng.randint(1, 6), rng, near_miss=roll < 0.5)
    return story.title, "\n".join(story.paragraphs), form.split("-")[0]


def generated_items(labelled: list[LabelledItem], profile: MatchProfile, count: int, seed: int) -> Iterator[Item]:
    rng = random.Random(seed)
    yield from _supporting_combinations(profile, rng)
    for n in range(count):
        kind = n % 6
        if kind == 0:
            yield _stitched(labelled, rng, 1024)
        elif kind == 1:  # the same kind of item in Cyrillic (Serbian leads) or upper case
            title, text, lang = _stitched(labelled, rng, 1024)
            yield (to_cyrillic(title), to_cyrillic(text), lang) if rng.random() < 0.7 else (title.upper(), text, lang)
        elif kind == 2:
            title, text, lang = _stitched(labelled, rng, rng.choice([300, 2000, 6000, 20000]))
            yield (_plain(title), _plain(text), lang) if rng.random() < 0.3 else (title, text, lang)
        elif kind == 3:
            yield _soup(profile, rng, context_only=rng.random() < 0.5)
        else:
            yield _feed_story(rng)


def _explained(explanation: object) -> tuple[object, ...]:
    """An explanation as plain values (the two engines have their own Found and Evidence classes)."""

    def finding(f: object) -> tuple[object, ...]:
        entry = f.entry  # type: ignore[attr-defined]
        return (entry.kind, entry.group, entry.term, f.start, f.end, f.spans)  # type: ignore[attr-defined]

    e = explanation
    return (
        repr(e.result),  # type: ignore[attr-defined]
        e.text,  # type: ignore[attr-defined]
        e.sentences,  # type: ignore[attr-defined]
        [(v.points, v.rule, v.reason, v.sentence, v.anchor, finding(v.finding)) for v in e.evidence],  # type: ignore[attr-defined]
        [(i.reason, i.sentence, finding(i.finding)) for i in e.ignored],  # type: ignore[attr-defined]
        [finding(f) for f in e.found],  # type: ignore[attr-defined]
    )


def _assert_same(engines: tuple[Matcher, reference.Matcher], items: list[Item], explain_every: int) -> None:
    fast, frozen = engines
    for number, (title, text, lang) in enumerate(items):
        expected, got = frozen.match(title, text, lang), fast.match(title, text, lang)
        # repr, not ==: a score of 0 and 0.0 print differently in `monitor match` output
        assert repr(got) == repr(expected), f"item {number} ({lang}): {title!r} {text[:200]!r}"
        if number % explain_every == 0:
            old, new = frozen.explain(title, text, lang), fast.explain(title, text, lang)
            assert _explained(new) == _explained(old), f"explain, item {number}: {title!r}"
            assert render_explanation(new, fast) == render_explanation(old, frozen)  # type: ignore[arg-type]


def test_the_whole_labelled_set_gives_identical_results(
    engines: tuple[Matcher, reference.Matcher], labelled: list[LabelledItem]
) -> None:
    items = [(i.title, i.text, i.lang) for i in labelled]
    items += [(to_cyrillic(t), to_cyrillic(x), lang) for t, x, lang in items if lang == "sr-Latn"]
    items += [(t, x, None) for t, x, _ in items[: len(labelled)]]
    _assert_same(engines, items, explain_every=1)
    # the set does exercise the engine: relevant and not, with evidence of every strength
    results = [engines[0].match(*item) for item in items]
    assert sum(r.relevant for r in results) > 200 and sum(not r.relevant and r.score > 0 for r in results) > 30


def test_thousands_of_generated_items_give_identical_results(
    engines: tuple[Matcher, reference.Matcher], labelled: list[LabelledItem], profile: MatchProfile
) -> None:
    items = list(generated_items(labelled, profile, 4000, seed=3))
    _assert_same(engines, items, explain_every=7)
    results = [engines[0].match(*item) for item in items]
    assert sum(r.relevant for r in results) > 500 and sum(not r.relevant for r in results) > 500
    assert sum(len(x) > 5000 for _, x, _ in items) > 100


def test_first_words_without_the_rest_of_their_terms_give_identical_results(
    engines: tuple[Matcher, reference.Matcher], profile: MatchProfile
) -> None:
    rng = random.Random(11)
    items = [_scattered(profile, rng) for _ in range(3000)]
    items += [_feed_story(rng) for _ in range(1000)]
    _assert_same(engines, items, explain_every=5)
    results = [engines[0].match(*item) for item in items]
    assert sum(r.relevant for r in results) > 100 and sum(not r.relevant and r.score > 0 for r in results) > 100


# Pieces of text around sentence breaks: abbreviations and initials in any case, long words, runs
# of punctuation and quotes, letters that lower-case oddly (İ, the Kelvin sign, ſ).
_PIECES = st.sampled_from(
    ["Mr", "mr", "MRS", "Dr", "st", "Prof", "dipl", "Ing", "etc", "mr.sc", "J", "x", "ſt", "İng", "\u212a"]
    + ["Vučić", "Kosovo", "abcdefghijklmn", "ш", "7", "_", ".", ".", "!", "?", "…", ")", '"', "»", "”", "'"]
    + [" ", " ", "\n", "\n  ", "\t", "-", ",", "))))))))))", "((("]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_sentences_are_cut_where_the_reference_cuts_them(text: str) -> None:
    assert sentence_starts(text) == reference.sentence_starts(text)
