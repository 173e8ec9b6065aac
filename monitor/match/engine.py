"""Deciding whether an item is about the Kosovo–Serbia dialogue, with the evidence for it.

An item is read as sentences (the title is one). Terms of the profile are found in the folded
text (``terms.py``); each finding is then weighed *in its sentence*:

- a dialogue word counts when its sentence also names a party (Kosovo or Serbia side, actors
  included) or the EU, and counts most when it names both parties; it does not count next to a
  word that gives it another sense (social dialogue, dialogue with the opposition), nor in a
  sentence about another dialogue (Armenia–Azerbaijan, Serbia's EU accession) that does not
  name both parties;
- talks/meeting words count when their sentence names both parties;
- strong topics (the Association, the Brussels and Ohrid agreements) count in an item that
  names a party; context topics (energy, plates, missing persons) only in a dialogue context;
- actors count by role: the EU envoys for the dialogue a lot, leaders a little.

The points add up to the score; the item is relevant from ``threshold`` on. The ``rule`` is the
strongest single piece of evidence (``combined:`` when no single piece reaches the threshold).
Every weight is in the profile (``weights``), so the arithmetic is visible to editors.
"""

from __future__ import annotations

import hashlib
import re
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from monitor.match.fold import DJ, DZ, LJ, NJ, fold, fold_lines, prepare
from monitor.match.furniture import label_pattern, line_label_pattern, strip_furniture
from monitor.match.profile import MatchProfile, Term, case_fits, term_case_exact, term_languages, term_text
from monitor.match.terms import Entry, Found, TermIndex, compile_term
from monitor.types import MatchResult

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


def _break_pattern() -> re.Pattern[str]:
    """``_SENTENCE_BREAK`` with a first alternative that matches the breaks *not* to count.

    A break that starts with '.' does not count when the last word before it (the last run of
    word characters within 12 characters, clipped there) is one letter or an abbreviation. That
    test is written as lookbehinds, one per number k of non-word characters between the word and
    the '.', so that finding the sentences is one regular-expression scan at C speed. A word is
    compared lower-cased, as ``str.lower`` does: only A-Z lower-case to a-z (and the Kelvin sign to k).
    """
    room = 12
    by_length: dict[int, list[str]] = {}
    for word in sorted(_ABBREVIATIONS):
        if re.fullmatch(r"\w+", word):  # 'mr.sc' cannot be one run of word characters
            letters = "".join(f"[{c}{c.upper()}]" if c != "k" else "[kK\u212a]" for c in word)
            by_length.setdefault(len(word), []).append(letters)
    words = [(1, r"\w"), *((n, "(?:" + "|".join(alts) + ")") for n, alts in sorted(by_length.items()))]
    tests: list[list[str]] = []
    for k in range(room):
        gap = rf"\W{{{k}}}" if k else ""
        tests.append([])
        for length, word in words:
            if length > room - k:
                continue
            # the word fills the window, or starts the text, or follows a non-word character
            whole = "" if length == room - k else rf"(?<!\w{word}{gap}\.)"
            tests[k].append(rf"(?<={word}{gap}\.){whole}")
    # Most breaks follow a long word (k = 0): fail those fast, before the alternatives.
    longest = max(length for length, _ in words)
    glued = rf"(?<!\w{{{longest + 1}}}\.)(?:{'|'.join(tests[0])})"
    spaced = rf"(?<=\W\.)(?:{'|'.join(t for k_tests in tests[1:] for t in k_tests)})"
    ends = r"[.!?…]*[\"'»”’)\]]*\s"  # noqa: RUF001
    skip = rf"\.(?={ends})(?:{glued}|{spaced}){ends}+"
    # The same breaks as _SENTENCE_BREAK, one branch per first character: when every branch starts
    # with a literal character, the regex engine skips ahead to those characters at C speed. Breaks
    # that count end with an empty group (``lastindex`` is set), skipped ones with none.
    counted = [r"\n\s*()", *(rf"{re.escape(first)}{ends}+()" for first in ".!?…")]
    return re.compile("|".join([skip, *counted]))


