"""The matcher on short items a desk editor would recognise, one behaviour per test."""

from __future__ import annotations

from monitor.match import Matcher


def test_dialogue_naming_both_parties_is_relevant_with_marked_snippet(matcher: Matcher) -> None:
    result = matcher.match(
        "Kosovo and Serbia chief negotiators meet in Brussels",
        "The EU envoy hosted the two delegations for talks on the Association of Serb-majority municipalities.",
        "en",
    )
    assert result.relevant
    assert result.rule == "dialogue+both-sides"
    assert "asm" in result.topics
    assert result.meeting_level == "chief-negotiators"
    assert result.snippets[0].startswith("Kosovo and Serbia chief negotiators")
    assert "⟦Kosovo⟧" in result.marked_snippets[0]


def test_inflected_albanian_and_serbian_forms_are_found(matcher: Matcher) -> None:
    sq = matcher.match("Kurti: Serbia po e pengon dialogun në Bruksel", "", "sq")
    sr = matcher.match("Petković: dijalog sa Prištinom u Briselu je u zastoju", "", "sr")
    assert sq.relevant and sr.relevant
    assert "kurti" in sq.actors and "petkovic" in sr.actors


def test_cyrillic_and_latin_give_the_same_decision(matcher: Matcher) -> None:
    cyr = matcher.match("Вучић: дијалог са Приштином се наставља у Бриселу", "", "sr")
    lat = matcher.match("Vučić: dijalog sa Prištinom se nastavlja u Briselu", "", "sr")
    assert cyr.relevant and lat.relevant
    assert (cyr.score, cyr.rule, cyr.topics, cyr.actors) == (lat.score, lat.rule, lat.topics, lat.actors)


def test_other_brussels_dialogues_are_rejected(matcher: Matcher) -> None:
    result = matcher.match(
        "Armenia and Azerbaijan resume EU-facilitated dialogue in Brussels",
        "Delegations met for another round of talks on border delimitation.",
        "en",
    )
    assert not result.relevant


def test_dialogue_in_another_sense_is_rejected(matcher: Matcher) -> None:
    result = matcher.match(
        "Vučić ponovo pozvao studente na dijalog", "Predsednik Srbije kaže da su vrata otvorena.", "sr"
    )
    assert not result.relevant


def test_kosovo_news_without_the_dialogue_is_rejected(matcher: Matcher) -> None:
    result = matcher.match(
        "Pristina hosts regional handball tournament", "Teams from Kosovo and Serbia compete this weekend.", "en"
    )
    assert not result.relevant
