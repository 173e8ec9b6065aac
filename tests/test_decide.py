"""When a source is checked next: the policy of monitor.decide, scenario by scenario."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from monitor.decide import MAX_RETRY_AFTER, PollingPolicy, max_age, next_check
from monitor.types import CheckReason, OutcomeStatus, SourceHistory, SourceOutcome

NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
MIDDLE = 0.5  # a jitter draw of 0.5 adds nothing
POLICY = PollingPolicy(
    interval=timedelta(minutes=30),
    min_interval=timedelta(minutes=10),
    max_interval=timedelta(hours=3),
    jitter=0.1,
    pause_after=5,
    probe_interval=timedelta(days=1),
)
FIXED = PollingPolicy(**{**{f: getattr(POLICY, f) for f in POLICY.__slots__}, "fixed": True})  # type: ignore[arg-type]


def ok(**extra: object) -> SourceOutcome:
    return SourceOutcome("wire", OutcomeStatus.OK, **extra)  # type: ignore[arg-type]


def failed(**extra: object) -> SourceOutcome:
    return SourceOutcome(
        "wire",
        OutcomeStatus.ERROR,
        error_kind="timeout",
        error_message="fetch: no complete answer within 30 s",
        **extra,  # type: ignore[arg-type]
    )


def history(errors: int = 0, weekly: int = 0, paused: bool = False) -> SourceHistory:
    return SourceHistory(consecutive_errors=errors, weekly_entries=weekly, paused=paused)


def wait(policy: PollingPolicy, outcome: SourceOutcome, hist: SourceHistory, draw: float = MIDDLE) -> timedelta:
    return next_check(policy, outcome, hist, NOW, draw).at - NOW


def test_a_source_with_its_own_interval_is_checked_at_that_interval() -> None:
    decision = next_check(FIXED, ok(), history(weekly=500), NOW, MIDDLE)
    assert decision.at == NOW + timedelta(minutes=30)
    assert decision.reason is CheckReason.INTERVAL
    assert decision.paused_reason is None


def test_busy_sources_are_checked_sooner_and_quiet_ones_later() -> None:
    # 7 days / 336 items a week = every 30 minutes; twice as busy: every 15 minutes.
    assert wait(POLICY, ok(), history(weekly=336)) == timedelta(minutes=30)
    assert wait(POLICY, ok(), history(weekly=672)) == timedelta(minutes=15)
    # a wire service publishing hundreds a day is still not checked more often than the minimum
    assert wait(POLICY, ok(), history(weekly=10_000)) == timedelta(minutes=10)
    # a weekly column, and a source that published nothing this week: the maximum
    assert wait(POLICY, ok(), history(weekly=1)) == timedelta(hours=3)
    assert wait(POLICY, ok(), history(weekly=0)) == timedelta(hours=3)
    assert next_check(POLICY, ok(), history(weekly=336), NOW, MIDDLE).reason is CheckReason.ADAPTIVE


def test_a_source_that_never_answered_is_retried_at_the_interval_not_the_maximum() -> None:
    never = SourceHistory(consecutive_errors=1, weekly_entries=0, paused=False, ever_ok=False)
    decision = next_check(POLICY, failed(), never, NOW, MIDDLE)
    assert (decision.at - NOW, decision.reason) == (timedelta(minutes=30), CheckReason.INTERVAL)
    # once it has answered, a source with nothing this week is quiet: the maximum
    assert wait(POLICY, failed(), history(errors=1, weekly=0)) == timedelta(hours=3)


def test_errors_back_off_exponentially_up_to_the_maximum() -> None:
    waits = [wait(FIXED, failed(), history(errors=n)) for n in range(1, 5)]
    assert waits == [timedelta(minutes=m) for m in (30, 60, 120, 180)]
    assert next_check(FIXED, failed(), history(errors=3), NOW, MIDDLE).reason is CheckReason.BACKOFF


def test_after_enough_failures_the_source_is_paused_with_its_reason_and_probed_daily() -> None:
    decision = next_check(FIXED, failed(), history(errors=5), NOW, MIDDLE)
    assert decision.reason is CheckReason.PROBE
    assert decision.at == NOW + timedelta(days=1)
    assert decision.paused_reason == "5 failures in a row; last: fetch: no complete answer within 30 s"
    # one success resumes it
    resumed = next_check(FIXED, ok(), history(errors=0, paused=True), NOW, MIDDLE)
    assert resumed.paused_reason is None
    assert resumed.reason is CheckReason.INTERVAL


def test_pause_after_zero_never_pauses() -> None:
    never = PollingPolicy(**{**{f: getattr(FIXED, f) for f in FIXED.__slots__}, "pause_after": 0})  # type: ignore[arg-type]
    decision = next_check(never, failed(), history(errors=500), NOW, MIDDLE)
    assert decision.paused_reason is None
    assert decision.at == NOW + timedelta(hours=3)


def test_ttl_cache_control_and_retry_after_only_ever_push_the_check_later() -> None:
    assert wait(FIXED, ok(ttl_minutes=60), history()) == timedelta(minutes=60)
    assert wait(FIXED, ok(ttl_minutes=5), history()) == timedelta(minutes=30)
    assert wait(FIXED, ok(max_age=7200.0), history()) == timedelta(hours=2)
    assert wait(FIXED, ok(max_age=60.0), history()) == timedelta(minutes=30)
    decision = next_check(FIXED, failed(retry_after=5400.0), history(errors=1), NOW, MIDDLE)
    assert (decision.at - NOW, decision.reason) == (timedelta(minutes=90), CheckReason.RETRY_AFTER)
    # the largest of them wins
    assert wait(FIXED, ok(ttl_minutes=60, max_age=9000.0), history()) == timedelta(seconds=9000)


def test_a_feed_ttl_still_holds_when_the_server_answers_304() -> None:
    not_modified = SourceOutcome("wire", OutcomeStatus.NOT_MODIFIED)
    hist = SourceHistory(consecutive_errors=0, weekly_entries=0, paused=False, feed_ttl_minutes=60)
    decision = next_check(FIXED, not_modified, hist, NOW, MIDDLE)
    assert (decision.at - NOW, decision.reason) == (timedelta(minutes=60), CheckReason.TTL)


def test_a_feed_ttl_or_max_age_beyond_the_maximum_interval_is_capped() -> None:
    assert wait(FIXED, ok(ttl_minutes=24 * 60), history()) == timedelta(hours=3)
    assert wait(FIXED, ok(max_age=86_400.0 * 30), history()) == timedelta(hours=3)


def test_retry_after_is_honoured_beyond_the_maximum_but_not_forever() -> None:
    assert wait(FIXED, failed(retry_after=6 * 3600.0), history(errors=1)) == timedelta(hours=6)
    assert wait(FIXED, failed(retry_after=90 * 86_400.0), history(errors=1)) == MAX_RETRY_AFTER


def test_jitter_spreads_checks_within_its_fraction() -> None:
    assert wait(FIXED, ok(), history(), draw=0.0) == timedelta(minutes=27)
    assert wait(FIXED, ok(), history(), draw=0.999999) > timedelta(minutes=32, seconds=59)


def test_cache_control_max_age_is_read_and_no_cache_ignored() -> None:
    assert max_age({"cache-control": "public, max-age=600"}) == 600.0
    assert max_age({"cache-control": 'max-age="120"'}) == 120.0
    assert max_age({"cache-control": "no-cache, max-age=600"}) is None
    assert max_age({"cache-control": "max-age=soon"}) is None
    assert max_age({}) is None


@given(
    errors=st.integers(0, 200),
    weekly=st.integers(0, 100_000),
    draw=st.floats(0, 1, exclude_max=True),
    ttl=st.none() | st.integers(-5, 100_000),
    age=st.none() | st.floats(-10, 1e9),
    retry=st.none() | st.floats(-10, 1e9),
    fixed=st.booleans(),
)
def test_the_next_check_is_always_in_the_future_and_within_bounds(
    errors: int, weekly: int, draw: float, ttl: int | None, age: float | None, retry: float | None, fixed: bool
) -> None:
    policy = FIXED if fixed else POLICY
    outcome = failed(retry_after=retry) if errors else ok(ttl_minutes=ttl, max_age=age)
    decision = next_check(policy, outcome, history(errors=errors, weekly=weekly), NOW, draw)
    gap = decision.at - NOW
    assert gap >= policy.min_interval
    assert gap <= max(policy.probe_interval, MAX_RETRY_AFTER)
    if decision.paused_reason is None and decision.reason is not CheckReason.RETRY_AFTER:
        assert gap <= policy.max_interval
