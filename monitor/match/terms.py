"""Compiling profile terms into an index of folded word forms, and finding them in folded text.

Every term is folded like the text (``fold.py``); a word written ``stem*`` is expanded into
``stem + ending`` for each of the profile's endings, and each word into all its digraph
spellings. The index maps the forms of a term's *first* word to the term, so finding the terms
of an item is one set intersection of its words with the index keys (C speed), then a
``bytes.find`` for each key that is there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.match.fold import fold, prepare, spellings, word_after

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
