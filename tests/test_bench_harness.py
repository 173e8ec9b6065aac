"""A small run of the benchmark harness (bench/): the farm, its ground truth and the store check.

The benchmark itself (1,000 feeds, nginx) runs with ``make bench``, never in the test suite;
here a farm of a dozen feeds is served by the test server and polled for real, so a broken
generator or a checker that passes everything is caught by ``make test``.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import feedparser
import pytest

from bench.check import check_store
from bench.components import digest_preview, digest_render, matcher_throughput
from bench.farm import CYCLE2_DELAY, FARM_NOW, Farm, FarmSpec, article_id, build_farm
from bench.measure import RssSampler, tree_pids, tree_pss_bytes, tree_rss_bytes
from bench.report import match_rates, shortfall
from bench.spy import MAIN, WORKER, aggregate
from monitor.cli import main
from tests.support.configs import feed_source, write_config
from tests.support.httpserver import LocalServer

SMALL = FarmSpec(feeds=24, items=12, relevant_share=0.15, crosspost_share=0.1, changed_share=0.25)


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Farm:
    return build_farm(SMALL, tmp_path_factory.mktemp("farms"))


def _serve(server: LocalServer, farm: Farm, cycle: int) -> list[dict[str, object]]:
    sources = []
    for feed in farm.feeds:
        path = str(feed["path"])
        changed = cycle == 2 and feed["changed"]
        body = (farm.root / ("cycle2" if changed else "cycle1") / path).read_bytes()
        mtime = (FARM_NOW + CYCLE2_DELAY if changed else FARM_NOW).timestamp()
        kind = "application/atom+xml" if path.endswith(".atom") else "application/rss+xml"
        url = server.add("/" + path, body, content_type=kind, last_modified=mtime)
        sources.append(feed_source(str(feed["name"]), url, str(feed["language"])))
    return sources


def _poll(config: Path) -> str:
    out = io.StringIO()
    assert main(["--config", str(config), "poll", "--once"], out=out) == 0
    return out.getvalue()


def test_the_same_spec_gives_the_same_bytes(farm: Farm, tmp_path: Path) -> None:
    again = build_farm(SMALL, tmp_path)
    for feed in farm.feeds:
        path = str(feed["path"])
        assert (again.root / "cycle1" / path).read_bytes() == (farm.root / "cycle1" / path).read_bytes()
    assert again.manifest == farm.manifest


def test_the_farm_has_every_style_and_language_form_in_well_formed_feeds(farm: Farm) -> None:
    assert {f["style"] for f in farm.feeds} == {"wordpress", "plain", "atom"}
    assert {f["form"] for f in farm.feeds} == {"en", "sq", "sr-Latn", "sr-Cyrl"}
    seen: set[int] = set()
    for feed in farm.feeds:
        parsed = feedparser.parse((farm.root / "cycle1" / str(feed["path"])).read_bytes())
        assert not parsed.bozo, (feed["path"], parsed.get("bozo_exception"))
        assert len(parsed.entries) == SMALL.items
        seen.update(article_id(e.get("link"), e.get("id")) or 0 for e in parsed.entries)
    assert seen == set(farm.truth(1))
    truth = farm.truth(1)
    assert 0 < sum(truth.values()) < len(truth)


def test_cycle_two_changes_only_the_changed_feeds(farm: Farm) -> None:
    changed = farm.changed_paths()
    assert len(changed) == round(SMALL.feeds * SMALL.changed_share)
    assert sorted(
        p.relative_to(farm.root / "cycle2").as_posix() for p in (farm.root / "cycle2").rglob("*.*")
    ) == sorted(changed)
    assert len(farm.truth(2)) > len(farm.truth(1))


def test_a_changed_feed_gains_entries_and_keeps_the_others_as_they_were(farm: Farm) -> None:
    # The changed cycle must cost the new items only: an older entry that came back with other
    # markup (a caption, an embed) would be stored as a revision and measured as update work.
    for path in farm.changed_paths():
        before = feedparser.parse((farm.root / "cycle1" / path).read_bytes()).entries
        after = feedparser.parse((farm.root / "cycle2" / path).read_bytes()).entries
        kept = {e.id: e for e in before}
        again = [e for e in after if e.id in kept]
        assert len(after) - len(again) == SMALL.new_items_per_changed
        for entry in again:
            assert entry == kept[entry.id], path


def test_a_real_poll_of_the_farm_passes_the_check_in_both_cycles(
    farm: Farm, server: LocalServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, _serve(server, farm, 1))
    _poll(config)
    first = check_store(tmp_path / "monitor.db", farm.truth(1))
    assert first.ok, first.summary()
    assert first.stored_rows == len(farm.truth(1))

    _serve(server, farm, 2)
    out = _poll(config)
    second = check_store(tmp_path / "monitor.db", farm.truth(2))
    assert second.ok, second.summary()
    assert f"{len(farm.truth(2)) - len(farm.truth(1))} new items" in out
    unchanged = next(str(f["path"]) for f in farm.feeds if not f["changed"])
    assert server.requests_for("/" + unchanged)[-1].status == 304


def test_the_check_notices_a_lost_match_and_a_duplicate(farm: Farm, server: LocalServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, _serve(server, farm, 1))
    _poll(config)
    database = tmp_path / "monitor.db"
    connection = sqlite3.connect(database)
    try:
        connection.execute("DELETE FROM matches WHERE id = (SELECT min(id) FROM matches)")
        url, source = connection.execute("SELECT url, source FROM items WHERE url IS NOT NULL LIMIT 1").fetchone()
        connection.execute(
            "INSERT INTO items (key, source, url, title, text, content_hash, first_seen_at) "
            "VALUES ('copy', ?, ?, 't', 'x', 'h', '2026-11-01 06:00:00')",
            (source, url + "?copy=1"),
        )
        connection.commit()
    finally:
        connection.close()
    check = check_store(database, farm.truth(1))
    assert not check.ok
    assert check.missed_matches == 1
    assert check.duplicated == 1


# ---------------------------------------------------------------- the report's arithmetic and readers


def test_a_missed_target_says_by_how_much_and_a_met_one_says_nothing() -> None:
    assert shortfall(2.5, 2, at_least=True) == ""
    assert shortfall(1.5, 2, at_least=True) == "1.50x where 2x is wanted: 25% short"
    assert shortfall(1.1, 1.2, at_least=False) == ""
    assert shortfall(1.5, 1.2, at_least=False) == "1.50x where at most 1.2x is wanted: 25% over"


def test_the_matcher_bench_figures_are_read_from_what_it_prints() -> None:
    printed = (
        "background    41,234 items/s  (naive per-term regex 1,200/s, x34.4)\n"
        "mixed         30,001 items/s  (naive per-term regex 1,100/s, x27.3)\n"
        "dialogue       9,876 items/s  (naive per-term regex 1,000/s, x9.9)\n"
        "wrote bench/out/match.md\n"
    )
    assert match_rates(printed) == {"background": 41234.0, "mixed": 30001.0, "dialogue": 9876.0}


def test_py_spy_stacks_are_split_into_main_process_and_workers_by_category() -> None:
    main_process = 'process 10:"/venv/bin/python -m monitor --config c.yaml poll --once"'
    worker = 'process 11:"/venv/bin/python -B -c from multiprocessing.forkserver import main; main(3, 4)"'
    collapsed = "\n".join(
        [
            f"{main_process};main (monitor/cli.py:10);add (sqlalchemy/orm/session.py:5) 40",
            f"{main_process};main (monitor/cli.py:10);to_text (monitor/parse/normalize.py:7) 20",
            f"{main_process};{worker};parse (monitor/parse/feed.py:3);_start (feedparser/mixin.py:9) 100",
            f"{main_process};{worker};parse (monitor/parse/feed.py:3) 50",
            f"{main_process};<module> (runpy.py:1) 10",
            "a line that is not a stack",
        ]
    )
    profile = aggregate(collapsed, rate=100)
    assert profile.seconds[MAIN] == {
        "store (ours + SQLAlchemy + sqlite3)": 0.4,
        "html → text (ours + bs4)": 0.2,
        "other": 0.1,
    }
    assert profile.seconds[WORKER] == {"feedparser": 1.0, "parse (ours)": 0.5}
    assert profile.total(WORKER) == 1.5
    assert profile.top[WORKER][0] == ("_start (feedparser/mixin.py:9)", 1.0)


def test_the_pss_of_a_process_tree_counts_shared_pages_once() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while child.pid not in tree_pids(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.05)
        own_rss, tree_rss = tree_rss_bytes(os.getpid())
        tree_pss = tree_pss_bytes(os.getpid())
        assert child.pid in tree_pids(os.getpid())
        assert tree_rss > own_rss > 0
        # Two interpreters share their code pages: PSS splits them, a sum of RSS counts them twice.
        assert 0 < tree_pss < tree_rss
    finally:
        child.kill()
        child.wait()


# A process that fills 64 MB, then forks a worker that only reads them (as the parse pool's
# workers share the fork server's pages), and says when both are there.
_FORKED_SHARER = """
import os, sys, time
held = bytearray(os.urandom(1 << 20)) * 64
if os.fork() == 0:
    sum(held[::4096])
    time.sleep(30)
    os._exit(0)
