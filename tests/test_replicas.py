"""Two `monitor run` replicas on one PostgreSQL share 200 sources; one dies, the other takes over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.configs import feed_source, write_config
from tests.support.daemon import DaemonProcess, poll_rows, query, wait_until
from tests.support.httpserver import LocalServer
from tests.support.outbox import SECRET, webhook_subscriber
from tests.support.webhookreceiver import WebhookReceiver

SOURCES = 200
INTERVAL = 3.0  # seconds
LEASE = 3.0
# These outlets answer after 1.5 s, so a replica holds their leases long enough to be killed while
# holding them (fast ones are leased and released within milliseconds: on a loaded machine the
# replica could release them between "it holds leases" and the kill).
SLOW = 20


def feed(n: int) -> str:
    items = "".join(
        f"<item><title>Report {n}.{k} from the municipality</title><link>https://outlet{n}.example/a/{k}</link>"
        f"<pubDate>Sun, 22 Nov 2026 06:0{k}:00 GMT</pubDate></item>"
        for k in range(2)
    )
    # every outlet also carries the same agency story: stored once, whoever polls it first
    shared = (
        "<item><title>Chief negotiators to meet in Brussels</title>"
        "<link>https://agency.example/story/1?utm_source=outlet" + str(n) + "</link></item>"
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Outlet {n}</title>{items}{shared}</channel></rss>'


def test_two_replicas_poll_each_due_source_once_and_survive_the_death_of_one(
    server: LocalServer, tmp_path: Path, postgres_url: str
) -> None:
    with WebhookReceiver(SECRET) as receiver:
        replicas_share_the_work(server, tmp_path, postgres_url, receiver)
    # each digest period was sent once, by one replica; every alert once
    hooks = receiver.received
    assert hooks and all(h.verified and 200 <= h.status < 300 for h in hooks)
    ids = [h.webhook_id for h in hooks]
    assert len(ids) == len(set(ids)), "a delivery was sent twice"
    periods = [h.json["data"]["period"]["end"] for h in hooks if h.json["type"] == "digest.created"]
    assert len(periods) >= 3 and len(periods) == len(set(periods)), periods
    alerts = [h.json["data"] for h in hooks if h.json["type"] == "match.created"]
    assert len(alerts) <= 1  # at most the agency story, once


def replicas_share_the_work(server: LocalServer, tmp_path: Path, postgres_url: str, receiver: WebhookReceiver) -> None:
    sources = [
        feed_source(f"s{n:03d}", server.add(f"/f/{n}.xml", feed(n), delay=1.5 if n < SLOW else 0.0))
        for n in range(SOURCES)
    ]
    subscribers = [
        webhook_subscriber(receiver.url, name="alerts", mode="immediate"),
        # a digest every 3 seconds, sent even when empty, so that every period shows
        webhook_subscriber(
            receiver.url, name="digests", mode="digest", when_empty="note", schedule={"cron": "*/3 * * * * *"}
        ),
    ]
    config = write_config(
        tmp_path,
        sources,
        database={"url": postgres_url},
        polling={
            "interval_minutes": INTERVAL / 60,
            "min_interval_minutes": 0.01,
            "max_interval_minutes": 1,
            "jitter_percent": 0,
            "adaptive": False,
        },
        daemon={"tick_seconds": 0.2, "lease_seconds": LEASE, "shutdown_grace_seconds": 3},
        http={
            "user_agent": "dialogue-monitor-test (+http://127.0.0.1/)",
            "timeout_seconds": 5,
            "concurrency": 8,
            "per_host_concurrency": 8,  # all 200 "outlets" are one host here
            "min_host_delay_seconds": 0,  # …so pacing per host would space them a second apart
        },
        web={"enabled": False},
        subscribers=subscribers,
    )
    first = DaemonProcess(config, tmp_path / "first.log")
    second = DaemonProcess(config, tmp_path / "second.log")
    try:
        first.wait_started(30)
        second.wait_started(30)

        def polled_at_least(times: int) -> bool:
            fewest = query(
                postgres_url,
                "SELECT count(*), min(n) FROM (SELECT source, count(*) AS n FROM polls GROUP BY source) AS per_source",
            )
            return fewest == [(SOURCES, fewest[0][1])] and fewest[0][1] >= times

        wait_until(lambda: polled_at_least(2), 120, "two cycles over every source", step=0.5)
        first_id = first.events("started")[0]["replica"]
        lease_query = f"SELECT name FROM sources WHERE lease_owner = '{first_id}'"
        slow = ", ".join(f"'s{n:03d}'" for n in range(SLOW))
        slow_lease_query = f"{lease_query} AND name IN ({slow})"
        wait_until(lambda: bool(query(postgres_url, slow_lease_query)), 30, "the first replica to hold a slow lease")
        first.kill()  # kill -9: no shutdown, its leases stay until they expire
        killed_at = datetime.now(UTC)
        held = [name for (name,) in query(postgres_url, lease_query)]
        assert held, "the killed replica held sources"
        expiry = killed_at + timedelta(seconds=LEASE)

        def taken_over() -> bool:
            names = ", ".join(f"'{name}'" for name in held)
            sql = f"SELECT count(DISTINCT source) FROM polls WHERE source IN ({names}) AND polled_at > '{expiry}'"
            return query(postgres_url, sql) == [(len(held),)]

        wait_until(taken_over, 60, "the survivor to take over the dead replica's sources", step=0.3)
        assert second.terminate() == 0
    finally:
        first.close()
        second.close()

    rows = poll_rows(postgres_url)
    by_source: dict[str, list[datetime]] = {}
    for source, when, status in rows:
        by_source.setdefault(source, []).append(when)
        assert status in ("ok", "not_modified"), (source, status)
    # each due time was served by one replica: consecutive polls of a source are a full interval apart
    shortest = min(
        (b - a).total_seconds() for times in by_source.values() for a, b in zip(times, times[1:], strict=False)
    )
    assert shortest >= INTERVAL - 0.01, shortest
    # every request the server saw was a recorded poll, except those the killed replica had in flight
    requests = sum(len(server.requests_for(f"/f/{n}.xml")) for n in range(SOURCES))
    assert 0 <= requests - len(rows) <= len(held)
    # both replicas did a share of the work before one died
    assert len(first.events("poll")) > 20 and len(second.events("poll")) > 20
    # no item stored twice: two own stories per outlet and the shared agency story once
    assert query(postgres_url, "SELECT count(*), count(DISTINCT key) FROM items") == [(2 * SOURCES + 1,) * 2]
    assert query(postgres_url, "SELECT count(*) FROM sources WHERE lease_owner IS NOT NULL") == [(0,)]
