"""A small news site on the local test server: listing pages and articles in English, Albanian
and Serbian (written for the tests, with menus, cookie banners, related lists and comments),
a feed of summaries that links to articles, and a robots.txt that keeps crawlers out of /private/.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import FIXTURES
from tests.support.httpserver import LocalServer

PAGES = FIXTURES / "pages"
HTML = "text/html; charset=utf-8"

SQ_LISTING = "/z/704"
SQ_DIALOGUE = "/a/kryenegociatoret-bruksel/32101.html"
SQ_WEATHER = "/a/bore-ne-veri/32102.html"
SQ_PRIVATE = "/private/a/raport-i-brendshem/32103.html"
SQ_EXPORTS = "/a/eksportet-rriten/32104.html?utm_source=listing&utm_medium=web"
EN_LISTING = "/eeas/press-material_en"
EN_STATEMENT = "/eeas/belgrade-pristina-dialogue-statement-spokesperson_en"
EN_FISHERIES = "/eeas/fisheries-partnership-agreement_en"
SR_LISTING = "/vesti/politika"
SR_PETKOVIC = "/vesti/politika/petkovic-brisel-4411"
SR_FESTIVAL = "/vesti/drustvo/festival-4412"
SR_FEED = "/lat/rss.xml"
SR_BUDGET = "/lat/vesti/ekonomija/budzet-4413"
SR_SPORT = "/lat/vesti/sport/trepca-4414"

ROUTES = {
    "/robots.txt": ("robots.txt", "text/plain; charset=utf-8"),
    SQ_LISTING: ("sq_listing.html", HTML),
    SQ_DIALOGUE: ("sq_article_dialogue.html", HTML),
    SQ_WEATHER: ("sq_article_weather.html", HTML),
    SQ_PRIVATE: ("sq_article_private.html", HTML),
    SQ_EXPORTS: ("sq_article_exports.html", HTML),
    EN_LISTING: ("en_listing.html", HTML),
    EN_STATEMENT: ("en_article_statement.html", HTML),
    EN_FISHERIES: ("en_article_fisheries.html", HTML),
    SR_LISTING: ("sr_listing.html", HTML),
    SR_PETKOVIC: ("sr_article_petkovic.html", HTML),
    SR_FESTIVAL: ("sr_article_festival.html", HTML),
    SR_BUDGET: ("sr_article_budget.html", HTML),
    SR_SPORT: ("sr_article_sport.html", HTML),
}

SELECTORS = {
    "sq": {"links": '.media-block a[href*="/a/"]', "date": ".date"},
    "en": {"links": ".related-grid .card .card-title a", "date": ".card-date"},
    "sr": {"links": ".news-list article h2 a"},
}


def fixture_text(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


def serve_site(server: LocalServer) -> None:
    for path, (file, content_type) in ROUTES.items():
        server.add(path, (PAGES / file).read_bytes(), content_type=content_type)
    feed = fixture_text("sr_feed_summaries.xml").replace("http://HOST", server.url(""))
    server.add(SR_FEED, feed)


def page_source(name: str, url: str, language: str, selectors: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "title": name.title(),
        "kind": "page",
        "url": url,
        "language": language,
        "origin": "international",
        "selectors": selectors,
        **extra,
    }


def site_sources(server: LocalServer) -> list[dict[str, Any]]:
    """The three listing pages as page sources."""
    return [
        page_source("lajme", server.url(SQ_LISTING), "sq", SELECTORS["sq"]),
        page_source("eeas-test", server.url(EN_LISTING), "en", SELECTORS["en"]),
        page_source("vesti", server.url(SR_LISTING), "sr", SELECTORS["sr"]),
    ]
