"""Folding text so that one term list serves every spelling, case and script.

``fold(text)`` turns text into bytes of *the same length* (one byte per character, so a
position in the folded bytes is a position in the text) where:

- letters are lower-case ASCII without diacritics (ë→e, ç→c, č ć→c, š→s, ž→z, ø→o, á→a…);
- Serbian Cyrillic is transliterated (в→v, ш→s, ч ћ→c…);
- the four letters that are two Latin letters (đ ђ, љ, њ, џ) become one placeholder byte each,
  and terms are expanded at compile time to accept both the placeholder and the digraph
  (``dj``/``d``, ``lj``, ``nj``, ``dz``), so Đurić, Djuric, Duric and Ђурић all meet;
- every other character (space, punctuation, dashes, quotes, unknown scripts) becomes a space,
  so words are what is left between spaces.

It runs at C speed: ``str.lower`` → ``codecs.charmap_encode`` with a 256-slot map (non-ASCII
letters take the slots that upper-case ASCII no longer needs after ``lower``) → ``bytes.translate``.
A per-character Python loop or ``str.translate`` with a dict is 5–20x slower on 1 KB items.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterable, Iterator
from itertools import product
from typing import Any

# Placeholder bytes for letters that transliterate to two Latin letters.
DJ, LJ, NJ, DZ, SILENT = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"
DIGRAPHS = {DJ: (b"dj", b"d"), LJ: (b"lj",), NJ: (b"nj",), DZ: (b"dz",)}

# Lower-case letters other than a-z and what they fold to (one ASCII letter or a placeholder).
_LATIN: dict[str, str | bytes] = {
    "à": "a", "á": "a", "â": "a", "ã": "a", "ä": "a", "å": "a", "æ": "a", "ā": "a", "ă": "a", "ą": "a",
    "ç": "c", "ć": "c", "č": "c", "ĉ": "c", "ċ": "c",
    "ď": "d", "đ": DJ, "ð": DJ,
    "è": "e", "é": "e", "ê": "e", "ë": "e", "ē": "e", "ė": "e", "ę": "e", "ě": "e",
    "ğ": "g", "ģ": "g",
    "ì": "i", "í": "i", "î": "i", "ï": "i", "ī": "i", "į": "i", "ı": "i",
    "ķ": "k", "ł": "l", "ľ": "l", "ĺ": "l", "ļ": "l",
    "ñ": "n", "ń": "n", "ň": "n", "ņ": "n",
    "ò": "o", "ó": "o", "ô": "o", "õ": "o", "ö": "o", "ø": "o", "ő": "o", "ō": "o", "œ": "o",
    "ŕ": "r", "ř": "r",
    "ß": "s", "ś": "s", "š": "s", "ş": "s", "ș": "s",
    "ţ": "t", "ț": "t", "ť": "t",
    "ù": "u", "ú": "u", "û": "u", "ü": "u", "ū": "u", "ů": "u", "ű": "u", "ų": "u",
    "ý": "y", "ÿ": "y",
    "ź": "z", "ż": "z", "ž": "z",
    "ǆ": DZ, "ǉ": LJ, "ǌ": NJ,
}  # fmt: skip
_CYRILLIC: dict[str, str | bytes] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ђ": DJ, "е": "e", "ж": "z", "з": "z",
    "и": "i", "ј": "j", "к": "k", "л": "l", "љ": LJ, "м": "m", "н": "n", "њ": NJ, "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "ћ": "c", "у": "u", "ф": "f", "х": "h", "ц": "c",
    "ч": "c", "џ": DZ, "ш": "s",
    # Russian, Macedonian and Ukrainian letters, so quoted names still read as words.
    "ё": "e", "й": "j", "щ": "s", "ъ": SILENT, "ы": "y", "ь": SILENT, "э": "e", "ю": "u", "я": "a",
    "ѓ": "g", "ќ": "k", "ѕ": "z", "і": "i", "ї": "i", "є": "e", "ґ": "g",
}  # fmt: skip
_FOLDED: dict[str, str | bytes] = {**_LATIN, **_CYRILLIC}

# Characters that are not there for a reader (soft hyphen, zero-width marks): removed before folding.
_INVISIBLE_CHARS = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
_INVISIBLE = re.compile(f"[{_INVISIBLE_CHARS}]")


def _tables() -> tuple[Any, bytes]:  # typeshed keeps the type of charmap_build private
    decoding = [chr(i) if i < 0x80 and not (0x41 <= i <= 0x5A) else "\ufffe" for i in range(256)]
    fold = bytearray(b" " * 256)
    for i in range(0x80):
        ch = chr(i)
        if ch.isascii() and (ch.islower() or ch.isdigit()):
            fold[i] = i
    free = [*range(0x41, 0x5B), *range(0x80, 0x100)]
    if len(_FOLDED) > len(free):
        raise AssertionError("more folded letters than free byte slots")
    for slot, (char, target) in zip(free, _FOLDED.items(), strict=False):
        decoding[slot] = char
        fold[slot] = target[0] if isinstance(target, bytes) else ord(target)
    return codecs.charmap_build("".join(decoding)), bytes(fold)


_ENCODING_MAP, _FOLD_TABLE = _tables()


def prepare(text: str) -> str:
    """The text as matched and quoted: NFC, without invisible characters."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
        if any(char in text for char in _INVISIBLE_CHARS):  # str.find per character: 5-20x the regex's speed
            text = _INVISIBLE.sub("", text)
    return text


