"""FROZEN reference implementation of the matcher: the engine as it was before the speed work (issue #3).

Do not optimise or refactor this file. ``tests/match/test_reference_identity.py`` checks that
``monitor.match.engine.Matcher`` gives exactly the results of this implementation (decision,
score, rule, topics, actors, meeting level, snippets, marked snippets, ``explain`` output) on the
labelled set and on thousands of generated items. It is a verbatim copy of ``engine.py`` and
``terms.py`` as of main db0936b, in one module; folding (``fold.py``) and the profile schema are
shared with the engine. When the *rules* change on main (weights, evidence, windows), change them
here the same way, so that the reference always mirrors main's rules, never old ones.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from monitor.match.fold import DJ, DZ, LJ, NJ, fold, prepare, spellings, word_after
from monitor.match.furniture import label_pattern, strip_furniture
from monitor.match.profile import MatchProfile, Term, case_fits, term_case_exact, term_languages, term_text
from monitor.types import MatchResult

# ---------------------------------------------------------------- terms.py (verbatim)

# Words a '...' gap may skip between two parts of a term.
MAX_GAP_WORDS = 6

_GAP = re.compile(r"\s*\.\.\.\s*")


@dataclass(frozen=True, slots=True)
class WordSpec:
    forms: frozenset[bytes]
    gap_before: bool = False  # may follow the previous word after up to MAX_GAP_WORDS others


@dataclass(frozen=True, slots=True)
class Entry:
    """One compiled term: what it is evidence of, and its words after the first."""

    kind: str  # dialogue, side, eu, talks, topic, actor, level, other, sense
    group: str  # the side, topic, actor or level id; the kind for plain lists
    term: str  # as the editor wrote it
    rest: tuple[WordSpec, ...]
    languages: frozenset[str]
    case: bool = False  # counts only where the text writes it in the same case (profile.case_fits)


@dataclass(frozen=True, slots=True)
class Found:
    entry: Entry
    start: int
    end: int
    # (start, end) of each matched word, for marking
    spans: tuple[tuple[int, int], ...]


class TermError(ValueError):
    pass


def compile_term(text: str, endings: Sequence[bytes]) -> list[WordSpec]:
    """The word specs of one term (see profile.py for the syntax)."""
    specs: list[WordSpec] = []
    for part_index, part in enumerate(_GAP.split(text.strip())):
        for word_index, raw in enumerate(part.split()):
            inflected = raw.endswith("*")
            pieces = fold(prepare(raw.rstrip("*"))).split()
            for piece_index, piece in enumerate(pieces):
                last = piece_index == len(pieces) - 1
                forms = spellings(piece)
                if inflected and last:
                    forms = {form + ending for form in forms for ending in endings}
                gap = part_index > 0 and word_index == 0 and piece_index == 0
                specs.append(WordSpec(frozenset(forms), gap))
    if not specs:
        raise TermError(f"term {text!r} has no words")
    return specs


class TermIndex:
    """All terms of a profile, findable in one pass over an item's folded text."""

    def __init__(self, entries: Iterable[tuple[Entry, frozenset[bytes]]]) -> None:
        self.by_first: dict[bytes, list[Entry]] = {}
        for entry, first_forms in entries:
            for form in first_forms:
                self.by_first.setdefault(form, []).append(entry)
        self.keys = frozenset(self.by_first)

    def find(self, folded: bytes, keys: Iterable[bytes]) -> list[Found]:
        """Every occurrence of every term whose first word is among ``keys`` (words of ``folded``)."""
        padded = b" " + folded + b" "
        found: list[Found] = []
        for key in keys:
            needle = b" " + key + b" "
            entries = self.by_first[key]
            at = padded.find(needle)
            while at >= 0:
                start, end = at, at + len(key)  # positions in ``folded``
                for entry in entries:
                    if not entry.rest:
                        found.append(Found(entry, start, end, ((start, end),)))
                        continue
                    spans = _rest(folded, end, entry.rest)
                    if spans is not None:
                        all_spans = ((start, end), *spans)
                        found.append(Found(entry, start, all_spans[-1][1], all_spans))
                at = padded.find(needle, at + len(key) + 1)
        found.sort(key=lambda f: (f.start, -f.end))
        return found


