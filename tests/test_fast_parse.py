"""The lxml fast path gives exactly feedparser's entries, or leaves the document to feedparser."""

from __future__ import annotations

import io
import sqlite3
import warnings
from pathlib import Path

import pytest

from bench.farm import FarmSpec, build_farm
from monitor.cli import main
from monitor.errors import ParseError
from monitor.parse.fast import read_plain_feed
from monitor.parse.feed import parse_feed
from monitor.parse.prepare import prepare
from monitor.types import ParsedFeed
from tests.support.configs import feed_source, write_config
from tests.support.corpus import corpus_files
from tests.support.httpserver import LocalServer

HEADERS = {"content-type": "application/xml"}
BASE = "http://base.example/feed/"


def _both(body: bytes) -> tuple[ParsedFeed | str, ParsedFeed | str, bool]:
    """(feedparser's reading, the default reading, whether the fast path took the document)."""
    readings: list[ParsedFeed | str] = []
    for fast in (False, True):
        try:
            readings.append(parse_feed(body, HEADERS, BASE, fast=fast))
        except ParseError as exc:
            readings.append(f"ParseError: {exc}")
    prepared = prepare(body, dict(HEADERS))
    taken = not prepared.notes and read_plain_feed(prepared.data, BASE) is not None
    return readings[0], readings[1], taken


def test_on_every_corpus_file_the_fast_path_takes_it_gives_feedparsers_entries() -> None:
    taken = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in corpus_files():
            slow, fast, was_taken = _both(path.read_bytes())
            if was_taken:
                taken += 1
                assert fast == slow, path
    # The corpus is mostly feedparser's edge cases; a few hundred of its files are plain feeds.
    assert taken >= 350


def test_every_feed_of_a_generated_farm_takes_the_fast_path_with_the_same_entries(tmp_path: Path) -> None:
    farm = build_farm(FarmSpec(feeds=30, items=10), tmp_path)
    for feed in farm.feeds:
        slow, fast, taken = _both((farm.root / "cycle1" / str(feed["path"])).read_bytes())
        assert taken, feed["path"]
        assert fast == slow


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x "y">]><rss version="2.0"><channel><item>'
        b"<title>&x;</title></item></channel></rss>",
        b'<rss version="2.0" xml:base="http://other.example/"><channel><item><link>a</link></item></channel></rss>',
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">'
        b"<item><title>t</title></item></rdf:RDF>",
        b'<rss version="0.91"><channel><item><title>t</title></item></channel></rss>',
        b'<rss version="2.0"><channel><item><title>t</title><media:title xmlns:media="http://search.yahoo.com/mrss/">'
        b"m</media:title></item></channel></rss>",
        b'<rss version="2.0"><channel><item><title>one</title><title>two</title></item></channel></rss>',
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>tag:a</id><content type="xhtml">'
        b'<div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div></content>'
        b'<link href="http://a.example/"/></entry></feed>',
        b'<rss version="2.0"><channel><item><title>not closed</item></channel></rss>',
    ],
    ids=["doctype", "xml-base", "rdf", "rss-0.91", "unknown-element", "twice", "xhtml", "ill-formed"],
)
def test_unusual_documents_are_left_to_feedparser(document: bytes) -> None:
    assert read_plain_feed(document, BASE) is None
    slow, fast, _ = _both(document)
    assert fast == slow


def test_a_plain_feed_reads_as_feedparser_reads_it() -> None:
    document = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Wire</title><ttl>15</ttl>'
        "<item><title>Дијалог &amp;lt;b&amp;gt; Београда</title><guid>https://wire.example/a/1</guid>"
        "<pubDate>Sun, 01 Nov 2026 05:14:00 +0100</pubDate><author>desk@wire.example (Desk)</author>"
        "<dc:creator>Ana</dc:creator><description><![CDATA[<p>Talks in <b>Brussels</b></p>]]></description>"
        "</item></channel></rss>"
    ).encode()
    plain = read_plain_feed(document, BASE)
    assert plain is not None and len(plain.entries) == 1
    slow, fast, _ = _both(document)
    assert fast == slow
    assert isinstance(fast, ParsedFeed)
    entry = fast.entries[0]
    assert (entry.link, entry.author, entry.text) == ("https://wire.example/a/1", "Ana", "Talks in Brussels")
    assert fast.ttl_minutes == 15


def test_a_poll_stores_the_same_items_with_and_without_the_fast_path(server: LocalServer, tmp_path: Path) -> None:
    # No cross-posts: which copy of a cross-posted article is stored first depends on timing.
    farm = build_farm(FarmSpec(feeds=8, items=6, relevant_share=0.3, crosspost_share=0), tmp_path / "farm")
    sources = [
        feed_source(
            str(f["name"]), server.add("/" + str(f["path"]), (farm.root / "cycle1" / str(f["path"])).read_bytes())
        )
        for f in farm.feeds
    ]
    stored = []
    for fast in (True, False):
        directory = tmp_path / ("fast" if fast else "feedparser")
        directory.mkdir()
        config = write_config(directory, sources, polling={"interval_minutes": 30, "fast_parser": fast})
        assert main(["--config", str(config), "poll", "--once"], out=io.StringIO()) == 0
        db = sqlite3.connect(directory / "monitor.db")
        try:
            stored.append(sorted(db.execute("SELECT key, url, guid, title, text, published_at, author FROM items")))
        finally:
            db.close()
    assert len(stored[0]) == len(farm.truth(1))
    assert stored[0] == stored[1]
