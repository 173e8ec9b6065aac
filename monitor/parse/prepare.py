"""Making a fetched feed document safe and bounded before feedparser reads it.

Three steps, each a pure function on bytes:

1. ``to_utf8``: one encoding. A byte-order mark, or a body that is valid UTF-8, wins over a
   declared charset that contradicts it (servers often send ``charset=ISO-8859-1`` for UTF-8
   feeds); otherwise feedparser's RFC 3023 rules decide. Everything after this step is UTF-8,
   so the byte-level scans below cannot be dodged with UTF-16 or EBCDIC.
2. ``defuse_doctype``: the DOCTYPE is rebuilt so that no entity can expand into anything large
   or read anything. feedparser strips entity declarations with line-anchored regular
   expressions that miss a DOCTYPE written on one line, and keeps long "safe" entities: a 300 KB
   feed with one 100 KB entity used 3,000 times made it build 600 MB of text. We keep only
   entities whose value is one short piece of text or one character reference; parameter
   entities, external entities (``SYSTEM``/``PUBLIC``) and entities that refer to other entities
   are dropped, so a reference to them stays unexpanded.
3. ``cap_entries``: a feed with more than ``MAX_ENTRIES`` entries keeps its first ones (feeds
   list the newest first); the rest are cut out before parsing, because feedparser holds every
   entry of a document in memory (100,000 entries: 270 MB, 14 s).
4. ``cap_attributes``: an element keeps at most ``MAX_ATTRIBUTES`` attributes. Python's SAX
   layer looks each attribute up by a linear search, so one element with 50,000 attributes
   (a 1 MB document) kept feedparser busy for 40 s, and a 10 MB one would for hours.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from feedparser.encodings import convert_to_utf8

MAX_ENTRIES = 5_000
# An entity may stand for at most this many bytes of text, and a DOCTYPE may declare at most
# MAX_ENTITIES of them: enough for `&nbsp;`-style names, too little to amplify a document.
MAX_ENTITY_VALUE_BYTES = 32
MAX_ENTITIES = 64
# Real feed elements carry a handful of attributes (a root element some twenty namespaces).
MAX_ATTRIBUTES = 100

_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32be"),
    (codecs.BOM_UTF32_LE, "utf-32le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16be"),
    (codecs.BOM_UTF16_LE, "utf-16le"),
)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A document ready for feedparser, with the headers to give it and what was changed."""

    data: bytes
    headers: dict[str, str]
    notes: tuple[str, ...] = ()


def prepare(body: bytes, headers: dict[str, str], max_entries: int = MAX_ENTRIES) -> Prepared:
    utf8 = to_utf8(body, headers)
    defused = defuse_doctype(utf8.data)
    capped = cap_entries(defused.data, max_entries)
    trimmed = cap_attributes(capped.data)
    return Prepared(trimmed.data, utf8.headers, utf8.notes + defused.notes + capped.notes + trimmed.notes)


# ---------------------------------------------------------------- 1. encoding


def to_utf8(body: bytes, headers: dict[str, str]) -> Prepared:
    """The body in UTF-8 with an XML declaration that says so, and headers that agree."""
    mime, declared = _content_type(headers.get("content-type"))
    notes: list[str] = []
    if _plain_utf8(body):
        # Nearly every feed: the bytes already are UTF-8, so only the declaration is made to say so
        # (decoding and encoding 10 MB again would cost three copies of it in memory).
        if declared and not body.isascii() and not _same_encoding("utf-8", declared):
            notes.append(f"the server declared charset {declared} but the body is utf-8; read as utf-8")
        data = _XML_DECLARATION.sub(_UTF8_DECLARATION, body, count=1) if body.startswith(b"<?xml") else body
        # application/xml with a charset: feedparser then takes the charset, not the document's word.
        return Prepared(data, {**headers, "content-type": "application/xml; charset=utf-8"}, tuple(notes))
    actual = _evident_encoding(body)
    if actual and declared and not _same_encoding(actual, declared):
        notes.append(f"the server declared charset {declared} but the body is {actual}; read as {actual}")
    chosen = actual or declared
    sniff_headers = dict(headers)
    if chosen:
        sniff_headers["content-type"] = f"{mime or 'application/xml'}; charset={chosen}"
    result: dict[str, object] = {}
    data = convert_to_utf8(sniff_headers, body, result)
    encoding = str(result.get("encoding") or "")
    if not encoding:
        # No encoding worked (feedparser then reads the bytes loosely); leave them as they came.
        return Prepared(body, headers, (*notes, "the character encoding could not be determined"))
    problem = result.get("bozo_exception")
    # A wrong media type is reported by the caller when the body is not a feed at all.
    if problem is not None and not notes and type(problem).__name__ != "NonXMLContentType":
        notes.append(str(problem))
    out_headers = {**headers, "content-type": f"{mime or 'application/xml'}; charset=utf-8"}
    return Prepared(data, out_headers, tuple(notes))


