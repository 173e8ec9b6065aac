"""``monitor poll`` compiles the profile lazily: a poll where every feed answers 304 never builds it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from monitor.match import Matcher


def test_a_lazy_matcher_builds_its_index_once_on_first_use_and_matches_alike(matcher: Matcher) -> None:
    lazy = Matcher.compile(matcher.profile, lazy=True)
    assert lazy.version == matcher.version
    assert "_index" not in vars(lazy)
    items = [
        ("Kosovo and Serbia chief negotiators meet in Brussels", "The EU envoy hosted both delegations.", "en"),
        ("Kurti: Serbia po e pengon dialogun në Bruksel", "", "sq"),
        ("Вучић: дијалог са Приштином се наставља у Бриселу", "", "sr"),
        ("The town council opened a new library", "Readers queued in the rain.", "en"),
    ]
    with ThreadPoolExecutor(4) as pool:  # several store threads may match first at once
        results = list(pool.map(lambda args: lazy.match(*args), items * 4))
    assert results == [matcher.match(*args) for args in items * 4]
    index = vars(lazy)["_index"]
    lazy.match("Dialogue in Brussels", "", "en")
    assert vars(lazy)["_index"] is index
