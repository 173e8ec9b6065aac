"""Compiling profile terms into an index of folded word forms, and finding them in folded text.

Every term is folded like the text (``fold.py``); a word written ``stem*`` is expanded into
``stem + ending`` for each of the profile's endings, and each word into all its digraph
spellings. The index maps the forms of a term's *first* word to the term, so finding the terms
of an item is one set intersection of its words with the index keys (C speed), then a
``bytes.find`` for each key that is there. The words after the first are checked by one compiled
pattern per term (its word forms as a trie), not word by word in Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass
from itertools import accumulate, compress, count
from typing import NamedTuple

from monitor.match.fold import fold, prepare, spellings

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


class Found(NamedTuple):  # a tuple: made ~20 times per item, so cheap to build
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


# How a term is checked after its first word (see TermIndex.find). A term limited to some
# languages has _LIMITED added.
_FIRST_ONLY, _NEXT_WORD_ONLY, _NEXT_WORD_THEN, _PATTERN, _LIMITED = 0, 1, 2, 3, 4

# (entry, how, pattern): the pattern of the words after the first (_PATTERN) or after the second
Check = tuple[Entry, int, "re.Pattern[bytes] | None"]
# The key's length, the terms that may match by the word after the key (in index order; a term
# whose second word is plain is only under the forms of that word), the terms for any other word,
# and whether every term of the key is one word (no need to read the next word).
_Plan = tuple[int, dict[bytes, tuple[Check, ...]], tuple[Check, ...], bool]


class TermIndex:
    """All terms of a profile, findable in one pass over an item's folded text."""

    def __init__(self, entries: Iterable[tuple[Entry, frozenset[bytes]]]) -> None:
        self.by_first: dict[bytes, list[Entry]] = {}
        for entry, first_forms in entries:
            for form in first_forms:
                self.by_first.setdefault(form, []).append(entry)
        self.keys = frozenset(self.by_first)
        patterns: dict[tuple[WordSpec, ...], re.Pattern[bytes]] = {}
        shared: dict[tuple[Check, ...], tuple[Check, ...]] = {}

        def pattern(rest: tuple[WordSpec, ...]) -> re.Pattern[bytes]:
            return patterns.setdefault(rest, _rest_pattern(rest))

        # Keys that are the whole of one term for every language (most hits): found without a plan.
        self._alone: dict[bytes, Entry] = {
            key: key_entries[0]
            for key, key_entries in self.by_first.items()
            if len(key_entries) == 1 and not key_entries[0].rest and not key_entries[0].languages
        }
        self._plans: dict[bytes, _Plan] = {}
        # Every inflected form of a term's first word is a key with the same entries, hence the same
        # table of next words: one table for them all (the tables were most of the matcher's memory).
        by_next_of: dict[tuple[int, ...], tuple[dict[bytes, tuple[Check, ...]], tuple[Check, ...], bool]] = {}
        for key, key_entries in self.by_first.items():
            if key in self._alone:
                continue  # found without a plan
            same = tuple(map(id, key_entries))
            if same in by_next_of:
                self._plans[key] = (len(key), *by_next_of[same])
                continue
            checks: list[tuple[Check, frozenset[bytes] | None]] = []  # with the second words it needs
            for entry in key_entries:
                limited = _LIMITED if entry.languages else 0
                if not entry.rest:
                    checks.append(((entry, _FIRST_ONLY + limited, None), None))
                elif entry.rest[0].gap_before:
                    checks.append(((entry, _PATTERN + limited, pattern(entry.rest)), None))
                elif len(entry.rest) == 1:
                    checks.append(((entry, _NEXT_WORD_ONLY + limited, None), entry.rest[0].forms))
                else:
                    checks.append(((entry, _NEXT_WORD_THEN + limited, pattern(entry.rest[1:])), entry.rest[0].forms))
            seconds = {form for _, forms in checks if forms for form in forms}

            def usable(
                word: bytes | None, checks: list[tuple[Check, frozenset[bytes] | None]] = checks
            ) -> tuple[Check, ...]:
                chosen = tuple(
                    check for check, forms in checks if forms is None or (word is not None and word in forms)
                )
                return shared.setdefault(chosen, chosen)

            only_one_word = all(not entry.rest for entry in key_entries)
            by_next_of[same] = ({word: usable(word) for word in seconds}, usable(None), only_one_word)
            self._plans[key] = (len(key), *by_next_of[same])

    def hits(self, words: list[bytes], present: Set[bytes]) -> list[int]:
        """The indexes of the index keys among ``words`` (``folded.split(b" ")``: runs of spaces
        give empty words), given ``present``, a set of words that holds every key among them.
        At C speed: no Python loop over the words."""
        keys = self.keys.intersection(present)  # a few: a small set to look in, not the index
        return list(compress(count(), map(keys.__contains__, words)))

    def find(self, folded: bytes, words: list[bytes], hits: list[int], language: str | None = None) -> list[Found]:
        """Every occurrence in ``folded`` of every term whose first word is at one of ``hits`` (``hits()``).

        With a ``language``, terms limited to other languages are left out. In text order: by
        start, the longer first, then in index order.
        """
        offsets = list(accumulate(map(len, words), initial=0))
        found: list[Found] = []
        append = found.append
        plans = self._plans
        count = len(words)
        new = tuple.__new__  # NamedTuple's own __new__ is a Python call: ~20 Found per item
        alone = self._alone
        for i in hits:
            word = words[i]
            at = offsets[i] + i  # the start of word i: the words before it and one space after each
            entry = alone.get(word)
            if entry is not None:
                end = at + len(word)
                append(new(Found, (entry, at, end, ((at, end),))))
                continue
            size, by_next, checks, only_one_word = plans[word]
            second: tuple[int, int] = (0, 0)
            if not only_one_word:  # the next word: runs of spaces left empty words between
                j = i + 1
                while j < count and not words[j]:
                    j += 1
                if j < count:
                    checks = by_next.get(words[j], checks)
                    if checks:
                        second = (offsets[j] + j, offsets[j + 1] + j)
            if not checks:  # a first word whose terms all need another next word ("chief" without "negotiator")
                continue
            end = at + size
            several = len(checks) > 1
            before = len(found) if several else 0
            for entry, how, rest in checks:
                if how >= _LIMITED:
                    if language is not None and language not in entry.languages:
                        continue
                    how -= _LIMITED
                if how == _FIRST_ONLY:
                    append(new(Found, (entry, at, end, ((at, end),))))
                elif how == _NEXT_WORD_ONLY:
                    append(new(Found, (entry, at, second[1], ((at, end), second))))
                else:
                    assert rest is not None
                    after = rest.match(folded, second[1] if how == _NEXT_WORD_THEN else end)
                    if after is not None:
                        spans: tuple[tuple[int, int], ...] = (
                            ((at, end), second) if how == _NEXT_WORD_THEN else ((at, end),)
                        )
                        spans += tuple(after.span(i) for i in range(1, rest.groups + 1))
                        append(new(Found, (entry, at, spans[-1][1], spans)))
            if several and len(found) - before > 1:  # several terms at one place: the longer first
                found[before:] = sorted(found[before:], key=_longer_first)
        return found


