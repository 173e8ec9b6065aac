"""The configuration, parsed once from ``config.yaml`` into typed, frozen objects.

Every mistake is collected (not just the first) and reported as a ``Problem`` naming the
file, the key path (``sources[3] (kossev).url``) and what is expected. ``${NAME}`` reads an
environment variable, and only in the keys that hold secrets (``SECRET_PATHS``), so that the
file stays the single place where behaviour is configured.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
from collections.abc import Mapping, Sequence
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.errors import ConfigError, Problem
from monitor.match.profile import MatchProfile
from monitor.parse.selectors import check_selector
from monitor.types import Language, Origin

DEFAULT_CONFIG = Path("config.yaml")

# Key paths (with * for any list index) where ${NAME} may be used: secrets only.
SECRET_PATHS = (
    "database.url",
    "smtp.username",
    "smtp.password",
    "subscribers.*.secret",
    "subscribers.*.url",
)
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _check_http_url(value: str) -> str:
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError(f"a URL cannot contain spaces or control characters (write %20 for a space), got {value!r}")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {value!r}")
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number from 0 to 65535)
    except ValueError:
        raise ValueError(f"the port is not a number from 1 to 65535 in {value!r}") from None
    return value


HttpUrlStr = Annotated[str, Field(min_length=8)]


class DatabaseConfig(Frozen):
    url: str = "sqlite:///data/monitor.db"
    # SQLite only: how long a write waits for another writer (a CLI command, a second process)
    # before the poll records a storage error; the next poll stores what this one could not.
    busy_timeout_seconds: float = Field(10.0, gt=0, le=600)

    @field_validator("url")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError(
                f"expected sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DB, got {mask_url(value)!r}"
            )
        return value


class HttpConfig(Frozen):
    user_agent: str = "dialogue-monitor/0.1 (+https://github.com/dialogue-monitor/dialogue-monitor)"
    timeout_seconds: float = Field(30.0, gt=0, description="total deadline for one request")
    connect_timeout_seconds: float = Field(10.0, gt=0)
    max_body_bytes: int = Field(10_000_000, gt=0)
    max_redirects: int = Field(5, ge=0, le=20)
    concurrency: int = Field(8, ge=1, le=256)
    per_host_concurrency: int = Field(2, ge=1, le=64)
    # Politeness: requests to one host start at least this far apart (a robots.txt Crawl-delay
    # can make it longer), and robots.txt is re-read after this long (RFC 9309: at most a day).
    min_host_delay_seconds: float = Field(1.0, ge=0, le=60)
    robots_cache_minutes: int = Field(60, ge=1, le=24 * 60)

    @field_validator("user_agent")
    @classmethod
    def _has_contact(cls, value: str) -> str:
        if "http://" not in value and "https://" not in value and "@" not in value:
            raise ValueError("the User-Agent should carry a contact URL or address, e.g. 'name/1.0 (+https://…)'")
        return value


class PageSelectors(Frozen):
    links: str | None = None
    title: str | None = None
    date: str | None = None
    article_text: str | None = None
    article_date: str | None = None

    @field_validator("links", "title", "date", "article_text", "article_date")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        return None if value is None else check_selector(value)


class SourceConfig(Frozen):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    title: str
    kind: Literal["feed", "page"] = "feed"
    url: str
    language: Language
    origin: Origin
    enabled: bool = True
    interval_minutes: float | None = Field(None, gt=0, le=7 * 24 * 60)
    full_text: bool = False
    selectors: PageSelectors | None = Field(None, validate_default=True)
    note: str | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("full_text")
    @classmethod
    def _full_text_for_feeds(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("kind") == "page":
            raise ValueError("full_text is for feeds; a page source always fetches its articles, remove the key")
        return value

    @field_validator("selectors")
    @classmethod
    def _selectors_fit_kind(cls, value: PageSelectors | None, info: ValidationInfo) -> PageSelectors | None:
        kind = info.data.get("kind")
        if kind == "page" and (value is None or not value.links):
            raise ValueError(
                "a page source needs selectors.links, a CSS selector for its article links, "
                "e.g. selectors: {links: 'article h2 a'}"
            )
        if kind == "feed" and value is not None and (value.links or value.title or value.date):
            raise ValueError(
                "a feed source takes only selectors.article_text and selectors.article_date (used with "
                "full_text); links, title and date are for listing pages (kind: page)"
            )
        return value


class PollingConfig(Frozen):
    """When sources are checked; ``monitor.decide`` applies it. Minutes may be fractional."""

    interval_minutes: float = Field(30, gt=0, le=7 * 24 * 60)
    # Entry-frequency adaptation (Miniflux-style): a source without its own interval_minutes is
    # checked every (one week / items it published in the last week), within the bounds below.
    adaptive: bool = True
    min_interval_minutes: float = Field(10, gt=0, le=7 * 24 * 60)
    max_interval_minutes: float = Field(180, gt=0, le=7 * 24 * 60)
    jitter_percent: float = Field(10, ge=0, le=50)
    # A source failing this many times in a row is paused with its reason (0: never pause)…
    pause_after_failures: int = Field(10, ge=0, le=10_000)
    # …and probed again at this interval; one success resumes it.
    probe_interval_minutes: float = Field(24 * 60, gt=0, le=30 * 24 * 60)
    # Processes that parse fetched feeds; None: one per core but one (at most 4), 0: parse in the main process.
    parse_workers: int | None = Field(None, ge=0, le=64)
    # Plain RSS 2.0 / Atom feeds read by lxml (same entries, several times faster); false: feedparser only.
    fast_parser: bool = True
    # Sources of one ``monitor poll`` between the start of their fetch and their items stored, at
    # most: what bounds the poll's memory (parsed items wait for the serial store).
    sources_in_flight: int = Field(16, ge=1, le=1000)

    @model_validator(mode="after")
    def _bounds_in_order(self) -> PollingConfig:
        if self.min_interval_minutes > self.max_interval_minutes:
            raise ValueError(
                f"min_interval_minutes ({self.min_interval_minutes:g}) is above "
                f"max_interval_minutes ({self.max_interval_minutes:g})"
            )
        if not self.min_interval_minutes <= self.interval_minutes <= self.max_interval_minutes:
            raise ValueError(
                f"interval_minutes ({self.interval_minutes:g}) must lie between min_interval_minutes "
                f"({self.min_interval_minutes:g}) and max_interval_minutes ({self.max_interval_minutes:g})"
            )
        return self


class DaemonConfig(Frozen):
    """How ``monitor run`` works through the due sources, alone or beside other replicas."""

    # How often each replica looks for due sources.
    tick_seconds: float = Field(10, ge=0.05, le=600)
    # How long a replica's claim on a source holds without renewal: after a crash the source is
    # picked up by another replica this much later. Claims are renewed every third of it.
    lease_seconds: float = Field(120, ge=1, le=3600)
    # On SIGTERM/SIGINT, how long in-flight polls and sends may take to finish.
    shutdown_grace_seconds: float = Field(30, ge=0, le=3600)
    # Housekeeping (retention) runs this often.
    housekeeping_interval_hours: float = Field(6, gt=0, le=7 * 24)


class RetentionConfig(Frozen):
    # Items that never matched are deleted this many days after they were first seen (0: keep
    # forever); a tombstone keeps their key so they are never stored or alerted again.
    unmatched_items_days: float = Field(90, ge=0)
    # The per-poll history behind ``monitor sources``.
    poll_history_days: float = Field(30, ge=0)
    # The near-duplicate index (story_bands) of items older than this is dropped: a copy published
    # that much later than the original is no longer clustered with it. Stories themselves stay.
    story_index_days: float = Field(30, ge=0)


class WebConfig(Frozen):
    """The health and metrics endpoint of ``monitor run``."""

    enabled: bool = True
    listen: str = "127.0.0.1:9180"
    # /healthz answers 503 when the last successful poll cycle is older than this.
    stale_after_seconds: float = Field(300, gt=0)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_listen(value)
        return value


def parse_listen(value: str) -> tuple[str, int]:
    """'127.0.0.1:9180' → ('127.0.0.1', 9180); '[::1]:9180' and ':9180' (all interfaces) too."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:9180 or 0.0.0.0:9180, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class PagesConfig(Frozen):
    # New articles fetched per poll of one page source (or full_text feed); the rest of a page
    # source's new links wait for the next poll, so a first poll of a long archive stays polite.
    max_articles_per_poll: int = Field(30, ge=1, le=500)


