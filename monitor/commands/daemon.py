"""``monitor run``: the daemon (APScheduler, the health and metrics server) and its delivery jobs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TextIO

from monitor.commands import EXIT_OK
from monitor.commands.common import repository
from monitor.commands.delivery import open_outbox
from monitor.commands.polling import feed_sources, fetch_limits, parse_pool, update_rules
from monitor.config import Config, EmailSubscriber, WebhookSubscriber, parse_listen
from monitor.errors import MonitorError
from monitor.log import LOGGER_NAME, LogFormat, log_delivery, setup_logging
from monitor.match import Matcher
from monitor.notify.outbox import DeliveryOutcome, DeliveryReport, Outbox, Subscriber
from monitor.scheduler import Daemon, DaemonSettings, DeliveryJobs, DigestJob, cron_trigger, latest_fire_time
from monitor.web import Metrics


def cmd_run(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    handler = setup_logging(sys.stderr, LogFormat(args.log_format), config.secret_values())
    try:
        listen = parse_listen(args.listen) if args.listen else parse_listen(config.web.listen)
    except ValueError as exc:
        raise MonitorError(f"--listen: {exc}") from None
    daemon_config = config.daemon
    retention = config.retention
    settings = DaemonSettings(
        tick_seconds=daemon_config.tick_seconds,
        lease=timedelta(seconds=daemon_config.lease_seconds),
        shutdown_grace_seconds=daemon_config.shutdown_grace_seconds,
        concurrency=config.http.concurrency,
        housekeeping_every=timedelta(hours=daemon_config.housekeeping_interval_hours),
        keep_unmatched=timedelta(days=retention.unmatched_items_days) if retention.unmatched_items_days else None,
        keep_polls=timedelta(days=retention.poll_history_days) if retention.poll_history_days else None,
        keep_story_index=timedelta(days=retention.story_index_days) if retention.story_index_days else None,
        stale_after_seconds=config.web.stale_after_seconds,
        listen=listen if config.web.enabled or args.listen else None,
        update_rules=update_rules(config),
    )
    try:
        matcher = Matcher.compile(config.profile)
        feeds = feed_sources(config)
        with (
            repository(config) as repo,
            parse_pool(config, feeds) as pool,
            open_outbox(config, repo, matcher) as outbox,
        ):
            # Subscribers seen for the first time start now: history is not news for them.
            outbox.register()
            metrics = Metrics()
            daemon = Daemon(
                feeds,
                repo,
                matcher,
                fetch_limits(config),
                settings,
                metrics=metrics,
                parse_pool=pool,
                deliveries=delivery_jobs(outbox, metrics),
            )
            asyncio.run(daemon.run())
    except OSError as exc:
        raise MonitorError(f"cannot start: {exc}") from None
    finally:
        logging.getLogger().removeHandler(handler)
    return EXIT_OK


def delivery_jobs(outbox: Outbox, metrics: Metrics | None = None) -> DeliveryJobs:
    """The outbox plugged into the daemon: each subscriber's digest on its cron, and every
    ``delivery.alerts_every_seconds`` (and right after each poll that stored new matches) the
    alerts for new matches and the retries that are due. The outbox is synchronous (smtplib, the
    database), so each job runs it in a thread."""
    log = logging.getLogger(f"{LOGGER_NAME}.delivery")

    def logged(reports: Sequence[DeliveryReport], started: float) -> None:
        for one in reports:
            elapsed = time.monotonic() - started
            log_report(log, one, elapsed)
            if metrics is not None and one.delivery is not None and one.outcome is not DeliveryOutcome.TAKEN:
                metrics.observe_delivery(
                    one.subscriber, f"{one.delivery.channel}_{one.delivery.kind}", one.outcome.value, elapsed
                )

    def digest_job(sub: Subscriber) -> DigestJob:
        trigger = cron_trigger(sub.schedule.cron, sub.schedule.timezone)

        async def send(period: datetime) -> None:
            previous = latest_fire_time(trigger, period - timedelta(seconds=1)) or period - timedelta(days=1)
            started = time.monotonic()
            report = await asyncio.to_thread(outbox.send_due_digest, sub, previous, period)
            logged([report], started)

        return DigestJob(sub.name, sub.schedule.cron, sub.schedule.timezone, send)

    async def pending() -> None:
        started = time.monotonic()
        reports = await asyncio.to_thread(lambda: [*outbox.deliver_immediate_alerts(), *outbox.retry_due()])
        logged(reports, started)

    digests = tuple(
        digest_job(s)
        for s in outbox.enabled
        if isinstance(s, EmailSubscriber) or (isinstance(s, WebhookSubscriber) and s.mode == "digest")
    )
    return DeliveryJobs(
        digests=digests,
        pending=pending if outbox.enabled else None,
        pending_every=timedelta(seconds=outbox.settings.policy.alerts_every_seconds),
    )


def log_report(log: logging.Logger, report: DeliveryReport, elapsed: float) -> None:
    """One log line per delivery attempted (nothing for an empty or already-taken digest)."""
    delivery = report.delivery
    if delivery is None or report.outcome is DeliveryOutcome.TAKEN:
        return
    failed = report.outcome in (DeliveryOutcome.WILL_RETRY, DeliveryOutcome.DEAD)
    status = report.outcome.value
    if report.outcome is DeliveryOutcome.WILL_RETRY and delivery.next_attempt_at:
        status += f" at {delivery.next_attempt_at:%H:%M:%S} UTC"
    log_delivery(
        log,
        subscriber=report.subscriber,
        kind=f"{delivery.channel} {delivery.kind}",
        status=status,
        key=delivery.key,
        items=delivery.item_count,
        elapsed=elapsed,
        attempt=delivery.attempts,
        error=report.detail if failed else None,
    )
