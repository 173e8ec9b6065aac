"""Hostile feed content: each oddity is bounded, normalised or rejected, the rest of the feed kept.

Parsing is checked directly on the bytes, then the whole lot once more through a real poll
(local HTTP server, SQLite, the CLI) to show what an editor ends up seeing.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.parse.feed import MAX_ENTRIES, parse_feed
from monitor.parse.normalize import MAX_TEXT_CHARS, MAX_TITLE_CHARS
from tests.support import hostile
from tests.support.configs import feed_source, write_config
from tests.support.httpserver import LocalServer
from tests.test_poll import run

HEADERS = {"content-type": "application/rss+xml; charset=utf-8"}
BASE = "https://hostile.example/feed.xml"


def parse(items: str, headers: dict[str, str] = HEADERS, **kwargs: str) -> list:  # type: ignore[type-arg]
    return list(parse_feed(hostile.rss(items, **kwargs).encode(), headers, BASE).entries)


def test_a_one_megabyte_title_and_text_are_bounded() -> None:
    huge = "Dijalog " * 131_072  # 1 MB
    entries = parse(hostile.rss_item(1, title=huge, description=huge) + hostile.rss_item(2))
    assert len(entries[0].title) == MAX_TITLE_CHARS
    assert entries[0].title.endswith("…")
    assert len(entries[0].text) <= MAX_TEXT_CHARS
    assert entries[1].title == "Story 2"


def test_a_hundred_thousand_items_keep_the_first_ones_within_bounded_time() -> None:
    items = "".join(f"<item><title>T{n}</title><link>https://h.example/{n}</link></item>" for n in range(100_000))
    body = hostile.rss(items).encode()
    started = time.monotonic()
    parsed = parse_feed(body, HEADERS, BASE)
    assert len(parsed.entries) == MAX_ENTRIES
    assert parsed.entries[0].title == "T0"
    assert parsed.entries[-1].title == f"T{MAX_ENTRIES - 1}"
    assert parsed.warning and f"more than {MAX_ENTRIES:,} entries" in parsed.warning
    assert parsed.title == "Hostile"  # what follows the entries (the closing tags) is kept
    # Not a speed target, a hang detector: feedparser alone took 14 s on this before the cap.
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "items",
    [
        # 50,000 attributes on one element: Python's SAX layer is quadratic in them (40 s before).
        hostile.rss_item(1).replace("<item>", "<item " + " ".join(f'a{i}="v"' for i in range(50_000)) + ">"),
        # 100,000 nested elements inside an entry.
        hostile.rss_item(1).replace("</item>", "<x>" * 100_000 + "</x>" * 100_000 + "</item>"),
        # 200,000 nested tags of escaped markup in a description.
        hostile.rss_item(1, description="&lt;div&gt;" * 200_000 + "text"),
    ],
    ids=["many-attributes", "deep-elements", "deep-markup"],
)
def test_documents_built_to_burn_cpu_are_read_in_bounded_time(items: str) -> None:
    started = time.monotonic()
    entries = parse(items + hostile.rss_item(2))
    assert [e.title for e in entries] == ["Story 1", "Story 2"]
    assert time.monotonic() - started < 10  # a hang detector, not a speed target


def test_future_and_missing_dates() -> None:
    now = datetime.now(UTC)
    future = format_datetime(now + timedelta(days=30))
    recent = format_datetime(now - timedelta(hours=2))
    entries = parse(
        hostile.rss_item(1, pubDate=future)
        + hostile.rss_item(2, pubDate=recent)
        + hostile.rss_item(3)
        + hostile.rss_item(4, pubDate="not a date at all")
        + hostile.rss_item(5, pubDate="Mon, 31 Feb 2026 25:61:00 +0000")
    )
    assert [e.title for e in entries] == [f"Story {n}" for n in range(1, 6)]
    assert entries[0].published is None  # a month ahead: the server's clock, not news
    assert entries[1].published is not None and abs(entries[1].published - (now - timedelta(hours=2))) < timedelta(
        seconds=2
    )
    assert entries[2].published is None
    assert entries[3].published is None
    assert entries[4].published is None


def test_line_breaks_and_header_lines_in_titles_are_flattened() -> None:
    title = "Sastanak u Briselu&#13;&#10;Bcc: victim@example.org&#13;&#10;&#13;&#10;<b>body</b>\u2028next\tx"
    entries = parse(hostile.rss_item(1, title=title, author="Ana\r\nX-Injected: yes"))
    assert entries[0].title == "Sastanak u Briselu Bcc: victim@example.org body next x"
    assert "\n" not in entries[0].title and "\r" not in entries[0].title
    assert entries[0].author is not None and "\n" not in entries[0].author


def test_scripts_are_removed_and_script_links_refused() -> None:
    entries = parse(
        hostile.rss_item(
            1,
            title="Vučić &lt;script&gt;alert(1)&lt;/script&gt;in Brussels",
            description="&lt;p&gt;Text&lt;script&gt;steal()&lt;/script&gt;"
            "&lt;style&gt;p{}&lt;/style&gt; kept&lt;/p&gt;",
            link="javascript:alert(document.cookie)",
        )
        + hostile.rss_item(2, link=" java&#10;script:alert(1)")
        + hostile.rss_item(3, link="data:text/html;base64,PHNjcmlwdD4=")
        + hostile.rss_item(4, link="/news/relative")
    )
    assert entries[0].title == "Vučić in Brussels"
    assert entries[0].text == "Text kept"
    assert entries[0].link is None
    assert entries[1].link is None
    assert entries[2].link is None
    assert entries[3].link == "https://hostile.example/news/relative"


CYRILLIC_TITLE = "Вучић: дијалог са Приштином"


@pytest.mark.parametrize(
    ("declared", "encoding", "prolog"),
    [
        ("iso-8859-1", "utf-8", '<?xml version="1.0" encoding="iso-8859-1"?>\n'),  # says Latin-1, is UTF-8
        ("utf-8", "windows-1251", '<?xml version="1.0" encoding="windows-1251"?>\n'),  # header wrong, XML right
        ("x-no-such-charset", "utf-8", '<?xml version="1.0"?>\n'),  # unknown name
        (None, "utf-8", ""),  # text/xml without charset is us-ascii by the RFC
        ("iso-8859-1", "utf-16", '<?xml version="1.0" encoding="utf-16"?>\n'),  # a BOM settles it
    ],
)
def test_a_wrong_declared_charset_is_handled(declared: str | None, encoding: str, prolog: str) -> None:
    document = hostile.rss(hostile.rss_item(1, title=CYRILLIC_TITLE), head=prolog)
    content_type = "text/xml" + (f"; charset={declared}" if declared else "")
    parsed = parse_feed(document.encode(encoding), {"content-type": content_type}, BASE)
    assert parsed.entries[0].title == CYRILLIC_TITLE


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"", "application/rss+xml", "empty body"),
        (b"  \r\n ", "application/rss+xml", "empty body"),
        (b"<!DOCTYPE html><html><body>Portal</body></html>", "text/html", "HTML page (text/html)"),
        (b"<html><head><title>Login</title></head></html>", "application/rss+xml", "HTML page"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", "a PNG image"),
        (bytes(range(256)) * 4, "application/octet-stream", "binary data (application/octet-stream)"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', "application/json", "JSON"),
        (b"just some words, no markup", "text/plain", "no feed found"),
    ],
    ids=["empty", "blank", "html", "html-as-rss", "png", "binary", "json", "text"],
)
def test_answers_that_are_not_feeds_are_reported_as_such(body: bytes, content_type: str, expected: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(body, {"content-type": content_type}, BASE)
    assert expected in info.value.message


def test_hostile_feeds_through_a_real_poll(server: LocalServer, tmp_path: Path) -> None:
    """One poll over every hostile feed: each source stores what can be kept, the digest escapes."""
    megabyte_title = "Kosovo " * 150_000
    feeds = {
        "huge-title": hostile.rss_item(1, title=megabyte_title) + hostile.rss_item(2),
        "many-items": "".join(
            f"<item><title>Bulk {n}</title><link>https://bulk.example/{n}</link></item>" for n in range(100_000)
        ),
        # Three stories under one guid (a CMS bug), one story twice: three items.
        "dup-guids": hostile.rss_item(11, guid="g")
        + hostile.rss_item(12, guid="g")
        + hostile.rss_item(13, guid="g")
        + hostile.rss_item(13, guid="g"),
        "crlf": hostile.rss_item(21, title="Line one&#13;&#10;Subject: injected"),
        "script": hostile.rss_item(
            31,
            title="Dialogue between Kosovo and Serbia &amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;",
            link="javascript:alert(1)",
        ),
    }
    sources = [feed_source(name, server.add(f"/{name}.xml", hostile.rss(items))) for name, items in feeds.items()]
    sources.append(feed_source("html", server.add("/html", b"<html><body>hi</body></html>", content_type="text/html")))
    config = write_config(tmp_path, sources)
    code, out = run("--config", str(config), "poll", "--once")
    assert code == 0, out
    db = sqlite3.connect(tmp_path / "monitor.db")
    try:
        per_source = dict(db.execute("select source, count(*) from items group by source").fetchall())
        titles = [r[0] for r in db.execute("select title from items")]
        status = dict(db.execute("select name, last_status from sources").fetchall())
        message = db.execute("select last_error_message from sources where name = 'html'").fetchone()[0]
        script_url = db.execute("select url from items where source = 'script'").fetchone()[0]
    finally:
        db.close()
    assert per_source == {"huge-title": 2, "many-items": MAX_ENTRIES, "dup-guids": 3, "crlf": 1, "script": 1}
    assert max(len(t) for t in titles) <= MAX_TITLE_CHARS
    assert all("\n" not in t and "\r" not in t for t in titles)
    assert script_url is None
    assert status["html"] == "error" and "HTML page" in message
    # The title keeps the text '<script>' (it was escaped twice in the feed): the digest escapes it.
    code, _ = run("--config", str(config), "digest", "--preview", "--out", str(tmp_path / "d.html"))
    html = (tmp_path / "d.html").read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert 'href="javascript:' not in html
