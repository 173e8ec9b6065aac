"""Text reports for the terminal: the per-source summary table, the outbox, the progress bar."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO
from zoneinfo import ZoneInfo

from monitor.notify.outbox import DeliveryOutcome, DeliveryReport
from monitor.types import Delivery, DeliveryStatus, OutcomeStatus, SourceOutcome


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


_OUTCOME_WORDS = {
    DeliveryOutcome.SENT: "sent",
    DeliveryOutcome.WILL_RETRY: "failed, will retry",
    DeliveryOutcome.DEAD: "DEAD",
    DeliveryOutcome.EMPTY: "nothing new, skipped",
    DeliveryOutcome.TAKEN: "already recorded by another run",
}


def delivery_summary(reports: Sequence[DeliveryReport]) -> str:
    """One line per delivery attempted in this run, then the totals."""
    lines = []
    for report in reports:
        d = report.delivery
        what = f"#{d.id} {d.kind}, {d.item_count} item{'s' if d.item_count != 1 else ''}" if d else "digest"
        line = f"  {truncate(report.subscriber, 20):<20} {what:<26} {_OUTCOME_WORDS[report.outcome]}"
        if d and report.outcome is DeliveryOutcome.WILL_RETRY and d.next_attempt_at:
            line += f" at {d.next_attempt_at:%H:%M:%S} UTC"
        if report.detail and report.outcome is not DeliveryOutcome.EMPTY:
            line += f": {truncate(report.detail, 110)}"
        lines.append(line)
    counts = {o: sum(1 for r in reports if r.outcome is o) for o in DeliveryOutcome}
    total = (
        f"deliveries: {counts[DeliveryOutcome.SENT]} sent, {counts[DeliveryOutcome.WILL_RETRY]} to retry, "
        f"{counts[DeliveryOutcome.DEAD]} dead"
    )
    return "\n".join([total, *lines])


def delivery_table(rows: Sequence[Delivery], zone: ZoneInfo) -> str:
    header = (
        f"{'id':>6}  {'created':<16} {'subscriber':<16} {'kind':<6} {'items':>5} {'status':<8} {'tries':>5}  detail"
    )
    lines = [header, "-" * len(header)]
    for d in rows:
        created = d.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        if d.status is DeliveryStatus.SENT:
            detail = f"sent {d.sent_at.astimezone(zone):%Y-%m-%d %H:%M} {d.message_id}" if d.sent_at else d.message_id
            if d.last_error:
                detail += f" (note: {d.last_error})"
        elif d.status is DeliveryStatus.PENDING and d.next_attempt_at:
            detail = f"next try {d.next_attempt_at.astimezone(zone):%Y-%m-%d %H:%M:%S}"
            detail += f"; last error: {d.last_error}" if d.last_error else ""
        elif d.status is DeliveryStatus.SENDING and d.lease_until:
            detail = f"being sent; taken over after {d.lease_until.astimezone(zone):%H:%M:%S} if its sender died"
        else:
            detail = d.last_error or ""
        lines.append(
            f"{d.id:>6}  {created:<16} {truncate(d.subscriber, 16):<16} {d.kind:<6} {d.item_count:>5} "
            f"{d.status.value:<8} {d.attempts:>5}  {truncate(detail, 140)}"
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
