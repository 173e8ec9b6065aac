"""Listing pages and article pages as written by outlets: the right links, the body without
the boilerplate, the right dates — in English, Albanian and Serbian (Latin and Cyrillic)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.errors import ParseError
from monitor.parse.article import extract_article
from monitor.parse.dates import parse_date_text
from monitor.parse.page import advertised_feeds, parse_listing
from monitor.types import Selectors
from tests.support.site import PAGES, SELECTORS

BASE = "https://site.example"


def listing(file: str, base: str, **selectors: str) -> list[tuple[str, str, datetime | None]]:
    found = parse_listing((PAGES / file).read_bytes(), base, Selectors(**selectors))
    return [(link.url, link.title, link.published) for link in found.links]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_albanian_listing_gives_the_article_links_and_not_menus_sidebars_or_footers() -> None:
    links = listing("sq_listing.html", f"{BASE}/z/704", **SELECTORS["sq"])
    assert [(url.removeprefix(BASE), when) for url, _, when in links] == [
        ("/a/kryenegociatoret-bruksel/32101.html", utc(2026, 11, 19, 23)),
        ("/a/bore-ne-veri/32102.html", utc(2026, 11, 19, 23)),
        ("/private/a/raport-i-brendshem/32103.html", utc(2026, 11, 18, 23)),
        ("/a/eksportet-rriten/32104.html?utm_source=listing&utm_medium=web", utc(2026, 11, 18, 23)),
    ]
    assert [title for _, title, _ in links] == [
        "Kryenegociatorët takohen sërish në Bruksel",
        "Reshje bore në veri të vendit, rrugë të bllokuara në Rugovë",
        "Raport i brendshëm i redaksisë",
        # the image link comes first with alt text "Eksportet"; the headline is the title
        "Eksportet e Kosovës rriten për të tretin tremujor radhazi",
    ]


def test_english_listing_reads_each_cards_own_date() -> None:
    links = listing("en_listing.html", f"{BASE}/eeas/press-material_en", **SELECTORS["en"])
    assert [(title[:30], when) for _, title, when in links] == [
        ("Belgrade-Pristina Dialogue: St", utc(2026, 11, 20, 23)),
        ("Fisheries partnership agreemen", utc(2026, 11, 17, 23)),
    ]
    assert all("topic page" not in title for _, title, _ in links)  # the footer link is not an article


def test_serbian_cyrillic_listing_takes_dates_from_time_elements_without_a_date_selector() -> None:
    links = listing("sr_listing.html", f"{BASE}/vesti/politika", **SELECTORS["sr"])
    assert [(url.removeprefix(BASE), when) for url, _, when in links] == [
        ("/vesti/politika/petkovic-brisel-4411", utc(2026, 11, 19, 17, 5)),
        ("/vesti/drustvo/festival-4412", utc(2026, 11, 19, 9, 30)),
    ]
    assert [title for _, title, _ in links] == [
        "Петковић: наставак разговора у Бриселу тек после локалних избора",
        "Фестивал народне музике окупио извођаче из целог региона",
    ]


def test_title_selector_is_looked_up_within_each_entry() -> None:
    html = b"""<html><body><div class="list">
      <div class="item"><a href="/n/1"><img src="a.jpg"></a><h3>Prvi naslov</h3><span>01.11.2026</span></div>
      <div class="item"><a href="/n/2"><img src="b.jpg"></a><h3>Drugi naslov</h3><span>02.11.2026</span></div>
    </div></body></html>"""
    found = parse_listing(html, BASE, Selectors(links=".item a", title="h3", date="span"))
    assert [(link.title, link.published) for link in found.links] == [
        ("Prvi naslov", utc(2026, 10, 31, 23)),
        ("Drugi naslov", utc(2026, 11, 1, 23)),
    ]


def test_links_are_resolved_against_base_href_and_non_http_links_dropped() -> None:
    html = b"""<html><head><base href="https://cdn.site.example/news/"></head><body>
      <ul><li><a href="story-1">One</a></li><li><a href="javascript:void(0)">Menu</a></li>
      <li><a href="mailto:desk@site.example">Mail</a></li><li><a href="#top">Top</a></li>
      <li><a href="https://other.example/x#comments">Two</a></li></ul></body></html>"""
    found = parse_listing(html, BASE, Selectors(links="li a"))
    assert [link.url for link in found.links] == ["https://cdn.site.example/news/story-1", "https://other.example/x"]


def test_a_page_without_html_elements_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_listing(b"   ", BASE, Selectors(links="a"))


ARTICLES = {
    # file: (must contain, must not contain, published (UTC), language, title)
    "sq_article_dialogue.html": (
        ["raund të ri të dialogut", "Asociacionin e komunave me shumicë serbe", "pa deklaratë të përbashkët"],
        ["përdor cookies", "Ballina", "Shpërndaje", "Lajme të ngjashme", "Marrëveshja për targat hyn",
         "Humbje kohe", "heshtja e gjatë", "Abonohuni", "Të gjitha të drejtat"],
        utc(2026, 11, 20, 8, 15),
        "sq",
        "Kryenegociatorët takohen sërish në Bruksel",
    ),
    "en_article_statement.html": (
        ["EU-facilitated Dialogue on the normalisation", "Implementation Annex", "freedom of movement"],
        ["uses cookies", "Accept all cookies", "Related content", "EU relations at a glance",
         "Subscribe to our newsletter", "Legal notice", "Follow us"],
        utc(2026, 11, 21, 13, 30),
        "en",
        "Belgrade-Pristina Dialogue: Statement by the Spokesperson on the meeting of the chief negotiators",
    ),
    "sr_article_petkovic.html": (
        ["да се дијалог у Бриселу настави", "Заједница српских општина", "Из Приштине за сада"],
        ["колачиће", "Почетна", "Повезане вести", "нацрту статута", "обећања без краја", "народ на северу",
         "Контакт"],
        utc(2026, 11, 19, 17, 5),
        "sr",
        "Петковић: наставак разговора у Бриселу тек после локалних избора",
    ),
    "sr_article_budget.html": (
        ["posvećena dijalogu sa Prištinom", "amandmane na više od dvadeset članova"],
        ["kolačiće", "Povezane vesti", "Inflacija usporila"],
        utc(2026, 11, 21, 10, 20),
        "sr",
        "Vlada usvojila predlog budžeta za narednu godinu",
    ),
}  # fmt: skip


@pytest.mark.parametrize("file", sorted(ARTICLES))
def test_article_text_has_the_body_and_none_of_the_boilerplate(file: str) -> None:
    must, must_not, published, language, title = ARTICLES[file]
    article = extract_article((PAGES / file).read_bytes(), f"{BASE}/{file}")
    for phrase in must:
        assert phrase in article.text
    for phrase in must_not:
        assert phrase not in article.text, phrase
    assert article.published == published
    assert article.language == language
    assert article.title == title
    assert not article.text.startswith(title)  # the headline is the title, not repeated as text


def test_an_article_without_a_date_has_none_rather_than_the_copyright_year() -> None:
    article = extract_article((PAGES / "sq_article_exports.html").read_bytes(), f"{BASE}/a/32104.html")
    assert article.published is None
    assert "Më në fund një lajm i mirë" not in article.text  # the reader's comment
    assert "agjencia e statistikave" in article.text


def test_configured_article_selectors_win_when_they_match_and_fall_back_when_not() -> None:
    body = (PAGES / "en_article_fisheries.html").read_bytes()
    chosen = extract_article(
        body, BASE, Selectors(article_text=".node__content p:first-child", article_date=".meta .date")
    )
    assert chosen.text.startswith("The European Union and its coastal partners")
    assert "scientific cooperation" not in chosen.text
    assert (chosen.text_from, chosen.published, chosen.date_from) == ("selector", utc(2026, 11, 17, 23), "selector")

    missing = extract_article(body, BASE, Selectors(article_text=".no-such-class", article_date=".nothing"))
    assert missing.text_from == "extractor"
    assert "scientific cooperation" in missing.text


def test_an_empty_article_page_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="empty"):
        extract_article(b"", f"{BASE}/a/1")


def test_a_declared_charset_is_honoured() -> None:
    body = "<html lang='sr'><body><article><h1>Вести</h1><p>{}</p></article></body></html>".format(
        "Састанак у Бриселу је одложен за следећу недељу због избора. " * 5
    ).encode("windows-1251")
    article = extract_article(body, BASE, headers={"content-type": "text/html; charset=windows-1251"})
    assert "Састанак у Бриселу" in article.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20 nëntor 2026", utc(2026, 11, 19, 23)),
        ("20 nentorit 2026, 09:15", utc(2026, 11, 20, 8, 15)),
        ("19. новембар 2026. 18:05", utc(2026, 11, 19, 17, 5)),
        ("21. novembra 2026. u 11:20", utc(2026, 11, 21, 10, 20)),
        ("Brussels, 18.11.2026", utc(2026, 11, 17, 23)),
        ("November 21, 2026 at 3:05 pm", utc(2026, 11, 21, 14, 5)),
        ("18:05, 19 November 2026", utc(2026, 11, 19, 17, 5)),
        ("2026-11-21T14:30:00+01:00", utc(2026, 11, 21, 13, 30)),
        ("2026-07-01T10:00:00", utc(2026, 7, 1, 8)),  # no zone: Central European Summer Time
        ("Sat, 21 Nov 2026 11:20:00 +0100", utc(2026, 11, 21, 10, 20)),
        ("2 hours ago", None),
        ("31.02.2026", None),
        ("", None),
        ("1 January 2099", None),  # implausibly in the future
    ],
)
def test_dates_as_pages_write_them(text: str, expected: datetime | None) -> None:
    assert parse_date_text(text, now=utc(2026, 11, 22, 8)) == expected


@given(st.text(max_size=80))
def test_date_parsing_never_fails_on_any_text(text: str) -> None:
    when = parse_date_text(text, now=utc(2026, 11, 22, 8))
    assert when is None or when.tzinfo is not None


def test_feeds_advertised_by_a_page() -> None:
    feeds = advertised_feeds((PAGES / "en_listing.html").read_bytes(), f"{BASE}/eeas/press-material_en")
    assert [(f.url, f.title, f.how) for f in feeds] == [
        (f"{BASE}/eeas/rss_en", "News", "advertised"),
        (f"{BASE}/eeas/press-material_en.atom", "Press material (Atom)", "advertised"),
    ]