_BREAKS = _break_pattern()


def sentence_starts(body: str) -> list[int]:
    """Where each sentence of ``body`` starts (the first at 0)."""
    return [0, *[m.end() for m in _BREAKS.finditer(body) if m.lastindex]]


# Kinds whose presence can make an item relevant: without one of them, it is not.
_ANCHOR_KINDS = frozenset({"dialogue", "talks", "topic", "topic-context", "actor", "level"})
_TOPIC_KINDS = ("topic", "topic-context")
_VOIDABLE = frozenset({"dialogue", "talks", "topic", "topic-context", "level"})


@dataclass(slots=True)  # not frozen: a frozen dataclass is 5x slower to build, and ~10 are built per item
class Evidence:
    points: float
    rule: str
    reason: str
    finding: Found
    sentence: int
    # Evidence that ties the item to the dialogue; the rest only supports an anchor nearby.
    anchor: bool = field(init=False)
    # A dialogue or talks word: one of them per sentence counts.
    process_word: bool = field(init=False)

    def __post_init__(self) -> None:
        flags = _RULE_FLAGS.get(self.rule)
        if flags is None:
            flags = _rule_flags(self.rule)
        self.anchor, self.process_word = flags


def _rule_flags(rule: str) -> tuple[bool, bool]:
    """(anchor, process_word) of a rule, kept: a profile has a few hundred rules."""
    flags = (
        rule in _ANCHOR_RULES or rule.startswith(("envoy:", "negotiator:", "strong-topic:")),
        rule.startswith(("dialogue", "talks")),
    )
    if len(_RULE_FLAGS) < 4096:  # bounded whatever the profile
        _RULE_FLAGS[rule] = flags
    return flags


_RULE_FLAGS: dict[str, tuple[bool, bool]] = {}


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


# The results of the quick exits, made once (a frozen dataclass costs ~2 us to build, most items
# take a quick exit). _NOTHING_COUNTS is what the analysis gives when nothing counts: a sum of nothing, 0.
_NOTHING = MatchResult(False, 0.0)
_NOTHING_COUNTS = MatchResult(False, 0)

# Held while a lazy matcher builds its index, so threads that match at once build it once.
_BUILDING = threading.Lock()