def _rest(folded: bytes, position: int, rest: tuple[WordSpec, ...]) -> tuple[tuple[int, int], ...] | None:
    """Spans of the following words if they match ``rest``, else None."""
    spans: list[tuple[int, int]] = []
    for spec in rest:
        allowed = MAX_GAP_WORDS + 1 if spec.gap_before else 1
        for _ in range(allowed):
            span = word_after(folded, position)
            if span is None:
                return None
            position = span[1]
            if folded[span[0] : span[1]] in spec.forms:
                spans.append(span)
                break
        else:
            return None
    return tuple(spans)


# ---------------------------------------------------------------- engine.py (verbatim)

MARK_OPEN, MARK_CLOSE = "⟦", "⟧"
MAX_SNIPPETS = 3
MAX_SNIPPET_CHARS = 320

# A sentence ends at a line break, or at . ! ? … (and closing quotes) before a space, except after
# an abbreviation or an initial. Letter case plays no part, so that case never changes a decision.
_SENTENCE_BREAK = re.compile(r"\n\s*|[.!?…]+[\"'»”’)\]]*\s+")  # noqa: RUF001
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "prof",
        "gen",
        "col",
        "lt",
        "sgt",
        "gov",
        "sen",
        "rep",
        "jr",
        "sr",
        "no",
        "vs",
        "etc",
        "br",
        "tzv",
        "npr",
        "itd",
        "sl",
        "sh",
        "zv",
        "dipl",
        "ing",
        "mr.sc",
    ]
)
_LAST_WORD = re.compile(r"(\w+)\W*$")


def sentence_starts(body: str) -> list[int]:
    starts = [0]
    for m in _SENTENCE_BREAK.finditer(body):
        if body[m.start()] == ".":
            word = _LAST_WORD.search(body, max(0, m.start() - 12), m.start())
            if word and (len(word.group(1)) == 1 or word.group(1).lower() in _ABBREVIATIONS):
                continue
        starts.append(m.end())
    return starts


# Kinds whose presence can make an item relevant: without one of them, it is not.
_ANCHOR_KINDS = frozenset({"dialogue", "talks", "topic", "topic-context", "actor", "level"})
_VOIDABLE = frozenset({"dialogue", "talks", "topic", "topic-context", "level"})


@dataclass(frozen=True, slots=True)
class Evidence:
    points: float
    rule: str
    reason: str
    finding: Found
    sentence: int

    @property
    def anchor(self) -> bool:
        """Evidence that ties the item to the dialogue; the rest only supports an anchor nearby."""
        return self.rule in _ANCHOR_RULES or self.rule.startswith(("envoy:", "negotiator:", "strong-topic:"))


_ANCHOR_RULES = frozenset(
    {
        "dialogue+both-sides",
        "dialogue+side+eu",
        "dialogue+side",
        "dialogue+eu",
        "dialogue+parties",
        "talks+both-sides+eu",
        "talks+both-sides",
        "talks+side+eu",
        "talks+eu+parties",
        "talks+eu+topic",
        "talks+topic+parties",
        "both-sides+eu",
    }
)
# Supporting evidence counts only within this many sentences of an anchor (or in the title):
# weak signals scattered over a long article do not add up to a mention of the dialogue.
WINDOW_SENTENCES = 2
# A long article (title included) whose only contact with the dialogue is one sentence outside its
# headline and first sentences, naming none of its topics or people, is about something else: an
# election report that says in passing that the dialogue is stalled.
LONG_ITEM_SENTENCES = 8
LEAD_SENTENCES = 3
# A word of another sense is joined to a dialogue word when at most one word of this many letters
# stands between them ("dialogue of youth", "dijalog za mlade", "dialogu i të rinjve").
JOINING_WORD_LETTERS = 3
# A word of another sense joined to a dialogue word in the headline or the first sentence of the
# text ("…took part in an intercultural dialogue camp") sets that sense for the whole item.
SENSE_SETTING_SENTENCES = 2
HEADLINE_SENSE = "the headline or the lead names another sense of the word"
HEADLINE_FIELD = "the headline is about sport or another field, not the talks"
# Albanian linking articles ("dialogu i të rinjve": the dialogue of the young) join, they do not separate.
LINKING_ARTICLES = frozenset((b"i", b"e", b"te", b"se"))
PASSING_MENTION = "a passing mention: one sentence of a long article, nothing in its headline or lead"


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str
    finding: Found
    sentence: int


