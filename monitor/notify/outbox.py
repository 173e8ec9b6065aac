"""The outbox: every digest and alert is recorded before it is sent and marked sent after.

Public API (used by the CLI and by the daemon's scheduler; all methods are synchronous and
safe to run in several processes against one database at once):

``Outbox.register(now)``
    Remember "now" as the start for every subscriber seen for the first time, so that a new
    subscriber is not sent the whole history. Call it once when a process starts, before
    polling.
``Outbox.send_due_digest(subscriber, period_start, period_end, now)``
    The scheduled digest of one period (``period_end`` is the cron fire time, ``period_start``
    the previous one). Recorded under the key ``digest:<subscriber>:<period_end>``: whichever
    replica records it first sends it; the others get ``DeliveryOutcome.TAKEN``.
``Outbox.deliver_immediate_alerts(now)``
    One ``match.created`` event per new match for every ``mode: immediate`` webhook, keyed
    ``event:<subscriber>:item:<id>``, then sends them. Call it after each poll cycle.
``Outbox.retry_due(now)``
    Sends whatever is due: failed attempts whose back-off has passed, and deliveries whose
    sender died while holding them (lease expired). Call it every minute or so.
``Outbox.retry(delivery_id, now)``
    ``monitor deliveries retry ID``: a dead or waiting delivery, again, now.

What a digest carries is "every match worth telling (``notify``) that this subscriber has not
had yet", up to the period's end, not "the matches of this period": a digest missed while
the daemon was down, or an item committed a second after a digest was recorded, goes into
the next one. ``delivery_items`` holds each (subscriber, item) once, so no item is in two
deliveries to one subscriber.

A delivery is claimed for ``lease_seconds`` before each attempt. A crash after the receiver
took the message but before it was marked sent leaves the claim to expire; then it is sent
again with the same Message-ID / webhook-id: a repeat the receiver can recognise, never a loss.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from monitor.config import DeliveryConfig, EmailSubscriber, WebhookSubscriber, resolve_zone
from monitor.errors import DeliveryError
from monitor.notify.digest import (
    Catalog,
    Digest,
    DigestEntry,
    DigestRenderer,
    RenderedDigest,
    build_digest,
    build_entries,
)
from monitor.notify.email import PartiallyRefused, build_message, message_id_for
from monitor.notify.payloads import digest_json, match_event_json, slack_health_footer, slack_message
from monitor.notify.webhook import signed_headers, webhook_id_for
from monitor.store import Repository
from monitor.types import Delivery, DeliveryStatus, NewDelivery, StoredItem, StoryRef

Subscriber = EmailSubscriber | WebhookSubscriber
# A subscriber that has had nothing yet and asks for a digest by hand gets the last day.
MANUAL_FIRST_DIGEST = timedelta(days=1)
# Retry-After beyond this is treated as this: a receiver cannot park a delivery for weeks.
MAX_RETRY_AFTER_SECONDS = 24 * 3600


class EmailTransport(Protocol):
    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None: ...


class WebhookTransport(Protocol):
    def post(self, url: str, body: bytes, headers: Mapping[str, str], now: datetime) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class DeliveryOutcome(StrEnum):
    SENT = "sent"
    WILL_RETRY = "will_retry"  # failed; recorded with the time of the next attempt
    DEAD = "dead"  # gave up; shown by `monitor deliveries --failed`
    EMPTY = "empty"  # nothing new and `when_empty: skip`: nothing recorded
    TAKEN = "taken"  # another process recorded or holds it (or it is not due)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    subscriber: str
    outcome: DeliveryOutcome
    delivery: Delivery | None = None
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome in (DeliveryOutcome.WILL_RETRY, DeliveryOutcome.DEAD)


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    """The slice of the configuration the outbox needs (built by the CLI)."""

    subscribers: tuple[Subscriber, ...]
    catalog: Catalog
    policy: DeliveryConfig
    sender: str  # smtp.sender
    max_items: int  # digest.max_items
    # Gives a stored match its marked snippets (matched terms between ⟦ and ⟧) when the store has
    # none (matches stored before it kept them): the CLI passes one that runs the matcher again.
    annotate: Callable[[StoredItem], StoredItem] | None = None


def backoff_seconds(
    attempts: int, policy: DeliveryConfig, retry_after: float | None, jitter: Callable[[], float]
) -> float:
    """Exponential back-off with equal jitter after the n-th failed attempt; Retry-After as a floor."""
    ceiling = min(policy.backoff_max_seconds, policy.backoff_base_seconds * 2.0 ** max(attempts - 1, 0))
    delay = ceiling / 2 + jitter() * ceiling / 2
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay


class Outbox:
    def __init__(
        self,
        repo: Repository,
        settings: OutboxSettings,
        *,
        email: EmailTransport,
        webhooks: WebhookTransport,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.email = email
        self.webhooks = webhooks
        self.clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._renderer: DigestRenderer | None = None  # made on the first render (see DigestRenderer)
        self._subscribers = {s.name: s for s in settings.subscribers}

    def _render(self, digest: Digest) -> RenderedDigest:
        if self._renderer is None:
            self._renderer = DigestRenderer()
        return self._renderer.render(digest)

    # ------------------------------------------------------------------ public API

    def subscriber(self, name: str) -> Subscriber | None:
        return self._subscribers.get(name)

    @property
    def enabled(self) -> tuple[Subscriber, ...]:
        return tuple(s for s in self.settings.subscribers if s.enabled)

    def register(self, now: datetime | None = None) -> None:
        now = now or self.clock.now()
        for sub in self.enabled:
            self.repo.subscription_since(sub.name, now)

    def send_due_digest(
        self, subscriber: Subscriber, period_start: datetime, period_end: datetime, now: datetime | None = None
    ) -> DeliveryReport:
        """Record and send the scheduled digest of (period_start, period_end]; once across all replicas."""
        now = now or self.clock.now()
        key = f"digest:{subscriber.name}:{_stamp(period_end)}"
        # From the subscriber's start, not from period_start: what a missed digest would have
        # carried comes now (within delivery.backlog_days).
        since = self.repo.subscription_since(subscriber.name, period_start)
        return self._digest(subscriber, key, since, period_start, period_end, now)

    def send_digest_now(
        self, subscriber: Subscriber, now: datetime | None = None, since: datetime | None = None
    ) -> DeliveryReport:
        """A digest outside the schedule (``monitor digest --send``): what the subscriber has not had yet."""
        now = now or self.clock.now()
        key = f"digest:{subscriber.name}:manual:{now.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"
        first = self.repo.subscription_since(subscriber.name, now - MANUAL_FIRST_DIGEST)
        floor = since if since is not None else first
        return self._digest(subscriber, key, floor, floor, now, now)

    def preview_digest(
        self, subscriber: Subscriber, now: datetime | None = None, since: datetime | None = None
    ) -> RenderedDigest:
        """What ``send_digest_now`` would send, without recording or sending anything."""
        now = now or self.clock.now()
        first = self.repo.subscription(subscriber.name) or now - MANUAL_FIRST_DIGEST
        floor = since if since is not None else first
        items, held_back = self._selection(subscriber, floor, now)
        return self._render(self._build(subscriber, items, held_back, floor, now))

    def preview_all(self, zone_name: str, now: datetime | None = None, since: datetime | None = None) -> RenderedDigest:
        """Every stored match (re-matched old ones too), one entry per story, for the operator:
        no subscriber, no filters, nothing recorded."""
        stored = self.repo.items(matched_only=True, since=since, limit=self.settings.max_items)
        annotate = self.settings.annotate
        items = [annotate(s) for s in stored] if annotate else stored
        return self._render(self._compose(items, zone_name, now or self.clock.now(), since))

    def deliver_immediate_alerts(self, now: datetime | None = None) -> list[DeliveryReport]:
        """Record one event per new match for each immediate webhook, then send what is due for them."""
        now = now or self.clock.now()
        names = []
        for sub in self.enabled:
            if isinstance(sub, WebhookSubscriber) and sub.mode == "immediate":
                names.append(sub.name)
                self._record_events(sub, now)
        return self._send_due(now, names) if names else []

    def retry_due(self, now: datetime | None = None) -> list[DeliveryReport]:
        """Attempt every delivery that is due (back-off passed, or its sender died)."""
        now = now or self.clock.now()
        return self._send_due(now, [s.name for s in self.enabled])

    def retry(self, delivery_id: int, now: datetime | None = None) -> DeliveryReport:
        """Send one delivery again now, with a fresh count of attempts (dead or waiting ones)."""
        now = now or self.clock.now()
        delivery = self.repo.delivery(delivery_id)
        if delivery is None:
            raise DeliveryError(f"no delivery {delivery_id}; see `monitor deliveries`")
        if delivery.status is DeliveryStatus.SENT:
            raise DeliveryError(f"delivery {delivery_id} was sent at {delivery.sent_at:%Y-%m-%d %H:%M} UTC already")
        if delivery.status is DeliveryStatus.SENDING and delivery.lease_until and delivery.lease_until > now:
            raise DeliveryError(
                f"delivery {delivery_id} is being sent by another process (claimed until "
                f"{delivery.lease_until:%H:%M:%S} UTC); try again after that"
            )
        if self.subscriber(delivery.subscriber) is None:
            raise DeliveryError(
                f"delivery {delivery_id} is for {delivery.subscriber!r}, which is not in the configuration"
            )
        self.repo.requeue_delivery(delivery_id, now)
        return self._attempt(delivery_id, now)

    # ------------------------------------------------------------------ selection and recording

    def _selection(self, sub: Subscriber, floor: datetime, until: datetime) -> tuple[list[StoredItem], int]:
        floor = max(floor, until - timedelta(days=self.settings.policy.backlog_days))
        candidates = [s for s in self.repo.undelivered_matches(sub.name, floor, until) if _passes(sub, s)]
        cap = self.settings.max_items
        # Oldest first, so that what is held back over the cap is the newest, for the next digest.
        chosen, held_back = candidates[:cap], max(0, len(candidates) - cap)
        annotate = self.settings.annotate
        return ([annotate(s) for s in chosen] if annotate else chosen), held_back

    def _build(
        self, sub: Subscriber, items: Sequence[StoredItem], held_back: int, since: datetime | None, now: datetime
    ) -> Digest:
        return self._compose(items, sub.schedule.timezone, now, since, held_back)

    def _compose(
        self, items: Sequence[StoredItem], zone_name: str, now: datetime, since: datetime | None, held_back: int = 0
    ) -> Digest:
        zone = resolve_zone(zone_name)
        # The stories are looked up once: to keep one item per story, then for "also reported by".
        refs = self.repo.stories_for_items(s.id for s in items)
        entries = build_entries(self._one_per_story(items, refs), self.settings.catalog, zone)
        return build_digest(
            self._with_stories(entries, refs),
            self.settings.catalog,
            zone,
            now,
            since=since,
            states=self.repo.source_states(),
            held_back=held_back,
            zone_name=zone_name,
        )

    def _digest(
        self,
        sub: Subscriber,
        key: str,
        floor: datetime,
        shown_since: datetime | None,
        period_end: datetime,
        now: datetime,
    ) -> DeliveryReport:
        recorded = self.repo.delivery_by_key(key)
        if recorded is not None:
            return DeliveryReport(sub.name, DeliveryOutcome.TAKEN, recorded, f"{key} is recorded already")
        items, held_back = self._selection(sub, floor, period_end)
        if not items and sub.when_empty == "skip":
            return DeliveryReport(sub.name, DeliveryOutcome.EMPTY, detail="nothing new")
        # Dated by the period it covers, so a late retry still says which morning it is for.
        digest = self._build(sub, items, held_back, shown_since, period_end)
        new = self._digest_delivery(sub, key, digest, shown_since, period_end, now)
        delivery = self.repo.create_delivery(new, [s.id for s in items], now)
        if delivery is None:
            return DeliveryReport(sub.name, DeliveryOutcome.TAKEN, detail=f"{key} is recorded already")
        return self._attempt(delivery.id, now)

    def _digest_delivery(
        self,
        sub: Subscriber,
        key: str,
        digest: Digest,
        period_start: datetime | None,
        period_end: datetime,
        now: datetime,
    ) -> NewDelivery:
        if isinstance(sub, EmailSubscriber):
            message_id = message_id_for(key, self.settings.sender)
            rendered = self._render(digest)
            message = build_message(
                rendered, sender=self.settings.sender, recipients=sub.to, message_id=message_id, date=now
            )
            return NewDelivery(
                key=key,
                subscriber=sub.name,
                kind="digest",
                channel="email",
                message_id=message_id,
                payload=message.decode("ascii"),
                recipients=sub.to,
                period_start=period_start,
                period_end=period_end,
            )
        webhook_id = webhook_id_for(key)
        if sub.format == "slack":
            heading = self._render(digest).subject
            body = slack_message(heading, digest.entries, footer=slack_health_footer(digest))
        else:
            body = digest_json(
                digest,
                webhook_id=webhook_id,
                subscriber=sub.name,
                created=now,
                period_start=period_start,
                period_end=period_end,
                topic_labels=dict(self.settings.catalog.topics),
                actor_labels=dict(self.settings.catalog.actors),
            )
        return NewDelivery(
            key=key,
            subscriber=sub.name,
            kind="digest",
            channel="webhook",
            message_id=webhook_id,
            payload=body,
            period_start=period_start,
            period_end=period_end,
        )

    def _record_events(self, sub: WebhookSubscriber, now: datetime) -> None:
        since = self.repo.subscription_since(sub.name, now)
        items, _ = self._selection(sub, since, now)
        catalog = self.settings.catalog
        entries = self._with_stories(build_entries(items, catalog, self._zone(sub)))
        for entry in entries[::-1]:  # oldest first
            key = f"event:{sub.name}:item:{entry.item_id}"
            webhook_id = webhook_id_for(key)
            if sub.format == "slack":
                body = slack_message(f"Kosovo–Serbia dialogue: {entry.source_title}", [entry])
            else:
                body = match_event_json(
                    entry,
                    webhook_id=webhook_id,
                    subscriber=sub.name,
                    created=now,
                    topic_labels=dict(catalog.topics),
                    actor_labels=dict(catalog.actors),
                )
            new = NewDelivery(key, sub.name, "webhook", "event", webhook_id, body)
            self.repo.create_delivery(new, [entry.item_id], now)

    def _with_stories(
        self, entries: Sequence[DigestEntry], refs: Mapping[int, StoryRef] | None = None
    ) -> list[DigestEntry]:
        """Each entry with the other outlets of its story ("also reported by"); ``refs``: the
        stories of these entries when the caller has looked them up already."""
        if refs is None:
            refs = self.repo.stories_for_items(e.item_id for e in entries)
        catalog = self.settings.catalog
        out = []
        for entry in entries:
            ref = refs.get(entry.item_id)
            others = tuple(catalog.source(c.source).title for c in ref.also_reported_by) if ref else ()
            out.append(replace(entry, also_reported_by=others) if others else entry)
        return out

    def _one_per_story(self, items: Sequence[StoredItem], refs: Mapping[int, StoryRef]) -> list[StoredItem]:
        """A story appears once in a digest: its lead when the lead is among the items, else its
        earliest item, with every other outlet of the story as "also reported by". The other
        items are still recorded as delivered with the digest. Chosen before the entries are
        built, so that the copies that are not shown cost no entry."""
        chosen: dict[int, StoredItem] = {}
        for stored in sorted(items, key=lambda s: (s.first_seen, s.id)):
            ref = refs.get(stored.id)
            if ref is None:
                continue
            kept = chosen.get(ref.story_id)
            if kept is None or stored.id == ref.lead_item_id:
                chosen[ref.story_id] = stored
        keep = {id(s) for s in chosen.values()}
        return [s for s in items if refs.get(s.id) is None or id(s) in keep]

    def _zone(self, sub: Subscriber) -> ZoneInfo:
        return resolve_zone(sub.schedule.timezone)

    # ------------------------------------------------------------------ sending

    def _send_due(self, now: datetime, names: Sequence[str]) -> list[DeliveryReport]:
        # Each claim is dated when it is made, not when the batch began: a batch can outlast the
        # lease (slow receivers, inline back-offs), and a claim dated at the start would hand out a
        # lease already expired, free for a second sender to take (and sign with a stale timestamp).
        started = self.clock.now()
        return [self._attempt(d.id, now + (self.clock.now() - started)) for d in self.repo.due_deliveries(now, names)]

    def _attempt(self, delivery_id: int, now: datetime) -> DeliveryReport:
        """Claim, send, record; short back-offs are waited out here, longer ones left for later."""
        policy = self.settings.policy
        while True:
            lease_until = now + timedelta(seconds=policy.lease_seconds)
            delivery = self.repo.claim_delivery(delivery_id, now, lease_until)
            if delivery is None:
                return self._report(delivery_id, DeliveryOutcome.TAKEN, f"delivery {delivery_id} is not due, or taken")
            sub = self.subscriber(delivery.subscriber)
            try:
                if sub is None:
                    raise DeliveryError(
                        f"subscriber {delivery.subscriber!r} is not in the configuration", permanent=True
                    )
                self._send(delivery, sub, now)
            except PartiallyRefused as exc:
                self.repo.delivery_sent(delivery_id, self.clock.now(), note=exc.message)
                return self._report(delivery_id, DeliveryOutcome.SENT, exc.message)
            except DeliveryError as exc:
                if exc.permanent or delivery.attempts >= policy.max_attempts:
                    reason = "permanent failure" if exc.permanent else f"gave up after {delivery.attempts} attempts"
                    self.repo.delivery_failed(delivery_id, f"{exc.message} ({reason})", None)
                    return self._report(delivery_id, DeliveryOutcome.DEAD, exc.message)
                delay = backoff_seconds(delivery.attempts, policy, exc.retry_after, self._rng.random)
                self.repo.delivery_failed(delivery_id, exc.message, now + timedelta(seconds=delay))
                if delay > policy.inline_wait_max_seconds:
                    return self._report(delivery_id, DeliveryOutcome.WILL_RETRY, exc.message)
                self.clock.sleep(delay)
                now = self.clock.now()
                continue
            self.repo.delivery_sent(delivery_id, self.clock.now())
            return self._report(delivery_id, DeliveryOutcome.SENT)

    def _report(self, delivery_id: int, outcome: DeliveryOutcome, detail: str = "") -> DeliveryReport:
        delivery = self.repo.delivery(delivery_id)
        name = delivery.subscriber if delivery else "?"
        return DeliveryReport(name, outcome, delivery, detail)

    def _send(self, delivery: Delivery, sub: Subscriber, now: datetime) -> None:
        if delivery.channel == "email":
            self.email.send(self.settings.sender, delivery.recipients, delivery.payload.encode("ascii"))
            return
        if not isinstance(sub, WebhookSubscriber):
            raise DeliveryError(f"delivery {delivery.id} is a webhook, but {sub.name!r} is now an email subscriber")
        body = delivery.payload.encode("utf-8")
        secret = sub.secret.get_secret_value() if sub.secret else None
        headers = signed_headers(delivery.message_id, now, body, secret)
        self.webhooks.post(sub.url.get_secret_value(), body, headers, now)


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _passes(sub: Subscriber, stored: StoredItem) -> bool:
    """The subscriber's filters: every filter given must hold (an empty one holds for all)."""
    filters, item, match = sub.filters, stored.item, stored.match
    if match is None or match.score < filters.min_score:
        return False
    if filters.languages and item.language not in filters.languages:
        return False
    if filters.sources and item.source not in filters.sources:
        return False
    return not filters.topics or any(t in filters.topics for t in match.topics)