class Schedule(Frozen):
    cron: str = "0 7 * * *"
    timezone: str = "Europe/Pristina"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("cron")
    @classmethod
    def _cron_fields(cls, value: str) -> str:
        if len(value.split()) not in (5, 6):
            raise ValueError(
                f"expected a cron expression of 5 fields (minute hour day month weekday), "
                f"or 6 with seconds first, got {value!r}"
            )
        # APScheduler lives in scheduler.py alone, and scheduler.py imports this module: import late.
        from monitor.scheduler import validate_cron

        return validate_cron(value)


class Filters(Frozen):
    topics: tuple[str, ...] = ()
    languages: tuple[Language, ...] = ()
    sources: tuple[str, ...] = ()
    min_score: float = 0.0


class EmailSubscriber(Frozen):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    kind: Literal["email"]
    # "desk@example.org" or "Night desk <desk@example.org>"
    to: tuple[str, ...] = Field(min_length=1)
    schedule: Schedule = Schedule()
    filters: Filters = Filters()
    when_empty: Literal["skip", "note"] = "skip"
    enabled: bool = True

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            check_address(entry)
        return value


class WebhookSubscriber(Frozen):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    kind: Literal["webhook"]
    url: SecretStr
    # Standard Webhooks signing secret: "whsec_" + base64 of 24 to 64 random bytes.
    secret: SecretStr | None = None
    mode: Literal["immediate", "digest"] = "immediate"
    format: Literal["json", "slack"] = "json"
    schedule: Schedule = Schedule()
    filters: Filters = Filters()
    when_empty: Literal["skip", "note"] = "skip"
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        _check_http_url(value.get_secret_value())
        return value

    @field_validator("secret")
    @classmethod
    def _signing_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_webhook_secret(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _json_is_signed(self) -> WebhookSubscriber:
        # Receivers of our JSON act on it (publish, alert): they must be able to trust it.
        # Slack incoming webhooks cannot verify a signature, so there it stays optional.
        if self.format == "json" and self.secret is None:
            raise ValueError(f"a webhook with format json needs a signing secret (secret: ${{NAME}}); {SECRET_HINT}")
        return self


SECRET_HINT = (
    "generate one with: python3 -c \"import base64,os; print('whsec_' + base64.b64encode(os.urandom(32)).decode())\""
)


def check_webhook_secret(value: str) -> bytes:
    """The key bytes of a ``whsec_<base64>`` secret, as Standard Webhooks libraries read it."""
    if not value.startswith("whsec_"):
        raise ValueError(f"expected a secret of the form whsec_<base64>; {SECRET_HINT}")
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the part after whsec_ is not valid base64; {SECRET_HINT}") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"the secret decodes to {len(key)} bytes, expected 24 to 64; {SECRET_HINT}")
    return key


def check_address(value: str) -> str:
    """'desk@example.org' or 'Night desk <desk@example.org>', on one line."""
    _, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    if not local or not domain or re.search(r"\s", address) or re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", value):
        raise ValueError(f"expected an address like 'desk@example.org' or 'Desk <desk@example.org>', got {value!r}")
    return value


Subscriber = Annotated[EmailSubscriber | WebhookSubscriber, Field(discriminator="kind")]


class SmtpConfig(Frozen):
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    # starttls: plain connection upgraded with STARTTLS (port 587); tls: implicit TLS (port 465);
    # none: no encryption (a relay on localhost only).
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: SecretStr | None = None
    password: SecretStr | None = None
    sender: str = Field("dialogue-monitor <monitor@localhost>", min_length=3)
    timeout_seconds: float = Field(30.0, gt=0)
    # A PEM file of CA certificates to trust instead of the system ones (a private mail relay).
    ca_file: str | None = None

    @field_validator("sender")
    @classmethod
    def _sender_address(cls, value: str) -> str:
        return check_address(value)

    @model_validator(mode="after")
    def _credentials_in_pairs(self) -> SmtpConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        return self


class DeliveryConfig(Frozen):
    """How hard the outbox tries: retries with exponential back-off and jitter, then 'dead'."""

    max_attempts: int = Field(12, ge=1, le=100)
    backoff_base_seconds: float = Field(2.0, gt=0)
    backoff_max_seconds: float = Field(3600.0, gt=0)
    # A retry whose back-off is at most this long waits in the same run; longer ones are left
    # to the next run (the daemon's retry job, the next `poll --once`, `deliveries retry`).
    inline_wait_max_seconds: float = Field(10.0, ge=0, le=300)
    # A delivery claimed by a process that then died is taken over after this long.
    lease_seconds: int = Field(600, ge=30, le=24 * 3600)
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=300)
    # How often `monitor run` sends the alerts for new matches and retries what is due.
    alerts_every_seconds: float = Field(30.0, ge=1, le=3600)
    # Matches older than this are not sent to a subscriber that has not had them yet.
    backlog_days: int = Field(7, ge=1, le=365)


