"""HTML → text: the fast lxml reading gives the text BeautifulSoup gives, on real feed markup."""

from __future__ import annotations

import re
import unicodedata
import warnings

import feedparser
from hypothesis import given
from hypothesis import strategies as st

from monitor.parse.normalize import _text_by_bs4, clean_line, html_to_text
from tests.support.corpus import corpus_files


def _markup_in_corpus() -> list[str]:
    values = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in corpus_files():
            parsed = feedparser.parse(path.read_bytes(), resolve_relative_uris=False, sanitize_html=False)
            for entry in parsed.entries:
                candidates = [entry.get("title"), entry.get("summary")]
                candidates += [c.get("value") for c in entry.get("content") or []]
                values.extend(v for v in candidates if v and "<" in v)
    return values


def test_every_piece_of_markup_in_the_corpus_gives_the_same_text_as_beautifulsoup() -> None:
    values = _markup_in_corpus()
    assert len(values) > 1000
    different = [v for v in values if html_to_text(v) != clean_line(_text_by_bs4(v), 50_000)]
    # Only broken CDATA sections inside HTML, where both readings are junk, may differ.
    assert all("<![CDATA[" in v for v in different), different[:3]
    assert len(different) <= 4


def test_scripts_styles_and_comments_go_and_the_text_after_them_stays() -> None:
    markup = (
        "<p>Chief negotiators <b>met</b> in Brussels.</p><script>alert('x')</script>"
        "<style>p{color:red}</style><!-- note --><p>Talks&nbsp;resume &amp; go on.</p>"
    )
    assert html_to_text(markup) == "Chief negotiators met in Brussels. Talks resume & go on."


def test_markup_lxml_refuses_or_reads_otherwise_is_read_by_beautifulsoup() -> None:
    assert html_to_text("a\x00b <b>c</b>") == clean_line(_text_by_bs4("a\x00b <b>c</b>"))
    assert html_to_text("<!DOCTYPE") == clean_line(_text_by_bs4("<!DOCTYPE"))
    iframe = 'safe<iframe src="http://127.0.0.1/"> <b>description</b></iframe>'
    assert html_to_text(iframe) == "safe description"


def test_cyrillic_and_albanian_text_survive_unchanged() -> None:
    assert html_to_text("<p>Дијалог <em>Београда</em> и Приштине</p>") == "Дијалог Београда и Приштине"
    assert html_to_text("<p>Marrëveshja e <i>Brukselit</i></p>") == "Marrëveshja e Brukselit"


@given(st.text())
def test_clean_line_is_the_regex_definition_of_one_clean_line(value: str) -> None:
    # clean_line is written for speed; this is what it must mean.
    expected = re.sub(
        r"\s+", " ", re.sub("[\x00-\x1f\x7f-\x9f\u2028\u2029\u0085]", " ", unicodedata.normalize("NFC", value))
    )
    expected = expected.strip()
    if len(expected) > 1_000:
        expected = expected[:999].rstrip() + "…"
    assert clean_line(value) == expected
