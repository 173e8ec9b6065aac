"""XML attacks: entity-expansion bombs never expand, external entities never read local files.

feedparser reads a feed with expat (through xml.sax) and, when that fails, with its loose
sgmllib-based parser; both paths are exercised here (the attacks below are ill-formed once
defused, so most end in the loose parser). The other parsers of the code base, lxml's XML
parser (the fast path for plain feeds) and its HTML parser (markup to text), get the raw
attacks too. Each attack also runs once through the whole pipeline, served by the local server.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.parse.fast import read_plain_feed
from monitor.parse.feed import parse_feed
from monitor.parse.normalize import html_to_text
from monitor.parse.prepare import MAX_ENTITY_VALUE_BYTES, defuse_doctype
from monitor.types import ParsedFeed
from tests.support.configs import feed_source, write_config
from tests.support.httpserver import LocalServer
from tests.test_poll import run, stored_titles

SECRET = "S3CRET-7f1c-never-in-a-feed"
HEADERS = {"content-type": "application/rss+xml"}


def lol_entities(separator: str = "") -> str:
    """The classic billion laughs: ten levels of ten references, 10^9 'lol's."""
    levels = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    ]
    return separator.join(levels)


def feed(doctype: str, title: str, prolog: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    return (
        f'{prolog}{doctype}<rss version="2.0"><channel><title>Channel</title><link>https://bomb.example/</link>'
        f"<item><title>{title}</title><link>https://bomb.example/a</link><description>{title}</description></item>"
        "<item><title>Second item survives</title><link>https://bomb.example/b</link></item>"
        "</channel></rss>"
    )


def bombs() -> dict[str, bytes]:
    big = "A" * 100_000
    cases = {
        # feedparser strips these when each declaration is on its own line…
        "billion-laughs-lines": feed(f"\n<!DOCTYPE rss [\n{lol_entities(chr(10))}\n]>\n", "&lol9;"),
        # …but not when the DOCTYPE is on one line: then expat expanded until its own limit.
        "billion-laughs-one-line": feed(f"<!DOCTYPE rss [{lol_entities()}]>", "&lol9;"),
        # A "safe" entity (plain text) that is long, used thousands of times: 1.4 GB before.
        "quadratic-blowup": feed(f'\n<!DOCTYPE rss [\n<!ENTITY a "{big}">\n]>\n', "&a;" * 3000),
        "entity-in-attribute-default": feed(
            f'<!DOCTYPE rss [{lol_entities()}<!ATTLIST rss x CDATA "&lol9;">]>', "attribute"
        ),
        "parameter-entities": feed(
            '<!DOCTYPE rss [<!ENTITY % a "<!ENTITY b \'bbbbbbbbbb\'>"> %a; <!ENTITY % c "%a;%a;">]>', "&b;"
        ),
    }
    encoded = {name: text.encode() for name, text in cases.items()}
    # The same one-line bomb in UTF-16: a byte-level filter that does not decode first misses it.
    encoded["billion-laughs-utf16"] = cases["billion-laughs-one-line"].replace("utf-8", "utf-16").encode("utf-16")
    return encoded


def xxe_attacks(secret_file: Path) -> dict[str, bytes]:
    url = secret_file.as_uri()
    cases = {
        "external-entity": feed(f'<!DOCTYPE rss [<!ENTITY x SYSTEM "{url}">]>', "&x;"),
        "external-entity-lines": feed(f'\n<!DOCTYPE rss [\n<!ENTITY x SYSTEM "{url}">\n]>\n', "&x;"),
        "external-entity-relative": feed(f'<!DOCTYPE rss [<!ENTITY x SYSTEM "{secret_file.name}">]>', "&x;"),
        "public-entity": feed(f'<!DOCTYPE rss [<!ENTITY x PUBLIC "-//X//Y" "{url}">]>', "&x;"),
        "parameter-entity": feed(f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{url}"> %p;]>', "param"),
        "external-dtd": feed(f'<!DOCTYPE rss SYSTEM "{url}">', "dtd"),
        "xinclude": feed("", f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{url}" parse="text"/>'),
    }
    return {name: text.encode() for name, text in cases.items()}


def parse_measured(body: bytes) -> tuple[ParsedFeed, int]:
    tracemalloc.start()
    try:
        parsed = parse_feed(body, HEADERS, "https://bomb.example/feed")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return parsed, peak


@pytest.mark.parametrize("name", list(bombs()))
def test_entity_bombs_never_expand(name: str) -> None:
    body = bombs()[name]
    parsed, peak = parse_measured(body)
    everything = repr(parsed)
    assert "lollol" not in everything
    assert "AAAAAAAAAA" not in everything
    assert "bbbbbbbbbbbbbbbbbbbb" not in everything
    # The document and its parse fit in a few megabytes (the quadratic case took 1.4 GB before).
    assert peak < 20 * 2**20, f"{name}: parsing peaked at {peak / 2**20:.0f} MB"
    # The rest of the feed is kept.
    assert "Second item survives" in [e.title for e in parsed.entries]
    assert parsed.warning and "entity declaration(s) ignored" in parsed.warning


@pytest.mark.parametrize("name", list(xxe_attacks(Path("/x"))))
def test_external_entities_never_read_local_files(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET, encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # so that a relative SYSTEM id would find the file too
    parsed, _ = parse_measured(xxe_attacks(secret_file)[name])
    assert SECRET not in repr(parsed)
    assert "Second item survives" in [e.title for e in parsed.entries]


def test_short_plain_entities_still_work() -> None:
    """What feeds really declare (a name for a character or a word) keeps working."""
    doctype = '\n<!DOCTYPE rss [\n<!ENTITY nbsp "&#160;">\n<!ENTITY org "Radio KIM">\n]>\n'
    parsed, _ = parse_measured(feed(doctype, "News from&nbsp;&org;").encode())
    assert parsed.entries[0].title == "News from Radio KIM"
    assert parsed.warning is None or "ignored" not in parsed.warning


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE rss [<!ENTITY a "' + "x" * (MAX_ENTITY_VALUE_BYTES + 1) + '">]>',
        '<!DOCTYPE rss [<!ENTITY a "&b;">]>',
        '<!DOCTYPE rss [<!ENTITY a SYSTEM "http://127.0.0.1:9/x">]>',
        '<!DOCTYPE rss [<!ENTITY a "<b>bold</b>">]>',
        '<!DOCTYPE rss [<!ENTITY % a "x">]>',
    ],
    ids=["too-long", "nested", "external", "markup", "parameter"],
)
def test_unsafe_entity_declarations_are_removed_from_the_doctype(doctype: str) -> None:
    defused = defuse_doctype(feed(doctype, "t").encode())
    assert b"<!ENTITY" not in defused.data
    assert b"<!DOCTYPE rss>" in defused.data
    assert defused.notes


def test_an_unterminated_doctype_is_removed() -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "x">'
    body += b'<rss version="2.0"><channel><title>T</title></channel></rss>'
    defused = defuse_doctype(body)
    assert defused.data.startswith(b'<?xml version="1.0"?><rss version="2.0">')


def test_bombs_and_xxe_through_the_whole_pipeline(server: LocalServer, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET, encoding="utf-8")
    sources = []
    for name, body in {**bombs(), **xxe_attacks(secret_file)}.items():
        sources.append(feed_source(name, server.add(f"/{name}.xml", body)))
    config = write_config(tmp_path, sources)
    code, out = run("--config", str(config), "poll", "--once")
    assert code == 0
    assert f"{len(sources)} sources polled, 0 failed" in out
    database = (tmp_path / "monitor.db").read_bytes()
    assert SECRET.encode() not in database
    assert b"lollollol" not in database
    assert "Second item survives" in stored_titles(config)


# ---------------------------------------------------------------- the other XML/HTML parsers: lxml


def padded(document: bytes) -> bytes:
    """The DOCTYPE pushed past the first 2 KB, where a quick look for it would not see it."""
    return document.replace(b"?>", b"?><!--" + b" " * 4096 + b"-->", 1)


@pytest.mark.parametrize("name", [*bombs(), *xxe_attacks(Path("/x"))])
def test_the_lxml_fast_path_never_expands_or_reads_raw_attacks(name: str, tmp_path: Path) -> None:
    """``fast.read_plain_feed`` only ever sees defused documents; on the raw attacks it is safe too."""
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET, encoding="utf-8")
    body = {**bombs(), **xxe_attacks(secret_file)}[name]
    for document in (body, padded(body)):
        tracemalloc.start()
        try:
            plain = read_plain_feed(document, "https://bomb.example/feed")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        everything = repr(plain)
        assert SECRET not in everything
        assert "lollollol" not in everything and "AAAAAAAAAA" not in everything
        assert peak < 20 * 2**20


@pytest.mark.parametrize(
    "markup",
    [
        '<!DOCTYPE html [<!ENTITY x SYSTEM "{url}">]><p>a &x; b</p>',
        "<!DOCTYPE html [" + lol_entities() + "]><p>&lol9;</p>",
        '<p><iframe src="{url}"></iframe><object data="{url}"></object><img src="{url}">text</p>',
        '<svg><use href="{url}#x"/></svg><p>text</p>',
    ],
    ids=["entity", "laughs", "embeds", "svg"],
)
def test_html_to_text_never_expands_or_reads(markup: str, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET, encoding="utf-8")
    text = html_to_text(markup.replace("{url}", secret_file.as_uri()))
    assert SECRET not in text
    assert "lollollol" not in text


def test_a_bomb_declared_as_utf7_is_not_decoded_into_markup() -> None:
    """UTF-7 can hide '<' as '+ADw-': such a document is read as the ASCII it is, never expanded."""
    document = feed(f"<!DOCTYPE rss [{lol_entities()}]>", "&lol9;").replace("utf-8", "utf-7")
    for headers in ({"content-type": "application/xml; charset=utf-7"}, {"content-type": "application/xml"}):
        try:
            parsed = parse_feed(document.encode("utf-7"), headers, "https://bomb.example/feed")
        except ParseError:
            continue
        assert "lollol" not in repr(parsed)
