"""Feeds whose GUIDs cannot be trusted: keyed by link and date, and said so in `monitor sources`."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

from monitor.cli import main
from tests.support.configs import feed_source, write_config
from tests.support.httpserver import LocalServer


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


def rss(items: list[tuple[str, str, str | None, str]]) -> str:
    """items: (title, link, guid or None, pubDate)."""
    body = "".join(
        f"<item><title>{title}</title><link>{link}</link>"
        + (f'<guid isPermaLink="false">{guid}</guid>' if guid is not None else "")
        + f"<pubDate>{date}</pubDate><description>{title}, in full.</description></item>"
        for title, link, guid, date in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Press</title>{body}</channel></rss>'


def day(n: int) -> str:
    return f"Mon, {n:02d} Nov 2026 10:00:00 +0000"


def stored(config: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(config.parent / "monitor.db")
    try:
        return list(db.execute("select title, key from items order by id"))
    finally:
        db.close()


def test_a_feed_reusing_one_guid_loses_no_item_and_sources_says_why(server: LocalServer, tmp_path: Path) -> None:
    # A government press room: every item carries the same GUID (the press room's address).
    items = [
        (f"Statement {n}", f"https://gov.example/press/{n}", "https://gov.example/press", day(n)) for n in (1, 2, 3)
    ]
    url = server.add("/press.xml", rss(items))
    healthy = server.add(
        "/wire.xml", rss([(f"Wire {n}", f"https://wire.example/{n}", f"w-{n}", day(n)) for n in range(1, 4)])
    )
    config = write_config(tmp_path, [feed_source("pressroom", url), feed_source("wire", healthy)])
    run("--config", str(config), "poll", "--once")
    newer = [("Statement 4", "https://gov.example/press/4", "https://gov.example/press", day(4)), *items]
    server.add("/press.xml", rss(newer), last_modified=1_800_000_000.0)
    run("--config", str(config), "poll", "--once")

    titles = [t for t, _ in stored(config)]
    assert sorted(t for t in titles if t.startswith("Statement")) == [f"Statement {n}" for n in (1, 2, 3, 4)]
    assert len(titles) == len(set(titles)), "nothing stored twice"
    _, out = run("--config", str(config), "sources")
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if " pressroom " in line)
    assert "keyed by link+date" in lines[at + 1] and "75% empty or repeated" in lines[at + 1]  # 3 of 4 repeat the first
    assert not any("link+date" in line for line in lines if " wire " in line)
    assert len(lines) == 3, "only the press room has the note"


def test_a_feed_reusing_its_link_keeps_each_dated_item(server: LocalServer, tmp_path: Path) -> None:
    # No GUIDs, and every item links to the same live page: only the date tells the items apart.
    items = [(f"Update {n}", "https://live.example/dialogue", None, day(n)) for n in (1, 2, 3)]
    url = server.add("/live.xml", rss(items))
    config = write_config(tmp_path, [feed_source("live", url)])
    code, out = run("--config", str(config), "poll", "--once")
    assert code == 0
    assert sorted(t for t, _ in stored(config)) == ["Update 1", "Update 2", "Update 3"]
    assert all(key.startswith("ld:live://live.example/dialogue@2026-11-0") for _, key in stored(config))


def test_switching_to_link_and_date_does_not_store_the_feed_again(server: LocalServer, tmp_path: Path) -> None:
    first = [(f"Item {n}", f"https://site.example/a/{n}", f"g-{n}", day(n)) for n in (1, 2, 3)]
    url = server.add("/site.xml", rss(first))
    config = write_config(tmp_path, [feed_source("site", url)])
    run("--config", str(config), "poll", "--once")
    assert all(key.startswith("url:") for _, key in stored(config))
    # the CMS is replaced and now gives every item the same GUID
    broken = [(t, link, "same", d) for t, link, _, d in [("Item 4", "https://site.example/a/4", None, day(4)), *first]]
    server.add("/site.xml", rss(broken), last_modified=1_800_000_000.0)
    run("--config", str(config), "poll", "--once")
    rows = stored(config)
    assert [t for t, _ in rows] == ["Item 1", "Item 2", "Item 3", "Item 4"]
    assert rows[-1][1].startswith("ld:site:")
