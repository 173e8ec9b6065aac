"""Scheduling state in the store, on SQLite and PostgreSQL: leases, next checks, pauses, retention."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.identity import identify
from monitor.store import PollRecord, Repository, open_engine
from monitor.types import (
    CheckReason,
    FeedEntry,
    MatchResult,
    NextCheck,
    OutcomeStatus,
    SourceHistory,
    SourceOutcome,
    Validators,
)

NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
RELEVANT = MatchResult(True, 4.0, ("Chief negotiators met in Brussels.",), (), ("asm",), None, "dialogue+party")
IRRELEVANT = MatchResult(False, 0.0)


def in_minutes(minutes: float, paused: str | None = None) -> NextCheck:
    return NextCheck(NOW + timedelta(minutes=minutes), CheckReason.INTERVAL, paused)


def test_a_due_source_is_leased_to_one_replica_until_its_poll_is_recorded(database_url: str) -> None:
    with Repository(open_engine(database_url)) as repo:
        assert repo.ensure_sources(["a", "b", "c"], NOW) == 3
        assert repo.ensure_sources(["a", "b", "c"], NOW) == 0
        assert repo.claim_due(["a", "b", "c"], "r1", NOW, LEASE, limit=2) == ["a", "b"]
        assert repo.claim_due(["a", "b", "c"], "r2", NOW, LEASE, limit=5) == ["c"]
        assert repo.claim_due(["a", "b", "c"], "r2", NOW, LEASE, limit=5) == []
        seen: list[SourceHistory] = []

        def plan(history: SourceHistory) -> NextCheck:
            seen.append(history)
            return in_minutes(30)

        repo.commit_poll(SourceOutcome("a", OutcomeStatus.OK), [], "m1", NOW, plan, lease_owner="r1")
        assert seen == [SourceHistory(consecutive_errors=0, weekly_entries=0, paused=False)]
        state = repo.source_state("a")
        assert state.next_check_at == NOW + timedelta(minutes=30)
        assert state.next_check_reason == "interval"
        # released, but not due before its next check
        assert repo.claim_due(["a"], "r2", NOW + timedelta(minutes=29), LEASE, 5) == []
        assert repo.claim_due(["a"], "r2", NOW + timedelta(minutes=30), LEASE, 5) == ["a"]


def test_an_expired_lease_is_taken_over_and_a_renewed_one_is_not(database_url: str) -> None:
    with Repository(open_engine(database_url)) as repo:
        repo.ensure_sources(["a", "b"], NOW)
        assert repo.claim_due(["a", "b"], "r1", NOW, LEASE, 5) == ["a", "b"]
        later = NOW + timedelta(seconds=20)
        assert repo.renew_leases("r1", later, LEASE) == 2
        # 35 s after the claim the original lease would have expired, the renewed one has not
        assert repo.claim_due(["a", "b"], "r2", NOW + timedelta(seconds=35), LEASE, 5) == []
        # r1 dies: nobody renews; after expiry r2 takes both over
        assert repo.claim_due(["a", "b"], "r2", later + LEASE, LEASE, 5) == ["a", "b"]
        assert repo.release_leases("r2") == 2
        assert repo.claim_due(["a", "b"], "r3", later + LEASE, LEASE, 5) == ["a", "b"]


def test_only_configured_sources_are_handed_out(database_url: str) -> None:
    with Repository(open_engine(database_url)) as repo:
        repo.ensure_sources(["a", "removed"], NOW)
        assert repo.claim_due(["a"], "r1", NOW, LEASE, 5) == ["a"]


def test_failures_pause_a_source_with_its_reason_and_resume_lifts_it(database_url: str) -> None:
    failed = SourceOutcome("a", OutcomeStatus.ERROR, error_kind="http_status", error_message="fetch: HTTP 410")
    with Repository(open_engine(database_url)) as repo:
        repo.ensure_sources(["a"], NOW)
        histories: list[SourceHistory] = []

        def pause_at_three(history: SourceHistory) -> NextCheck:
            histories.append(history)
            return in_minutes(60 * 24, "3 failures" if history.consecutive_errors >= 3 else None)

        for _ in range(3):
            repo.commit_poll(failed, [], "m1", NOW, pause_at_three)
        assert [h.consecutive_errors for h in histories] == [1, 2, 3]
        state = repo.source_state("a")
        assert state.paused and state.paused_reason == "3 failures" and state.paused_at == NOW
        before = repo.resume_source("a", NOW + timedelta(hours=1))
        assert before is not None and before.paused
        state = repo.source_state("a")
        assert not state.paused and state.consecutive_errors == 0
        assert state.next_check_at == NOW + timedelta(hours=1) and state.next_check_reason == "resumed"
        assert repo.resume_source("never-seen", NOW) is None


def test_the_weekly_entry_count_feeds_the_next_check(database_url: str) -> None:
    def entry(n: int, age: timedelta) -> FeedEntry:
        return FeedEntry(None, f"https://wire.example/{n}", f"T{n}", "x", NOW - age, "en")

    items = [identify("a", entry(n, timedelta(days=n)), "en") for n in range(10)]  # 0…9 days old
    with Repository(open_engine(database_url)) as repo:
        seen: list[SourceHistory] = []

        def plan(history: SourceHistory) -> NextCheck:
            seen.append(history)
            return in_minutes(30)

        repo.commit_poll(SourceOutcome("a", OutcomeStatus.OK), [(i, IRRELEVANT) for i in items], "m1", NOW, plan)
        assert seen[0].weekly_entries == 8  # 0 … 7 days old


def test_retention_deletes_old_unmatched_items_and_they_never_come_back(database_url: str) -> None:
    def item(n: int) -> object:
        return identify("wire", FeedEntry(f"g{n}", f"https://wire.example/{n}", f"T{n}", "x", NOW, "en"), "en")

    old = [item(n) for n in range(4)]
    with Repository(open_engine(database_url)) as repo:
        ok = SourceOutcome("wire", OutcomeStatus.OK)
        repo.commit_poll(ok, [(old[0], RELEVANT), (old[1], IRRELEVANT), (old[2], IRRELEVANT)], "m1", NOW)
        later = NOW + timedelta(days=100)
        repo.commit_poll(ok, [(old[3], IRRELEVANT)], "m1", later)
        pruned = repo.prune(later, unmatched_before=later - timedelta(days=90), polls_before=later - timedelta(days=30))
        assert (pruned.items, pruned.polls) == (2, 1)
        assert repo.count_items() == 2  # the matched one and the recent one
        assert repo.count_tombstones() == 2
        # the feed still carries them: not new, not stored again, not even under a changed link
        moved = identify("wire", FeedEntry("g1", "https://wire.example/moved", "T1", "x", NOW, "en"), "en")
        assert repo.unknown([*old, moved]) == []
        assert repo.commit_poll(ok, [(old[1], RELEVANT), (old[2], IRRELEVANT)], "m1", later) == []
        assert repo.count_items() == 2


def test_a_poll_that_outlived_its_lease_leaves_the_schedule_to_the_new_holder(database_url: str) -> None:
    with Repository(open_engine(database_url)) as repo:
        repo.ensure_sources(["a"], NOW)
        assert repo.claim_due(["a"], "r1", NOW, LEASE, 5) == ["a"]
        # r1 stalls past its lease; r2 takes the source over
        assert repo.claim_due(["a"], "r2", NOW + LEASE, LEASE, 5) == ["a"]
        late = SourceOutcome("a", OutcomeStatus.OK)
        repo.commit_poll(late, [], "m1", NOW + LEASE, lambda history: in_minutes(30), lease_owner="r1")
        state = repo.source_state("a")
        assert state.next_check_at == NOW and state.last_status == "ok"
        # r2's own poll schedules the next check and releases its lease
        repo.commit_poll(late, [], "m1", NOW + LEASE, lambda history: in_minutes(30), lease_owner="r2")
        assert repo.source_state("a").next_check_at == NOW + timedelta(minutes=30)
        assert repo.claim_due(["a"], "r3", NOW + LEASE, LEASE, 5) == []


def _aged(path: str, age: timedelta) -> FeedEntry:
    return FeedEntry(None, f"https://wire.example/{path}", f"Wire story {path}", "x", NOW - age, "en")


def test_polls_recorded_together_are_recorded_as_one_by_one(database_url: str) -> None:
    """``record_polls`` (a cycle's unchanged and failed feeds, one transaction) leaves every source
    as ``commit_poll`` leaves it alone: status, validators, errors, history, next check, lease."""
    later = NOW + timedelta(minutes=5)
    outcomes = {
        "quiet": SourceOutcome("quiet", OutcomeStatus.NOT_MODIFIED, validators=Validators('"v2"', "Sun, 22 Nov")),
        "busy": SourceOutcome("busy", OutcomeStatus.NOT_MODIFIED, validators=Validators('"b1"')),
        "down": SourceOutcome("down", OutcomeStatus.ERROR, error_kind="timeout", error_message="fetch: too slow"),
        "fresh": SourceOutcome("fresh", OutcomeStatus.ERROR, error_kind="network", error_message="fetch: refused"),
    }
    results = {}
    for way in ("alone", "together"):
        with Repository(open_engine(database_url)) as repo:
            names = [f"{way}-{name}" for name in outcomes if name != "fresh"]  # "fresh" has no row yet
            repo.ensure_sources(names, NOW)
            busy = [identify(f"{way}-busy", _aged(f"{way}/{n}", timedelta(days=n)), "en") for n in range(4)]
            stored = [(i, IRRELEVANT) for i in busy]
            repo.commit_poll(SourceOutcome(f"{way}-busy", OutcomeStatus.OK, new_items=4), stored, "m1", NOW)
            repo.commit_poll(SourceOutcome(f"{way}-down", OutcomeStatus.ERROR, error_kind="timeout"), [], "m1", NOW)
            assert sorted(repo.claim_due(names, "r1", later, LEASE, 10)) == sorted(names)
            seen: dict[str, SourceHistory] = {}

            def planner(name: str, seen: dict[str, SourceHistory]) -> Callable[[SourceHistory], NextCheck]:
                def plan(history: SourceHistory) -> NextCheck:
                    seen[name] = history
                    return in_minutes(10 * (len(seen)))

                return plan

            renamed = {name: replace(o, source=f"{way}-{name}") for name, o in outcomes.items()}
            if way == "alone":
                for name, outcome in renamed.items():
                    repo.commit_poll(outcome, [], "m1", later, planner(name, seen), lease_owner="r1")
            else:
                records = [PollRecord(outcome, planner(name, seen)) for name, outcome in renamed.items()]
                repo.record_polls(records, later, lease_owner="r1")
            states = {name: replace(repo.source_state(f"{way}-{name}"), name=name) for name in outcomes}
            # every lease released: each source is due again at its next check, for anyone
            assert repo.claim_due(names, "r2", later, LEASE, 10) == []
            results[way] = (states, seen)
    assert results["together"] == results["alone"]
    states, seen = results["together"]
    assert seen["busy"].weekly_entries == 4 and seen["quiet"].weekly_entries == 0
    assert states["quiet"].validators == Validators('"v2"', "Sun, 22 Nov")
    assert (states["down"].consecutive_errors, states["fresh"].consecutive_errors) == (2, 1)
    assert states["fresh"].next_check_at == NOW + timedelta(minutes=40)


def test_record_polls_takes_no_items(database_url: str) -> None:
    with Repository(open_engine(database_url)) as repo, pytest.raises(ValueError, match="commit_poll stores items"):
        repo.record_polls([PollRecord(SourceOutcome("a", OutcomeStatus.OK, new_items=1))], NOW)
