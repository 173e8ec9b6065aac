"""Matcher speed: items per second for 1 KB items on one core, against a naive baseline.

    python -m bench.bench_match [--items 4000] [--repeats 5] [--out bench/out/match.md]

Items are about 1 KB of title + text built from the labelled evaluation set (tests/match/eval):
several short leads in the same language form joined into one item. Three mixes are measured:

- ``background``: only leads that are not about the dialogue (most of a real feed);
- ``mixed``: one item in four about the dialogue;
- ``dialogue``: only items about the dialogue (every item takes the slow path: evidence, snippets).

The baseline, measured in the same run on the same items, is what one would write first: one
compiled regular expression per profile term (``\\b`` boundaries, ``*`` as ``\\w*``, IGNORECASE),
tried in turn over the raw text. It does *less* than the matcher (no folding of diacritics or
Cyrillic, no sentences, no evidence), so the ratio understates the matcher's advantage.
The figure reported is the best of ``--repeats`` runs (least disturbed by a noisy machine).
"""

from __future__ import annotations

import argparse
import platform
import random
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from monitor.config import load_config
from monitor.match import Matcher
from monitor.match.evaluate import LabelledItem, load_labelled
from monitor.match.profile import MatchProfile, term_text

ROOT = Path(__file__).resolve().parents[1]
EVAL_SET = ROOT / "tests" / "match" / "eval"
TARGET_BYTES = 1024
TARGET_RATE = 20_000

Item = tuple[str, str, str | None]


def build_items(labelled: Sequence[LabelledItem], count: int, share_relevant: float, seed: int) -> list[Item]:
    rng = random.Random(seed)
    by_form: dict[str, tuple[list[LabelledItem], list[LabelledItem]]] = {}
    for item in labelled:
        yes, no = by_form.setdefault(item.lang or "?", ([], []))
        (yes if item.relevant else no).append(item)
    forms = sorted(by_form)
    items: list[Item] = []
    for n in range(count):
        form = forms[n % len(forms)]
        yes, no = by_form[form]
        relevant = rng.random() < share_relevant
        first = rng.choice(yes if relevant else no)
        parts = [first.text]
        while len("\n".join(parts).encode()) < TARGET_BYTES - len(first.title.encode()):
            parts.append(rng.choice(no).text if rng.random() < 0.7 else rng.choice(no).title + ".")
        text = "\n".join(parts)
        items.append(
            (first.title, text.encode()[: TARGET_BYTES - len(first.title.encode())].decode(errors="ignore"), form)
        )
    return items


def naive_baseline(profile: MatchProfile) -> Callable[[str, str, str | None], bool]:
    terms = [term_text(t) for t in profile.dialogue]
    terms += [term_text(t) for t in (*profile.sides.kosovo, *profile.sides.serbia, *profile.eu, *profile.talks)]
    for group in (*profile.topics, *profile.actors, *profile.meeting_levels):
        terms += [term_text(t) for t in group.terms]
    patterns = [
        re.compile(
            r"\b" + re.escape(t).replace(r"\*", r"\w*").replace(r"\ \.\.\.\ ", r"\W+(?:\w+\W+){0,6}") + r"\b", re.I
        )
        for t in terms
    ]

    def match(title: str, text: str, language: str | None) -> bool:
        body = f"{title}\n{text}"
        hits = sum(1 for p in patterns if p.search(body))
        return hits >= 3

    return match


def rate(function: Callable[[str, str, str | None], object], items: Sequence[Item], repeats: int) -> float:
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        for title, text, language in items:
            function(title, text, language)
        best = max(best, len(items) / (time.perf_counter() - started))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--config", default=str(ROOT / "config.yaml"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "match.md"))
    args = parser.parse_args()

    profile = load_config(args.config).profile
    matcher = Matcher.compile(profile)
    baseline = naive_baseline(profile)
    labelled = load_labelled([EVAL_SET])
    rows = []
    for name, share in (("background", 0.0), ("mixed", 0.25), ("dialogue", 1.0)):
        items = build_items(labelled, args.items, share, seed=7)
        size = sum(len(f"{t}\n{x}".encode()) for t, x, _ in items) / len(items)
        found = sum(1 for t, x, lang in items if matcher.match(t, x, lang).relevant)
        ours = rate(matcher.match, items, args.repeats)
        naive = rate(baseline, items[: max(200, args.items // 10)], max(1, args.repeats // 2))
        rows.append((name, len(items), size, found, ours, naive))
        print(f"{name:<11} {ours:>9,.0f} items/s  (naive per-term regex {naive:,.0f}/s, x{ours / naive:.1f})")

    lines = [
        "# Matcher speed",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, one core (one process, one thread); profile {matcher.version}.",
        f"Best of {args.repeats} runs. Target: {TARGET_RATE:,} items/s for 1 KB items.",
        "",
        "| mix | items | mean bytes | matched | matcher items/s | naive regex items/s | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, count, size, found, ours, naive in rows:
        lines.append(f"| {name} | {count} | {size:.0f} | {found} | {ours:,.0f} | {naive:,.0f} | x{ours / naive:.1f} |")
    lines += ["", "Naive baseline: one `re` pattern per profile term, tried in turn (see bench/bench_match.py)."]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    slowest = min(r[4] for r in rows)
    return 0 if slowest >= TARGET_RATE else 1


if __name__ == "__main__":
    raise SystemExit(main())
