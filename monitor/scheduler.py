"""The daemon (``monitor run``): the only module that imports APScheduler.

Jobs on one asyncio scheduler:

    poll          every ``daemon.tick_seconds``: lease the due sources (up to the free poll
                  slots) and poll each; a finished poll fills its slot again at once
    leases        every third of ``daemon.lease_seconds``: renew the leases of polls in flight,
                  refresh the source gauges
    housekeeping  every ``daemon.housekeeping_interval_hours``: retention with tombstones
    digest:NAME   per subscriber on its cron schedule in its time zone (see ``DeliveryJobs``)
    deliveries    alerts for new matches and retries of failed deliveries

Several replicas share the work through the database alone: a due source is leased to one
replica (``Repository.claim_due``), and a lease that is not renewed expires, so the sources of a
replica that died are picked up by the others. Each replica is one of these processes.

Shutdown (SIGTERM, SIGINT): no new work is taken; polls and sends in flight get
``daemon.shutdown_grace_seconds`` to finish; whatever is still running then is cancelled. A poll
is recorded in one transaction at its very end, so it is recorded whole or not at all; the lease
of one that was not is released, so the next start (or another replica) polls it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import resolve_zone
from monitor.errors import MonitorError, StorageError
from monitor.fetch import Fetcher, FetchLimits
from monitor.log import LOGGER_NAME, event, log_poll
from monitor.match import Matcher
from monitor.pipeline import Clock, FeedSource, PollContext, poll_source, utc_now
from monitor.store import Repository
from monitor.updates import UpdateRules
from monitor.web import HealthReport, Metrics, WebServer
from monitor.workers import ParsePool

log = logging.getLogger(f"{LOGGER_NAME}.daemon")


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    tick_seconds: float = 10.0
    lease: timedelta = timedelta(minutes=2)
    shutdown_grace_seconds: float = 30.0
    concurrency: int = 8
    housekeeping_every: timedelta = timedelta(hours=6)
    keep_unmatched: timedelta | None = timedelta(days=90)
    keep_polls: timedelta | None = timedelta(days=30)
    keep_story_index: timedelta | None = timedelta(days=30)
    stale_after_seconds: float = 300.0
    # host, port of /healthz and /metrics; None: no web endpoint
    listen: tuple[str, int] | None = None
    replica_id: str = field(default_factory=lambda: replica_name())
    # What a changed article does (the ``updates:`` section of config.yaml).
    update_rules: UpdateRules = field(default_factory=UpdateRules)


@dataclass(frozen=True, slots=True)
class DigestJob:
    """A subscriber's digest: ``send(period)`` sends the digest of the schedule's run at ``period``
    (a UTC time), at most once per period; it is idempotent, so a catch-up after downtime and
    several replicas are safe."""

    subscriber: str
    cron: str
    timezone: str
    send: Callable[[datetime], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DeliveryJobs:
    """What the delivery side plugs into the daemon."""

    digests: tuple[DigestJob, ...] = ()
    # Sends pending alerts and retries failed deliveries whose time has come.
    pending: Callable[[], Awaitable[None]] | None = None
    pending_every: timedelta = timedelta(seconds=30)


def replica_name() -> str:
    """host:pid:random, unique among replicas and across restarts of one."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{secrets.token_hex(3)}"


