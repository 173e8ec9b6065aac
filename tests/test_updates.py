"""Updated articles: the stored item is rewritten with a revision count, within a cap, and is news
again only when the update first mentions the dialogue. End to end, through real polls."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

from monitor.cli import main
from monitor.types import Item, KnownItem, MatchResult
from monitor.updates import UpdateRules, plan_updates
from tests.support.configs import feed_source, write_config
from tests.support.httpserver import LocalServer

TITLE = "Trade ministers meet in Skopje"
V1 = "Ministers of the region discussed customs rules and rail links at a meeting in Skopje."
MENTION = " Kosovo and Serbia also discussed the EU-facilitated dialogue on the sidelines."


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


class Feed:
    """One feed with one article whose text the test changes between polls."""

    def __init__(self, server: LocalServer, tmp_path: Path, **sections: Any) -> None:
        self.server, self.version = server, 0
        self.url = self.publish(V1)
        self.config = write_config(tmp_path, [feed_source("wire", self.url)], **sections)

    def publish(self, text: str) -> str:
        self.version += 1
        body = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
            f"<item><title>{TITLE}</title><link>https://wire.example/skopje</link><guid>w-1</guid>"
            f"<pubDate>Mon, 16 Nov 2026 10:00:00 +0000</pubDate><description>{text}</description></item>"
            "</channel></rss>"
        )
        return self.server.add("/wire.xml", body, last_modified=1_800_000_000.0 + self.version)

    def poll(self) -> str:
        code, out = run("--config", str(self.config), "poll", "--once")
        assert code == 0, out
        return out

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(self.config.parent / "monitor.db")
        try:
            return list(db.execute(sql))
        finally:
            db.close()


def test_a_changed_article_is_updated_in_place_with_its_revision_count(server: LocalServer, tmp_path: Path) -> None:
    feed = Feed(server, tmp_path)
    feed.poll()
    feed.publish(V1 + " The next meeting is planned for March.")
    out = feed.poll()
    assert "0 new items" in out and "1 updated" in out
    feed.publish(V1 + " The next meeting is planned for April.")
    feed.poll()
    assert feed.rows("select text, revisions from items") == [(V1 + " The next meeting is planned for April.", 2)]
    assert feed.rows("select count(*) from stories") == [(1,)], "an update is not a new story"


def test_an_update_that_first_mentions_the_dialogue_is_news_once(server: LocalServer, tmp_path: Path) -> None:
    feed = Feed(server, tmp_path)
    feed.poll()
    assert feed.rows("select count(*) from matches") == [(0,)]
    feed.publish(V1 + MENTION)
    feed.poll()
    [(notify, matched_at)] = feed.rows("select notify, matched_at from matches")
    assert notify == 1, "the dialogue appeared in the text: an alert"
    feed.publish(V1 + MENTION + " Officials gave no further details.")
    feed.poll()
    assert feed.rows("select notify, matched_at from matches") == [(1, matched_at)], "no second alert"
    assert feed.rows("select revisions from items") == [(2,)]
    _, matched = run("--config", str(feed.config), "items", "--matched")
    assert TITLE in matched


def test_with_alerts_on_new_mentions_off_the_match_is_kept_but_not_sent(server: LocalServer, tmp_path: Path) -> None:
    feed = Feed(server, tmp_path, updates={"alert_on_new_mention": False})
    feed.poll()
    feed.publish(V1 + MENTION)
    feed.poll()
    assert feed.rows("select notify from matches") == [(0,)]


def test_a_relevant_article_updated_keeps_its_match(server: LocalServer, tmp_path: Path) -> None:
    feed = Feed(server, tmp_path)
    feed.publish(V1 + MENTION)
    feed.poll()
    before = feed.rows("select id, notify, matched_at, snippets from matches")
    feed.publish(V1 + MENTION + " A joint statement is expected later.")
    feed.poll()
    assert feed.rows("select id, notify, matched_at, snippets from matches") == before


def test_an_article_that_changes_on_every_fetch_stops_at_the_cap(server: LocalServer, tmp_path: Path) -> None:
    feed = Feed(server, tmp_path, updates={"max_revisions": 2})
    feed.poll()
    for views in (10, 20, 30, 40):
        feed.publish(f"{V1} Read {views} times.")
        out = feed.poll()
    assert feed.rows("select text, revisions from items") == [(f"{V1} Read 20 times.", 2)]
    assert "0 updated, 1 changes ignored (revision cap)" in out


def _known(revisions: int, matched: bool) -> KnownItem:
    item = Item("wire", "url://w/1", "https://w/1", None, "T", "x", None, "en", "v1:abc")
    return KnownItem(item, stored_id=7, stored_hash="v1:old", revisions=revisions, matched=matched)


def test_update_plan_rules() -> None:
    relevant, irrelevant = MatchResult(True, 2.0), MatchResult(False, 0.0)
    rules = UpdateRules(max_revisions=3)
    plan = plan_updates(
        [
            (_known(0, False), relevant),
            (_known(1, True), relevant),
            (_known(2, False), irrelevant),
            (_known(3, False), relevant),
        ],
        rules,
    )
    assert plan.capped == 1
    assert [(u.revision, u.new_match is not None, u.alert) for u in plan.updates] == [
        (1, True, True),  # the dialogue is mentioned for the first time: news
        (2, False, False),  # it was about the dialogue already: a plain update
        (3, False, False),
    ]
    quiet = plan_updates([(_known(0, False), relevant)], UpdateRules(alert_on_new_mention=False))
    assert [(u.new_match is not None, u.alert) for u in quiet.updates] == [(True, False)]


def _copy_rules(stored_source: str | None, revisions: int = 0, matched: bool = False) -> KnownItem:
    item = Item("section", "url://w/1", "https://w/1", None, "T", "x", None, "en", "v1:abc")
    return KnownItem(item, 7, "v1:old", revisions, matched, stored_source=stored_source)


def test_another_sources_version_is_a_copy_unless_it_first_mentions_the_dialogue() -> None:
    relevant, irrelevant = MatchResult(True, 2.0), MatchResult(False, 0.0)
    plan = plan_updates(
        [
            (_copy_rules("main"), irrelevant),  # the section feed's excerpt of the main feed's article
            (_copy_rules("main", matched=True), relevant),  # the stored version had the mention already
            (_copy_rules("main"), relevant),  # the copy brings the first mention: applied
            (_copy_rules("section"), irrelevant),  # the storing source's own new version: a revision
        ],
        UpdateRules(),
    )
    assert plan.copies == 2
    assert [(u.revision, u.new_match is not None) for u in plan.updates] == [(1, True), (1, False)]


def test_two_feeds_with_different_texts_of_one_article_do_not_revise_it_back_and_forth(
    server: LocalServer, tmp_path: Path
) -> None:
    def publish(path: str, text: str, version: int) -> str:
        body = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Outlet</title>'
            f"<item><title>{TITLE}</title><link>https://wire.example/skopje</link><guid>https://wire.example/skopje</guid>"
            f"<pubDate>Mon, 16 Nov 2026 10:00:00 +0000</pubDate><description>{text}</description></item>"
            f"<item><title>Weather, edition {version}</title><link>https://wire.example/weather-{version}</link>"
            f"<guid>https://wire.example/weather-{version}</guid><description>Sunny.</description></item></channel></rss>"
        )
        return server.add(path, body, last_modified=1_800_000_000.0 + version)

    full, excerpt = V1 + " The next meeting is planned for March.", V1[:40]
    main_url, section_url = publish("/main.xml", full, 0), publish("/section.xml", excerpt, 0)
    config = write_config(tmp_path, [feed_source("main", main_url), feed_source("section", section_url)])
    for version in range(1, 4):  # both feeds gain an item each time: neither answers 304
        code, out = run("--config", str(config), "poll", "--once")
        assert code == 0, out
        assert "0 updated" in out or version == 1, out
        publish("/main.xml", full, version)
        publish("/section.xml", excerpt, version)
    db = sqlite3.connect(config.parent / "monitor.db")
    query = "select source, text, revisions from items where title = ?"
    [(source, text, revisions)] = list(db.execute(query, (TITLE,)))
    db.close()
    assert revisions == 0 and text == (full if source == "main" else excerpt)

    # The section feed's copy now mentions the dialogue, the stored text does not: not lost.
    publish("/section.xml", excerpt + MENTION, 9)
    code, out = run("--config", str(config), "poll", "--once")
    assert code == 0 and "1 updated" in out, out
    db = sqlite3.connect(config.parent / "monitor.db")
    assert list(db.execute("select count(*) from matches")) == [(1,)]
    db.close()
