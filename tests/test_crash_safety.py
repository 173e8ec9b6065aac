"""Crash safety: ``monitor poll --once`` killed with SIGKILL at random points loses nothing.

Before each trial the feeds on the local server move on by a few items (the oldest leave the
feed, as on a real site). A poll is started and killed after a random delay drawn (seeded) over
the length of a whole cycle: during the fetches, the parsing, the matching, in the middle of a
commit, or not at all. Then the poller is restarted and runs to the end, and every item of the
feeds as they are now must be stored, once. At the end the database must be consistent and hold
every item the feeds ever showed exactly once, with exactly one match for each item about the
dialogue.

The poller runs in forked children of ``tests/support/zygote.py`` (imported once), so kills
land in the work rather than in the interpreter's start-up.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.configs import ROOT, feed_source, write_config
from tests.support.httpserver import LocalServer

SEED = 20261122
TRIALS = 20
FEEDS = 8
WINDOW = 12  # items a feed shows at once, newest first
GROWTH = 4  # new items per feed before each trial; the oldest ones leave the window

RELEVANT = (
    "Chief negotiators of Kosovo and Serbia meet in Brussels to continue the dialogue ({feed}-{n})",
    "Bislimi and Petković met with the EU envoy in Brussels as part of the EU-facilitated dialogue "
    "between Kosovo and Serbia.",
)
OTHER = ("Handball club wins the regional cup ({feed}-{n})", "The final was played in front of a full hall.")


def item_title(feed: int, n: int) -> str:
    return (RELEVANT if n % 2 == 0 else OTHER)[0].format(feed=feed, n=n)


def window(version: int) -> range:
    return range(version * GROWTH, version * GROWTH + WINDOW)


def feed_body(feed: int, version: int) -> str:
    items = "".join(
        f"<item><title>{item_title(feed, n)}</title><link>https://crash{feed}.example/news/{n}</link>"
        f"<description>{(RELEVANT if n % 2 == 0 else OTHER)[1]}</description></item>"
        for n in reversed(window(version))
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {feed}</title>{items}</channel></rss>'


class Zygote:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.zygote"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, argv: list[str], kill_after: float | None = None) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"argv": argv, "kill_after": kill_after}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the zygote died"
        return dict(json.loads(line))

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.process.stdout.close()


@pytest.fixture
def zygote() -> Iterator[Zygote]:
    z = Zygote()
    try:
        yield z
    finally:
        z.close()


def serve(server: LocalServer, version: int) -> None:
    for feed in range(FEEDS):
        # A new Last-Modified per version, and a delay that spreads the sources over the cycle.
        server.add(
            f"/crash/{feed}.xml",
            feed_body(feed, version),
            last_modified=1_800_000_000.0 + version,
            delay=0.02 * feed,
        )


def stored_titles(database: Path) -> list[str]:
    db = sqlite3.connect(database)
    try:
        return [title for (title,) in db.execute("select title from items")]
    finally:
        db.close()


def test_sigkill_at_random_points_then_a_restart_loses_and_duplicates_nothing(
    server: LocalServer, tmp_path: Path, zygote: Zygote
) -> None:
    rng = random.Random(SEED)
    serve(server, 0)
    sources = [feed_source(f"crash{f}", server.url(f"/crash/{f}.xml")) for f in range(FEEDS)]
    # Parsing in a thread of the poller: the database work, which is what a kill can tear, is
    # the same, and no parse workers are left to clean up after each kill.
    config = write_config(tmp_path, sources, polling={"parse_workers": 0})
    argv = ["--config", str(config), "poll", "--once"]

    # How long a whole cycle takes, measured on a scratch database: kills are drawn over it.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    scratch_config = write_config(scratch, sources, polling={"parse_workers": 0})
    cycle = zygote.run(["--config", str(scratch_config), "poll", "--once"])
    assert cycle["exit_code"] == 0
    full_cycle = float(cycle["elapsed"])

    killed = 0
    for version in range(1, TRIALS + 1):
        serve(server, version)
        crash = zygote.run(argv, kill_after=rng.uniform(0.0, full_cycle * 1.1))
        killed += bool(crash["killed"])
        assert crash["killed"] or crash["exit_code"] == 0, crash
        # The restart must store what the killed run did not, though the feed has not changed:
        # a poll that recorded the feed's validators without its items would now get a 304.
        restart = zygote.run(argv)
        assert restart["exit_code"] == 0, restart
        titles = stored_titles(tmp_path / "monitor.db")
        assert len(titles) == len(set(titles)), f"version {version}: an item was stored twice"
        current = {item_title(f, n) for f in range(FEEDS) for n in window(version)}
        assert current <= set(titles), f"version {version}: lost {sorted(current - set(titles))[:3]}"
    assert killed >= TRIALS // 2, f"only {killed} of {TRIALS} runs were killed: the draw is off"

    db = sqlite3.connect(tmp_path / "monitor.db")
    try:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert db.execute("pragma foreign_key_check").fetchall() == []
        titles = [t for (t,) in db.execute("select title from items")]
        matched = [t for (t,) in db.execute("select i.title from matches m join items i on i.id = m.item_id")]
        match_rows, matched_items = db.execute("select count(*), count(distinct item_id) from matches").fetchone()
        statuses = {row[0] for row in db.execute("select last_status from sources")}
    finally:
        db.close()
    expected = {item_title(f, n) for f in range(FEEDS) for v in range(1, TRIALS + 1) for n in window(v)}
    assert len(titles) == len(set(titles)) == len(expected)
    assert set(titles) == expected
    relevant = {t for t in expected if t.startswith("Chief negotiators")}
    assert match_rows == matched_items == len(relevant), "an item was matched twice or not at all"
    assert set(matched) == relevant
    assert statuses <= {"ok", "not_modified"}
