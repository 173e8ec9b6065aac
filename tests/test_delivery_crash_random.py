"""The digest sender killed with SIGKILL at random moments: nothing lost, repeats only as documented.

Each trial stores a few new matches, then runs the two commands that send: ``monitor digest
--send`` (email digests to a real aiosmtpd server, a JSON digest to a webhook) and ``monitor poll
--once`` (a signed webhook alert per new match to two immediate webhooks, and the retries that are
due). One of the two, drawn (seeded), is killed with SIGKILL after a random delay drawn over the
length of that command: while it records deliveries, between two sends, after a receiver took a
message but before the sender marked it sent, or not at all. Then the sender is restarted:

1. the killed command runs again at once: it sends what the killed run had not started, and must
   leave alone the delivery the killed run still holds (its claim has not expired);
2. the claim's expiry is brought forward (``lease_until`` moved into the past: what waiting
   ``delivery.lease_seconds`` would do, without the wait) and ``poll --once`` runs: its retry
   sends the delivery the killed run left in ``sending``.

After each trial every delivery is sent (none pending, in ``sending`` or dead), every matched item
is in exactly one delivery to each subscriber, and each delivery reached its receiver with the
recorded Message-ID / webhook-id and a valid signature. The only repeats allowed are those the
README promises ("Nothing lost, nothing sent twice"): a delivery the kill left in ``sending`` may
arrive once more, with the same id and the same bytes; so at most one extra copy per kill.

Commands run in forked children of ``tests/support/zygote.py`` (imported once), so kills land in
the work rather than in the interpreter's start-up. The receivers answer a little slowly, so that
the sends take a good part of each run.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from monitor.store import Repository, open_engine
from monitor.store.tables import DeliveryRow
from monitor.types import DeliveryStatus
from tests.support.configs import feed_source, write_config
from tests.support.httpserver import LocalServer
from tests.support.outbox import SECRET, email_subscriber, item, match, store, webhook_subscriber
from tests.support.smtpserver import SmtpServer
from tests.support.webhookreceiver import WebhookReceiver
from tests.test_crash_safety import Zygote

SEED = 20261122
TRIALS = 20
NEW_PER_TRIAL = 6  # matches stored before each trial (two per source)
SMTP_PAUSE = 0.05  # seconds the SMTP server takes before answering DATA
WEBHOOK_PAUSE = 0.02
SOURCES = ("koha", "kossev", "rts")
EMAIL = ("desk", "night")
DIGEST_WEBHOOK = "archive"
IMMEDIATE = ("cms", "wire")
EVERYONE = (*EMAIL, DIGEST_WEBHOOK, *IMMEDIATE)


@pytest.fixture
def zygote() -> Iterator[Zygote]:
    z = Zygote()
    try:
        yield z
    finally:
        z.close()


def pause(seconds: float, answer: Any, arrivals: list[float]) -> Callable[[], Any]:
    """A receiver's step: note when the message arrived, take a moment, then answer."""

    def step() -> Any:
        arrivals.append(time.monotonic())
        time.sleep(seconds)
        return answer

    return step


@dataclass
class Received:
    """What the receivers got: id → copies (the exact bytes of each)."""

    copies: dict[str, list[bytes]] = field(default_factory=dict)
    unverified: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, smtp: SmtpServer, hooks: WebhookReceiver) -> Received:
        received = cls()
        for mail in smtp.messages:
            received.copies.setdefault(mail.message_id.strip(), []).append(mail.data)
        for hook in hooks.accepted:
            if len(hook.body) < int(hook.headers.get("content-length", "0")):
                continue  # the sender died in the middle of the request: nothing was delivered
            received.copies.setdefault(hook.webhook_id, []).append(hook.body)
            if not hook.verified:
                received.unverified.append(hook.webhook_id)
        return received

    def count(self, message_id: str) -> int:
        return len(self.copies.get(message_id, []))


def deliveries(database: Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(database)
    db.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in db.execute("select id, key, subscriber, message_id, status from deliveries")]
    finally:
        db.close()