@dataclass(frozen=True, slots=True)
class Explanation:
    """Everything ``monitor explain`` shows: the decision and every finding with its weight."""

    result: MatchResult
    text: str
    sentences: tuple[tuple[int, int], ...]
    evidence: tuple[Evidence, ...] = ()
    ignored: tuple[Ignored, ...] = ()
    found: tuple[Found, ...] = field(default=())


class Matcher:
    def __init__(self, profile: MatchProfile) -> None:
        self._furniture = label_pattern(profile.page_furniture)
        self.profile = profile
        self.weights = profile.weights
        endings = sorted({b"", *(fold(prepare(e)).replace(b" ", b"") for e in profile.endings)})
        compiled = [(entry, first) for entry, first in _entries(profile, endings)]
        self._index = TermIndex(compiled)
        self._anchor_keys = frozenset(
            form for form, entries in self._index.by_first.items() if any(e.kind in _ANCHOR_KINDS for e in entries)
        )
        self._labels = {g.id: g.label for g in (*profile.topics, *profile.actors, *profile.meeting_levels)}
        self._actors = {a.id: a for a in profile.actors}
        self._topics = {t.id: t for t in profile.topics}
        self._level_order = {g.id: i for i, g in enumerate(profile.meeting_levels)}
        self.version = hashlib.sha256(profile.model_dump_json().encode()).hexdigest()[:12]

    @classmethod
    def compile(cls, profile: MatchProfile) -> Matcher:
        return cls(profile)

    def label(self, group_id: str) -> str:
        return self._labels.get(group_id, group_id)

    def match(self, title: str, text: str, language: str | None = None) -> MatchResult:
        body = prepare(f"{title}\n{text}" if text else title)
        body, folded = strip_furniture(body, fold(body), self._furniture)
        words = set(folded.split())
        if words.isdisjoint(self._anchor_keys):
            return MatchResult(False, 0.0)
        return self._analyse(body, folded, words, language).result

    def explain(self, title: str, text: str, language: str | None = None) -> Explanation:
        body = prepare(f"{title}\n{text}" if text else title)
        body, folded = strip_furniture(body, fold(body), self._furniture)
        return self._analyse(body, folded, set(folded.split()), language)

    # ------------------------------------------------------------------ analysis

    def _analyse(self, body: str, folded: bytes, words: set[bytes], language: str | None) -> Explanation:
        lang = _primary_language(language)
        found = [
            f
            for f in self._index.find(folded, words & self._index.keys)
            if (not f.entry.languages or lang is None or lang in f.entry.languages)
            and (not f.entry.case or case_fits(f.entry.term, body[f.start : f.end]))
        ]
        starts = sentence_starts(body)
        sentences = tuple((a, b) for a, b in zip(starts, [*starts[1:], len(body)], strict=True))

        def sentence_of(f: Found) -> int:
            return bisect_right(starts, f.start) - 1

        located = [(f, sentence_of(f)) for f in found]
        evidence, ignored = self._weigh(located, folded)
        evidence, far = _best_window(evidence)
        ignored += [Ignored(f"{e.reason}, but far from the main mention", e.finding, e.sentence) for e in far]
        score = round(sum(e.points for e in evidence), 2)
        relevant = score >= self.profile.threshold and any(e.anchor for e in evidence)
        if relevant and len(sentences) >= LONG_ITEM_SENTENCES and _passing_mention(evidence):
            relevant = False
            ignored += [Ignored(PASSING_MENTION, e.finding, e.sentence) for e in evidence if e.sentence > 0]
        rule = _rule(evidence, self.profile.threshold) if relevant else None
        counted = [e.finding for e in evidence]
        topics = _unique(f.entry.group for f in counted if f.entry.kind in ("topic", "topic-context"))
        actors = _unique(f.entry.group for f, _ in located if f.entry.kind == "actor")
        levels = sorted(
            {f.entry.group for f in counted if f.entry.kind == "level"}, key=lambda g: self._level_order.get(g, 99)
        )
        snippets, marked = _snippets(body, sentences, evidence, located) if relevant else ((), ())
        result = MatchResult(
            relevant=relevant,
            score=score,
            snippets=snippets,
            actors=actors,
            topics=topics,
            meeting_level=levels[0] if levels and relevant else None,
            rule=rule,
            marked_snippets=marked,
        )
        return Explanation(result, body, sentences, tuple(evidence), tuple(ignored), tuple(found))

    def _weigh(self, located: Sequence[tuple[Found, int]], folded: bytes) -> tuple[list[Evidence], list[Ignored]]:
        w = self.weights
        sides: dict[int, set[str]] = {}
        eu: set[int] = set()
        places: set[str] = set()  # parties named through their places (frame only, see Places)
        other: set[int] = set()
        fields: set[int] = set()
        senses: list[tuple[Found, int]] = []
        for f, s in located:
            kind = f.entry.kind
            if kind == "side":
                sides.setdefault(s, set()).add(f.entry.group)
            elif kind == "actor":
                side = self._actors[f.entry.group].side
                if side == "mediator":
                    eu.add(s)
                else:
                    sides.setdefault(s, set()).add(side)
            elif kind == "place":
                places.add(f.entry.group)
            elif kind == "eu":
                eu.add(s)
            elif kind == "other":
                other.add(s)
            elif kind == "field":
                fields.add(s)
            elif kind == "sense":
                senses.append((f, s))
        item_sides = set().union(*sides.values(), places) if sides else set(places)
        evidence: list[Evidence] = []
        ignored: list[Ignored] = []

        def both(s: int) -> bool:
            return len(sides.get(s, ())) >= 2

        def frame_without(actor_id: str) -> bool:
            """A party named, or another envoy, or the dialogue itself: an envoy alone is not enough."""
            others = any(
                f.entry.kind == "actor" and f.entry.group != actor_id and self._actors[f.entry.group].role == "envoy"
                for f, _ in live
            )
            return bool(item_sides) or others or any(f.entry.kind == "dialogue" for f, _ in live)

        def is_envoy(f: Found) -> bool:
            return f.entry.kind == "actor" and self._actors[f.entry.group].role == "envoy"

        live: list[tuple[Found, int]] = []
        near_only: set[int] = set()  # findings voided only by a sense word nearby
        headline_sets = HEADLINE_FIELD if 0 in fields else None
        for f, s in located:
            joined = None
            if f.entry.kind in ("dialogue", "talks") and not (both(s) and s in eu):
                joined = _joined_sense(f, s, senses, folded)
            # An "EU envoy" in a sentence about Bosnia or Moldova is that envoy, not the dialogue's.
            if (f.entry.kind in _VOIDABLE or is_envoy(f)) and s in other and not (both(s) and s in eu):
                ignored.append(Ignored("the sentence is about another dialogue or negotiation", f, s))
            elif f.entry.kind in ("dialogue", "talks") and s in fields and s not in eu:
                ignored.append(Ignored("the sentence is about sport or another field, not the talks", f, s))
            elif joined is not None:
                if s < SENSE_SETTING_SENTENCES and headline_sets is None:
                    headline_sets = HEADLINE_SENSE
                ignored.append(Ignored(f"another sense of the word ({joined})", f, s))
            elif (
                f.entry.kind in ("dialogue", "talks")
                and not both(s)
                and (sense := self._sense_near(f, s, senses, folded)) is not None
            ):
                ignored.append(Ignored(f"another sense of the word ({sense})", f, s))
                near_only.add(id(f))
            else:
                live.append((f, s))

        # A headline naming another sense of its dialogue word sets it for the item: a later
        # dialogue or talks word counts only in a sentence with both parties and the EU.
        if headline_sets is not None:
            for f, s in [(f, s) for f, s in live if f.entry.kind in ("dialogue", "talks")]:
                if not (both(s) and s in eu):
                    ignored.append(Ignored(headline_sets, f, s))
            live = [(f, s) for f, s in live if f.entry.kind not in ("dialogue", "talks") or (both(s) and s in eu)]

        # A headline about another dialogue or country ("Inter-party dialogue…", "Strategic dialogue of
        # Serbia and the US", "Belgrade and Podgorica…") sets the sense of the whole item: its later
        # dialogue and talks words are that one's, unless the item names both parties.
        headline_elsewhere = len(item_sides) < 2 and (
            0 in other
            or any(
                i.sentence == 0 and i.finding.entry.kind in ("dialogue", "talks") and id(i.finding) not in near_only
                for i in ignored
            )
        )
        if headline_elsewhere and not any(f.entry.kind == "dialogue" and s == 0 for f, s in live):
            for f, s in [(f, s) for f, s in live if f.entry.kind in ("dialogue", "talks")]:
                ignored.append(Ignored("the headline is about another dialogue or negotiation", f, s))
            live = [(f, s) for f, s in live if f.entry.kind not in ("dialogue", "talks")]

        # An EU envoy of the dialogue sets the Kosovo–Serbia frame as much as naming a party does.
        envoys = any(is_envoy(f) for f, _ in live)
        frame = bool(item_sides) or envoys
        dialogue_context = bool(eu) or len(item_sides) >= 2 or envoys

        # both parties named in one sentence: relations news, more so with the EU there
        pairs = sorted((s for s in sides if both(s)), key=lambda s: s not in eu)
        if pairs:
            s = pairs[0]
            pair = next(f for f, fs in located if fs == s and f.entry.kind in ("side", "actor"))
            if s in eu:
                evidence.append(
                    Evidence(w.both_sides_and_eu, "both-sides+eu", "both parties and the EU in one sentence", pair, s)
                )
            else:
                evidence.append(Evidence(w.both_sides, "both-sides", "both parties in one sentence", pair, s))

        # dialogue words
        graded: list[Evidence] = []
        for f, s in live:
            if f.entry.kind != "dialogue":
                continue
            here = sides.get(s, set())
            if len(here) >= 2:
                graded.append(
                    Evidence(
                        w.dialogue_both_sides,
                        "dialogue+both-sides",
                        "dialogue word, both parties in the sentence",
                        f,
                        s,
                    )
                )
            elif here and s in eu:
                graded.append(
                    Evidence(
                        w.dialogue_side_and_eu,
                        "dialogue+side+eu",
                        f"dialogue word with {_one(here)} and the EU in the sentence",
                        f,
                        s,
                    )
                )
            elif here and (envoys or _near(s, eu) or any(_near(s, {t}) for t, o in sides.items() if o - here)):
                graded.append(
                    Evidence(
                        w.dialogue_one_side, "dialogue+side", f"dialogue word with {_one(here)} in the sentence", f, s
                    )
                )
            elif here:
                # One party alone, no other party and no EU nearby: a domestic, strategic or film
                # "dialogue" as often as the Kosovo–Serbia one.
                reason = f"dialogue word with {_one(here)}, but neither the other party nor the EU is near"
                graded.append(Evidence(w.dialogue_in_item, "dialogue", reason, f, s))
            elif s in eu and frame:
                graded.append(Evidence(w.dialogue_eu, "dialogue+eu", "dialogue word with the EU in the sentence", f, s))
            elif s == 0 and len(item_sides) >= 2:
                # "The Brussels process as a waiting room" over a column on Belgrade and Pristina:
                # the headline's dialogue word is the subject, the parties are in the text.
                reason = "dialogue word in the headline; both parties named in the item"
                graded.append(Evidence(w.dialogue_in_item, "dialogue+parties", reason, f, s))
            elif item_sides:
                graded.append(
                    Evidence(
                        w.dialogue_in_item, "dialogue", "dialogue word; a party is named elsewhere in the item", f, s
                    )
                )
            else:
                ignored.append(Ignored("dialogue word, but neither party is named in the item", f, s))
        if graded:
            dialogue_context = True
            graded.sort(key=lambda e: -e.points)
            evidence.append(graded[0])
            extra = [e for e in graded[1:] if e.points >= w.dialogue_eu and e.sentence != graded[0].sentence]
            for e in extra[:2]:
                evidence.append(
                    Evidence(
                        w.dialogue_repeated, e.rule, "the dialogue named again: " + e.reason, e.finding, e.sentence
                    )
                )

        # talks and meetings: between the parties, and with the EU
        talks: list[Evidence] = []
        for f, s in live:
            if f.entry.kind != "talks":
                continue
            here = sides.get(s, set())
            if len(here) >= 2 and s in eu:
                talks.append(
                    Evidence(
                        w.talks_both_sides_and_eu,
                        "talks+both-sides+eu",
                        "talks with both parties and the EU in the sentence",
                        f,
                        s,
                    )
                )
            elif len(here) >= 2:
                talks.append(
                    Evidence(w.talks_both_sides, "talks+both-sides", "talks with both parties in the sentence", f, s)
                )
            elif here and s in eu:
                talks.append(
                    Evidence(
                        w.talks_side_and_eu,
                        "talks+side+eu",
                        f"talks with {_one(here)} and the EU in the sentence",
                        f,
                        s,
                    )
                )
            elif s in eu and len(item_sides) >= 2:
                reason = "talks with the EU in the sentence; both parties named in the item"
                talks.append(Evidence(w.talks_eu, "talks+eu+parties", reason, f, s))
            elif (
                s in eu and frame and any(_near(s, (t,)) for g, t in live if g.entry.kind in ("topic", "topic-context"))
            ):
                # "Stickers over the plates, as agreed in Brussels": the agenda names the talks.
                reason = "talks with the EU in the sentence, a topic of the dialogue near; a party is named elsewhere"
                talks.append(Evidence(w.talks_eu, "talks+eu+topic", reason, f, s))
            elif s in eu and frame:
                reason = "talks with the EU in the sentence; a party is named elsewhere"
                talks.append(Evidence(w.talks_eu, "talks+eu", reason, f, s))
            elif (
                s == 0
                and len(item_sides) >= 2
                and any(t == 0 for g, t in live if g.entry.kind in ("topic", "topic-context"))
            ):
                # "Dinar talks go nowhere" over a story naming Pristina and Belgrade: the headline's
                # talks are those of an agenda item of the dialogue.
                reason = "talks in the headline beside a topic of the dialogue; both parties named in the item"
                talks.append(Evidence(w.talks_eu, "talks+topic+parties", reason, f, s))
            else:
                ignored.append(Ignored("talks word without the parties or the EU in the sentence", f, s))
        if talks:
            best_talks = max(talks, key=lambda e: e.points)
            if best_talks.points >= w.talks_both_sides:
                dialogue_context = True
            evidence.append(best_talks)

        # actors
        seen_actors: set[str] = set()
        caps = {"envoy": w.envoy, "negotiator": 2 * w.negotiator, "leader": 2 * w.leader, "official": 2 * w.official}
        spent = dict.fromkeys(caps, 0.0)
        for f, s in live:
            if f.entry.kind != "actor" or f.entry.group in seen_actors:
                continue
            seen_actors.add(f.entry.group)
            actor = self._actors[f.entry.group]
            points = {"envoy": w.envoy, "negotiator": w.negotiator, "leader": w.leader, "official": w.official}[
                actor.role
            ]
            if (actor.role == "official" and not item_sides) or (actor.role == "envoy" and not frame_without(actor.id)):
                ignored.append(Ignored(f"{actor.role} {actor.label}, but neither party is named", f, s))
                continue
            points = min(points, caps[actor.role] - spent[actor.role])
            if points <= 0:
                ignored.append(Ignored(f"{actor.role} {actor.label}: enough {actor.role}s already counted", f, s))
                continue
            spent[actor.role] += points
            if actor.role in ("envoy", "negotiator"):
                dialogue_context = True
            evidence.append(Evidence(points, f"{actor.role}:{actor.id}", f"{actor.role} {actor.label}", f, s))

        # topics
        seen_topics: set[str] = set()
        strong_counted = 0
        context_points = 0.0
        topic_hits = [(f, s) for f, s in live if f.entry.kind in ("topic", "topic-context")]
        for f, s in sorted(topic_hits, key=lambda fs: fs[0].entry.kind == "topic-context"):
            if f.entry.group in seen_topics:
                continue
            topic = self._topics[f.entry.group]
            strength = "context" if f.entry.kind == "topic-context" else topic.strength
            if strength == "strong":
                if not frame and not dialogue_context:
                    ignored.append(Ignored(f"topic {topic.label}, but neither party is named", f, s))
                    continue
                seen_topics.add(topic.id)
                points = w.strong_topic if strong_counted == 0 else w.context_topic
                strong_counted += 1
                evidence.append(Evidence(points, f"strong-topic:{topic.id}", f"topic {topic.label}", f, s))
            else:
                if not dialogue_context:
                    ignored.append(Ignored(f"topic {topic.label}, but no dialogue context", f, s))
                    continue
                seen_topics.add(topic.id)
                points = min(w.context_topic, 2 * w.context_topic - context_points)
                if points > 0:
                    context_points += points
                    evidence.append(
                        Evidence(points, f"topic:{topic.id}", f"topic {topic.label} in a dialogue context", f, s)
                    )

        # meeting level
        levels = [(f, s) for f, s in live if f.entry.kind == "level"]
        if levels and (item_sides or eu):
            f, s = min(levels, key=lambda fs: self._level_order.get(fs[0].entry.group, 99))
            evidence.append(
                Evidence(w.meeting_level, f"level:{f.entry.group}", f"meeting level: {self.label(f.entry.group)}", f, s)
            )
        return evidence, ignored

    def _sense_near(self, f: Found, s: int, senses: Sequence[tuple[Found, int]], folded: bytes) -> str | None:
        window = self.profile.sense_window
        for sense, sense_sentence in senses:
            if sense_sentence != s:
                continue
            gap = _latin_length(folded, f.end, sense.start) if sense.start >= f.end else 0
            if sense.end <= f.start:
                gap = _latin_length(folded, sense.end, f.start)
            if gap <= window:
                return sense.entry.term
        return None


