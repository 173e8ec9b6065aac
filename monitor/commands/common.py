"""What most commands share: the repository built from the configuration, and ``--since``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from monitor.cluster import ClusterRules
from monitor.config import Config
from monitor.errors import MonitorError
from monitor.store import Repository, open_engine


def repository(config: Config) -> Repository:
    stories = config.stories
    rules = ClusterRules(
        window=timedelta(hours=stories.window_hours),
        min_overlap=stories.min_overlap,
        min_jaccard=stories.min_jaccard,
    )
    # A migration runs in a child process: the command keeps working after it, without Alembic.
    engine = open_engine(
        config.database.url, busy_timeout_seconds=config.database.busy_timeout_seconds, migrate_apart=True
    )
    return Repository(engine, rules)


def parse_since(value: str | None, now: datetime) -> datetime | None:
    if not value:
        return None
    age = re.fullmatch(r"(\d+)\s*([mhdw])", value.strip())
    if age:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[age.group(2)]
        return now - timedelta(**{unit: int(age.group(1))})
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise MonitorError(
            f"--since {value!r}: expected an ISO date/time (2026-11-22, 2026-11-22T07:00) or an age (24h, 7d)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