class Daemon:
    def __init__(
        self,
        sources: Sequence[FeedSource],
        repo: Repository,
        matcher: Matcher,
        limits: FetchLimits,
        settings: DaemonSettings,
        metrics: Metrics | None = None,
        deliveries: DeliveryJobs = DeliveryJobs(),
        clock: Clock = utc_now,
        parse_pool: ParsePool | None = None,
    ) -> None:
        self.sources = {s.name: s for s in sources}
        self.repo, self.matcher, self.limits, self.settings = repo, matcher, limits, settings
        self.metrics = metrics or Metrics()
        self.deliveries = deliveries
        self.clock = clock
        self.parse_pool = parse_pool
        self.stopping = asyncio.Event()
        self.last_cycle_at: datetime | None = None
        self.started_at = clock()
        self.web: WebServer | None = None
        self._busy: set[asyncio.Task[object]] = set()
        self._polls = 0
        self._pending_running = False
        self._pending_again = False
        self._fetcher: Fetcher | None = None
        self._scheduler: AsyncIOScheduler | None = None

    # ------------------------------------------------------------------ lifecycle

    def request_stop(self) -> None:
        if self.stopping.is_set():
            # A second signal: do not wait for the grace period.
            for task in list(self._busy):
                task.cancel()
            return
        event(log, logging.INFO, "stopping", "stop requested: taking no new work", replica=self.settings.replica_id)
        self.stopping.set()

    async def run(self) -> None:
        """Run until ``request_stop`` (SIGTERM/SIGINT), then shut down gracefully."""
        loop = asyncio.get_running_loop()
        await self._start_parse_workers()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await self._run()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    async def _start_parse_workers(self) -> None:
        """Start the parse workers now, with SIGINT ignored while they start.

        Starting them blocks the event loop for a moment: better before any source is leased
        than in the middle of a cycle, where it would stall lease renewals. And they inherit an
        ignored SIGINT: a Ctrl-C in a terminal goes to the whole process group, and should stop
        the daemon gracefully (which then closes the pool), not kill the workers mid-parse."""
        if self.parse_pool is None:
            return
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            with contextlib.suppress(MonitorError):
                await self.parse_pool.run(int)
        finally:
            signal.signal(signal.SIGINT, previous)

    async def _run(self) -> None:
        added = self.repo.ensure_sources(sorted(self.sources), self.clock())
        async with Fetcher(self.limits) as fetcher:
            self._fetcher = fetcher
            scheduler = self._scheduler = self._build_scheduler()
            if self.settings.listen is not None:
                host, port = self.settings.listen
                self.web = await WebServer(host, port, self.health, self.metrics).start()
            scheduler.start()
            event(
                log,
                logging.INFO,
                "started",
                f"daemon started as replica {self.settings.replica_id}: {len(self.sources)} sources "
                f"({added} new), {len(self.deliveries.digests)} digest schedules"
                + (f"; health and metrics on http://{self.web.host}:{self.web.port}/" if self.web else ""),
                replica=self.settings.replica_id,
                sources=len(self.sources),
                port=self.web.port if self.web else None,
            )
            try:
                await self.stopping.wait()
            finally:
                await self._shutdown(scheduler)
                self._fetcher = None

    def _build_scheduler(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
        now = self.clock()
        s = self.settings
        scheduler.add_job(
            self.poll_tick,
            IntervalTrigger(seconds=s.tick_seconds),
            id="poll",
            next_run_time=now,
            misfire_grace_time=None,
        )
        scheduler.add_job(
            self.maintain_leases,
            IntervalTrigger(seconds=max(s.lease.total_seconds() / 3, 0.1)),
            id="leases",
            misfire_grace_time=None,
        )
        scheduler.add_job(
            self.housekeeping,
            IntervalTrigger(seconds=s.housekeeping_every.total_seconds()),
            id="housekeeping",
            next_run_time=now + timedelta(seconds=min(60.0, s.housekeeping_every.total_seconds())),
            misfire_grace_time=None,
        )
        for digest in self.deliveries.digests:
            trigger = cron_trigger(digest.cron, digest.timezone)
            scheduler.add_job(
                self.send_digest,
                trigger,
                args=(digest, trigger),
                id=f"digest:{digest.subscriber}",
                misfire_grace_time=None,
            )
            # Catch up once on the latest run missed while the daemon was down (never one per run).
            scheduler.add_job(self.send_digest, args=(digest, trigger), id=f"digest-catch-up:{digest.subscriber}")
        if self.deliveries.pending is not None:
            scheduler.add_job(
                self.send_pending,
                IntervalTrigger(seconds=self.deliveries.pending_every.total_seconds()),
                id="deliveries",
                next_run_time=now,
                misfire_grace_time=None,
            )
        return scheduler

    async def _shutdown(self, scheduler: AsyncIOScheduler) -> None:
        scheduler.pause()
        grace = self.settings.shutdown_grace_seconds
        busy = {t for t in self._busy if t is not asyncio.current_task()}
        if busy:
            event(
                log,
                logging.INFO,
                "draining",
                f"waiting up to {grace:g} s for {len(busy)} poll(s) and send(s) in flight",
                in_flight=len(busy),
            )
            _, pending = await asyncio.wait(busy, timeout=grace)
            if pending:
                event(
                    log,
                    logging.WARNING,
                    "cancelled",
                    f"{len(pending)} task(s) still running after {grace:g} s: cancelled "
                    "(a poll is recorded whole or not at all)",
                    cancelled=len(pending),
                )
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        scheduler.shutdown(wait=False)
        if self.web is not None:
            await self.web.close()
        try:
            released = self.repo.release_leases(self.settings.replica_id)
        except StorageError as exc:
            released = 0
            event(log, logging.ERROR, "leases", f"could not release leases: {exc}; they expire by themselves")
        event(
            log,
            logging.INFO,
            "stopped",
            f"daemon stopped after {self._polls} polls; {released} unfinished lease(s) released",
            polls=self._polls,
            released=released,
        )

    @contextlib.contextmanager
    def _tracked(self) -> Iterator[None]:
        """Count the current task as work in flight, which shutdown waits for."""
        task = asyncio.current_task()
        assert task is not None
        self._busy.add(task)
        try:
            yield
        finally:
            self._busy.discard(task)

    # ------------------------------------------------------------------ polling

    async def poll_tick(self) -> None:
        self._fill()

    def _fill(self) -> None:
        """Lease due sources for the free poll slots and start polling them."""
        if self.stopping.is_set():
            return
        names = sorted(self.sources)
        try:
            while not self.stopping.is_set():
                free = self.settings.concurrency - self._polls_in_flight()
                now = self.clock()
                claimed = self.repo.claim_due(names, self.settings.replica_id, now, self.settings.lease, free)
                if not claimed:
                    break
                for name in claimed:
                    task = asyncio.get_running_loop().create_task(self._poll(self.sources[name]), name=f"poll:{name}")
                    self._busy.add(task)
                    task.add_done_callback(self._poll_done)
                if len(claimed) < free:
                    break
        except StorageError as exc:
            event(log, logging.ERROR, "cycle", f"cannot look up due sources: {exc}", error=str(exc))
            return
        self.last_cycle_at = self.clock()
        self.metrics.last_cycle.set(self.last_cycle_at.timestamp())

    def _polls_in_flight(self) -> int:
        return sum(1 for t in self._busy if t.get_name().startswith("poll:"))

    async def _poll(self, source: FeedSource) -> None:
        assert self._fetcher is not None
        context = PollContext(
            lease_owner=self.settings.replica_id, clock=self.clock, update_rules=self.settings.update_rules
        )
        self.metrics.in_flight.inc()
        try:
            outcome = await poll_source(source, self._fetcher, self.repo, self.matcher, self.parse_pool, context)
        finally:
            self.metrics.in_flight.dec()
        self._polls += 1
        self.metrics.observe_poll(outcome)
        log_poll(log, outcome)
        if outcome.new_matches and self.deliveries.pending is not None and not self.stopping.is_set():
            # Alerts for new matches go out now, not at the next run of the deliveries job.
            asyncio.get_running_loop().create_task(self.send_pending(), name="send:alerts")

    def _poll_done(self, task: asyncio.Task[object]) -> None:
        self._busy.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            event(log, logging.ERROR, "poll", f"{task.get_name()}: unexpected failure: {exc!r}", error=repr(exc))
        # Refill once half the slots are free rather than after every poll: one claim then leases
        # several sources, and a claim is a write every replica competes for.
        free = self.settings.concurrency - self._polls_in_flight()
        if not self.stopping.is_set() and free >= max(1, self.settings.concurrency // 2):
            self._fill()

    async def maintain_leases(self) -> None:
        now = self.clock()
        try:
            if self._polls_in_flight():
                self.repo.renew_leases(self.settings.replica_id, now, self.settings.lease)
            self._count_sources()
        except StorageError as exc:
            event(log, logging.ERROR, "leases", f"cannot renew leases: {exc}", error=str(exc))

    def _count_sources(self) -> None:
        states = self.repo.source_states()
        counts = {"ok": 0, "failing": 0, "paused": 0}
        for name in self.sources:
            state = states.get(name)
            if state is not None and state.paused:
                counts["paused"] += 1
            elif state is not None and state.consecutive_errors:
                counts["failing"] += 1
            else:
                counts["ok"] += 1
        for key, value in counts.items():
            self.metrics.sources.labels(key).set(value)

    # ------------------------------------------------------------------ other jobs

    async def housekeeping(self) -> None:
        with self._tracked():
            s = self.settings
            now = self.clock()
            try:
                pruned = self.repo.prune(
                    now,
                    now - s.keep_unmatched if s.keep_unmatched else None,
                    now - s.keep_polls if s.keep_polls else None,
                )
                bands = self.repo.prune_story_index(now - s.keep_story_index) if s.keep_story_index else 0
            except StorageError as exc:
                event(log, logging.ERROR, "housekeeping", f"retention failed: {exc}", error=str(exc))
                return
            self.metrics.retention_deleted.inc(pruned.items)
            if pruned.items or pruned.polls or bands:
                event(
                    log,
                    logging.INFO,
                    "housekeeping",
                    f"retention: {pruned.items} old unmatched item(s) deleted (tombstones kept), "
                    f"{pruned.polls} poll record(s) and {bands} near-duplicate index row(s) deleted",
                    items=pruned.items,
                    polls=pruned.polls,
                    story_index_rows=bands,
                )

    async def send_digest(self, digest: DigestJob, trigger: CronTrigger) -> None:
        period = latest_fire_time(trigger, self.clock())
        if period is None or self.stopping.is_set():
            return
        with self._tracked():
            try:
                await digest.send(period)
            except MonitorError as exc:
                event(
                    log,
                    logging.ERROR,
                    "delivery",
                    f"digest for {digest.subscriber} ({period:%Y-%m-%d %H:%M} UTC) failed: {exc}",
                    subscriber=digest.subscriber,
                    error=str(exc),
                )

    async def send_pending(self) -> None:
        """Alerts and due retries; one run at a time, and one more if asked while running."""
        if self.deliveries.pending is None or self.stopping.is_set():
            return
        if self._pending_running:
            self._pending_again = True
            return
        self._pending_running = True
        try:
            with self._tracked():
                again = True
                while again and not self.stopping.is_set():
                    self._pending_again = False
                    try:
                        await self.deliveries.pending()
                    except MonitorError as exc:
                        event(log, logging.ERROR, "delivery", f"sending pending deliveries failed: {exc}")
                    again = self._pending_again
        finally:
            self._pending_running = False

    # ------------------------------------------------------------------ health

    async def health(self) -> HealthReport:
        problems: list[str] = []
        now = self.clock()
        scheduler_running = self._scheduler is not None and self._scheduler.running and not self.stopping.is_set()
        if not scheduler_running:
            problems.append("the scheduler is not running")
        try:
            started = time.monotonic()
            await asyncio.wait_for(asyncio.to_thread(self.repo.ping), timeout=5.0)
            database = f"ok ({(time.monotonic() - started) * 1000:.0f} ms)"
        except (StorageError, TimeoutError) as exc:
            database = f"unreachable: {exc or 'no answer within 5 s'}"
            problems.append(f"database {database}")
        age = (now - self.last_cycle_at).total_seconds() if self.last_cycle_at else None
        if age is None:
            problems.append("no poll cycle has completed yet")
        elif age > self.settings.stale_after_seconds:
            problems.append(f"the last successful poll cycle was {age:.0f} s ago")
        return HealthReport(
            healthy=not problems,
            details={
                "replica": self.settings.replica_id,
                "scheduler": "running" if scheduler_running else "stopped",
                "database": database,
                "last_cycle_at": self.last_cycle_at.isoformat() if self.last_cycle_at else None,
                "last_cycle_age_seconds": round(age, 1) if age is not None else None,
                "polls_in_flight": self._polls_in_flight(),
                "polls": self._polls,
                "uptime_seconds": round((now - self.started_at).total_seconds(), 1),
            },
            problems=tuple(problems),
        )


def cron_trigger(cron: str, timezone: str) -> CronTrigger:
    """A 5-field cron (minute hour day month weekday) in an IANA zone; ``Europe/Pristina`` works.
    A sixth field in front gives the seconds (``*/10 * * * * *``: every ten seconds).

    Weekdays are read as cron reads them (0 and 7 Sunday, 1 Monday), not as APScheduler 3's
    ``from_crontab`` does (0 Monday), where ``1-5`` would mean Tuesday to Saturday.
    """
    fields = cron.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ValueError(
            f"expected 5 fields (minute hour day month weekday), or 6 with seconds first, got {len(fields)}"
        )
    second, minute, hour, day, month, weekday = fields
    return CronTrigger(
        second=second,
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=cron_weekdays(weekday),
        timezone=resolve_zone(timezone),
    )


_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FULL_DAY_NAMES = dict(
    zip(_CRON_WEEKDAYS, ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"), strict=True)
)


def cron_weekdays(field: str) -> str:
    """Cron's weekday field as a list of day names, which APScheduler reads the same way.

    Numbers (0-7, Sunday = 0 = 7), names, ranges, lists and steps are expanded by cron's rules:
    ``1-5`` → ``mon,tue,wed,thu,fri``, ``*/2`` → ``sun,tue,thu,sat``, ``sun-sat`` → every day.
    """
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.split(","):
        span, slash, step_text = part.partition("/")
        if slash and not step_text.isdigit():
            raise ValueError(f"the step in weekday {part!r} is not a number")
        step = int(step_text) if slash else 1
        if step < 1:
            raise ValueError(f"the step in weekday {part!r} must be at least 1")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            start, _, end = span.partition("-")
            first, last = _cron_weekday(start), _cron_weekday(end)
        else:
            first = _cron_weekday(span)
            last = 7 if slash else first
        if first > last:
            raise ValueError(f"weekday range {span!r} runs backwards; write it as two ranges")
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_CRON_WEEKDAYS[d] for d in sorted(days))


def _cron_weekday(token: str) -> int:
    token = token.strip().lower()
    if token.isdigit() and int(token) <= 7:
        return int(token)
    if token[:3] in _CRON_WEEKDAYS and token in (token[:3], _FULL_DAY_NAMES[token[:3]]):
        return _CRON_WEEKDAYS.index(token[:3])
    raise ValueError(f"unknown weekday {token!r}: use 0-7 (0 and 7 are Sunday) or sun, mon, … sat")


def validate_cron(cron: str) -> str:
    """Return ``cron`` if it is a schedule that fires; else raise ``ValueError`` saying why.

    Called from ``config.py``, so a mistake is a configuration error with its key path, found
    by ``monitor check`` and not by a digest that silently never goes out.
    """
    try:
        trigger = cron_trigger(cron, "UTC")
    except ValueError as exc:
        raise ValueError(f"{cron!r} is not a valid cron expression (minute hour day month weekday): {exc}") from None
    # A fixed date that does not exist (30 February) parses but never fires.
    if trigger.get_next_fire_time(None, datetime(2000, 1, 1, tzinfo=UTC)) is None:
        raise ValueError(f"{cron!r} never fires (a day that does not exist in that month?)")
    return cron


def latest_fire_time(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The most recent time at or before ``now`` the schedule fired (UTC), looking back a year.

    This is the digest period: a run missed during downtime is caught up once, for the latest
    period only, however many were missed."""
    for lookback in (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=32), timedelta(days=366)):
        latest = None
        fire: datetime | None = trigger.get_next_fire_time(None, now - lookback)
        steps = 0
        while fire is not None and fire <= now and steps < 100_000:
            latest = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
            steps += 1
        if latest is not None:
            return latest.astimezone(UTC)
    return None