def _content_type(value: str | None) -> tuple[str, str | None]:
    mime, _, params = (value or "").partition(";")
    match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", params, re.IGNORECASE)
    return mime.strip().lower(), (match.group(1).lower() if match else None)


def _same_encoding(a: str, b: str) -> bool:
    """utf-8 = UTF8, utf-16 = utf-16le (the BOM settles the byte order)."""
    try:
        names = [codecs.lookup(e).name.removesuffix("-le").removesuffix("-be") for e in (a, b)]
    except LookupError:
        return False
    return names[0] == names[1]


_XML_DECLARATION = re.compile(rb"<\?xml[^>]*?\?>")
_UTF8_DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>"


def _plain_utf8(body: bytes, step: int = 1 << 20) -> bool:
    """Valid UTF-8 (ASCII included) without a byte-order mark or NUL bytes, checked in bounded steps."""
    if b"\x00" in body or any(body.startswith(bom) for bom, _ in _BOMS):
        return False
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(body)
    try:
        for start in range(0, len(body), step):
            decoder.decode(view[start : start + step])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _evident_encoding(body: bytes) -> str | None:
    """An encoding the bytes prove, whatever was declared: a byte-order mark, or valid UTF-8.

    Text in a single-byte charset is almost never valid UTF-8 once it has non-ASCII letters,
    so a body that decodes as UTF-8 (and has no NUL bytes, which UTF-16 without a BOM has) is UTF-8.
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    if b"\x00" in body or body.isascii():
        return None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "utf-8"


# ---------------------------------------------------------------- 2. DOCTYPE

_SPACE = b" \t\r\n"
_NAME = re.compile(rb"[A-Za-z_:][\w.:-]*")
_EXTERNAL_ID = re.compile(
    rb"""(?:PUBLIC\s+("[^"<>\[\]]*"|'[^'<>\[\]]*')(?:\s+("[^"<>\[\]]*"|'[^'<>\[\]]*'))?"""
    rb"""|SYSTEM\s+("[^"<>\[\]]*"|'[^'<>\[\]]*'))\s*$"""
)
# A safe entity value, as feedparser also accepts it: one character reference, or plain text.
_SAFE_VALUE = re.compile(rb"&#(?:[0-9]{1,7}|x[0-9a-fA-F]{1,6});|[^&%<>\"]*")


class _Malformed(Exception):
    """The prolog does not follow the XML grammar at this point."""


@dataclass(frozen=True, slots=True)
class _Rewrite:
    """Bytes ``start:end`` of the document become ``replacement``; ``dropped`` entities lost."""

    start: int
    end: int
    replacement: bytes
    dropped: int


def defuse_doctype(data: bytes) -> Prepared:
    """Rebuild the DOCTYPE (and drop stray declarations) of the prolog; the rest is untouched."""
    try:
        span = _prolog_declarations(data)
    except _Malformed:
        return _drop_broken_doctype(data)
    if span is None:
        return Prepared(data, {})
    notes: tuple[str, ...] = ()
    if span.dropped:
        notes = (f"{span.dropped} entity declaration(s) ignored: only short plain-text entities are expanded",)
    return Prepared(data[: span.start] + span.replacement + data[span.end :], {}, notes)