def _joined_sense(f: Found, s: int, senses: Sequence[tuple[Found, int]], folded: bytes) -> str | None:
    for sense, sense_sentence in senses:
        if sense_sentence != s:
            continue
        if sense.start < f.end and f.start < sense.end:
            return sense.entry.term
        gap = folded[f.end : sense.start] if sense.start >= f.end else folded[sense.end : f.start]
        words = [w for w in gap.split() if w not in LINKING_ARTICLES]
        if len(words) == 0 or (len(words) == 1 and _latin_length(words[0], 0, len(words[0])) <= JOINING_WORD_LETTERS):
            return sense.entry.term
    return None


def _latin_length(folded: bytes, start: int, end: int) -> int:
    """Characters between two positions as Latin script writes them.

    Cyrillic љ њ џ ђ are one character where Latin writes two (lj nj dž dj), so a window
    measured in plain characters would be wider in Cyrillic and change the decision.
    """
    if end <= start:
        return 0
    return end - start + sum(folded.count(p, start, end) for p in _TWO_LETTER_PLACEHOLDERS)


_TWO_LETTER_PLACEHOLDERS = (DJ, LJ, NJ, DZ)


def _entries(profile: MatchProfile, endings: Sequence[bytes]) -> Iterable[tuple[Entry, frozenset[bytes]]]:
    def make(kind: str, group: str, terms: Iterable[Term]) -> Iterable[tuple[Entry, frozenset[bytes]]]:
        for term in terms:
            text = term_text(term)
            specs = compile_term(text, endings)
            entry = Entry(kind, group, text, tuple(specs[1:]), frozenset(term_languages(term)), term_case_exact(term))
            yield entry, specs[0].forms

    yield from make("dialogue", "dialogue", profile.dialogue)
    yield from make("side", "kosovo", profile.sides.kosovo)
    yield from make("side", "serbia", profile.sides.serbia)
    yield from make("place", "kosovo", profile.places.kosovo)
    yield from make("place", "serbia", profile.places.serbia)
    yield from make("eu", "eu", profile.eu)
    yield from make("talks", "talks", profile.talks)
    for topic in profile.topics:
        yield from make("topic", topic.id, topic.terms)
        yield from make("topic-context", topic.id, topic.context_terms)
    for actor in profile.actors:
        yield from make("actor", actor.id, actor.terms)
    for level in profile.meeting_levels:
        yield from make("level", level.id, level.terms)
    yield from make("other", "other", profile.other_contexts)
    yield from make("field", "field", profile.other_fields)
    yield from make("sense", "sense", profile.unrelated_senses)


