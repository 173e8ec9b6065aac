"""Page furniture: the lines of a feed item or page that are not the article.

Outlets append lists of their other headlines ("Related:", "Lexo edhe:", "Pročitajte još:"), tag
lines and TV listings to their items. Those name the dialogue on pages that are about something
else (an election count followed by "Related: Sørensen to host the chief negotiators"), so the
matcher reads an item without them. Labels come from the profile (``page_furniture``) and are
compared folded, like terms: case, diacritics and script do not matter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from monitor.match.fold import DJ, DZ, LJ, NJ, fold, prepare

# A line with this many clock times ("19:30 News; 20:15 Series; 21:00 Debate") is a listing.
SCHEDULE_TIMES = 3
# An unbulleted line under a label is one of the listed headlines when it is this short and does
# not end a sentence; a paragraph of the article ends the block.
HEADLINE_CHARS = 160

# Clock times as listings write them (19:30). Only lines with that many colons are searched: a
# regular expression over every paragraph cost more than the rest of the matcher on short items.
_CLOCK = re.compile(r"(?<![0-9])[0-9]{1,2}:[0-9]{2}(?![0-9])")
_BULLETS = "-–—•*·►»|→"  # noqa: RUF001
_AFTER_LABEL = ":/|"
_SENTENCE_END = (".", "!", "…")


def label_pattern(labels: Iterable[str]) -> re.Pattern[bytes] | None:
    """The folded labels as one pattern anchored at a line's first word (None: no labels)."""
    forms = {b" ".join(fold(prepare(label)).split()) for label in labels} - {b""}
    # "takođe" folds to one letter for đ; an outlet writing "takodje" has two.
    forms |= {_ascii_digraphs(form) for form in forms}
    folded = sorted(forms, key=len, reverse=True)
    if not folded:
        return None
    words = b"|".join(re.escape(label).replace(rb"\ ", rb" +") for label in folded)
    return re.compile(rb" *(?:" + words + rb")(?![a-z0-9\x01-\x05])")


def line_label_pattern(labels: re.Pattern[bytes] | None) -> re.Pattern[bytes] | None:
    """``labels`` at the start of any line after the first, searched for in one C-speed scan of
    the folded text with its line breaks kept (``fold.fold_lines``): see ``strip_furniture``."""
    return None if labels is None else re.compile(b"\n" + labels.pattern)


def _ascii_digraphs(form: bytes) -> bytes:
    for letter, written in ((DJ, b"dj"), (LJ, b"lj"), (NJ, b"nj"), (DZ, b"dz")):
        form = form.replace(letter, written)
    return form


def strip_furniture(
    body: str,
    folded: bytes,
    labels: re.Pattern[bytes] | None,
    lines: tuple[bytes, re.Pattern[bytes] | None] | None = None,
) -> tuple[str, bytes]:
    """``body`` and its folded bytes without furniture lines (both cut at the same offsets).

    ``lines``: the folded text with its line breaks kept and ``line_label_pattern(labels)``. With
    them, an item with no label at the start of a line and too few colons for a listing (most
    items) is known to keep every line without reading it line by line.
    """
    if "\n" not in body:
        return body, folded
    if lines is not None and body.count(":") < SCHEDULE_TIMES:
        kept_lines, line_labels = lines
        if line_labels is None or line_labels.search(kept_lines) is None:
            return body, folded
    size = len(body)
    start = body.index("\n") + 1  # the headline is never furniture
    keep: list[tuple[int, int]] = [(0, start)]
    in_block = False
    while start < size:
        end = body.find("\n", start)
        end = size if end < 0 else end + 1
        line = body[start:end].strip()
        if in_block and line and _listed(line):
            pass  # one more listed headline
        elif line and _labelled(body, folded, start, end, labels):
            in_block = True
        elif line and _schedule(line):
            in_block = False  # a listing line stands alone
        else:
            in_block = False
            keep.append((start, end))
        start = end
    if sum(b - a for a, b in keep) == size:
        return body, folded
    return "".join(body[a:b] for a, b in keep), b"".join(folded[a:b] for a, b in keep)


def _labelled(body: str, folded: bytes, start: int, end: int, labels: re.Pattern[bytes] | None) -> bool:
    """The line starts with a label followed by ':', '/', '|' or nothing (a heading)."""
    if labels is None:
        return False
    first = start
    while first < end and body[first] in _BULLETS + " \t":
        first += 1
    m = labels.match(folded, first, end)
    if m is None:
        return False
    rest = body[m.end() : end].strip()
    return not rest or rest[0] in _AFTER_LABEL


def _listed(line: str) -> bool:
    return line[0] in _BULLETS or (len(line) <= HEADLINE_CHARS and not line.endswith(_SENTENCE_END))


def _schedule(line: str) -> bool:
    return line.count(":") >= SCHEDULE_TIMES and len(_CLOCK.findall(line)) >= SCHEDULE_TIMES
