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
outlet's feed carries a two-sentence summary where another carries the whole lead. Nearly all
candidates are chance collisions of unrelated texts (1 - (1 - J²)²⁰ is still 0.008 at J = 0.02):
a 512-bit bitmap of the shingle ids, stored too, bounds the overlap from above, and a candidate that
fails the rules on the bound is passed over without its ids being decoded (``best_story``).

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
from collections.abc import Collection, Iterable, Iterator
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

# The bitmap of an item's shingle ids (bit ``id % SHINGLE_BITS``), stored beside the ids: from the
# bits two bitmaps share, a bound on the shingles the two items share is had without decoding, and
# a candidate that fails the rules even with the bound is passed over (``best_story``). 512 bits: a
# lead's ~80 ids set about 15% of them (losing ~6 to bits already set), so the bound for two
# unrelated leads is some 20 where a copy needs about 50 shared shingles.
SHINGLE_BITS = 512

_WORDS = struct.Struct(f"<{NUM_HASHES}I")
_BAND_KEYS = struct.Struct(f"<{BANDS}q")


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
    """What is kept of an item's lead to compare it with others, packed.

    ``shingles``: 32-bit ids of its distinct word 3-shingles, stored (≈400 bytes) so that candidates
    are compared *exactly*; ``signature``: its MinHash, from which the ``bands`` (LSH keys) are taken.
    Kept as bytes (under 1 KB an item): fingerprints are taken where items are parsed (the parse
    workers) and may wait with their items for the store, hundreds of sources' worth in a cold cycle.
    """

    packed_shingles: bytes  # the ids sorted, 32-bit little-endian: as stored in story_items
    packed_signature: bytes  # NUM_HASHES x 32-bit
    packed_bands: bytes  # BANDS x signed 64-bit
    packed_bits: bytes  # the ids' bitmap (``shingle_bits``), SHINGLE_BITS / 8 bytes little-endian

    @property
    def shingles(self) -> frozenset[int]:
        return frozenset(shingle_ids(self.packed_shingles))

    @property
    def signature(self) -> tuple[int, ...]:
        return _WORDS.unpack(self.packed_signature)

    @property
    def size(self) -> int:
        return len(self.packed_shingles) // 4

    @property
    def bits(self) -> int:
        return int.from_bytes(self.packed_bits, "little")

    def bits_bytes(self) -> bytes:
        """The bitmap as stored in story_items.shingle_bits."""
        return self.packed_bits

    def shingles_bytes(self) -> bytes:
        return self.packed_shingles


def shingle_ids(data: bytes) -> tuple[int, ...]:
    """A stored item's shingle ids (distinct, as ``Fingerprint.shingles_bytes`` wrote them)."""
    return struct.unpack(f"<{len(data) // 4}I", data)


def shingle_bits(ids: Iterable[int]) -> int:
    """The bitmap of shingle ids: bit ``id % SHINGLE_BITS`` set for each id."""
    bits = 0
    for shingle in ids:
        bits |= 1 << (shingle % SHINGLE_BITS)
    return bits


def stored_bits(data: bytes | None) -> int | None:
    """A stored bitmap (story_items.shingle_bits) as an integer; None where none was stored."""
    return int.from_bytes(data, "little") if data else None


class StoredShingles(Collection[int]):
    """A stored item's shingle ids, decoded only when first iterated: its size is known from the
    stored bytes, and most candidates are passed over on their bitmap without ever being decoded."""

    __slots__ = ("data", "_ids")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._ids: tuple[int, ...] | None = None

    @property
    def ids(self) -> tuple[int, ...]:
        if self._ids is None:
            self._ids = shingle_ids(self.data)
        return self._ids

    def __len__(self) -> int:
        return len(self.data) // 4

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids)

    def __contains__(self, value: object) -> bool:
        return value in self.ids


def fingerprint(title: str, text: str) -> Fingerprint | None:
    """The item's fingerprint, or None when it has too little text to be compared safely."""
    found = shingles(title, text)
    if len(found) < MIN_SHINGLES:
        return None
    unpack, size, shake = _WORDS.unpack, _WORDS.size, hashlib.shake_128
    rows = [unpack(shake(s.encode()).digest(size)) for s in found]
    # Word 0 of each shingle's digest is its id; words 0..39 are its values under the 40 hash functions.
    ids = sorted({row[0] for row in rows})
    signature = tuple(map(min, zip(*rows, strict=True)))
    return Fingerprint(
        struct.pack(f"<{len(ids)}I", *ids),
        _WORDS.pack(*signature),
        _BAND_KEYS.pack(*_band_keys(signature)),
        shingle_bits(ids).to_bytes(SHINGLE_BITS // 8, "little"),
    )


def band_keys(fp: Fingerprint) -> tuple[int, ...]:
    """One signed 64-bit key per band: items sharing any key are candidates for the same story."""
    return _BAND_KEYS.unpack(fp.packed_bands)


def _band_keys(signature: tuple[int, ...]) -> list[int]:
    keys = []
    for band in range(BANDS):
        values = signature[band * ROWS_PER_BAND : (band + 1) * ROWS_PER_BAND]
        salt = struct.pack("<HH", FINGERPRINT_VERSION, band)
        digest = hashlib.blake2b(salt + struct.pack(f"<{ROWS_PER_BAND}I", *values), digest_size=8).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


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
    # Distinct shingle ids, as stored (``shingle_ids`` or ``StoredShingles``): compared as they come,
    # without a set of their own.
    shingles: Collection[int]
    # Their bitmap (``shingle_bits``), when stored: lets ``best_story`` pass the candidate over undecoded.
    bits: int | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    story_id: int
    similar_item_id: int
    score: float


def best_story(fp: Fingerprint, candidates: Iterable[Candidate], rules: ClusterRules) -> Assignment | None:
    """The story of the most similar candidate that passes the rules, or None for a new story.

    Scores are ``jaccard`` and ``overlap``, from one intersection per candidate: |A ∪ B| is
    |A| + |B| - |A ∩ B| (the ids of each side are distinct), so the floats are the same.
    A candidate with a bitmap is first tried with a bound in place of |A ∩ B|: the bits the two
    bitmaps share, plus the fewer of the ids either side lost to bits already set (its size less
    its bitmap's bits; ids of A ∩ B sharing one bit are among them). The bound is never below
    |A ∩ B| and both scores grow with it, so a candidate that fails the rules with it fails them
    with the true count too: the outcome is the one without bitmaps.
    """
    best: Assignment | None = None
    mine = fp.shingles
    size = len(mine)
    my_bits = fp.bits
    my_lost = size - my_bits.bit_count()
    for candidate in candidates:
        theirs = len(candidate.shingles)
        if candidate.bits is not None:
            bound = (my_bits & candidate.bits).bit_count() + min(my_lost, theirs - candidate.bits.bit_count())
            union = size + theirs - bound
            if (bound / union if union else 0.0) < rules.min_jaccard:
                continue
            if (bound / min(size, theirs) if size and theirs else 0.0) < rules.min_overlap:
                continue
        common = len(mine.intersection(candidate.shingles))
        union = size + theirs - common
        if (common / union if union else 0.0) < rules.min_jaccard:
            continue
        score = common / min(size, theirs) if size and theirs else 0.0
        if score >= rules.min_overlap and (best is None or score > best.score):
            best = Assignment(candidate.story_id, candidate.item_id, score)
    return best