def _best_window(evidence: Sequence[Evidence]) -> tuple[list[Evidence], list[Evidence]]:
    """The evidence around the anchor whose neighbourhood scores most, and the evidence left out."""
    anchors = [e for e in evidence if e.anchor]
    if not anchors:
        return list(evidence), []
    best: list[Evidence] = []
    best_points = -1.0
    for anchor in sorted(anchors, key=lambda e: e.sentence):  # of equal ones, the nearest the top
        near = [e for e in evidence if e.sentence == 0 or abs(e.sentence - anchor.sentence) <= WINDOW_SENTENCES]
        near = _one_process_word_per_sentence(near)
        points = sum(e.points for e in near)
        if points > best_points:
            best, best_points = near, points
    kept = {id(e) for e in best}
    return best, [e for e in evidence if id(e) not in kept]


def _near(sentence: int, others: Iterable[int]) -> bool:
    """Whether any of ``others`` is the title or within the evidence window of ``sentence``."""
    return any(o == 0 or abs(o - sentence) <= WINDOW_SENTENCES for o in others)


def _passing_mention(evidence: Sequence[Evidence]) -> bool:
    """The dialogue in one sentence of a long article, outside its headline and lead, with none of
    its agreements, envoys, negotiators or meeting levels, and no topic of it in that sentence
    (an "electricity bill" a few sentences away does not make an election report about it)."""
    anchored = {e.sentence for e in evidence if e.anchor}
    if len(anchored) != 1:
        return False
    [sentence] = anchored
    if sentence <= LEAD_SENTENCES or any(e.rule.startswith(_SUBSTANTIVE) for e in evidence):
        return False
    return not any(e.rule.startswith("topic:") and e.sentence == sentence for e in evidence)