class Matcher:
    def __init__(self, profile: MatchProfile, *, lazy: bool = False) -> None:
        self.profile = profile
        self.weights = profile.weights
        self.version = hashlib.sha256(profile.model_dump_json().encode()).hexdigest()[:12]
        if not lazy:
            self._build()

    def __getattr__(self, name: str) -> object:
        """Only for attributes not set: a lazy matcher builds its index on first use, once."""
        if name.startswith("__") or self.__dict__.get("_built"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        with _BUILDING:
            if not self.__dict__.get("_built"):
                self._build()
        return object.__getattribute__(self, name)

    def _build(self) -> None:
        profile = self.profile
        endings = sorted({b"", *(fold(prepare(e)).replace(b" ", b"") for e in profile.endings)})
        compiled = [(entry, first) for entry, first in _entries(profile, endings)]
        self._index = TermIndex(compiled)
        self._cased = any(entry.case for entry, _ in compiled)
        self._furniture = label_pattern(profile.page_furniture)
        self._line_furniture = line_label_pattern(self._furniture)
        self._labels = {g.id: g.label for g in (*profile.topics, *profile.actors, *profile.meeting_levels)}
        self._actors = {a.id: a for a in profile.actors}
        self._topics = {t.id: t for t in profile.topics}
        self._level_order = {g.id: i for i, g in enumerate(profile.meeting_levels)}
        w = self.weights
        # Points of one actor by role, and at most this many points per role in an item.
        self._role_points = {"envoy": w.envoy, "negotiator": w.negotiator, "leader": w.leader, "official": w.official}
        self._role_caps = {
            "envoy": w.envoy,
            "negotiator": 2 * w.negotiator,
            "leader": 2 * w.leader,
            "official": 2 * w.official,
        }

        def keys_of(test: Callable[[Entry], bool]) -> frozenset[bytes]:
            return frozenset(form for form, entries in self._index.by_first.items() if any(map(test, entries)))

        self._anchor_keys = keys_of(lambda e: e.kind in _ANCHOR_KINDS)
        # What the quick "nothing to count" test reads (see _nothing_to_count).
        self._counting_keys = keys_of(
            lambda e: (
                e.kind in ("dialogue", "talks", "actor")
                or (e.kind == "topic" and self._topics[e.group].strength == "strong")
            )
        )
        self._context_topic_keys = keys_of(
            lambda e: e.kind == "topic-context" or (e.kind == "topic" and self._topics[e.group].strength != "strong")
        )
        self._level_keys = keys_of(lambda e: e.kind == "level")
        self._kosovo_keys = keys_of(lambda e: e.kind in ("side", "place") and e.group == "kosovo")
        self._serbia_keys = keys_of(lambda e: e.kind in ("side", "place") and e.group == "serbia")
        self._eu_keys = keys_of(lambda e: e.kind == "eu")
        self._roles = {id(e): self._role(e) for entries in self._index.by_first.values() for e in entries}
        self._counting_words = keys_of(lambda e: self._roles[id(e)] == "counts" and not e.rest)
        # The words of an item that matter: the first words of terms and their other words.
        self._vocabulary = self._index.keys.union(
            *(spec.forms for entries in self._index.by_first.values() for e in entries for spec in e.rest)
        )
        self._built = True

    def _role(self, entry: Entry) -> str:
        """What a term can do for ``_nothing_found_counts``."""
        if entry.kind in ("dialogue", "talks", "actor"):
            return "counts"
        if entry.kind == "topic":
            return "counts" if self._topics[entry.group].strength == "strong" else "context-topic"
        if entry.kind == "topic-context":
            return "context-topic"
        # kosovo, serbia (sides and places: the quick tests treat a place as its party, which only
        # sends more items to the full analysis), eu, level, other, sense
        return entry.group if entry.kind in ("side", "place") else entry.kind

    @classmethod
    def compile(cls, profile: MatchProfile, *, lazy: bool = False) -> Matcher:
        """The profile's matcher. ``lazy``: its index (about a second to build) is built on the
        first match, so a command that matches nothing (a poll where every feed answers 304)
        never pays for it; ``version`` is known at once."""
        return cls(profile, lazy=lazy)

    def label(self, group_id: str) -> str:
        return self._labels.get(group_id, group_id)

    def match(self, title: str, text: str, language: str | None = None) -> MatchResult:
        body = prepare(f"{title}\n{text}" if text else title)
        folded, lines = fold_lines(body)
        body, folded = strip_furniture(body, folded, self._furniture, (lines, self._line_furniture))
        words = folded.split(b" ")
        # One look-up per word in the (large) vocabulary, at C speed; the tests below are on the few found.
        present = self._vocabulary.intersection(words)
        if present.isdisjoint(self._anchor_keys):
            return _NOTHING
        if present.isdisjoint(self._counting_words) and (
            self._nothing_to_count(present) or self._nothing_can_count(present)
        ):
            return _NOTHING_COUNTS
        hits = self._index.hits(words, present)
        found = self._index.find(folded, words, hits, _primary_language(language))
        if self._cased:
            found = _as_written(found, body)
        if self._nothing_found_counts(found):  # e.g. the first word of a term, not the term
            return _NOTHING_COUNTS
        return self._analyse(body, folded, found, explaining=False)[0]

    def explain(self, title: str, text: str, language: str | None = None) -> Explanation:
        body = prepare(f"{title}\n{text}" if text else title)
        folded, lines = fold_lines(body)
        body, folded = strip_furniture(body, folded, self._furniture, (lines, self._line_furniture))
        words = folded.split(b" ")
        hits = self._index.hits(words, self._vocabulary.intersection(words))
        found = self._index.find(folded, words, hits, _primary_language(language))
        if self._cased:
            found = _as_written(found, body)
        result, starts, evidence, ignored = self._analyse(body, folded, found, explaining=True)
        sentences = tuple(zip(starts, [*starts[1:], len(body)], strict=True))
        return Explanation(result, body, sentences, tuple(evidence), tuple(ignored), tuple(found))

    def _nothing_to_count(self, present: frozenset[bytes]) -> bool:
        """True when no evidence and no actor can come out of the terms whose first words are ``present``
        (words of the item: only those that are index keys are looked at).

        Read from ``_weigh``: without a dialogue, talks, strong-topic or actor word, the only evidence
        left is both parties in one sentence (needs both), a context topic (needs the EU or both
        parties) and a meeting level (needs a party or the EU). Keep this in step with ``_weigh``;
        tests/match/test_reference_identity.py checks it against the full analysis.
        """
        if not present.isdisjoint(self._counting_keys):
            return False
        kosovo = not present.isdisjoint(self._kosovo_keys)
        serbia = not present.isdisjoint(self._serbia_keys)
        eu = not present.isdisjoint(self._eu_keys)
        if kosovo and serbia:
            return False
        if eu and not present.isdisjoint(self._context_topic_keys):
            return False
        return not ((kosovo or serbia or eu) and not present.isdisjoint(self._level_keys))

    def _nothing_can_count(self, present: frozenset[bytes]) -> bool:
        """``_nothing_found_counts`` before finding: on the terms whose every word is ``present``
        (the item's words that are in ``_vocabulary``).

        A term is found only where each of its words is a word of the text, so the terms found are
        among these (the other way round not always: order, gaps, language and case are left to
        ``find``). A first word without the rest of its term ("chief" without "negotiator") is
        common in everyday news; this drops such items without looking for the words' places.
        """
        by_first = self._index.by_first
        roles = self._roles
        disjoint = present.isdisjoint
        seen = set()
        for word in present:
            entries = by_first.get(word)
            if entries is None:  # a word that is not a first word
                continue
            for entry in entries:
                # Loops, not all() over a generator: a generator per term was most of this test's time.
                for spec in entry.rest:
                    if disjoint(spec.forms):
                        break
                else:
                    role = roles[id(entry)]
                    if role == "counts":
                        return False
                    seen.add(role)
        return _counts_nothing(seen)

    def _nothing_found_counts(self, found: Sequence[Found]) -> bool:
        """``_nothing_to_count`` on the terms found rather than on first words (see there)."""
        roles = self._roles
        seen = set()
        for f in found:
            role = roles[id(f.entry)]
            if role == "counts":  # most analysed items: stop at the first
                return False
            seen.add(role)
        return _counts_nothing(seen)

    # ------------------------------------------------------------------ analysis

    def _analyse(
        self,
        body: str,
        folded: bytes,
        found: list[Found],
        *,
        explaining: bool,
    ) -> tuple[MatchResult, list[int], list[Evidence], list[Ignored]]:
        """The result, the sentence starts, the evidence counted and (when ``explaining``) what was not."""
        starts = sentence_starts(body)
        located = [(f, bisect_right(starts, f[1]) - 1) for f in found]  # f[1]: f.start, without a lookup
        evidence, ignored = self._weigh(located, folded, explaining)
        evidence, far = _best_window(evidence)
        if explaining:
            ignored += [Ignored(f"{e.reason}, but far from the main mention", e.finding, e.sentence) for e in far]
        score = round(sum([e.points for e in evidence]), 2)
        relevant = score >= self.profile.threshold and any([e.anchor for e in evidence])
        if relevant and len(starts) >= LONG_ITEM_SENTENCES and _passing_mention(evidence):
            relevant = False
            if explaining:
                ignored += [Ignored(PASSING_MENTION, e.finding, e.sentence) for e in evidence if e.sentence > 0]
        topics = _unique([e.finding.entry.group for e in evidence if e.finding.entry.kind in _TOPIC_KINDS])
        actors = _unique([f.entry.group for f, _ in located if f.entry.kind == "actor"])
        if not relevant:
            return MatchResult(False, score, actors=actors, topics=topics), starts, evidence, ignored
        levels = sorted(
            {e.finding.entry.group for e in evidence if e.finding.entry.kind == "level"},
            key=lambda g: self._level_order.get(g, 99),
        )
        snippets, marked = _snippets(body, starts, evidence, located)
        result = MatchResult(
            relevant=True,
            score=score,
            snippets=snippets,
            actors=actors,
            topics=topics,
            meeting_level=levels[0] if levels else None,
            rule=_rule(evidence, self.profile.threshold),
            marked_snippets=marked,
        )
        return result, starts, evidence, ignored

    def _weigh(
        self, located: Sequence[tuple[Found, int]], folded: bytes, explaining: bool
    ) -> tuple[list[Evidence], list[Ignored]]:
        """The evidence of the findings, and (when ``explaining``) why the others do not count."""
        w = self.weights
        actor_of = self._actors
        sides: dict[int, set[str]] = {}
        eu: set[int] = set()
        places: set[str] = set()  # parties named through their places (frame only, see Places)
        other: set[int] = set()
        fields: set[int] = set()
        senses: dict[int, list[Found]] = {}
        weighable: list[tuple[Found, int]] = []  # dialogue, talks, topics, actors, levels: in text order
        for f, s in located:
            kind = f.entry.kind
            if kind == "side":
                if s in sides:
                    sides[s].add(f.entry.group)
                else:
                    sides[s] = {f.entry.group}
            elif kind == "actor":
                side = actor_of[f.entry.group].side
                if side == "mediator":
                    eu.add(s)
                elif s in sides:
                    sides[s].add(side)
                else:
                    sides[s] = {side}
                weighable.append((f, s))
            elif kind == "place":
                places.add(f.entry.group)
            elif kind == "eu":
                eu.add(s)
            elif kind == "other":
                other.add(s)
            elif kind == "field":
                fields.add(s)
            elif kind == "sense":
                senses.setdefault(s, []).append(f)
            else:
                weighable.append((f, s))
        item_sides = set().union(*sides.values(), places) if sides else set(places)
        evidence: list[Evidence] = []
        ignored: list[Ignored] = []

        def both(s: int) -> bool:
            return len(sides.get(s, ())) >= 2

        # The findings that count, by kind (each list in text order).
        dialogues: list[tuple[Found, int]] = []
        talks_words: list[tuple[Found, int]] = []
        actor_hits: list[tuple[Found, int]] = []
        topic_hits: list[tuple[Found, int]] = []
        levels: list[tuple[Found, int]] = []
        by_kind = {
            "dialogue": dialogues,
            "talks": talks_words,
            "actor": actor_hits,
            "topic": topic_hits,
            "topic-context": topic_hits,
            "level": levels,
        }
        headline_word_ignored = False  # a dialogue or talks word of the headline did not count
        # Why a headline sets the subject of the item: it names a field such as sport, or a word of
        # another sense joined to its dialogue word.
        headline_sets: str | None = HEADLINE_FIELD if 0 in fields else None
        for f, s in weighable:
            kind = f.entry.kind
            # Every kind here but actors is voidable. An "EU envoy" in a sentence about Bosnia or
            # Moldova is that envoy, not the dialogue's; Belgrade's agreements with Beijing "on
            # Kosovo" name both parties, but without the EU they are not the talks.
            voidable = kind != "actor" or actor_of[f.entry.group].role == "envoy"
            if s in other and voidable and not (both(s) and s in eu):
                headline_word_ignored |= s == 0 and kind in ("dialogue", "talks")
                if explaining:
                    ignored.append(Ignored("the sentence is about another dialogue or negotiation", f, s))
                continue
            if s in fields and kind in ("dialogue", "talks") and s not in eu:
                headline_word_ignored |= s == 0
                if explaining:
                    ignored.append(Ignored("the sentence is about sport or another field, not the talks", f, s))
                continue
            if kind in ("dialogue", "talks") and s in senses:
                # A sense joined to the word ("youth dialogue") holds even beside both parties ("a
                # youth dialogue of Kosovo and Serbia"), unless the EU is there too; one merely
                # nearby holds only without both parties.
                joined = _joined_sense(f, senses[s], folded) if not (both(s) and s in eu) else None
                sense = joined if joined is not None or both(s) else self._sense_near(f, senses[s], folded)
                if sense is not None:
                    # Only a joined sense says what the headline is about; a sense word merely near
                    # ("studentët presin zbatimin e marrëveshjes") voids that word, not the item.
                    headline_word_ignored |= s == 0 and joined is not None
                    if s < SENSE_SETTING_SENTENCES and joined is not None and headline_sets is None:
                        headline_sets = HEADLINE_SENSE
                    if explaining:
                        ignored.append(Ignored(f"another sense of the word ({sense})", f, s))
                    continue
            by_kind[kind].append((f, s))

        # A headline naming another sense of its dialogue word ("Youth dialogue in Pristina…") or a
        # field such as sport ("…in World Cup qualifying draw") sets it for the item: a later
        # dialogue or talks word counts only in a sentence with both parties and the EU.
        if headline_sets is not None:

            def stays(s: int) -> bool:
                return both(s) and s in eu

            if explaining:
                dropped = {id(f) for f, s in (*dialogues, *talks_words) if not stays(s)}
                for f, s in located:  # in text order, as found
                    if id(f) in dropped:
                        ignored.append(Ignored(headline_sets, f, s))
            dialogues = [(f, s) for f, s in dialogues if stays(s)]
            talks_words = [(f, s) for f, s in talks_words if stays(s)]

        # A headline about another dialogue or country ("Inter-party dialogue…", "Strategic dialogue of
        # Serbia and the US", "Belgrade and Podgorica…") sets the sense of the whole item: its later
        # dialogue and talks words are that one's, unless the item names both parties.
        headline_elsewhere = len(item_sides) < 2 and (headline_word_ignored or 0 in other)
        if headline_elsewhere and not any(s == 0 for _, s in dialogues):
            if explaining:
                dropped = {id(f) for f, _ in (*dialogues, *talks_words)}
                for f, s in located:  # in text order, as found
                    if id(f) in dropped:
                        ignored.append(Ignored("the headline is about another dialogue or negotiation", f, s))
            dialogues, talks_words = [], []

        def frame_without(actor_id: str) -> bool:
            """A party named, or another envoy, or the dialogue itself: an envoy alone is not enough."""
            others = any(f.entry.group != actor_id and actor_of[f.entry.group].role == "envoy" for f, _ in actor_hits)
            return bool(item_sides) or others or bool(dialogues)

        # An EU envoy of the dialogue sets the Kosovo–Serbia frame as much as naming a party does.
        envoys = bool(actor_hits) and any(actor_of[f.entry.group].role == "envoy" for f, _ in actor_hits)
        frame = bool(item_sides) or envoys
        dialogue_context = bool(eu) or len(item_sides) >= 2 or envoys

        # both parties named in one sentence: relations news, more so with the EU there
        pairs = [s for s, named in sides.items() if len(named) >= 2]
        if pairs:
            s = next((s for s in pairs if s in eu), pairs[0])  # the first with the EU, else the first
            pair = next(f for f, fs in located if fs == s and f.entry.kind in ("side", "actor"))
            if s in eu:
                evidence.append(
                    Evidence(w.both_sides_and_eu, "both-sides+eu", "both parties and the EU in one sentence", pair, s)
                )
            else:
                evidence.append(Evidence(w.both_sides, "both-sides", "both parties in one sentence", pair, s))

        # dialogue words
        graded: list[Evidence] = []
        for f, s in dialogues:
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
            elif explaining:
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
        for f, s in talks_words:
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
            elif s in eu and frame and any(_near(s, (t,)) for _, t in topic_hits):
                # "Stickers over the plates, as agreed in Brussels": the agenda names the talks.
                reason = "talks with the EU in the sentence, a topic of the dialogue near; a party is named elsewhere"
                talks.append(Evidence(w.talks_eu, "talks+eu+topic", reason, f, s))
            elif s in eu and frame:
                reason = "talks with the EU in the sentence; a party is named elsewhere"
                talks.append(Evidence(w.talks_eu, "talks+eu", reason, f, s))
            elif s == 0 and len(item_sides) >= 2 and any(t == 0 for _, t in topic_hits):
                # "Dinar talks go nowhere" over a story naming Pristina and Belgrade: the headline's
                # talks are those of an agenda item of the dialogue.
                reason = "talks in the headline beside a topic of the dialogue; both parties named in the item"
                talks.append(Evidence(w.talks_eu, "talks+topic+parties", reason, f, s))
            elif explaining:
                ignored.append(Ignored("talks word without the parties or the EU in the sentence", f, s))
        if talks:
            best_talks = max(talks, key=lambda e: e.points)
            if best_talks.points >= w.talks_both_sides:
                dialogue_context = True
            evidence.append(best_talks)

        # actors
        seen_actors: set[str] = set()
        caps = self._role_caps
        spent = dict.fromkeys(caps, 0.0)
        for f, s in actor_hits:
            if f.entry.group in seen_actors:
                continue
            seen_actors.add(f.entry.group)
            actor = actor_of[f.entry.group]
            points = self._role_points[actor.role]
            if (actor.role == "official" and not item_sides) or (actor.role == "envoy" and not frame_without(actor.id)):
                if explaining:
                    ignored.append(Ignored(f"{actor.role} {actor.label}, but neither party is named", f, s))
                continue
            points = min(points, caps[actor.role] - spent[actor.role])
            if points <= 0:
                if explaining:
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
        if len(topic_hits) > 1:  # terms before context terms
            topic_hits.sort(key=lambda fs: fs[0].entry.kind == "topic-context")
        for f, s in topic_hits:
            if f.entry.group in seen_topics:
                continue
            topic = self._topics[f.entry.group]
            strength = "context" if f.entry.kind == "topic-context" else topic.strength
            if strength == "strong":
                if not frame and not dialogue_context:
                    if explaining:
                        ignored.append(Ignored(f"topic {topic.label}, but neither party is named", f, s))
                    continue
                seen_topics.add(topic.id)
                points = w.strong_topic if strong_counted == 0 else w.context_topic
                strong_counted += 1
                evidence.append(Evidence(points, f"strong-topic:{topic.id}", f"topic {topic.label}", f, s))
            else:
                if not dialogue_context:
                    if explaining:
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
        if levels and (item_sides or eu):
            f, s = min(levels, key=lambda fs: self._level_order.get(fs[0].entry.group, 99))
            evidence.append(
                Evidence(w.meeting_level, f"level:{f.entry.group}", f"meeting level: {self.label(f.entry.group)}", f, s)
            )
        return evidence, ignored

    def _sense_near(self, f: Found, senses: Sequence[Found], folded: bytes) -> str | None:
        """The first word of another sense (in the sentence of ``f``) within the window, if any."""
        window = self.profile.sense_window
        for sense in senses:
            if sense.start >= f.end:
                start, end = f.end, sense.start
            elif sense.end <= f.start:
                start, end = sense.end, f.start
            else:  # they overlap
                return sense.entry.term
            # Latin spelling is never shorter: a gap already wider than the window needs no counting.
            if end - start <= window and _latin_length(folded, start, end) <= window:
                return sense.entry.term
        return None


def _counts_nothing(roles: set[str]) -> bool:
    """Whether terms of these roles (``Matcher._role``), none of them "counts", give no evidence."""
    kosovo, serbia, eu = "kosovo" in roles, "serbia" in roles, "eu" in roles
    if (kosovo and serbia) or (eu and "context-topic" in roles):
        return False
    return not ((kosovo or serbia or eu) and "level" in roles)


def _as_written(found: list[Found], body: str) -> list[Found]:
    """The findings without the exact-case terms that the text writes in another case."""
    return [f for f in found if not f.entry.case or case_fits(f.entry.term, body[f.start : f.end])]


def _joined_sense(f: Found, senses: Sequence[Found], folded: bytes) -> str | None:
    """A word of another sense joined to the dialogue word ``f`` ("social dialogue", "dialogue of
    youth", "dijalog mladih"): overlapping it, or next to it with at most one short word between."""
    for sense in senses:
        if sense.start < f.end and f.start < sense.end:
            return sense.entry.term
        start, end = (f.end, sense.start) if sense.start >= f.end else (sense.end, f.start)
        between = [w for w in folded[start:end].split() if w not in LINKING_ARTICLES]
        if not between or (len(between) == 1 and _latin_length(between[0], 0, len(between[0])) <= JOINING_WORD_LETTERS):
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
    # Anchors in one sentence have one neighbourhood; of equal neighbourhoods the one nearer the
    # top wins (the lead rather than a later aside, whatever order the evidence was gathered in).
    for sentence in sorted({e.sentence for e in anchors}):
        near = [e for e in evidence if e.sentence == 0 or abs(e.sentence - sentence) <= WINDOW_SENTENCES]
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
        if e.process_word:
            current = strongest.get(e.sentence)
            if current is None or e.points > current.points:
                strongest[e.sentence] = e
    if len(strongest) == sum(e.process_word for e in evidence):  # one per sentence already
        return list(evidence)
    keep = {id(e) for e in strongest.values()}
    return [e for e in evidence if not e.process_word or id(e) in keep]


def _primary_language(language: str | None) -> str | None:
    if not language:
        return None
    primary = _PRIMARY.get(language)
    if primary is None:
        primary = re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0] or ""
        if len(_PRIMARY) < 1000:  # a handful of codes in practice; bounded whatever a feed sends
            _PRIMARY[language] = primary
    return primary or None


