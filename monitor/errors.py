"""Errors of dialogue-monitor.

    MonitorError                 root; carries the source name when one is concerned
    ├── ConfigError              the configuration is wrong; holds one ``Problem`` per mistake
    ├── FetchError               fetching failed; ``kind`` is one of ``FetchErrorKind``
    ├── ParseError               the body is not a usable feed or page
    │   └── SelectorError        a listing page's selector found no links (layout changed?)
    ├── StorageError             the database refused or is unreachable
    └── DeliveryError            sending a digest or an alert failed (``permanent`` or worth a retry)

Third-party exceptions (httpx, feedparser, SQLAlchemy) are translated into these at the
edge of the stage that uses the library, so callers never import those libraries to catch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MonitorError(Exception):
    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source

    def __str__(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in a configuration file: where it is and what was expected."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


class ConfigError(MonitorError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class FetchErrorKind(StrEnum):
    TIMEOUT = "timeout"
    NETWORK = "network"
    TLS = "tls"
    HTTP_STATUS = "http_status"
    TOO_LARGE = "too_large"
    DECODING = "decoding"  # a Content-Encoding that is corrupt or was not asked for
    TOO_MANY_REDIRECTS = "too_many_redirects"
    BAD_URL = "bad_url"
    RATE_LIMITED = "rate_limited"
    ROBOTS_DENIED = "robots_denied"


class FetchError(MonitorError):
    def __init__(
        self,
        kind: FetchErrorKind,
        message: str,
        *,
        source: str | None = None,
        url: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, source=source)
        self.kind = kind
        self.url = url
        self.status = status
        self.retry_after = retry_after


class ParseError(MonitorError):
    kind = "parse"


class SelectorError(ParseError):
    kind = "broken_selector"


class StorageError(MonitorError):
    """The database refused or is unreachable; ``transient`` when trying again soon may work
    (a PostgreSQL server restarting, a dropped connection)."""

    kind = "storage"

    def __init__(self, message: str, *, source: str | None = None, transient: bool = False) -> None:
        super().__init__(message, source=source)
        self.transient = transient


class DeliveryError(MonitorError):
    """Sending a digest or an alert failed.

    ``permanent`` when trying again cannot help until someone acts (authentication refused,
    mailbox unknown, webhook gone); ``retry_after`` when the receiver said how long to wait.
    """

    kind = "delivery"

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


def kind_of(exc: MonitorError) -> str:
    """The short kind shown in brackets in reports: ``timeout``, ``robots_denied``, ``parse``…"""
    if isinstance(exc, FetchError):
        return exc.kind.value
    return str(getattr(exc, "kind", "error"))
