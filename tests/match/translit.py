"""Serbian Latin → Cyrillic, for tests: the same text in both scripts must give the same decision."""

from __future__ import annotations

import re

_DIGRAPHS = {"lj": "љ", "nj": "њ", "dž": "џ", "Lj": "Љ", "Nj": "Њ", "Dž": "Џ", "LJ": "Љ", "NJ": "Њ", "DŽ": "Џ"}
_LETTERS = dict(
    zip(
        "abcčćdđefghijklmnoprsštuvzž",
        ["а", "б", "ц", "ч", "ћ", "д", "ђ", "е", "ф", "г", "х", "и", "ј", "к", "л", "м", "н", "о", "п", "р", "с", "ш"]
        + ["т", "у", "в", "з", "ж"],
        strict=True,
    )
)
_LETTERS.update({k.upper(): v.upper() for k, v in list(_LETTERS.items())})
_PATTERN = re.compile("|".join(sorted(_DIGRAPHS, key=len, reverse=True)) + "|.", re.DOTALL)


def to_cyrillic(text: str) -> str:
    """Serbian Latin text in Cyrillic; characters without a Cyrillic letter (q, w, x, y, digits) stay."""
    return _PATTERN.sub(lambda m: _DIGRAPHS.get(m.group(), _LETTERS.get(m.group(), m.group())), text)
