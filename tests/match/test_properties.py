"""Properties of the matcher that must hold for any text (Hypothesis)."""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.match import Matcher
from monitor.match.fold import fold, fold_lines, prepare
from tests.match.translit import to_cyrillic

# Serbian Latin words, some of them terms of the profile, some not, joined into sentences.
_WORDS = st.sampled_from(
    [
        "Vučić",
        "Kurti",
        "Petković",
        "Bislimi",
        "Sorensen",
        "Lajčak",
        "dijalog",
        "dijaloga",
        "dijalogu",
        "Priština",
        "Prištine",
        "Beograd",
        "Beogradu",
        "Srbija",
        "Srbije",
        "Kosovo",
        "Kosova",
        "Brisel",
        "Briselu",
        "sastanak",
        "pregovori",
        "Zajednica",
        "srpskih",
        "opština",
        "nestala",
        "lica",
        "tablice",
        "struja",
        "energetika",
        "studenti",
        "opozicija",
        "Jermenija",
        "Azerbejdžan",
        "je",
        "u",
        "i",
        "sa",
        "da",
        "se",
        "rekao",
        "utakmica",
        "grad",
        "selo",
        "danas",
        "juče",
        "posle",
        "zbog",
        "Đurić",
        "džamija",
        "ljubav",
        "njiva",
    ]
)
_SENTENCES = st.lists(_WORDS, min_size=1, max_size=25).map(" ".join)
_TEXT = st.lists(_SENTENCES, min_size=1, max_size=4).map(". ".join)
_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _decision(matcher: Matcher, title: str, text: str) -> tuple[object, ...]:
    r = matcher.match(title, text, "sr")
    return (r.relevant, r.score, r.rule, r.topics, r.actors, r.meeting_level)


@_SETTINGS
@given(title=_SENTENCES, text=_TEXT)
def test_cyrillic_and_latin_script_give_the_same_decision(matcher: Matcher, title: str, text: str) -> None:
    assert _decision(matcher, title, text) == _decision(matcher, to_cyrillic(title), to_cyrillic(text))


@_SETTINGS
@given(title=_SENTENCES, text=_TEXT)
def test_case_does_not_change_the_decision(matcher: Matcher, title: str, text: str) -> None:
    expected = _decision(matcher, title, text)
    assert _decision(matcher, title.upper(), text.upper()) == expected
    assert _decision(matcher, title.lower(), text.lower()) == expected


def _strip_diacritics(text: str) -> str:
    text = text.replace("đ", "dj").replace("Đ", "Dj")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


@_SETTINGS
@given(title=_SENTENCES, text=_TEXT)
def test_diacritics_do_not_change_the_decision(matcher: Matcher, title: str, text: str) -> None:
    plain = _decision(matcher, _strip_diacritics(title), _strip_diacritics(text))
    assert plain == _decision(matcher, title, text)
    # decomposed input (NFD, as some feeds send it) reads like composed input
    nfd = _decision(matcher, unicodedata.normalize("NFD", title), unicodedata.normalize("NFD", text))
    assert nfd == plain


@_SETTINGS
@given(title=_SENTENCES, text=_TEXT)
def test_matching_is_idempotent_and_pure(matcher: Matcher, title: str, text: str) -> None:
    first = matcher.match(title, text, "sr")
    assert matcher.match(title, text, "sr") == first
    # matching the snippets it returned again finds the same terms relevant or not: no state kept
    assert matcher.match(title, text, "sr") == first


@_SETTINGS
@given(text=st.text(max_size=300))
def test_folding_keeps_one_byte_per_character(text: str) -> None:
    prepared = prepare(text)
    assert len(fold(prepared)) == len(prepared)


@_SETTINGS
@given(
    text=st.text(max_size=300)
    | st.text(alphabet=st.characters(max_codepoint=127), max_size=300)
    | st.text(alphabet=st.characters(max_codepoint=255), max_size=300)
)
def test_folding_with_lines_is_folding_with_the_line_breaks_kept(text: str) -> None:
    prepared = prepare(text)
    folded, lines = fold_lines(prepared)
    assert folded == fold(prepared)  # Latin-1 text takes a shorter way: the same bytes
    assert lines == bytes(b"\n"[0] if char == "\n" else byte for char, byte in zip(prepared, folded, strict=True))


@_SETTINGS
@given(
    prefix=st.text(alphabet="abcdefghijklmnoprstuvz", min_size=1, max_size=4),
    suffix=st.text(alphabet="bcdfghklmpqrwxz", min_size=2, max_size=4),
)
def test_terms_do_not_match_inside_longer_words(matcher: Matcher, prefix: str, suffix: str) -> None:
    # "Kosovo" or "dijalog" glued to other letters is another word: it must not be found.
    for term in ("Kosovo", "dijalog", "Vučić", "Sorensen", "Briselu"):
        for glued in (prefix + term, term.lower() + suffix):
            explanation = matcher.explain(glued, "", "sr")
            assert explanation.found == (), glued


def test_script_invariance_holds_where_cyrillic_writes_one_letter_for_two(matcher: Matcher) -> None:
    # Found by Hypothesis: љ is one character where Latin writes "lj", so a distance counted in
    # characters put "studenti" inside the unrelated-sense window in one script only.
    title, text = "Vučić", "dijalog Vučić Lajčak Lajčak Briselu grad ljubav studenti"
    assert _decision(matcher, title, text) == _decision(matcher, to_cyrillic(title), to_cyrillic(text))