class DigestConfig(Frozen):
    timezone: str = "Europe/Pristina"
    max_items: int = Field(500, ge=1)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)


class StoriesConfig(Frozen):
    """Clustering of copies of one story across outlets (see monitor/cluster.py)."""

    window_hours: float = Field(48, gt=0, le=24 * 30, description="how far apart in time copies may be")
    min_overlap: float = Field(0.6, gt=0, le=1, description="share of the shorter lead found in the other")
    min_jaccard: float = Field(0.15, ge=0, le=1)


class UpdatesConfig(Frozen):
    """What happens when a stored article comes back with changed text (see monitor/updates.py)."""

    max_revisions: int = Field(20, ge=0, le=10_000)
    alert_on_new_mention: bool = True


class Config(Frozen):
    database: DatabaseConfig = DatabaseConfig()
    http: HttpConfig = HttpConfig()
    polling: PollingConfig = PollingConfig()
    pages: PagesConfig = PagesConfig()
    daemon: DaemonConfig = DaemonConfig()
    retention: RetentionConfig = RetentionConfig()
    web: WebConfig = WebConfig()
    digest: DigestConfig = DigestConfig()
    smtp: SmtpConfig = SmtpConfig()
    stories: StoriesConfig = StoriesConfig()
    updates: UpdatesConfig = UpdatesConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    sources: tuple[SourceConfig, ...] = ()
    subscribers: tuple[Subscriber, ...] = ()
    profile: MatchProfile

    @model_validator(mode="after")
    def _source_intervals_in_bounds(self) -> Config:
        low, high = self.polling.min_interval_minutes, self.polling.max_interval_minutes
        wrong = [
            f"sources ({s.name}).interval_minutes: {s.interval_minutes:g} lies outside "
            f"polling.min_interval_minutes ({low:g}) … polling.max_interval_minutes ({high:g})"
            for s in self.sources
            if s.interval_minutes is not None and not low <= s.interval_minutes <= high
        ]
        if wrong:
            raise ValueError("; ".join(wrong))
        return self

    def secret_values(self) -> tuple[str, ...]:
        """Every secret the configuration holds, so logs can mask them wherever they appear."""
        values: list[str] = []
        password = _url_password(self.database.url)
        if password:
            values.append(password)
        for secret in (self.smtp.username, self.smtp.password):
            if secret is not None:
                values.append(secret.get_secret_value())
        for sub in self.subscribers:
            if isinstance(sub, WebhookSubscriber):
                values.append(sub.url.get_secret_value())
                if sub.secret is not None:
                    values.append(sub.secret.get_secret_value())
        # Very short values would mask ordinary words; such secrets are too weak to matter here.
        return tuple(v for v in values if len(v) >= 4)

    def source(self, name: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.name == name), None)

    @property
    def enabled_sources(self) -> tuple[SourceConfig, ...]:
        return tuple(s for s in self.sources if s.enabled)


