"""Near-duplicate fingerprints of articles, for clustering copies across outlets (pure functions).

Outlets republish the same agency copy with a new headline, a trimmed lead, an extra paragraph, or in
the other script (Serbian Cyrillic and Latin). So the fingerprint is taken from the *lead* of the text
(its first ``LEAD_WORDS`` words, where every copy agrees), after folding case, script and diacritics:

    text ─▶ fold (monitor.match.fold.plain: case, Cyrillic → Latin, č ć š ž đ ë ç → c c s z dj e c) ─▶ first 100 words
         ─▶ word 3-shingles ─▶ MinHash signature (40 × 32 bit) ─▶ 20 LSH band keys (2 values each)

Two items are *candidates* when they share a band key; the store looks candidates up through an index
on the band keys, so the cost does not grow with the number of stored items. A candidate is accepted
when the overlap of the two shingle sets (|A ∩ B| / min(|A|, |B|), computed exactly from the stored
shingle ids, not estimated) reaches ``ClusterRules.min_overlap``: overlap, not Jaccard, because one
outlet's feed carries a two-sentence summary where another carries the whole lead.

The MinHash is written here rather than taken from datasketch: its signatures and band keys are
*persisted* in the database, so the hash family must never change under us with a library upgrade;
the 40 independent hash functions are simply the 40 32-bit words of SHAKE-128 (FIPS 202) of each
shingle, which is also faster in pure Python than datasketch's numpy path for texts this short, and
keeps numpy/scipy out of a small daemon. ``FINGERPRINT_VERSION`` salts the band keys: changing any
parameter below means bumping it (old items then simply stop being candidates once their window
has passed).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from monitor.match.fold import plain

# 2: words folded by monitor.match.fold.plain (one transliteration for the whole project).
FINGERPRINT_VERSION = 2
LEAD_WORDS = 100
SHINGLE_WORDS = 3
BANDS = 20
ROWS_PER_BAND = 2
# One MinHash value per band row: the signature serves only to make band keys, since candidates
# are then compared exactly on their stored shingles.
NUM_HASHES = BANDS * ROWS_PER_BAND
# Fewer distinct shingles than this (a text of fewer than ~8 words) gives no fingerprint: such
# snippets ("Live updates", a bare headline) match far too much to be clustered safely.
MIN_SHINGLES = 6
# Below this many words of text, the headline is part of what is fingerprinted.
SHORT_TEXT_WORDS = 25

_WORDS = struct.Struct(f"<{NUM_HASHES}I")


def words(text: str) -> list[str]:
    """The text's words with case, script and diacritics folded (the matcher's folding)."""
    return plain(text).split()


def shingles(title: str, text: str) -> set[str]:
    body = words(text)
    if len(body) < SHORT_TEXT_WORDS:
        body = words(title) + body
    lead = body[:LEAD_WORDS]
    return {" ".join(lead[i : i + SHINGLE_WORDS]) for i in range(max(len(lead) - SHINGLE_WORDS + 1, 0))}


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What is kept of an item's lead to compare it with others.

    ``shingles``: 32-bit ids of its distinct word 3-shingles, stored (≈400 bytes) so that candidates
    are compared *exactly*; ``signature``: its MinHash, from which the band keys are taken.
    """

    shingles: frozenset[int]
    signature: tuple[int, ...]

    @property
    def size(self) -> int:
        return len(self.shingles)

    def shingles_bytes(self) -> bytes:
        return struct.pack(f"<{self.size}I", *sorted(self.shingles))


def shingles_from_bytes(data: bytes) -> frozenset[int]:
    return frozenset(struct.unpack(f"<{len(data) // 4}I", data))


def fingerprint(title: str, text: str) -> Fingerprint | None:
    """The item's fingerprint, or None when it has too little text to be compared safely."""
    found = shingles(title, text)
    if len(found) < MIN_SHINGLES:
        return None
    rows = [_WORDS.unpack(hashlib.shake_128(s.encode()).digest(_WORDS.size)) for s in found]
    # Word 0 of each shingle's digest is its id; words 0..39 are its values under the 40 hash functions.
    return Fingerprint(frozenset(row[0] for row in rows), tuple(map(min, zip(*rows, strict=True))))


def band_keys(fp: Fingerprint) -> tuple[int, ...]:
    """One signed 64-bit key per band: items sharing any key are candidates for the same story."""
    keys = []
    for band in range(BANDS):
        values = fp.signature[band * ROWS_PER_BAND : (band + 1) * ROWS_PER_BAND]
        salt = struct.pack("<HH", FINGERPRINT_VERSION, band)
        digest = hashlib.blake2b(salt + struct.pack(f"<{ROWS_PER_BAND}I", *values), digest_size=8).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return tuple(keys)


def estimated_jaccard(a: Fingerprint, b: Fingerprint) -> float:
    """The MinHash estimate of the Jaccard similarity (standard error ≤ 0.08 at 40 hashes)."""
    return sum(x == y for x, y in zip(a.signature, b.signature, strict=True)) / NUM_HASHES


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def overlap(a: frozenset[int], b: frozenset[int]) -> float:
    """|A ∩ B| / min(|A|, |B|): 1.0 when the shorter lead is contained in the longer one."""
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


@dataclass(frozen=True, slots=True)
class ClusterRules:
    """When an item joins an existing story (``stories:`` in config.yaml)."""

    # A candidate counts only if its time (published, else first seen) is this close to the item's.
    window: timedelta = timedelta(hours=48)
    # Share of the shorter lead's shingles found in the other lead needed to join. Set for precision:
    # a wrong join files a new development under an old story, whose alert was already sent.
    min_overlap: float = 0.6
    # ... and their Jaccard similarity must reach this, so that a few words (a bare headline) found
    # inside a long text are not taken for a copy of it.
    min_jaccard: float = 0.15


@dataclass(frozen=True, slots=True)
class Candidate:
    story_id: int
    item_id: int
    shingles: frozenset[int]


@dataclass(frozen=True, slots=True)
class Assignment:
    story_id: int
    similar_item_id: int
    score: float


def best_story(fp: Fingerprint, candidates: Iterable[Candidate], rules: ClusterRules) -> Assignment | None:
    """The story of the most similar candidate that passes the rules, or None for a new story."""
    best: Assignment | None = None
    for candidate in candidates:
        if jaccard(fp.shingles, candidate.shingles) < rules.min_jaccard:
            continue
        score = overlap(fp.shingles, candidate.shingles)
        if score >= rules.min_overlap and (best is None or score > best.score):
            best = Assignment(candidate.story_id, candidate.item_id, score)
    return best
