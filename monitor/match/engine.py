"""A keyword matcher: word-bounded, case-insensitive terms compiled into one regex per group."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.match.profile import MatchProfile
from monitor.types import MatchResult


def _pattern(terms: Iterable[str]) -> re.Pattern[str]:
    alternatives = sorted({re.escape(t.strip()) for t in terms if t.strip()}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Group:
    id: str
    label: str
    pattern: re.Pattern[str]


class Matcher:
    def __init__(self, profile: MatchProfile) -> None:
        self.profile = profile
        self._dialogue = _pattern(profile.dialogue_terms)
        self._party = _pattern(profile.party_terms)
        self._topics = tuple(_Group(g.id, g.label, _pattern(g.terms)) for g in profile.topics)
        self._actors = tuple(_Group(g.id, g.label, _pattern(g.terms)) for g in profile.actors)
        self.version = hashlib.sha256(profile.model_dump_json().encode()).hexdigest()[:12]

    @classmethod
    def compile(cls, profile: MatchProfile) -> Matcher:
        return cls(profile)

    def match(self, title: str, text: str, language: str | None = None) -> MatchResult:
        body = f"{title}\n{text}"
        dialogue = self._dialogue.search(body) is not None
        party = self._party.search(body) is not None
        topics = tuple(g.id for g in self._topics if g.pattern.search(body))
        actors = tuple(g.id for g in self._actors if g.pattern.search(body))
        score = 2.0 * (dialogue and party) + 2.0 * len(topics) + 0.5 * len(actors)
        if dialogue and party:
            rule = "dialogue+party"
        elif topics:
            rule = "topic:" + topics[0]
        else:
            rule = None
        relevant = rule is not None and score >= self.profile.min_score
        snippets = tuple(self._snippets(body)) if relevant else ()
        return MatchResult(relevant, score, snippets, actors, topics, None, rule if relevant else None)

    def _snippets(self, body: str) -> Iterable[str]:
        for sentence in re.split(r"(?<=[.!?])\s+|\n+", body):
            if self._dialogue.search(sentence) or any(g.pattern.search(sentence) for g in self._topics):
                yield sentence.strip()[:400]
                return
