"""Insert + cluster cost per item with 10,000 and with 1,000,000 items already stored.

    python -m bench.bench_cluster [--sizes 10000,1000000] [--measure 2000] [--rounds 5] [--out bench/results/cluster.md]

For each size, a fresh SQLite database is filled quickly by bulk inserts (items, their stories and
their LSH index rows, 20 band keys per item, as if 1,500 items a day had been stored for
size/1,500 days), then new items are stored the way polls store them: ``Repository.commit_poll``
in polls of 20, each item fingerprinted, looked up in the band index within the 48-hour window,
joined to a story or given a new one, indexed. A third of the new items are copies of earlier new
ones (new headline, trimmed lead, added paragraph), so the join path is measured too.

The store-size claim holds if the per-item cost at 1M is within 1.5x of the cost at 10k. Both
stores are measured in the same run, taking turns round by round with the same new items, and the
result is the median of the per-round ratios (the machine is shared and noisy: ratios, not
absolute times, are the result). Exit status 1 when the bound is not met.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.identity import identify
from monitor.store import Repository, open_engine
from monitor.types import FeedEntry, Item, MatchResult, OutcomeStatus, SourceOutcome

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ITEMS_PER_DAY = 1_500
BANDS_PER_ITEM = 20
POLL_SIZE = 20
MAX_RATIO = 1.5
WARM_UP = 200
_WORDS = (
    "kosovo serbia dialogue brussels meeting chief negotiator talks agreement eu envoy association municipalities "
    "energy missing persons plates border police statement government minister president said would on the of "
    "pristina belgrade north mitrovica jarinje merdare customs crossing election parliament opposition court "
    "army nato kfor mission report week month year day new first last two three members council commission vote "
    "law decision plan proposal budget company workers school hospital road bridge water electricity price"
)
VOCABULARY = _WORDS.split(" ")
IRRELEVANT = MatchResult(False, 0.0)


@dataclass(frozen=True)
class Round:
    size: int
    items: int
    seconds: float
    joined: int

    @property
    def ms_per_item(self) -> float:
        return 1000 * self.seconds / self.items


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def bulk_load(path: Path, size: int, rng: random.Random) -> float:
    """Fill an empty store with ``size`` items, stories and band rows; returns the seconds taken."""
    started = time.perf_counter()
    with Repository(open_engine(f"sqlite:///{path}")):
        pass  # creates the schema exactly as the application does
    step = 86_400 / ITEMS_PER_DAY
    first = END - timedelta(seconds=size * step)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    times = [first + timedelta(seconds=i * step) for i in range(size)]
    text = " ".join(rng.choice(VOCABULARY) for _ in range(50))
    blob = struct.pack("<95I", *range(95))
    chunk = 50_000
    for start in range(0, size, chunk):
        ids = range(start + 1, min(start + chunk, size) + 1)
        db.executemany(
            "INSERT INTO items (id, key, source, url, title, text, published_at, language, content_hash, "
            "first_seen_at, revisions) VALUES (?, ?, ?, ?, ?, ?, ?, 'en', ?, ?, 0)",
            (
                (
                    i,
                    f"url://bulk{i % 40}.example/a/{i}",
                    f"bulk{i % 40}",
                    f"https://bulk{i % 40}.example/a/{i}",
                    f"Bulk item {i}",
                    text,
                    _stamp(times[i - 1]),
                    f"v1:{i:032x}",
                    _stamp(times[i - 1]),
                )
                for i in ids
            ),
        )
        db.executemany(
            "INSERT INTO stories (id, lead_item_id, started_at, first_seen_at, last_joined_at, size, notified) "
            "VALUES (?, ?, ?, ?, ?, 1, 0)",
            ((i, i, _stamp(times[i - 1]), _stamp(times[i - 1]), _stamp(times[i - 1])) for i in ids),
        )
        db.executemany(
            "INSERT INTO story_items (item_id, story_id, source, at, joined_at, shingle_ids, shingle_count) "
            "VALUES (?, ?, ?, ?, ?, ?, 95)",
            ((i, i, f"bulk{i % 40}", _stamp(times[i - 1]), _stamp(times[i - 1]), blob) for i in ids),
        )
    epochs = [int(t.timestamp()) for t in times]
    bands = _band_rows(size, epochs, rng)
    db.executemany("INSERT INTO story_bands (day, band_key, at_epoch, item_id) VALUES (?, ?, ?, ?)", bands)
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return time.perf_counter() - started


def _band_rows(size: int, epochs: list[int], rng: random.Random) -> Iterator[tuple[int, int, int, int]]:
    """``BANDS_PER_ITEM`` random 64-bit keys per item, in primary-key order (day, key) so the load is fast.

    Keys of unrelated texts are uniformly distributed hashes, so random keys are what a store of
    unrelated items holds.
    """
    item = 0
    while item < size:
        day = epochs[item] // 86_400
        rows = []
        while item < size and epochs[item] // 86_400 == day:
            rows.extend(((rng.getrandbits(64) - (1 << 63)), epochs[item], item + 1) for _ in range(BANDS_PER_ITEM))
            item += 1
        rows.sort()
        yield from ((day, key, epoch, item_id) for key, epoch, item_id in rows)


def articles(count: int, rng: random.Random, start: datetime) -> list[Item]:
    """New items for the measurement: two thirds original texts, one third copies of earlier ones."""
    made: list[tuple[str, str]] = []
    items = []
    for n in range(count):
        if made and rng.random() < 1 / 3:
            title, text = rng.choice(made[-200:])
            sentences = text.split(". ")
            text = ". ".join(sentences[1:]) + ". " + " ".join(rng.choice(VOCABULARY) for _ in range(30))
            title = "Copy: " + title
        else:
            words = [rng.choice(VOCABULARY) for _ in range(120)]
            text = ". ".join(" ".join(words[i : i + 15]) for i in range(0, 120, 15)) + "."
            title = " ".join(words[:8])
            made.append((title, text))
        source = f"outlet{n % 30}"
        published = start + timedelta(seconds=30 * n)
        entry = FeedEntry(None, f"https://{source}.example/news/{start:%s}-{n}", title, text, published, "en")
        items.append(identify(source, entry, "en"))
    return items


def measure(path: Path, size: int, count: int, rng: random.Random, round_no: int) -> Round:
    start = END + timedelta(hours=round_no)
    new = articles(count, rng, start)
    with Repository(open_engine(f"sqlite:///{path}")) as repo:
        stories_before = len(repo.stories(limit=10**9, since=END - timedelta(days=1)))
        began = time.perf_counter()
        for offset in range(0, count, POLL_SIZE):
            batch = new[offset : offset + POLL_SIZE]
            outcome = SourceOutcome("bench", OutcomeStatus.OK, entries=len(batch), new_items=len(batch))
            now = batch[-1].published or start
            repo.commit_poll(outcome, [(item, IRRELEVANT) for item in batch], "bench", now + timedelta(minutes=5))
        seconds = time.perf_counter() - began
        stories_after = len(repo.stories(limit=10**9, since=END - timedelta(days=1)))
    return Round(size, count, seconds, joined=count - (stories_after - stories_before))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--measure", type=int, default=2000, help="new items stored per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workdir", default="bench/out/cluster")
    parser.add_argument("--out", default="bench/results/cluster.md")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(9)
    loads: dict[int, float] = {}
    paths: dict[int, Path] = {}
    for size in sizes:
        paths[size] = workdir / f"store-{size}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{paths[size]}{suffix}").unlink(missing_ok=True)
        loads[size] = bulk_load(paths[size], size, rng)
        print(f"{size:>9,} items loaded in {loads[size]:.0f} s", file=sys.stderr)
        measure(paths[size], size, WARM_UP, rng, 0)  # not counted: the first writes after a bulk load are cold
    # Rounds alternate between the stores (and their order), so that the load of a shared, noisy
    # machine falls on both alike; each round's ratio compares two measurements taken back to back.
    rounds: dict[int, list[Round]] = {size: [] for size in sizes}
    for round_no in range(1, args.rounds + 1):
        for size in sizes if round_no % 2 else list(reversed(sizes)):
            result = measure(paths[size], size, args.measure, random.Random(round_no), round_no)
            rounds[size].append(result)
            print(f"{size:>9,} stored: {result.ms_per_item:.2f} ms per item, {result.joined} joined", file=sys.stderr)
    report = render(sizes, loads, rounds, args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, encoding="utf-8")
    print(report)
    return 0 if median_ratio(rounds, sizes) <= MAX_RATIO else 1


def median_ratio(rounds: dict[int, list[Round]], sizes: list[int]) -> float:
    """The median over rounds of (cost at the largest size) / (cost at the smallest), round by round."""
    pairs = zip(rounds[sizes[-1]], rounds[sizes[0]], strict=True)
    return statistics.median(large.ms_per_item / small.ms_per_item for large, small in pairs)


def render(sizes: list[int], loads: dict[int, float], rounds: dict[int, list[Round]], args: argparse.Namespace) -> str:
    baseline = statistics.median(r.ms_per_item for r in rounds[sizes[0]])
    lines = [
        "# Insert + cluster cost per item (bench/bench_cluster.py)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on SQLite, {args.rounds} rounds of {args.measure} new items "
        f"per store size after a warm-up of {WARM_UP}, the stores taking turns; stored through "
        f"`Repository.commit_poll` in polls of {POLL_SIZE} (fingerprint, band-index lookup within 48 h, story join "
        "or creation, index rows, one transaction per poll). A third of the new items are copies of earlier ones "
        "and must join their story (the same new items in both stores).",
        "",
        "| items already stored | band-index rows | bulk load | per item (median) | fastest round | rounds "
        "| copies joined |",
        "|---:|---:|---:|---:|---:|---|---:|",
    ]
    for size in sizes:
        per_item = statistics.median(r.ms_per_item for r in rounds[size])
        best = min(r.ms_per_item for r in rounds[size])
        each = ", ".join(f"{r.ms_per_item:.2f}" for r in rounds[size])
        joined = sum(r.joined for r in rounds[size])
        lines.append(
            f"| {size:,} | {size * BANDS_PER_ITEM:,} | {loads[size]:.0f} s | {per_item:.2f} ms | {best:.2f} ms | "
            f"{each} | {joined} |"
        )
    ratio = median_ratio(rounds, sizes)
    largest = statistics.median(r.ms_per_item for r in rounds[sizes[-1]])
    verdict = "within" if ratio <= MAX_RATIO else "NOT within"
    lines += [
        "",
        f"Per-item cost at {sizes[-1]:,} stored items / at {sizes[0]:,}, round by round: median **{ratio:.2f}x** "
        f"(ratio of the medians {largest / baseline:.2f}x): {verdict} the {MAX_RATIO}x bound.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