# Kosovo has no zone of its own in the IANA database; desks naturally write Pristina.
ZONE_ALIASES = {"Europe/Pristina": "Europe/Belgrade", "Europe/Prishtina": "Europe/Belgrade"}


def resolve_zone(name: str) -> ZoneInfo:
    return ZoneInfo(ZONE_ALIASES.get(name, name))


def check_timezone(value: str) -> str:
    try:
        resolve_zone(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"expected an IANA time zone such as 'Europe/Belgrade', got {value!r}") from None
    return value


def _url_password(url: str) -> str | None:
    found = re.search(r"//[^:/@]+:([^@/]*)@", url)
    return found.group(1) if found and found.group(1) else None


def mask_url(url: str) -> str:
    """Hide the password of a ``scheme://user:password@host`` URL, and ``password=`` parameters."""
    url = re.sub(r"(//[^:/@]+:)[^@/]*@", r"\1***@", url)
    return re.sub(r"((?:^|[?&;])(?:password|passwd|pwd|secret|token)=)[^&;]*", r"\1***", url, flags=re.IGNORECASE)


# ---------------------------------------------------------------- loading


def load_config(path: str | Path = DEFAULT_CONFIG, environ: Mapping[str, str] | None = None) -> Config:
    """Read, substitute secrets and validate; raise ``ConfigError`` listing every problem."""
    path = Path(path)
    file = str(path)
    env = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(file, "", "file not found; pass --config PATH or create config.yaml")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(file, "", f"cannot read the file: {exc}")]) from None
    return parse_config(text, file, env)


