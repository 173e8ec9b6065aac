"""Matcher throughput and digest render time, on the items a cold cycle stored.

    python -m bench.components --config C --report R.json

- matcher: every stored item (title, text, language) through ``Matcher.match`` on one core,
  items per second, the median of several passes;
- digest: the newest 1,000 matched items rendered as text and HTML (snippets, ``build_entries``,
  ``build_digest``, ``DigestRenderer``: one entry per match), the median of several renders;
- digest preview: what an editor waits for in ``monitor digest --preview`` with 1,000 matches
  (``Outbox.preview_all``: the store query, one entry per story with its other outlets, the
  sources' states, the render), the median of several previews.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from monitor.commands import delivery  # the digest preview's own helpers
from monitor.config import load_config, resolve_zone
from monitor.match import Matcher
from monitor.notify.digest import DigestRenderer, build_digest, build_entries
from monitor.store import Repository, open_engine


def matcher_throughput(config_path: Path, passes: int) -> dict[str, float]:
    config = load_config(config_path)
    database = config.database.url.removeprefix("sqlite:///")
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        items = connection.execute("SELECT title, text, language FROM items").fetchall()
    finally:
        connection.close()
    matcher = Matcher.compile(config.profile)
    rates, relevant = [], 0
    for _ in range(passes):
        started = time.perf_counter()
        relevant = sum(1 for title, text, language in items if matcher.match(title, text, language).relevant)
        rates.append(len(items) / (time.perf_counter() - started))
    chars = sum(len(t) + len(x) for t, x, _ in items) / max(len(items), 1)
    return {"items": len(items), "relevant": relevant, "items_per_s": statistics.median(rates), "mean_chars": chars}


def digest_render(config_path: Path, count: int, renders: int) -> dict[str, float]:
    """What ``monitor digest --preview`` does with ``count`` matches: snippets, entries, digest, text + HTML.

    The renderer (templates, CSS inliner) is made once, as the daemon keeps it; the matches are
    read from the database once, outside the timing.
    """
    config = load_config(config_path)
    with Repository(open_engine(config.database.url)) as repo:
        stored = repo.items(matched_only=True, limit=count)
        states = repo.source_states()
    zone = resolve_zone(config.digest.timezone)
    catalog = delivery.catalog(config)
    annotate = delivery.snippet_marker(Matcher.compile(config.profile))
    renderer = DigestRenderer()
    times, size = [], 0
    for _ in range(renders):
        started = time.perf_counter()
        entries = build_entries([annotate(s) for s in stored], catalog, zone)
        digest = build_digest(entries, catalog, zone, datetime.now(UTC), states=states)
        rendered = renderer.render(digest)
        times.append(time.perf_counter() - started)
        size = len(rendered.html) + len(rendered.text)
    # Rows stored before matches kept their marked snippets are matched again for the digest.
    marked = sum(1 for s in stored if s.match is not None and s.match.marked_snippets)
    return {"matches": len(stored), "seconds": statistics.median(times), "bytes": size, "marked": marked}


def digest_preview(config_path: Path, count: int, previews: int) -> dict[str, float]:
    """``monitor digest --preview`` with its cap raised to ``count``: everything the command does
    after opening the database (store query, one entry per story, sources' states, text + HTML),
    timed as a whole; the first preview (cold caches) is not counted."""
    config = load_config(config_path)
    config = config.model_copy(update={"digest": config.digest.model_copy(update={"max_items": count})})
    times = []
    with Repository(open_engine(config.database.url)) as repo, delivery.open_outbox(config, repo) as outbox:
        matches = len(repo.items(matched_only=True, limit=count))
        rendered = outbox.preview_all(config.digest.timezone)
        for _ in range(previews):
            started = time.perf_counter()
            rendered = outbox.preview_all(config.digest.timezone)
            times.append(time.perf_counter() - started)
    return {"matches": matches, "entries": rendered.count, "seconds": statistics.median(times)}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.components")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    report = {
        "matcher": matcher_throughput(args.config, args.passes),
        "digest": digest_render(args.config, 1000, max(args.passes, 5)),
        "digest_preview": digest_preview(args.config, 1000, max(args.passes, 5)),
    }
    args.report.write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