def _prolog_declarations(data: bytes) -> _Rewrite | None:
    """Where the prolog's declarations are and what to put there instead."""
    pos, n = 0, len(data)
    first: int | None = None
    replacement = b""
    dropped = 0
    while True:
        while pos < n and data[pos] in _SPACE:
            pos += 1
        if data.startswith(b"<?", pos):
            pos = _after(data, b"?>", pos + 2)
        elif data.startswith(b"<!--", pos):
            pos = _after(data, b"-->", pos + 4)
        elif data[pos : pos + 9].upper() == b"<!DOCTYPE":
            first = pos if first is None else first
            doctype = _doctype(data, pos + 9)
            # Only the first DOCTYPE counts; a second one is ill-formed and simply dropped.
            replacement = replacement or doctype.replacement
            dropped += doctype.dropped
            pos = doctype.end
        elif data.startswith(b"<!", pos):  # a declaration outside any DOCTYPE: never honoured
            first = pos if first is None else first
            dropped += data[pos : pos + 9].upper() == b"<!ENTITY"
            pos = _declaration_end(data, pos + 2)
        else:
            break
    if first is None:
        return None
    # Comments and processing instructions between the declarations are dropped with them.
    return _Rewrite(first, pos, replacement, dropped)


def _after(data: bytes, token: bytes, pos: int) -> int:
    end = data.find(token, pos)
    if end < 0:
        raise _Malformed
    return end + len(token)


def _declaration_end(data: bytes, pos: int) -> int:
    """The position after the ``>`` closing a markup declaration, skipping quoted literals."""
    n = len(data)
    while pos < n:
        char = data[pos : pos + 1]
        if char in (b'"', b"'"):
            pos = _after(data, char, pos + 1)
        elif char == b">":
            return pos + 1
        elif char == b"<":
            raise _Malformed
        else:
            pos += 1
    raise _Malformed


def _doctype(data: bytes, pos: int) -> _Rewrite:
    """Parse ``<!DOCTYPE name [external id] [[subset]]>`` from after the keyword."""
    n = len(data)
    head_start = pos
    while pos < n and data[pos : pos + 1] not in (b"[", b">"):
        if data[pos : pos + 1] in (b'"', b"'"):
            pos = _after(data, data[pos : pos + 1], pos + 1)
        elif data[pos : pos + 1] == b"<":
            raise _Malformed
        else:
            pos += 1
    if pos >= n:
        raise _Malformed
    head = data[head_start:pos].strip()
    entities: list[bytes] = []
    dropped = 0
    if data[pos : pos + 1] == b"[":
        pos, dropped = _internal_subset(data, pos + 1, entities)
        while pos < n and data[pos] in _SPACE:
            pos += 1
        if data[pos : pos + 1] != b">":
            raise _Malformed
    return _Rewrite(head_start - 9, pos + 1, _rebuilt_doctype(head, entities), dropped)


def _internal_subset(data: bytes, pos: int, entities: list[bytes]) -> tuple[int, int]:
    """Read the subset up to its ``]``, appending the safe entities; (end, dropped entities)."""
    dropped = 0
    n = len(data)
    while True:
        while pos < n and data[pos] in _SPACE:
            pos += 1
        if pos >= n:
            raise _Malformed
        if data[pos : pos + 1] == b"]":
            return pos + 1, dropped
        if data.startswith(b"<!--", pos):
            pos = _after(data, b"-->", pos + 4)
        elif data.startswith(b"<?", pos):
            pos = _after(data, b"?>", pos + 2)
        elif data.startswith(b"<!ENTITY", pos):
            end = _declaration_end(data, pos + 8)
            kept = _safe_entity(data[pos + 8 : end - 1])
            if kept is not None and len(entities) < MAX_ENTITIES:
                entities.append(kept)
            else:
                dropped += 1
            pos = end
        elif data.startswith(b"<!", pos):  # ELEMENT, ATTLIST (its defaults may hold references), NOTATION
            pos = _declaration_end(data, pos + 2)
        elif data[pos : pos + 1] == b"%":  # a parameter-entity reference: never followed
            pos = _after(data, b";", pos + 1)
        else:
            raise _Malformed


