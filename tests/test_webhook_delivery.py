"""Signed webhooks to a real local receiver that verifies them with the reference library."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.cli import main
from monitor.notify.outbox import DeliveryOutcome
from monitor.types import DeliveryStatus
from tests.conftest import FIXTURES
from tests.support.configs import feed_source, write_config
from tests.support.httpserver import LocalServer
from tests.support.outbox import (
    SECRET,
    FakeClock,
    delivery_config,
    item,
    match,
    open_outbox,
    store,
    webhook_subscriber,
)
from tests.support.webhookreceiver import WebhookReceiver


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


def now() -> datetime:
    # Receivers reject timestamps more than 5 minutes off: the signing clock starts at real time.
    return datetime.now(UTC).replace(microsecond=0)


def test_poll_once_sends_one_signed_event_per_new_match(server: LocalServer, tmp_path: Path) -> None:
    feed = (FIXTURES / "feeds" / "en_rss.xml").read_bytes()
    sources = [feed_source("wire", server.add("/en.xml", feed), "en", "international")]
    with WebhookReceiver(SECRET) as receiver:
        config = write_config(tmp_path, sources, subscribers=[webhook_subscriber(receiver.url)])
        code, out = run("--config", str(config), "poll", "--once")
        assert code == 0, out
        events = receiver.accepted
        assert events and all(e.verified for e in events)
        assert "deliveries: " + str(len(events)) + " sent" in out
        # A second cycle finds nothing new and sends nothing.
        run("--config", str(config), "poll", "--once")
        assert len(receiver.received) == len(events)
    titles = [e.json["data"]["item"]["title"] for e in events]
    assert "Chief negotiators meet in Brussels as EU pushes Kosovo–Serbia dialogue forward" in titles
    assert not any("handball" in t.lower() for t in titles)
    event = next(
        e
        for e in events
        if e.json["data"]["item"]["title"]
        == "Chief negotiators meet in Brussels as EU pushes Kosovo–Serbia dialogue forward"
    )
    body = event.json
    assert body["type"] == "match.created" and body["version"] == 1
    assert body["id"] == event.webhook_id and event.webhook_id.startswith("msg_")
    assert body["subscriber"] == "cms"
    entry = body["data"]["item"]
    assert entry["url"] == "https://wire.example/news/chief-negotiators-brussels"
    assert entry["source"] == {"name": "wire", "title": "Wire", "origin": "international"}
    assert entry["rule"] and entry["also_reported_by"] == []
    assert set(entry) >= {"id", "language", "published", "first_seen", "snippet", "highlights", "topics", "actors"}
    assert len({e.webhook_id for e in events}) == len(events)
    assert event.headers["content-type"] == "application/json"
    assert event.headers["user-agent"].startswith("dialogue-monitor/")


def seed(repo: Any, when: datetime) -> list[int]:
    return store(
        repo,
        when,
        (item("kossev", 1, "Dijalog: sastanak u Briselu", language="sr"), match(snippet="Dijalog se nastavlja.")),
    )


def test_500_three_times_then_200_is_one_event_with_one_id(tmp_path: Path) -> None:
    retry_after = (503, {"Retry-After": "7"})
    with WebhookReceiver(SECRET, script=[500, retry_after, 500]) as receiver:
        config = delivery_config(tmp_path, [webhook_subscriber(receiver.url)])
        clock = FakeClock(now())
        with open_outbox(config, config.database.url, clock) as (outbox, repo):
            outbox.register(clock.now() - timedelta(minutes=1))
            seed(repo, clock.now())
            [report] = outbox.deliver_immediate_alerts()
    assert report.outcome is DeliveryOutcome.SENT
    assert [r.status for r in receiver.received] == [500, 503, 500, 200]
    assert len({r.webhook_id for r in receiver.received}) == 1
    assert all(r.verified for r in receiver.received)
    assert len({r.body for r in receiver.received}) == 1
    # Back-off: ~2 s, then Retry-After's 7 s, then ~8 s (4..8 with jitter).
    assert 1 <= clock.sleeps[0] <= 2 and clock.sleeps[1] >= 7 and 4 <= clock.sleeps[2] <= 8
    timestamps = [int(r.headers["webhook-timestamp"]) for r in receiver.received]
    assert timestamps == sorted(timestamps) and timestamps[-1] > timestamps[0]
    assert report.delivery is not None and report.delivery.attempts == 4


def test_after_max_attempts_the_event_is_dead_and_listed(tmp_path: Path) -> None:
    with WebhookReceiver(SECRET, script=[500] * 10) as receiver:
        config = delivery_config(
            tmp_path, [webhook_subscriber(receiver.url)], delivery={"max_attempts": 3, "inline_wait_max_seconds": 60}
        )
        clock = FakeClock(now())
        with open_outbox(config, config.database.url, clock) as (outbox, repo):
            outbox.register(clock.now() - timedelta(minutes=1))
            seed(repo, clock.now())
            [report] = outbox.deliver_immediate_alerts()
        assert report.outcome is DeliveryOutcome.DEAD
        assert len(receiver.received) == 3
        code, listing = run("--config", str(tmp_path / "config.yaml"), "deliveries", "--failed")
    assert code == 0
    line = next(line for line in listing.splitlines() if " cms " in line)
    assert " dead " in line and "HTTP 500" in line and "gave up after 3 attempts" in line


def test_410_gone_is_dead_at_once(tmp_path: Path) -> None:
    with WebhookReceiver(SECRET, script=[410]) as receiver:
        config = delivery_config(tmp_path, [webhook_subscriber(receiver.url)])
        clock = FakeClock(now())
        with open_outbox(config, config.database.url, clock) as (outbox, repo):
            outbox.register(clock.now() - timedelta(minutes=1))
            seed(repo, clock.now())
            [report] = outbox.deliver_immediate_alerts()
    assert report.outcome is DeliveryOutcome.DEAD
    assert report.delivery is not None and report.delivery.status is DeliveryStatus.DEAD
    assert "HTTP 410" in (report.delivery.last_error or "") and len(receiver.received) == 1


def test_slack_format_escapes_feed_text_and_keeps_only_http_links(tmp_path: Path) -> None:
    with WebhookReceiver() as receiver:
        sub = {"name": "newsroom-slack", "kind": "webhook", "url": receiver.url, "format": "slack"}
        config = delivery_config(tmp_path, [sub])
        clock = FakeClock(now())
        with open_outbox(config, config.database.url, clock) as (outbox, repo):
            outbox.register(clock.now() - timedelta(minutes=1))
            store(
                repo,
                clock.now(),
                (item("koha", 1, "<!channel> Dialogu & <b>Kurti</b>", language="sq", url="javascript:alert(1)"),
                 match(snippet="Dialogu <vazhdon> sot.")),
                (item("balkaninsight", 2, "Talks | resume", url="https://bi.example/a|b>c"), match()),
            )  # fmt: skip
            reports = outbox.deliver_immediate_alerts()
    assert [r.outcome for r in reports] == [DeliveryOutcome.SENT, DeliveryOutcome.SENT]
    bodies = [r.json for r in receiver.accepted]
    texts = [json.dumps(b, ensure_ascii=False) for b in bodies]
    koha = next(t for t in texts if "Kurti" in t)
    assert "&lt;!channel&gt; Dialogu &amp; &lt;b&gt;Kurti&lt;/b&gt;" in koha
    assert "<!channel>" not in koha and "javascript" not in koha
    bi = next(b for b in bodies if "Talks" in json.dumps(b))
    section = bi["blocks"][1]["text"]["text"]
    assert section.startswith("*<https://bi.example/a%7Cb%3Ec|Talks | resume>*")
    assert "webhook-signature" not in receiver.accepted[0].headers  # no secret configured for Slack


def test_digest_mode_webhook_sends_one_digest_per_period(tmp_path: Path) -> None:
    with WebhookReceiver(SECRET) as receiver:
        sub = webhook_subscriber(receiver.url, mode="digest", schedule={"cron": "0 7 * * *", "timezone": "UTC"})
        config = delivery_config(tmp_path, [sub])
        clock = FakeClock(now())
        start = clock.now() - timedelta(hours=1)
        with open_outbox(config, config.database.url, clock) as (outbox, repo):
            outbox.register(start)
            seed(repo, clock.now() - timedelta(minutes=5))
            assert outbox.deliver_immediate_alerts() == []  # not an immediate subscriber
            report = outbox.send_due_digest(config.subscribers[0], start, clock.now())
            again = outbox.send_due_digest(config.subscribers[0], start, clock.now())
    assert report.outcome is DeliveryOutcome.SENT and again.outcome is DeliveryOutcome.TAKEN
    [hook] = receiver.received
    assert hook.verified
    body = hook.json
    assert body["type"] == "digest.created" and body["version"] == 1
    assert body["data"]["count"] == 1
    assert body["data"]["items"][0]["title"] == "Dijalog: sastanak u Briselu"
    assert body["data"]["period"]["end"].endswith("Z")


def test_a_batch_longer_than_the_lease_leaves_no_delivery_open_to_a_second_sender(tmp_path: Path) -> None:
    # Two alerts in one batch; the receiver takes 45 s over the first (longer than the 30 s lease).
    # While the second is being sent, a second sender (a replica) looks for due deliveries: the
    # second alert must be claimed for a full lease from when it was claimed, so the replica finds
    # nothing and the receiver gets each alert once.
    clock = FakeClock(now())
    replica_reports: list[Any] = []

    def slow_answer() -> None:
        clock.current += timedelta(seconds=45)

    def replica_looks() -> None:
        replica_reports.extend(replica.retry_due(clock.now()))

    with WebhookReceiver(SECRET, script=[slow_answer, replica_looks]) as receiver:
        config = delivery_config(tmp_path, [webhook_subscriber(receiver.url)], delivery={"lease_seconds": 30})
        # The replica is opened before the batch: opening it inside the receiver's answer could
        # outlast the sender's HTTP timeout on a loaded machine.
        with (
            open_outbox(config, config.database.url, clock) as (outbox, repo),
            open_outbox(config, config.database.url, clock) as (replica, _),
        ):
            outbox.register(clock.now() - timedelta(minutes=1))
            store(
                repo,
                clock.now(),
                (item("kossev", 1, "Dijalog: sastanak u Briselu", language="sr"), match(snippet="Dijalog.")),
                (item("kossev", 2, "Dijalog: nastavak u ponedeljak", language="sr"), match(snippet="Nastavak.")),
            )
            reports = outbox.deliver_immediate_alerts()
    assert [r.outcome for r in reports] == [DeliveryOutcome.SENT, DeliveryOutcome.SENT]
    assert replica_reports == []
    ids = [r.webhook_id for r in receiver.received]
    assert len(ids) == 2 and len(set(ids)) == 2, ids