_PRIMARY: dict[str, str] = {}


def _one(sides: set[str]) -> str:
    return next(iter(sides)).title()


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _rule(evidence: Sequence[Evidence], threshold: float) -> str:
    best = max(evidence, key=lambda e: e.points)
    return best.rule if best.points >= threshold else f"combined:{best.rule}"


def _snippets(
    body: str,
    starts: Sequence[int],
    evidence: Sequence[Evidence],
    located: Sequence[tuple[Found, int]],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The sentences carrying the strongest evidence, plain and with the matched terms marked."""
    order = list(dict.fromkeys([e.sentence for e in sorted(evidence, key=lambda e: -e.points)]))[:MAX_SNIPPETS]
    spans_of: dict[int, set[tuple[int, int]]] = {index: set() for index in order}
    for f, s in located:  # the terms to mark, in the chosen sentences only
        if s in spans_of and f.entry.kind not in ("other", "field", "sense"):
            spans = f.spans
            if len(spans) == 1:  # one word: its own span, as _merge gives it
                spans_of[s].add(spans[0])
            else:
                spans_of[s].update(_merge(f))
    plain: list[str] = []
    marked: list[str] = []
    for index in order:
        first = starts[index]
        last = starts[index + 1] if index + 1 < len(starts) else len(body)
        anchor = next((e.finding.start for e in evidence if e.sentence == index), first)
        start, end = _window(body, first, last, anchor)
        text = body[start:end]
        lead = len(text) - len(text.lstrip())
        text = text.strip()
        if not text:
            continue
        prefix = "…" if start > first else ""
        suffix = "…" if end < last and body[start:last].strip() != text else ""
        plain.append(prefix + text + suffix)
        shift = start + lead
        marked.append(prefix + _mark(text, [(a - shift, b - shift) for a, b in sorted(spans_of[index])]) + suffix)
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
