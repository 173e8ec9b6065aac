"""Text reports for the terminal: the per-source summary table and the progress bar."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from monitor.types import OutcomeStatus, SourceOutcome


def truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def outcome_table(outcomes: Sequence[SourceOutcome]) -> str:
    header = f"{'source':<24} {'status':<12} {'entries':>7} {'new':>5} {'match':>5} {'time':>6}  message"
    lines = [header, "-" * len(header)]
    for o in outcomes:
        message = o.error_message or o.warning or ""
        if o.status is OutcomeStatus.ERROR and o.error_kind:
            message = f"[{o.error_kind}] {message}"
        lines.append(
            f"{truncate(o.source, 24):<24} {o.status.value:<12} {o.entries:>7} {o.new_items:>5} "
            f"{o.new_matches:>5} {o.elapsed:>5.1f}s  {truncate(message, 100)}"
        )
    return "\n".join(lines)


class Progress:
    """A one-line progress bar, for terminals only (the caller checks ``isatty``)."""

    def __init__(self, total: int, stream: TextIO, width: int = 30) -> None:
        self.total, self.stream, self.width, self.done = total, stream, width, 0

    def update(self, outcome: SourceOutcome) -> None:
        self.done += 1
        filled = int(self.width * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {truncate(outcome.source, 30):<30}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r" + " " * (self.width + 50) + "\r")
        self.stream.flush()
