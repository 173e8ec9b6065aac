"""Listing pages and full-text feeds polled end to end against the local test site."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.cli import main
from tests.support.configs import feed_source, write_config
from tests.support.httpserver import LocalServer
from tests.support.site import (
    EN_FISHERIES,
    EN_STATEMENT,
    HTML,
    SELECTORS,
    SQ_DIALOGUE,
    SQ_EXPORTS,
    SQ_LISTING,
    SQ_PRIVATE,
    SQ_WEATHER,
    SR_BUDGET,
    SR_FEED,
    SR_FESTIVAL,
    SR_PETKOVIC,
    SR_SPORT,
    fixture_text,
    page_source,
    serve_site,
    site_sources,
)


def run(config: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--config", str(config), *args], out=out)
    return code, out.getvalue()


def stored(config: Path) -> dict[str, dict[str, Any]]:
    """Stored items by URL path, with whether each was matched."""
    db = sqlite3.connect(config.parent / "monitor.db")
    try:
        rows = db.execute(
            "select i.url, i.title, i.text, i.published_at, i.source, m.id is not null"
            " from items i left join matches m on m.item_id = i.id"
        ).fetchall()
    finally:
        db.close()
    return {
        urlsplit(url).path: {
            "title": title,
            "text": text,
            "published": published,
            "source": source,
            "matched": bool(matched),
        }
        for url, title, text, published, source, matched in rows
    }


def line_of(out: str, source: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(source + " "))


def fetched(server: LocalServer, path: str) -> int:
    return len([r for r in server.requests_for(path) if r.status == 200])


def test_page_sources_store_each_article_with_its_text_date_and_match(server: LocalServer, tmp_path: Path) -> None:
    serve_site(server)
    config = write_config(tmp_path, site_sources(server))
    code, out = run(config, "poll", "--once")
    assert code == 0
    items = stored(config)
    assert set(items) == {
        SQ_DIALOGUE,
        SQ_WEATHER,
        SQ_PRIVATE,
        SQ_EXPORTS.split("?")[0],  # stored under its canonical URL, tracking parameters gone
        EN_STATEMENT,
        EN_FISHERIES,
        SR_PETKOVIC,
        SR_FESTIVAL,
    }
    dialogue = items[SQ_DIALOGUE]
    assert dialogue["title"] == "Kryenegociatorët takohen sërish në Bruksel"
    assert "raund të ri të dialogut" in dialogue["text"]
    assert "Humbje kohe" not in dialogue["text"] and "përdor cookies" not in dialogue["text"]
    assert dialogue["published"].startswith("2026-11-20 08:15")
    assert items[SR_PETKOVIC]["published"].startswith("2026-11-19 17:05")
    # no date on the article page: the listing's date is used
    assert items[SQ_EXPORTS.split("?")[0]]["published"].startswith("2026-11-18 23:00")
    assert {path for path, item in items.items() if item["matched"]} == {SQ_DIALOGUE, EN_STATEMENT, SR_PETKOVIC}
    assert " ok " in line_of(out, "lajme") and " ok " in line_of(out, "vesti")


def test_an_article_disallowed_by_robots_is_not_fetched_and_is_reported(server: LocalServer, tmp_path: Path) -> None:
    serve_site(server)
    config = write_config(tmp_path, site_sources(server)[:1])
    code, out = run(config, "poll", "--once")
    assert code == 0
    assert server.requests_for(SQ_PRIVATE) == []
    assert len(server.requests_for("/robots.txt")) == 1
    line = line_of(out, "lajme")
    assert "[robots_denied]" in line and "1 of 4 articles not read" in line
    # what the listing said about it is kept, so an editor sees the headline exists
    private = stored(config)[SQ_PRIVATE]
    assert private["title"] == "Raport i brendshëm i redaksisë" and private["text"] == ""


def test_a_listing_page_disallowed_by_robots_is_a_robots_error_of_the_source(
    server: LocalServer, tmp_path: Path
) -> None:
    serve_site(server)
    server.add("/private/lajme", fixture_text("sq_listing.html"), content_type=HTML)
    source = page_source("private-list", server.url("/private/lajme"), "sq", SELECTORS["sq"])
    config = write_config(tmp_path, [source])
    code, out = run(config, "poll", "--once")
    assert code == 1  # the only source failed
    assert server.requests_for("/private/lajme") == []
    assert "[robots_denied]" in line_of(out, "private-list")
    _, listing = run(config, "sources")
    assert "FAILING since" in listing and "[robots_denied]" in listing and "disallowed by" in listing


def test_repolling_a_listing_fetches_only_the_new_article(server: LocalServer, tmp_path: Path) -> None:
    serve_site(server)
    config = write_config(tmp_path, site_sources(server)[:1])
    run(config, "poll", "--once")
    # the listing gains one article at the top (a new body, so no 304)
    new_block = """<li><div class="media-block"><div class="media-block__content">
      <span class="date">21 nëntor 2026</span>
      <a href="/a/sorenseni/32105.html"><h4>Sorenseni viziton Prishtinën</h4></a></div></div></li>"""
    listing = fixture_text("sq_listing.html").replace('<ul class="media-list">', '<ul class="media-list">' + new_block)
    server.add(SQ_LISTING, listing, content_type=HTML, last_modified=1_800_000_000.0)
    server.add(
        "/a/sorenseni/32105.html",
        "<html lang='sq'><body><article><h1>Sorenseni viziton Prishtinën</h1><p>"
        + "Përfaqësuesi i BE-së për dialogun Kosovë-Serbi takoi kryeministrin në Prishtinë. " * 4
        + "</p></article></body></html>",
        content_type=HTML,
    )
    code, out = run(config, "poll", "--once")
    assert code == 0
    assert fetched(server, SQ_LISTING) == 2
    assert fetched(server, "/a/sorenseni/32105.html") == 1
    for known in (SQ_DIALOGUE, SQ_WEATHER, SQ_EXPORTS):
        assert fetched(server, known) == 1, known
    assert stored(config)["/a/sorenseni/32105.html"]["matched"]

    # an unchanged listing answers 304 and nothing else is asked
    before = len(server.requests)
    run(config, "poll", "--once")
    assert [r.status for r in server.requests[before:]] == [200, 304]  # robots.txt, then the listing


def test_a_selector_that_stops_finding_links_is_an_error_visible_in_sources(
    server: LocalServer, tmp_path: Path
) -> None:
    serve_site(server)
    config = write_config(tmp_path, site_sources(server)[:1])
    run(config, "poll", "--once")
    redesigned = fixture_text("sq_listing.html").replace("media-block", "teaser-card")
    server.add(SQ_LISTING, redesigned, content_type=HTML, last_modified=1_800_000_000.0)
    code, out = run(config, "poll", "--once")
    assert code == 1
    line = line_of(out, "lajme")
    assert "[broken_selector]" in line
    _, listing = run(config, "sources")
    status = next(line for line in listing.splitlines() if " lajme " in line)
    assert "FAILING since" in status and "[broken_selector]" in status and "no article links found" in status
    db = sqlite3.connect(tmp_path / "monitor.db")
    try:
        (message,) = db.execute("select last_error_message from sources where name = 'lajme'").fetchone()
    finally:
        db.close()
    assert "earlier polls found some (4 items stored)" in message  # it says the selector used to work
    assert "monitor sources test lajme" in message
    _, digest = run(config, "digest", "--preview")
    footer = next(line for line in digest.splitlines() if "Lajme: failing since" in line)
    assert "no article links found" in footer  # the digest's source-health footer says it too


def test_an_article_that_failed_for_a_passing_reason_is_read_on_the_next_poll(
    server: LocalServer, tmp_path: Path
) -> None:
    serve_site(server)
    server.add(SR_FESTIVAL, "busy", status=503, content_type="text/plain")
    server.add(SR_PETKOVIC, "gone", status=404, content_type="text/plain")
    config = write_config(tmp_path, site_sources(server)[2:])
    code, out = run(config, "poll", "--once")
    assert code == 0
    line = line_of(out, "vesti")
    assert "2 of 2 articles not read" in line and "1 retried next poll" in line
    items = stored(config)
    assert SR_FESTIVAL not in items
    assert items[SR_PETKOVIC]["text"] == ""  # a 404 is for good: kept with the listing's title
    assert items[SR_PETKOVIC]["title"].startswith("Петковић")

    server.add(SR_FESTIVAL, fixture_text("sr_article_festival.html"), content_type=HTML)
    run(config, "poll", "--once")
    assert fetched(server, "/vesti/politika") == 2  # validators were not kept: read in full again
    assert "Грачаници" in stored(config)[SR_FESTIVAL]["text"]
    assert len(server.requests_for(SR_PETKOVIC)) == 1


def test_new_articles_over_the_per_poll_cap_wait_for_the_next_poll(server: LocalServer, tmp_path: Path) -> None:
    serve_site(server)
    config = write_config(tmp_path, site_sources(server)[:1], pages={"max_articles_per_poll": 2})
    _, out = run(config, "poll", "--once")
    assert "2 more new articles left for the next poll" in line_of(out, "lajme")
    assert len(stored(config)) == 2
    run(config, "poll", "--once")
    assert len(stored(config)) == 4


def test_full_text_items_are_matched_on_mentions_only_in_the_article_body(server: LocalServer, tmp_path: Path) -> None:
    serve_site(server)
    summaries = tmp_path / "summaries"
    summaries.mkdir()
    plain = write_config(summaries, [feed_source("sever", server.url(SR_FEED), "sr")])
    run(plain, "poll", "--once")
    assert not stored(plain)[SR_BUDGET]["matched"]  # the summary does not mention the dialogue
    assert server.requests_for(SR_BUDGET) == []

    full = write_config(tmp_path, [feed_source("sever", server.url(SR_FEED), "sr", full_text=True)])
    code, out = run(full, "poll", "--once")
    assert code == 0
    items = stored(full)
    assert items[SR_BUDGET]["matched"]
    assert "posvećena dijalogu sa Prištinom" in items[SR_BUDGET]["text"]
    assert "kolačiće" not in items[SR_BUDGET]["text"]
    assert items[SR_BUDGET]["title"] == "Vlada usvojila predlog budžeta za narednu godinu"
    assert not items[SR_SPORT]["matched"]
    _, matched = run(full, "items", "--matched")
    assert "Vlada usvojila predlog budžeta" in matched


def test_full_text_fetches_articles_of_new_items_only(server: LocalServer, tmp_path: Path) -> None:
    serve_site(server)
    config = write_config(tmp_path, [feed_source("sever", server.url(SR_FEED), "sr", full_text=True)])
    run(config, "poll", "--once")
    feed = fixture_text("sr_feed_summaries.xml").replace("http://HOST", server.url(""))
    extra = f"""<item><title>Novi krug razgovora</title><link>{server.url("/lat/vesti/politika/razgovori-4415")}</link>
      <guid isPermaLink="false">sever-4415</guid><pubDate>Sat, 21 Nov 2026 15:00:00 +0100</pubDate>
      <description>Kratko.</description></item>"""
    server.add(SR_FEED, feed.replace("<item>", extra + "<item>", 1), last_modified=1_800_000_000.0)
    server.add(
        "/lat/vesti/politika/razgovori-4415",
        "<html lang='sr'><body><article><h1>Novi krug razgovora</h1><p>"
        + "Glavni pregovarači sastaće se ponovo u Briselu, a dijalog Beograda i Prištine se nastavlja. " * 3
        + "</p></article></body></html>",
        content_type=HTML,
    )
    run(config, "poll", "--once")
    assert fetched(server, SR_BUDGET) == 1
    assert fetched(server, SR_SPORT) == 1
    assert fetched(server, "/lat/vesti/politika/razgovori-4415") == 1
    assert stored(config)["/lat/vesti/politika/razgovori-4415"]["matched"]


def test_a_full_text_article_that_cannot_be_read_keeps_the_feed_summary(server: LocalServer, tmp_path: Path) -> None:
    serve_site(server)
    server.add(SR_BUDGET, "down", status=500, content_type="text/plain")
    config = write_config(tmp_path, [feed_source("sever", server.url(SR_FEED), "sr", full_text=True)])
    code, out = run(config, "poll", "--once")
    assert code == 0
    assert "1 of 2 articles not read (kept their feed summary)" in line_of(out, "sever")
    assert stored(config)[SR_BUDGET]["text"].startswith("Vlada Srbije usvojila je na današnjoj sednici")


def test_two_sources_linking_the_same_article_fetch_it_once(server: LocalServer, tmp_path: Path) -> None:
    serve_site(server)
    sources = [
        feed_source("sever", server.url(SR_FEED), "sr", full_text=True),
        feed_source("sever-copy", server.url(SR_FEED), "sr", full_text=True),
    ]
    config = write_config(tmp_path, sources)
    run(config, "poll", "--once")
    assert fetched(server, SR_BUDGET) == 1
    assert len(stored(config)) == 2


def test_a_corrected_full_text_entry_is_read_again_and_keeps_the_article_text(
    server: LocalServer, tmp_path: Path
) -> None:
    serve_site(server)
    config = write_config(tmp_path, [feed_source("sever", server.url(SR_FEED), "sr", full_text=True)])
    run(config, "poll", "--once")
    feed = fixture_text("sr_feed_summaries.xml").replace("http://HOST", server.url(""))
    corrected = feed.replace("koji sada ide u skupštinu.", "koji sada ide u skupštinu na usvajanje.")
    server.add(SR_FEED, corrected, last_modified=1_800_000_000.0)
    body = fixture_text("sr_article_budget.html").replace("dvadeset članova", "trideset članova")
    server.add(SR_BUDGET, body, content_type=HTML)
    _, out = run(config, "poll", "--once")
    assert "1 updated" in out
    assert fetched(server, SR_BUDGET) == 2  # the corrected entry's article is read again
    assert fetched(server, SR_SPORT) == 1  # the unchanged one's is not
    text = stored(config)[SR_BUDGET]["text"]
    assert "amandmane na više od trideset članova" in text  # the article's new text, not the summary

    run(config, "poll", "--once")  # the feed answers 304 now; nothing is read again
    assert fetched(server, SR_BUDGET) == 2
