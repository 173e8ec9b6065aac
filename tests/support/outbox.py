"""Helpers for the delivery tests: a clock that does not wait, stored matches, an outbox."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from monitor.commands.delivery import outbox_settings
from monitor.config import Config, load_config
from monitor.identity import content_hash
from monitor.notify.email import SmtpTransport
from monitor.notify.outbox import Outbox
from monitor.notify.webhook import HttpWebhookTransport
from monitor.store import Repository, open_engine
from monitor.types import Item, MatchResult, OutcomeStatus, SourceOutcome
from tests.support.configs import feed_source, write_config

# A whsec_ secret as Standard Webhooks libraries expect it (base64 of 32 bytes).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
T0 = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)  # 07:00 in Pristina


@dataclass
class FakeClock:
    """Time moves only when the code under test sleeps; every sleep is recorded."""

    current: datetime = field(default_factory=lambda: datetime.now(UTC))
    sleeps: list[float] = field(default_factory=list)

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)


SOURCES = [
    feed_source("koha", "https://www.koha.net/rss", "sq", "pristina", title="Koha"),
    feed_source("kossev", "https://kossev.info/feed/", "sr", "belgrade", title="KoSSev"),
    feed_source("rts", "https://www.rts.rs/vesti/rss.html", "sr", "belgrade", title="RTS"),
    feed_source("balkaninsight", "https://balkaninsight.com/feed/", "en", "international", title="Balkan Insight"),
]


def delivery_config(tmp_path: Path, subscribers: list[dict[str, Any]], **sections: Any) -> Config:
    sections.setdefault("smtp", {"host": "127.0.0.1", "port": 2525, "security": "none"})
    path = write_config(tmp_path, SOURCES, subscribers=subscribers, **sections)
    return load_config(path, environ={})


def email_subscriber(name: str = "desk", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "email",
        "to": ["desk@newsroom.example", "Night Editor <night@newsroom.example>"],
        "schedule": {"cron": "0 7 * * *", "timezone": "Europe/Pristina"},
        **extra,
    }


def webhook_subscriber(url: str, name: str = "cms", **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "webhook", "url": url, "secret": SECRET, **extra}


def item(
    source: str,
    n: int,
    title: str,
    *,
    language: str = "en",
    url: str | None = None,
    text: str = "",
    published: datetime | None = None,
) -> Item:
    link = url if url is not None else f"https://{source}.example/news/{n}"
    return Item(
        source=source,
        key=f"{source}.example/news/{n}",
        url=link,
        guid=None,
        title=title,
        text=text,
        published=published,
        language=language,
        content_hash=content_hash(title, text),
    )


def match(
    *, topics: Sequence[str] = (), actors: Sequence[str] = (), snippet: str = "", score: float = 4.0
) -> MatchResult:
    return MatchResult(True, score, (snippet,) if snippet else (), tuple(actors), tuple(topics), None, "dialogue+party")


def store(repo: Repository, when: datetime, *pairs: tuple[Item, MatchResult]) -> list[int]:
    """Store items with their matches as one poll at ``when`` (matched_at = when); their ids."""
    by_source: dict[str, list[tuple[Item, MatchResult]]] = {}
    for pair in pairs:
        by_source.setdefault(pair[0].source, []).append(pair)
    for source, group in by_source.items():
        outcome = SourceOutcome(source, OutcomeStatus.OK, new_items=len(group), new_matches=len(group))
        repo.commit_poll(outcome, group, "test", now=when)
    ids = {stored.item.key: stored.id for stored in repo.items(limit=10_000)}
    return [ids[p[0].key] for p in pairs]


def mark_rematched(repo: Repository, item_ids: Sequence[int]) -> None:
    """What `monitor rematch` leaves behind: matches of old items that are not news."""
    with repo.engine.begin() as conn:
        for item_id in item_ids:
            conn.execute(text("UPDATE matches SET notify = false WHERE item_id = :id"), {"id": item_id})


@contextmanager
def open_outbox(
    config: Config, database_url: str, clock: FakeClock | None = None, seed: int = 7
) -> Iterator[tuple[Outbox, Repository]]:
    with (
        Repository(open_engine(database_url)) as repo,
        HttpWebhookTransport(timeout_seconds=5, user_agent="dialogue-monitor-test (+https://example.org)") as hooks,
    ):
        outbox = Outbox(
            repo,
            outbox_settings(config),
            email=SmtpTransport(config.smtp),
            webhooks=hooks,
            clock=clock or FakeClock(T0 + timedelta(days=1)),
            rng=random.Random(seed),
        )
        yield outbox, repo