def fold(prepared: str) -> bytes:
    """Folded bytes, one per character of ``prepared`` (see the module docstring)."""
    lowered = prepared.lower()
    if len(lowered) != len(prepared):  # rare: a few letters lower-case to two characters (İ)
        lowered = "".join(ch.lower()[0] for ch in prepared)
    encoded = codecs.charmap_encode(lowered, "replace", _ENCODING_MAP)[0]
    return encoded.translate(_FOLD_TABLE)


def _line_tables() -> tuple[bytes, bytes, bytes]:
    """Tables for ``fold_lines``: the fold with line breaks kept, and both for text of Latin-1
    characters only (each character folded alone: ``str.lower`` keeps them in Latin-1, one for one)."""
    lines = bytearray(_FOLD_TABLE)
    lines[0x0A] = 0x0A
    latin1 = b"".join(fold(chr(i)) for i in range(256))
    latin1_lines = bytearray(latin1)
    latin1_lines[0x0A] = 0x0A
    return bytes(lines), latin1, bytes(latin1_lines)


_LINES_TABLE, _LATIN1_FOLD_TABLE, _LATIN1_LINES_TABLE = _line_tables()


def fold_lines(prepared: str) -> tuple[bytes, bytes]:
    """``fold(prepared)``, and the same bytes with each line break kept as ``\\n`` (to find lines
    at C speed). Text of Latin-1 characters only (English, most Albanian) is encoded as Latin-1
    (a copy) and translated by one table, without ``lower`` and the charmap step."""
    try:
        encoded = prepared.encode("latin-1")
    except UnicodeEncodeError:  # Serbian, Cyrillic, typographic quotes: stops at the first such character
        pass
    else:
        return encoded.translate(_LATIN1_FOLD_TABLE), encoded.translate(_LATIN1_LINES_TABLE)
    lowered = prepared.lower()
    if len(lowered) != len(prepared):
        lowered = "".join(ch.lower()[0] for ch in prepared)
    encoded = codecs.charmap_encode(lowered, "replace", _ENCODING_MAP)[0]
    return encoded.translate(_FOLD_TABLE), encoded.translate(_LINES_TABLE)


_PLAIN_DIGRAPHS = ((DJ, b"dj"), (LJ, b"lj"), (NJ, b"nj"), (DZ, b"dz"), (SILENT, b""))


def plain(text: str) -> str:
    """Text as lower-case ASCII words joined by single spaces, digraph letters written out.

    'Вучић', 'Vučić' and 'Vucic' all give 'vucic'; 'Ђурић', 'Đurić' and 'Djuric' give 'djuric'.
    For comparing whole texts (story fingerprints, source names), where the matcher's one-byte
    placeholders are not wanted. Punctuation and letters of other scripts separate words.
    """
    folded = fold(prepare(text))
    for placeholder, digraph in _PLAIN_DIGRAPHS:
        folded = folded.replace(placeholder, digraph)
    return " ".join(folded.decode("ascii").split())


def fold_word(word: str) -> list[bytes]:
    """The folded words of a piece of a term (``Serb-majority`` gives two)."""
    return fold(prepare(word)).split()


def canonical(word: bytes) -> bytes:
    """Placeholders written as their Latin digraphs (how a word reads in plain ASCII)."""
    for placeholder, spellings in DIGRAPHS.items():
        word = word.replace(placeholder, spellings[0])
    return word.replace(SILENT, b"")


def spellings(word: bytes) -> set[bytes]:
    """Every folded spelling of a word: each digraph as itself or its placeholder (dj also as d)."""
    plain = canonical(word)
    pieces: list[tuple[bytes, ...]] = []
    rest = plain
    while rest:
        for placeholder, (digraph, *others) in DIGRAPHS.items():
            if rest.startswith(digraph):
                pieces.append((digraph, placeholder, *others))
                rest = rest[len(digraph) :]
                break
        else:
            pieces.append((rest[:1],))
            rest = rest[1:]
    if len(pieces) > 64 or sum(len(p) > 1 for p in pieces) > 6:  # a pathological term: keep it plain
        return {plain, word}
    return {b"".join(choice) for choice in product(*pieces)}


def words(folded: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of every word in folded bytes."""
    for m in _WORD.finditer(folded):
        yield m.start(), m.end()


_WORD = re.compile(rb"[^ ]+")


def word_after(folded: bytes, position: int) -> tuple[int, int] | None:
    m = _WORD.search(folded, position)
    return (m.start(), m.end()) if m else None


def fold_all(values: Iterable[str]) -> list[bytes]:
    return [fold(prepare(v)) for v in values]
