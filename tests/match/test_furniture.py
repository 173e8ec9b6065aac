"""Page furniture (related headlines, tags, TV listings) is not read as the article."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.match import Matcher
from monitor.match.fold import fold, fold_lines, prepare
from monitor.match.furniture import label_pattern, line_label_pattern, strip_furniture

LABELS = label_pattern(["Related", "Read also", "Tags", "Lexo edhe", "Pročitajte još", "Pročitajte takođe"])
LINE_LABELS = line_label_pattern(LABELS)


def strip(title: str, text: str) -> str:
    body = prepare(f"{title}\n{text}")
    stripped, folded = strip_furniture(body, fold(body), LABELS)
    assert folded == fold(stripped), "the folded text is cut at the same places"
    # The quick test (no label at a line start, too few colons: nothing to cut) decides the same.
    assert strip_furniture(body, fold(body), LABELS, (fold_lines(body)[1], LINE_LABELS)) == (stripped, folded)
    return stripped


_PIECES = st.sampled_from(
    ["Related", "RELATED:", "related", "Read also", "Tags |", "Lexo edhe", "Pročitajte još:", "Pročitajte takodje",
     "– ", "• ", "» ", "-", " ", "\t", "\n", "\n", "\n\n", ".", "19:30", "20:15 ", "21:00", ":", "News", "Kosovo",
     "dialogue", "Read", "also", "Relatedness", "ПРОЧИТАЈТЕ ЈОШ", "Lexo"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(title=st.text(max_size=20), pieces=st.lists(_PIECES, max_size=30))
def test_the_quick_test_for_furniture_decides_as_the_line_by_line_reading(title: str, pieces: list[str]) -> None:
    strip(title.replace("\n", " "), "".join(pieces))


def test_a_labelled_list_of_headlines_is_cut_and_the_article_after_it_kept() -> None:
    text = (
        "Turnout was low in the morning.\n"
        "Related:\n"
        "– Envoy hosts the negotiators on Friday\n"
        "Leaders to meet again\n"
        "\n"
        "Counting ends at midnight."
    )
    assert strip("Election day", text) == "Election day\nTurnout was low in the morning.\n\nCounting ends at midnight."


def test_labels_are_read_in_any_case_script_and_spelling() -> None:
    for line in ("PROČITAJTE JOŠ: Vučić o Briselu", "Прочитајте још: Вучић о Бриселу", "Procitajte takodje: x"):
        assert strip("Vesti", f"Kiša u Beogradu.\n{line}") == "Vesti\nKiša u Beogradu.\n", line
    assert strip("Lajme", "Shi në Prishtinë.\n► Lexo edhe | Kurti në Bruksel") == "Lajme\nShi në Prishtinë.\n"


def test_a_label_word_that_starts_a_sentence_is_not_a_label() -> None:
    text = "Related talks on energy resumed in Brussels.\nTags and labels were printed in two scripts."
    assert strip("Talks", text) == f"Talks\n{text}"


def test_the_listed_headlines_end_at_a_paragraph_of_the_article() -> None:
    paragraph = "The court will sit again on Monday, the judge said."
    assert strip("Trial", f"Read also:\nA headline of another story\n{paragraph}") == f"Trial\n{paragraph}"


def test_a_tv_listing_line_is_not_read_but_one_clock_time_is_news() -> None:
    listing = "RTK1: 19:30 News; 20:15 Series; 21:00 Debate on the dialogue"
    news = "At 10:30 the negotiators arrived in Brussels."
    assert strip("TV tonight", f"{listing}\n{news}") == f"TV tonight\n{news}"


def test_the_headline_is_never_furniture() -> None:
    assert strip("Related: Kurti and Vučić in Brussels", "Text.") == "Related: Kurti and Vučić in Brussels\nText."


def test_headlines_listed_under_an_unrelated_story_do_not_make_it_relevant(matcher: Matcher) -> None:
    article = "Counting in the Pristina run-off ended late on Sunday; turnout was 38 percent."
    furniture = [
        "Related:\n– Sørensen hosts the chief negotiators of Kosovo and Serbia in Brussels\n– Kurti and Vučić invited",
        "Tags: Kosovo-Serbia dialogue, Brussels, Sørensen, Association",
        "Lexo edhe: Bislimi dhe Petkoviq takohen me Sorensenin në Bruksel",
        "Прочитајте још:\n– Петковић и Бислими у Бриселу",
    ]
    for lines in furniture:
        assert not matcher.match("Pristina run-off count ends", f"{article}\n{lines}", "en").relevant, lines
    # The same lines as the article itself are the news.
    assert matcher.match(
        "Negotiators in Brussels", "Sørensen hosts the chief negotiators of Kosovo and Serbia in Brussels.", "en"
    ).relevant


def test_a_tv_listing_naming_a_debate_on_the_dialogue_is_not_the_news(matcher: Matcher) -> None:
    listing = (
        "RTS 1: 19:30 Dnevnik; 21:00 Upitnik: dijalog Beograda i Prištine posle Brisela; 22:30 film.\n"
        "RTK 1: 19:30 Lajmet; 21:00 Debat për dialogun Kosovë-Serbi në Bruksel; 23:00 Film."
    )
    assert not matcher.match("TV program za sredu", listing, "sr").relevant