def parse_config(text: str, file: str, environ: Mapping[str, str]) -> Config:
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506  (a SafeLoader, see below)
    except RecursionError:
        raise ConfigError([Problem(file, "", f"nested too deeply to be a configuration file ({_TOO_DEEP})")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem(file, where, f"not valid YAML: {reason}")]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([Problem(file, "", "expected a mapping of sections (database, http, sources, …) at the top")])
    too_big = _expanded_size_problem(raw)
    if too_big:
        raise ConfigError([Problem(file, "", too_big)])
    problems: list[Problem] = []
    raw = _substitute_env(raw, (), file, environ, problems)
    problems.extend(_duplicate_names(raw, file))
    problems.extend(_subscriber_references(raw, file))
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, raw, file))
        config = None
    if problems or config is None:
        raise ConfigError(problems)
    return config


# libyaml's parser when PyYAML was built with it (the wheels are): ten times faster than the pure
# Python one, which took 0.4 s to read the default file at every command.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """yaml.safe_load, except that a key given twice in one mapping is an error, not "last wins"
    (two ``http:`` sections would otherwise silently drop the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            if key in first_line:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given on line {first_line[key]})", key_node.start_mark
                )
            first_line[key] = key_node.start_mark.line + 1
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


# Far more values than any real configuration has; YAML aliases can make a short file expand to
# billions of them ("billion laughs"), which validation would walk one by one.
MAX_CONFIG_VALUES = 100_000


_TOO_DEEP = "lists and mappings inside each other hundreds of levels deep"


class _AliasCycle(Exception):
    pass