def carried(database: Path) -> Counter[tuple[str, int]]:
    """(subscriber, item id) → how many deliveries carry that item to that subscriber."""
    db = sqlite3.connect(database)
    try:
        return Counter((s, i) for s, i in db.execute("select subscriber, item_id from delivery_items"))
    finally:
        db.close()


def expire_claims(database_url: str) -> None:
    """What waiting ``delivery.lease_seconds`` does: every claim held in ``sending`` has expired."""
    engine = open_engine(database_url, migrate=False)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(DeliveryRow)
                .where(DeliveryRow.status == DeliveryStatus.SENDING.value)  # type: ignore[arg-type]
                .values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
            )
    finally:
        engine.dispose()


def test_sigkill_at_random_moments_while_sending_loses_nothing_and_repeats_only_what_was_in_flight(
    server: LocalServer, tmp_path: Path, zygote: Zygote
) -> None:
    rng = random.Random(SEED)
    # The poll has a feed to read (nothing in it matches): the alerts come from stored matches.
    feed = '<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>'
    sources = [feed_source("quiet", server.add("/quiet.xml", feed))]
    arrivals: list[float] = []
    smtp = SmtpServer(tmp_path, script=[pause(SMTP_PAUSE, "accept", arrivals)] * 10_000)
    hooks = WebhookReceiver(SECRET, script=[pause(WEBHOOK_PAUSE, None, arrivals)] * 10_000)
    with smtp, hooks:
        subscribers = [
            *(email_subscriber(name) for name in EMAIL),
            webhook_subscriber(hooks.url, DIGEST_WEBHOOK, mode="digest", schedule={"cron": "0 7 * * *"}),
            *(webhook_subscriber(hooks.url, name) for name in IMMEDIATE),
        ]
        config = write_config(
            tmp_path,
            sources,
            subscribers=subscribers,
            smtp={"host": "127.0.0.1", "port": smtp.port, "security": "none"},
            polling={"parse_workers": 0},
        )
        database = tmp_path / "monitor.db"
        url = f"sqlite:///{database}"
        commands = {
            "digest": ["--config", str(config), "digest", "--send"],
            "poll": ["--config", str(config), "poll", "--once"],
        }

        def run(name: str, kill_after: float | None = None) -> dict[str, Any]:
            result = zygote.run(commands[name], kill_after)
            assert result["killed"] or result["exit_code"] == 0, f"seed {SEED}: {name} ended with {result}"
            return result

        # Subscribers start when the outbox first sees them; the first matches come after that.
        assert run("poll")["exit_code"] == 0
        stored = 0
        all_items: list[int] = []

        def store_new_matches() -> None:
            nonlocal stored
            with Repository(open_engine(url)) as repo:
                now = datetime.now(UTC)
                pairs = [
                    (item(SOURCES[n % len(SOURCES)], stored + n, f"Dijalog u Briselu, runda {stored + n}"), match())
                    for n in range(NEW_PER_TRIAL)
                ]
                all_items.extend(store(repo, now, *pairs))
            stored += NEW_PER_TRIAL

        # A first round without kills: every delivery once; how long each command takes, and
        # when in it the messages reach the receivers (the sends).
        store_new_matches()
        length: dict[str, float] = {}
        sending: dict[str, tuple[float, float]] = {}

        def measured(name: str) -> None:
            """A whole run (nothing killed): its length and when its sends happened, for the draws."""
            arrivals.clear()
            started = time.monotonic()
            length[name] = float(run(name)["elapsed"])
            assert arrivals, f"seed {SEED}: {name} sent nothing"
            sending[name] = (min(arrivals) - started - 0.02, max(arrivals) - started + SMTP_PAUSE + 0.02)

        for name in ("digest", "poll"):
            measured(name)
        check(database, Received.read(smtp, hooks), all_items, Counter(), trial=0)

        stuck: Counter[str] = Counter()  # message id → kills that left it in `sending`
        kills = 0
        for trial in range(1, TRIALS + 1):
            store_new_matches()
            victim = rng.choice(("digest", "poll"))
            # Most kills while the messages go out; the others anywhere in the run (start-up,
            # recording the deliveries, after the last send, or too late to land at all).
            low, high = sending[victim] if rng.random() < 0.8 else (0.0, length[victim] * 1.1)
            kill_after = rng.uniform(max(low, 0.0), high)
            where = f"seed {SEED}, trial {trial}: {victim} killed after {kill_after:.3f} s"
            if victim == "poll":
                measured("digest")
            crash = run(victim, kill_after)
            kills += bool(crash["killed"])
            in_flight = [d["message_id"] for d in deliveries(database) if d["status"] == DeliveryStatus.SENDING]
            # One sender sends one delivery at a time: a kill leaves at most one in flight.
            assert len(in_flight) <= 1, f"{where}: {in_flight} left in sending"
            stuck.update(in_flight)
            # A receiver records a message once it has answered: let it finish what it had.
            time.sleep(SMTP_PAUSE + 0.2)
            before = Received.read(smtp, hooks)

            # 1. Restarted at once: it sends what is left, but not what the killed run still holds.
            run(victim)
            if victim == "digest":
                measured("poll")  # the alerts of this trial's matches: a whole run
            after = Received.read(smtp, hooks)
            for message_id in in_flight:
                assert after.count(message_id) == before.count(message_id), (
                    f"{where}: {message_id} was sent again while the killed run's claim held"
                )
            # 2. Once the claim has expired, a retry sends it.
            expire_claims(url)
            run("poll")
            check(database, Received.read(smtp, hooks), all_items, stuck, trial, where)

        repeats = sum(len(c) - 1 for c in Received.read(smtp, hooks).copies.values())
        in_flight_total = sum(stuck.values())
        print(
            f"seed {SEED}: {kills} of {TRIALS} runs killed, {in_flight_total} left a delivery in flight, "
            f"{repeats} repeats"
        )
        assert kills >= TRIALS // 2, f"seed {SEED}: only {kills} of {TRIALS} runs were killed: the draw is off"
        assert sum(stuck.values()) >= 1, f"seed {SEED}: no kill ever landed during a send: the draw is off"
    db = sqlite3.connect(database)
    try:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert db.execute("pragma foreign_key_check").fetchall() == []
    finally:
        db.close()