_SUBSTANTIVE = ("strong-topic:", "envoy:", "negotiator:", "level:")


def _one_process_word_per_sentence(evidence: Sequence[Evidence]) -> list[Evidence]:
    """'Talks' and 'dialogue' in one sentence are one piece of evidence, not two."""
    strongest: dict[int, Evidence] = {}
    for e in evidence:
        if e.rule.startswith(("dialogue", "talks")):
            current = strongest.get(e.sentence)
            if current is None or e.points > current.points:
                strongest[e.sentence] = e
    keep = {id(e) for e in strongest.values()}
    return [e for e in evidence if not e.rule.startswith(("dialogue", "talks")) or id(e) in keep]


def _primary_language(language: str | None) -> str | None:
    if not language:
        return None
    return re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0] or None


def _one(sides: set[str]) -> str:
    return next(iter(sides)).title()


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _rule(evidence: Sequence[Evidence], threshold: float) -> str:
    best = max(evidence, key=lambda e: e.points)
    return best.rule if best.points >= threshold else f"combined:{best.rule}"


def _snippets(
    body: str,
    sentences: Sequence[tuple[int, int]],
    evidence: Sequence[Evidence],
    located: Sequence[tuple[Found, int]],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The sentences carrying the strongest evidence, plain and with the matched terms marked."""
    order: list[int] = []
    for e in sorted(evidence, key=lambda e: -e.points):
        if e.sentence not in order:
            order.append(e.sentence)
    plain: list[str] = []
    marked: list[str] = []
    for index in order[:MAX_SNIPPETS]:
        start, end = sentences[index]
        spans = sorted(
            {
                span
                for f, s in located
                if s == index and f.entry.kind not in ("other", "field", "sense")
                for span in _merge(f)
            }
        )
        anchor = next((e.finding.start for e in evidence if e.sentence == index), start)
        start, end = _window(body, start, end, anchor)
        text = body[start:end]
        lead = len(text) - len(text.lstrip())
        text = text.strip()
        if not text:
            continue
        prefix = "…" if start > sentences[index][0] else ""
        suffix = "…" if end < sentences[index][1] and body[start : sentences[index][1]].strip() != text else ""
        plain.append(prefix + text + suffix)
        marked.append(prefix + _mark(text, [(a - start - lead, b - start - lead) for a, b in spans]) + suffix)
    return tuple(plain), tuple(marked)


def _merge(f: Found) -> list[tuple[int, int]]:
    """A multi-word finding marked as one stretch when its words are adjacent."""
    return [(f.spans[0][0], f.spans[-1][1])] if f.end - f.start < 120 else list(f.spans)


def _window(body: str, start: int, end: int, anchor: int) -> tuple[int, int]:
    if end - start <= MAX_SNIPPET_CHARS:
        return start, end
    left = max(start, anchor - MAX_SNIPPET_CHARS // 3)
    if left > start:
        space = body.find(" ", left)
        left = space + 1 if 0 <= space < anchor else left
    right = min(end, left + MAX_SNIPPET_CHARS)
    if right < end:
        space = body.rfind(" ", left, right)
        right = space if space > anchor else right
    return left, right


def _mark(text: str, spans: Sequence[tuple[int, int]]) -> str:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    out: list[str] = []
    cursor = 0
    for a, b in merged:
        a, b = max(a, cursor), min(b, len(text))
        if a >= b:
            continue
        out.append(text[cursor:a])
        out.append(MARK_OPEN + text[a:b] + MARK_CLOSE)
        cursor = b
    out.append(text[cursor:])
    return "".join(out)