def _expanded_size_problem(raw: Any) -> str | None:
    """Why the document is unusable as a tree (too many values, an alias inside itself), or None."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise _AliasCycle
        open_nodes.add(key)
        children = list(node.values()) if isinstance(node, dict) else node
        total = 1 + sum(min(size(child), MAX_CONFIG_VALUES + 1) for child in children)
        open_nodes.discard(key)
        sizes[key] = total
        return total

    try:
        total = size(raw)
    except _AliasCycle:
        return "a YAML alias refers to a mapping or list that contains it; the file cannot be read as a tree"
    except RecursionError:
        return f"nested too deeply to be a configuration file ({_TOO_DEEP})"
    if total > MAX_CONFIG_VALUES:
        return f"the file expands to more than {MAX_CONFIG_VALUES:,} values through YAML aliases (&name / *name)"
    return None


def _subscriber_references(raw: dict[str, Any], file: str) -> list[Problem]:
    """Subscriber filters must name topics of the profile and configured sources.

    Read from the raw file, so that these are reported along with any other mistake.
    """
    profile = raw.get("profile")
    topics = profile.get("topics") if isinstance(profile, dict) else None
    known = {
        "topics": {t.get("id") for t in topics or [] if isinstance(t, dict)},
        "sources": {s.get("name") for s in raw.get("sources") or [] if isinstance(s, dict)},
    }
    problems = []
    for index, sub in enumerate(raw.get("subscribers") or []):
        filters = sub.get("filters") if isinstance(sub, dict) else None
        if not isinstance(filters, dict):
            continue
        for key, names in known.items():
            wanted = filters.get(key)
            for name in wanted if isinstance(wanted, list) else []:
                if name not in names:
                    where = _path_text(("subscribers", index, "filters", key), raw)
                    listed = ", ".join(sorted(str(n) for n in names if n))
                    problems.append(
                        Problem(file, where, f"{name!r} is not a {key[:-1]} of this file (known: {listed})")
                    )
    return problems


def _path_text(loc: Sequence[str | int], raw: Any) -> str:
    """('sources', 3, 'url') → 'sources[3] (kossev).url', naming list entries by their name."""
    out = ""
    node = raw
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                out += f" ({node['name']})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


def _problems_from(exc: ValidationError, raw: Any, file: str) -> list[Problem]:
    problems = []
    for error in exc.errors():
        # Union members add their tag to the path ('subscribers', 0, 'email', 'to'): drop it.
        loc = [p for p in error["loc"] if p not in ("email", "webhook") or error["type"] == "missing"]
        loc = [p for p in loc if not (isinstance(p, str) and p.startswith("function-"))]
        message = _message_for(error)
        if ".".join("*" if isinstance(p, int) else str(p) for p in loc) in SECRET_PATHS:
            message = _without_secret(message, error.get("input"))
        problems.append(Problem(file, _path_text(loc, raw), message))
    return problems


def _without_secret(message: str, value: object) -> str:
    """The message with the value of a secret key replaced by what may be shown of it."""
    if value is None or isinstance(value, dict | list) or str(value) == "":
        return message
    shown = "(hidden)"
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            parts = urlsplit(value)
            if parts.scheme and parts.hostname:
                shown = f"{parts.scheme}://{parts.hostname}/… (rest hidden)"
    for form in (repr(value), repr(mask_url(str(value))), str(value)):
        message = message.replace(form, shown)
    return message


def _message_for(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key; check its spelling against the configuration reference in README.md"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"{error['msg'].replace('Input should be', 'expected')}, got {error['input']!r}"
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return "expected 'kind: email' or 'kind: webhook'"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        return f"got {error['input']!r}, which does not have the expected form ({error['ctx']['pattern']})"
    return (
        f"{error['msg']}, got {error['input']!r}"
        if "input" in error and not isinstance(error["input"], dict | list)
        else str(error["msg"])
    )


def _substitute_env(
    node: Any, path: tuple[str, ...], file: str, env: Mapping[str, str], problems: list[Problem]
) -> Any:
    if isinstance(node, dict):
        return {k: _substitute_env(v, (*path, str(k)), file, env, problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute_env(v, (*path, "*"), file, env, problems) for v in node]
    if not isinstance(node, str) or "${" not in node:
        return node
    dotted = ".".join(path)
    if dotted not in SECRET_PATHS:
        problems.append(
            Problem(
                file,
                dotted,
                "${…} is only for secrets (" + ", ".join(SECRET_PATHS) + "); write the value itself",
            )
        )
        return node

    def replace(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in env:
            problems.append(
                Problem(file, dotted, f"environment variable {name} is not set; export it or edit the file")
            )
            return ""
        return env[name]

    return _ENV_REF.sub(replace, node)


def _duplicate_names(raw: dict[str, Any], file: str) -> list[Problem]:
    problems = []
    for section in ("sources", "subscribers"):
        entries = raw.get(section)
        if not isinstance(entries, list):
            continue
        seen: dict[str, int] = {}
        for index, entry in enumerate(entries):
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str):
                continue
            if name in seen:
                problems.append(
                    Problem(
                        file,
                        f"{section}[{index}] ({name}).name",
                        f"duplicate name; {section}[{seen[name]}] has it too",
                    )
                )
            else:
                seen[name] = index
    return problems