def _safe_entity(declaration: bytes) -> bytes | None:
    """``name "value"`` as a declaration line if it is short, plain and local; else None."""
    match = re.fullmatch(rb"\s+([A-Za-z_][\w.-]*)\s+(\"[^\"]*\"|'[^']*')\s*", declaration)
    if match is None:  # parameter entity, SYSTEM or PUBLIC, NDATA, or not well-formed
        return None
    name, value = match.group(1), match.group(2)[1:-1]
    if len(value) > MAX_ENTITY_VALUE_BYTES or not _SAFE_VALUE.fullmatch(value):
        return None
    return b"<!ENTITY " + name + b' "' + value + b'">'


def _rebuilt_doctype(head: bytes, entities: list[bytes]) -> bytes:
    # One declaration per line, as feedparser's own (line-anchored) DOCTYPE handling expects.
    name = _NAME.match(head)
    rest = head[name.end() :].strip() if name else b""
    external = b" " + rest if rest and _EXTERNAL_ID.match(rest) else b""
    doctype = b"\n<!DOCTYPE " + (name.group() if name else b"feed") + external
    if not entities:
        return doctype + b">\n"
    return doctype + b" [\n" + b"\n".join(entities) + b"\n]>\n"


def _drop_broken_doctype(data: bytes) -> Prepared:
    """A DOCTYPE we cannot read is removed up to the first element, and nothing of it is kept."""
    start = re.search(rb"<!", data)
    root = re.search(rb"<[A-Za-z_]", data[start.end() :]) if start else None
    if start is None:
        return Prepared(data, {})
    end = start.end() + root.start() if root else len(data)
    return Prepared(data[: start.start()] + data[end:], {}, ("an ill-formed DOCTYPE was removed",))


# ---------------------------------------------------------------- 3. entry cap

_ENTRY_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/]")
_ENTRY_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>")


def cap_entries(data: bytes, limit: int = MAX_ENTRIES) -> Prepared:
    """Keep the first ``limit`` entries and whatever follows the last entry (closing tags)."""
    cut: int | None = None
    for count, match in enumerate(_ENTRY_START.finditer(data)):
        if count == limit:
            cut = match.start()
            break
    if cut is None:
        return Prepared(data, {})
    last_end = None
    for match in _ENTRY_END.finditer(data, cut):
        last_end = match.end()
    tail = data[last_end:] if last_end is not None else b""
    return Prepared(data[:cut] + tail, {}, (f"more than {limit:,} entries: only the first {limit:,} were read",))


# ---------------------------------------------------------------- 4. attribute cap

# Only a long tag can hold many attributes: look closer at those alone (a linear scan).
_LONG_TAG = re.compile(rb"<[A-Za-z_][^<>]{%d,}>" % (MAX_ATTRIBUTES * 4))
_ATTRIBUTE = re.compile(rb"""\s+[^\s=<>/"']+\s*=\s*(?:"[^"]*"|'[^']*')""")


def cap_attributes(data: bytes, limit: int = MAX_ATTRIBUTES) -> Prepared:
    """Drop the attributes of an element beyond the first ``limit``."""
    trimmed = 0
    pieces: list[bytes] = []
    last = 0
    for tag in _LONG_TAG.finditer(data):
        attributes = list(_ATTRIBUTE.finditer(data, tag.start(), tag.end()))
        if len(attributes) <= limit:
            continue
        trimmed += 1
        pieces += [data[last : attributes[limit].start()], data[attributes[-1].end() : tag.end()]]
        last = tag.end()
    if not trimmed:
        return Prepared(data, {})
    pieces.append(data[last:])
    note = f"{trimmed} element(s) with more than {limit} attributes: the rest of their attributes were ignored"
    return Prepared(b"".join(pieces), {}, (note,))