def check(
    database: Path,
    received: Received,
    items: list[int],
    stuck: Counter[str],
    trial: int,
    where: str = "first round",
) -> None:
    where = f"seed {SEED}, trial {trial} ({where})"
    rows = deliveries(database)
    statuses = Counter(d["status"] for d in rows)
    assert set(statuses) == {DeliveryStatus.SENT.value}, f"{where}: deliveries not all sent: {dict(statuses)}"
    # Every matched item reached every subscriber, in exactly one delivery (a digest or an event).
    per_subscriber = carried(database)
    missing = [(s, i) for s in EVERYONE for i in items if per_subscriber[(s, i)] == 0]
    assert not missing, f"{where}: items never given to a subscriber: {missing[:5]}"
    assert max(per_subscriber.values()) == 1, f"{where}: an item went to one subscriber in two deliveries"
    # Each delivery arrived, and a repeat is only one the kills left in flight: same id, same bytes.
    for delivery in rows:
        message_id = delivery["message_id"].strip()
        copies = received.copies.get(message_id, [])
        assert copies, f"{where}: {delivery['key']} is marked sent but never arrived"
        assert len(copies) <= 1 + stuck[message_id], (
            f"{where}: {delivery['key']} arrived {len(copies)} times, "
            f"but kills left it in flight {stuck[message_id]} times"
        )
        assert all(copy == copies[0] for copy in copies), f"{where}: the repeat of {delivery['key']} differs"
    assert set(received.copies) == {d["message_id"].strip() for d in rows}, f"{where}: a message no delivery sent"
    extra = sum(len(c) - 1 for c in received.copies.values())
    assert extra <= sum(stuck.values()), f"{where}: {extra} repeats for {sum(stuck.values())} kills in flight"
    assert not received.unverified, f"{where}: webhooks with a bad signature: {received.unverified[:3]}"