print("ready", flush=True)
time.sleep(30)
"""


def test_the_sampled_peak_of_a_tree_counts_the_pages_a_forked_worker_shares_once() -> None:
    process = subprocess.Popen([sys.executable, "-c", _FORKED_SHARER], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        with RssSampler(process.pid, interval=0.05, pss_every=1) as sampler:
            time.sleep(1.0)
        mb = 1 << 20
        # Each process's RSS holds the 64 MB: summed, the tree seems to hold them twice.
        assert sampler.peak_tree >= 2 * 64 * mb
        # PSS holds them once, split between the process and its worker.
        assert 64 * mb <= sampler.peak_tree_pss <= sampler.peak_tree - 48 * mb
        assert sampler.peak_own_pss >= 32 * mb and sampler.peak_pool_pss >= 32 * mb
        assert sampler.peak_own_pss + sampler.peak_pool_pss == sampler.peak_tree_pss
    finally:
        for pid in tree_pids(process.pid)[::-1]:
            os.kill(pid, 9)
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


# A child holds 32 MB for a moment and ends (as a poll's migration child does); then the process
# itself grows by 64 MB.
_EARLY_CHILD = """
import os, subprocess, sys, time
print("ready", flush=True)
time.sleep(0.5)
subprocess.run([sys.executable, "-c", "import os, time; held = os.urandom(32 << 20); time.sleep(1)"], check=True)
held = os.urandom(64 << 20)
time.sleep(1.5)
"""


def test_the_parts_of_a_tree_s_peak_leave_out_a_child_that_ended_before_it() -> None:
    process = subprocess.Popen([sys.executable, "-c", _EARLY_CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        with RssSampler(process.pid, interval=0.05, pss_every=1) as sampler:
            process.wait(timeout=30)
        mb = 1 << 20
        assert sampler.peak_own_pss >= 64 * mb
        assert sampler.peak_pool_pss < 8 * mb, "the child that held 32 MB had ended before the tree's peak"
        assert sampler.peak_own_pss + sampler.peak_pool_pss == sampler.peak_tree_pss
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_the_components_bench_renders_the_stored_matches_previews_them_and_matches_every_item(
    farm: Farm, server: LocalServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, _serve(server, farm, 1))
    _poll(config)
    relevant = sum(farm.truth(1).values())
    digest = digest_render(config, count=1000, renders=1)
    assert digest["matches"] == relevant
    assert digest["bytes"] > relevant * 200  # every entry is in it, with its title and link
    assert digest["marked"] == relevant  # a poll stores the marked snippets: nothing is matched again
    # The whole preview reads the same matches and shows each story once.
    preview = digest_preview(config, count=1000, previews=1)
    assert preview["matches"] == relevant
    assert 0 < preview["entries"] <= relevant
    matcher = matcher_throughput(config, passes=1)
    assert matcher["items"] == len(farm.truth(1))
    assert matcher["relevant"] == relevant
