"""Logs of the daemon: one line per source per poll and per delivery.

Human-readable by default, JSON lines with ``--log-format json`` (one object per line with
``time``, ``level``, ``event``, ``message`` and the event's fields). Every line passes through a
``Redactor`` that masks the configuration's secrets and the password of any URL, wherever they
appear (a message, a field, a traceback), so secrets never reach a log.

    2026-11-22T07:00:01Z INFO  poll koha: ok, 20 entries, 2 new, 1 match in 0.41 s; next check 07:21:40 (adaptive)
    {"time": "2026-11-22T07:00:01Z", "level": "info", "event": "poll", "source": "koha", "status": "ok", …}
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO

from monitor.types import OutcomeStatus, SourceOutcome

LOGGER_NAME = "monitor"
_URL_PASSWORD = re.compile(r"(//[^:/@\s]+:)[^@/\s]+@")


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Redactor:
    """Masks known secret values and URL passwords in any text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is masked whole.
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return _URL_PASSWORD.sub(r"\1***@", text)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def _utc(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_utc(record.created)} {record.levelname:<5} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self.redact(line)


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", None) or {}
        entry: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", None) or record.name,
            "message": record.getMessage(),
            **fields,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(self.redact.value(entry), ensure_ascii=False, default=str)


def setup_logging(
    stream: TextIO, log_format: LogFormat = LogFormat.TEXT, secrets: Iterable[str] = (), level: int = logging.INFO
) -> logging.Handler:
    """Send the application's logs (and warnings of its libraries) to ``stream``; returns the handler
    so that the caller can remove it again."""
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(redact) if log_format is LogFormat.JSON else TextFormatter(redact))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger(LOGGER_NAME).setLevel(level)
    # Schema changes are worth a line each; the rest of alembic's and the scheduler's chatter is not.
    migrations = logging.getLogger("alembic.runtime.migration")
    migrations.setLevel(logging.INFO)
    migrations.addFilter(lambda record: record.levelno > logging.INFO or record.getMessage().startswith("Running"))
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return handler


def event(logger: logging.Logger, level: int, name: str, message: str, **fields: Any) -> None:
    """Log ``message`` for humans, with ``fields`` for machines (shown in JSON lines)."""
    logger.log(level, message, extra={"event": name, "fields": fields})


def log_poll(logger: logging.Logger, outcome: SourceOutcome) -> None:
    """The one line of a poll of a source."""
    parts = [outcome.status.value]
    if outcome.status is OutcomeStatus.ERROR:
        parts.append(f"[{outcome.error_kind}] {outcome.error_message}")
    else:
        parts.append(f"{outcome.entries} entries, {outcome.new_items} new, {_plural(outcome.new_matches, 'match')}")
    message = f"poll {outcome.source}: {', '.join(parts)} in {outcome.elapsed:.2f} s"
    fields: dict[str, Any] = {
        "source": outcome.source,
        "status": outcome.status.value,
        "entries": outcome.entries,
        "new_items": outcome.new_items,
        "new_matches": outcome.new_matches,
        "elapsed": round(outcome.elapsed, 3),
        "error_kind": outcome.error_kind,
        "error": outcome.error_message,
    }
    level = logging.INFO if outcome.status is not OutcomeStatus.ERROR else logging.WARNING
    decision = outcome.next_check
    if decision is not None:
        message += f"; next check {decision.at.strftime('%Y-%m-%d %H:%M:%S')} UTC ({decision.reason.value})"
        fields["next_check_at"] = decision.at.isoformat()
        fields["next_check_reason"] = decision.reason.value
        if decision.paused_reason:
            message += f"; PAUSED: {decision.paused_reason}; `monitor sources resume {outcome.source}` resumes it"
            fields["paused_reason"] = decision.paused_reason
            level = logging.ERROR
    if outcome.warning:
        message += f"; warning: {outcome.warning}"
        fields["warning"] = outcome.warning
    event(logger, level, "poll", message, **fields)


def log_delivery(
    logger: logging.Logger,
    *,
    subscriber: str,
    kind: str,
    status: str,
    key: str,
    items: int,
    elapsed: float,
    attempt: int = 1,
    error: str | None = None,
) -> None:
    """The one line of a delivery (a digest or an alert to one subscriber)."""
    message = f"delivery {subscriber} ({kind}): {status}, {_plural(items, 'item')}, attempt {attempt}, {elapsed:.2f} s"
    if error:
        message += f": {error}"
    event(
        logger,
        logging.INFO if error is None else logging.WARNING,
        "delivery",
        message,
        subscriber=subscriber,
        kind=kind,
        status=status,
        key=key,
        items=items,
        attempt=attempt,
        elapsed=round(elapsed, 3),
        error=error,
    )


def _plural(count: int, word: str) -> str:
    plural = word + ("es" if word.endswith("ch") else "s")
    return f"{count} {word if count == 1 else plural}"
