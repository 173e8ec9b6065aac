"""Webhook bodies: our versioned JSON schema, and Slack incoming-webhook messages.

The JSON schema is documented in README.md ("Delivery"); ``SCHEMA_VERSION`` changes only
when a field is removed or changes meaning (added fields keep the version).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from monitor.notify.digest import Digest, DigestEntry, HealthLine

SCHEMA_VERSION = 1
SLACK_MAX_ITEMS = 20  # Slack allows 50 blocks per message; two per item plus the header


def _utc(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def item_json(entry: DigestEntry, topic_labels: dict[str, str], actor_labels: dict[str, str]) -> dict[str, Any]:
    highlights, offset = [], 0
    for segment in entry.snippet:
        if segment.hit:
            highlights.append([offset, offset + len(segment.text)])
        offset += len(segment.text)
    return {
        "id": entry.item_id,
        "title": entry.title,
        "url": entry.url,
        "source": {"name": entry.source, "title": entry.source_title, "origin": entry.origin},
        "language": entry.language,
        "published": _utc(entry.published),
        "first_seen": _utc(entry.first_seen),
        "snippet": entry.snippet_text or None,
        "highlights": highlights,
        "topics": [{"id": t, "label": topic_labels.get(t, t)} for t in entry.topics],
        "actors": [{"id": a, "label": actor_labels.get(a, a)} for a in entry.actors],
        "score": entry.score,
        "rule": entry.rule,
        "also_reported_by": list(entry.also_reported_by),
    }


def _envelope(kind: str, webhook_id: str, subscriber: str, created: datetime, data: dict[str, Any]) -> str:
    body = {
        "type": kind,
        "version": SCHEMA_VERSION,
        "id": webhook_id,
        "timestamp": _utc(created),
        "subscriber": subscriber,
        "data": data,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def match_event_json(
    entry: DigestEntry,
    *,
    webhook_id: str,
    subscriber: str,
    created: datetime,
    topic_labels: dict[str, str],
    actor_labels: dict[str, str],
) -> str:
    data = {"item": item_json(entry, topic_labels, actor_labels)}
    return _envelope("match.created", webhook_id, subscriber, created, data)


def digest_json(
    digest: Digest,
    *,
    webhook_id: str,
    subscriber: str,
    created: datetime,
    period_start: datetime | None,
    period_end: datetime,
    topic_labels: dict[str, str],
    actor_labels: dict[str, str],
) -> str:
    data = {
        "period": {"start": _utc(period_start), "end": _utc(period_end)},
        "count": digest.count,
        "held_back": digest.held_back,
        "items": [item_json(e, topic_labels, actor_labels) for e in digest.entries],
        "sources_failing": [_health_json(h) for h in digest.failing],
    }
    return _envelope("digest.created", webhook_id, subscriber, created, data)


def _health_json(line: HealthLine) -> dict[str, Any]:
    return {"source": line.source_title, "since": line.since, "errors": line.errors, "message": line.message}


# ------------------------------------------------------------------ Slack


def slack_escape(text: str) -> str:
    """Slack mrkdwn control characters: &, < and > must be entities in any text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(entry: DigestEntry) -> str:
    title = slack_escape(entry.title)
    if not entry.url:
        return f"*{title}*"
    # In <url|text>, a | or > in the URL would end it early: percent-encode them.
    url = quote(entry.url, safe=":/?#[]@!$&'()*+,;=%~-._")
    return f"*<{url}|{title}>*"


def _slack_item_blocks(entry: DigestEntry) -> list[dict[str, Any]]:
    lines = [_slack_link(entry), slack_escape(f"{entry.source_title} · {entry.when}")]
    if entry.snippet:
        snippet = "".join(f"*{slack_escape(s.text)}*" if s.hit else slack_escape(s.text) for s in entry.snippet)
        lines.append(f"_{snippet}_" if "_" not in snippet else snippet)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}}]
    tags = entry.topic_labels + entry.actor_labels
    extra = [slack_escape(", ".join(tags))] if tags else []
    if entry.also_reported_by:
        extra.append("Also reported by " + slack_escape(", ".join(entry.also_reported_by)))
    if extra:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(extra)[:2900]}]})
    return blocks


def slack_message(heading: str, entries: Sequence[DigestEntry], *, footer: str | None = None) -> str:
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": heading[:150]}}]
    for entry in entries[:SLACK_MAX_ITEMS]:
        blocks.extend(_slack_item_blocks(entry))
    notes = []
    if len(entries) > SLACK_MAX_ITEMS:
        notes.append(f"…and {len(entries) - SLACK_MAX_ITEMS} more in this period.")
    if footer:
        notes.append(footer)
    if notes:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escape(" ".join(notes))}]})
    fallback = heading if not entries else f"{heading}: " + "; ".join(e.title for e in entries[:5])
    body = {"text": slack_escape(fallback)[:3000], "blocks": blocks, "unfurl_links": False, "unfurl_media": False}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def slack_health_footer(digest: Digest) -> str | None:
    if not digest.failing:
        return None
    names = ", ".join(f"{h.source_title} (since {h.since})" for h in digest.failing)
    return f"Sources failing: {names}."
