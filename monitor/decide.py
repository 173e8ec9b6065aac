"""When a source is checked next: pure policy, no I/O, no clock of its own.

    wait = the source's interval
           (adapted to how often it publishes, unless the source pins its own interval)
         × 2^(failures-1) after consecutive failures (exponential back-off)
         ± jitter, so that sources configured alike drift apart instead of firing together
         clamped to [min_interval, max_interval]
    then pushed later (never sooner) by the feed's <ttl>, the server's Cache-Control max-age
    and its Retry-After: next check = max(wait, ttl, max-age, Retry-After).

After ``pause_after`` failures in a row the source is paused with its reason and only probed
every ``probe_interval``; the first success resumes it. A paused source is never dropped.

Entry-frequency adaptation follows Miniflux: a source that published N items in the last seven
days is checked every 7 days / N (busy sources sooner, quiet ones later), within the bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.types import CheckReason, NextCheck, OutcomeStatus, SourceHistory, SourceOutcome

WEEK = timedelta(days=7)
# However long a server asks us to stay away, we come back within this; a week-long
# Retry-After is a misconfiguration more often than a wish.
MAX_RETRY_AFTER = timedelta(days=7)
# A Cache-Control header can name any number; headers parsed here are bounded to a year.
_MAX_HEADER_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class PollingPolicy:
    """The polling settings of one source (built from ``polling`` and the source's own keys)."""

    interval: timedelta
    min_interval: timedelta
    max_interval: timedelta
    # True when the source has its own interval_minutes, or adaptation is off.
    fixed: bool = False
    jitter: float = 0.1  # fraction of the wait, either way
    pause_after: int = 10  # consecutive failures; 0 never pauses
    probe_interval: timedelta = timedelta(days=1)


def next_check(
    policy: PollingPolicy, outcome: SourceOutcome, history: SourceHistory, now: datetime, draw: float
) -> NextCheck:
    """When to check again after ``outcome``; ``draw`` is a uniform random number in [0, 1)."""
    failing = outcome.status is OutcomeStatus.ERROR
    paused_reason = None
    if failing and policy.pause_after and history.consecutive_errors >= policy.pause_after:
        wait, reason = policy.probe_interval, CheckReason.PROBE
        paused_reason = f"{history.consecutive_errors} failures in a row; last: {outcome.error_message or '?'}"
    else:
        wait, reason = base_interval(policy, history)
        if failing and history.consecutive_errors > 1:
            # 2**20 intervals is already decades; the clamp to max_interval follows anyway.
            wait *= 2 ** min(history.consecutive_errors - 1, 20)
            reason = CheckReason.BACKOFF
        wait = _jittered(wait, policy.jitter, draw)
        wait = min(max(wait, policy.min_interval), policy.max_interval)
    for asked, why, cap in (
        (_minutes(_feed_ttl(outcome, history)), CheckReason.TTL, policy.max_interval),
        (_seconds(outcome.max_age), CheckReason.CACHE_CONTROL, policy.max_interval),
        (_seconds(outcome.retry_after), CheckReason.RETRY_AFTER, MAX_RETRY_AFTER),
    ):
        if asked is not None and min(asked, cap) > wait:
            wait, reason = min(asked, cap), why
    return NextCheck(at=now + wait, reason=reason, paused_reason=paused_reason)


def base_interval(policy: PollingPolicy, history: SourceHistory) -> tuple[timedelta, CheckReason]:
    """The interval before back-off and jitter: fixed, or adapted to the weekly entry count."""
    if policy.fixed or not history.ever_ok:
        # A source that never answered yet has no publishing rate: its first failures are retried
        # at the configured interval (then backed off), not at the quiet sources' maximum.
        return policy.interval, CheckReason.INTERVAL
    if history.weekly_entries <= 0:
        return policy.max_interval, CheckReason.ADAPTIVE
    adapted = WEEK / history.weekly_entries
    return min(max(adapted, policy.min_interval), policy.max_interval), CheckReason.ADAPTIVE


def max_age(headers: dict[str, str]) -> float | None:
    """Seconds from ``Cache-Control: max-age=N`` (None when absent, malformed or no-cache)."""
    value = headers.get("cache-control", "")
    directives = [d.strip().lower() for d in value.split(",")]
    if any(d in ("no-cache", "no-store") for d in directives):
        return None
    for directive in directives:
        name, _, number = directive.partition("=")
        if name.strip() == "max-age" and number.strip().strip('"').isdigit():
            return float(min(int(number.strip().strip('"')), _MAX_HEADER_SECONDS))
    return None


def _feed_ttl(outcome: SourceOutcome, history: SourceHistory) -> int | None:
    # A 304 repeats no <ttl>: the one of the last full answer still holds.
    return outcome.ttl_minutes if outcome.status is OutcomeStatus.OK else history.feed_ttl_minutes


def _jittered(wait: timedelta, jitter: float, draw: float) -> timedelta:
    return wait * (1 + jitter * (2 * draw - 1))


def _minutes(value: int | None) -> timedelta | None:
    return timedelta(minutes=value) if value is not None and value > 0 else None


def _seconds(value: float | None) -> timedelta | None:
    return timedelta(seconds=value) if value is not None and value > 0 else None
