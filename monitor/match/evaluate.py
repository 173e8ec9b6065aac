"""Measuring the matcher on a labelled set: precision and recall per language.

A labelled item is ``{"id", "title", "text", "lang", "relevant": true|false}`` (``kind`` is
optional: ``positive``, ``negative`` or ``hard`` for a hard negative). Sets are read from
YAML files (a list of items) or JSON-lines files, or from every such file in a directory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from monitor.errors import MonitorError
from monitor.match.engine import Matcher
from monitor.types import MatchResult


@dataclass(frozen=True, slots=True)
class LabelledItem:
    id: str
    title: str
    text: str
    lang: str | None
    relevant: bool
    kind: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    item: LabelledItem
    result: MatchResult

    @property
    def correct(self) -> bool:
        return self.item.relevant == self.result.relevant


@dataclass(slots=True)
class Scores:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    true_negatives: int = 0
    errors: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        if outcome.item.relevant and outcome.result.relevant:
            self.true_positives += 1
        elif outcome.result.relevant:
            self.false_positives += 1
        elif outcome.item.relevant:
            self.false_negatives += 1
        else:
            self.true_negatives += 1
        if not outcome.correct:
            self.errors.append(outcome)

    @property
    def total(self) -> int:
        return self.true_positives + self.false_positives + self.false_negatives + self.true_negatives

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0


def load_labelled(paths: Sequence[Path]) -> list[LabelledItem]:
    items: list[LabelledItem] = []
    for path in paths:
        files = (
            sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".jsonl")) if path.is_dir() else [path]
        )
        if not files:
            raise MonitorError(f"{path}: no .yaml or .jsonl files with labelled items")
        for file in files:
            items.extend(_read(file))
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise MonitorError(f"labelled set: id {item.id!r} appears twice")
        seen.add(item.id)
    return items


def _read(file: Path) -> Iterable[LabelledItem]:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise MonitorError(f"{file}: cannot read ({exc.strerror})") from None
    try:
        if file.suffix == ".jsonl":
            raw = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            raw = yaml.safe_load(text) or []
    except (ValueError, yaml.YAMLError) as exc:
        raise MonitorError(f"{file}: not valid {'JSON lines' if file.suffix == '.jsonl' else 'YAML'}: {exc}") from None
    if not isinstance(raw, list):
        raise MonitorError(f"{file}: expected a list of items")
    for number, entry in enumerate(raw, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("relevant"), bool) or "title" not in entry:
            raise MonitorError(
                f"{file}: item {number} needs at least 'title' and 'relevant' (true or false), got {entry!r:.120}"
            )
        yield LabelledItem(
            id=str(entry.get("id", f"{file.stem}-{number}")),
            title=str(entry["title"]),
            text=str(entry.get("text") or ""),
            lang=entry.get("lang"),
            relevant=entry["relevant"],
            kind=str(entry.get("kind", "")),
        )


def evaluate(matcher: Matcher, items: Iterable[LabelledItem]) -> dict[str, Scores]:
    """Scores per language (as labelled, e.g. ``sr-Cyrl``) and ``all``."""
    scores: dict[str, Scores] = {}
    overall = Scores()
    for item in items:
        outcome = Outcome(item, matcher.match(item.title, item.text, item.lang))
        scores.setdefault(item.lang or "?", Scores()).add(outcome)
        overall.add(outcome)
    return {**dict(sorted(scores.items())), "all": overall}


def report(scores: dict[str, Scores], *, show_errors: bool = True) -> str:
    lines = [f"{'language':<10} {'items':>5} {'relevant':>8} {'precision':>9} {'recall':>7}   FP  FN"]
    for name, s in scores.items():
        lines.append(
            f"{name:<10} {s.total:>5} {s.true_positives + s.false_negatives:>8} {s.precision:>9.3f} {s.recall:>7.3f}"
            f" {s.false_positives:>4} {s.false_negatives:>3}"
        )
    if show_errors:
        errors = [e for name, s in scores.items() if name != "all" for e in s.errors]
        if errors:
            lines.append("")
            lines.append("wrong decisions:")
        for e in errors:
            label = "missed" if e.item.relevant else f"false alarm ({e.result.rule}, score {e.result.score:g})"
            lines.append(f"  {e.item.id:<10} {label}: {e.item.title}")
    return "\n".join(lines)