def _longer_first(f: Found) -> int:
    return -f.end


def _rest_pattern(rest: tuple[WordSpec, ...]) -> re.Pattern[bytes]:
    """A pattern matching the words after a term's first word, each word captured for marking.

    Folded text is words separated by spaces. A plain word is the next word; a word after '...' is
    the first of the next MAX_GAP_WORDS + 1 words that is one of its forms (atomic: a later word is
    never tried when what follows does not match, as a word-by-word reading would not).
    """
    parts: list[bytes] = []
    for spec in rest:
        forms = _trie(spec.forms)
        if spec.gap_before:
            parts.append(rb"(?> *(?:[^ ]+ +){0,%d}?(%s)(?![^ ]))" % (MAX_GAP_WORDS, forms))
        else:
            parts.append(rb" *(%s)(?![^ ])" % forms)
    return re.compile(b"".join(parts))


def _trie(words: Iterable[bytes]) -> bytes:
    """An alternation of ``words`` as a trie, so that matching tries each letter once."""
    root: dict[int, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = root
        for byte in word:
            node = node.setdefault(byte, {})
        node[-1] = {}
    return _trie_node(root)


def _trie_node(node: dict) -> bytes:  # type: ignore[type-arg]
    branches = [re.escape(bytes([byte])) + _trie_node(child) for byte, child in sorted(node.items()) if byte >= 0]
    if not branches:
        return b""
    body = branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"
    if -1 in node:
        return (b"(?:" + body + b")?") if len(branches) == 1 and len(body) > 1 else body + b"?"
    return body
