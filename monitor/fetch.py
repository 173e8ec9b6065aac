"""Fetching over HTTP: the only module (with notify/webhook.py) that imports httpx.

``Fetcher.fetch`` returns ``Fetched`` or ``NotModified`` and raises exactly one kind of
exception, ``FetchError``, whose ``kind`` is a closed set. Every httpx exception is
translated in ``_translate``. Limits hold against hostile servers:

- a total deadline per request (connect + headers + whole body), not a per-read timeout, so a
  server that drips one byte a second or never sends its headers is cut off at the deadline;
- a body cap checked while streaming, on the raw and on the decoded (decompressed) size. We
  read the raw bytes and inflate them ourselves (``_Inflater``) in steps of at most
  ``INFLATE_STEP`` bytes: httpx inflates each network chunk whole, and 64 KB of a gzip bomb
  inflate to 64 MB at once. So a bomb stops at most one step past the cap, with memory bounded
  by the cap;
- redirects followed by hand, at most ``max_redirects``, to http/https targets only;
- a global and a per-host concurrency limit.

Politeness (``HostPacer``, ``RobotsCache``): requests to one origin start at least
``min_host_delay_seconds`` apart (longer when its robots.txt asks for a Crawl-delay), and
fetches of web pages (``page=True``: listing pages and articles, every redirect hop included)
obey robots.txt for the configured User-Agent. A disallowed URL is never requested; it raises
``FetchError`` of kind ``robots_denied``. Feeds are not checked against robots.txt: they are
published for automated readers, and feed readers do not consult it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Self
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego

from monitor.errors import FetchError, FetchErrorKind
from monitor.types import Fetched, NotModified, Validators

_REDIRECTS = {301, 302, 303, 307, 308}
# We decode bodies ourselves (see ``_Inflater``), so we ask only for what zlib can read.
ACCEPT_ENCODING = "gzip, deflate"
# Largest piece one inflate step may produce: the most a compressed body can exceed the cap by.
INFLATE_STEP = 64 * 1024
_KEPT_HEADERS = (
    "content-type",
    "content-location",
    "content-language",
    "cache-control",
    "expires",
    "retry-after",
)


@dataclass(frozen=True, slots=True)
class FetchLimits:
    user_agent: str
    timeout_seconds: float = 30.0
    connect_timeout_seconds: float = 10.0
    max_body_bytes: int = 10_000_000
    max_redirects: int = 5
    concurrency: int = 8
    per_host_concurrency: int = 2
    min_host_delay_seconds: float = 1.0
    robots_cache_seconds: float = 3600.0
    accept: str = (
        "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, "
        "text/xml;q=0.9, */*;q=0.5"
    )
    accept_page: str = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


@dataclass(slots=True)
class _HostGates:
    per_host: int
    gates: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    def for_url(self, url: str) -> asyncio.Semaphore:
        host = (urlsplit(url).hostname or "").lower()
        gate = self.gates.get(host)
        if gate is None:
            gate = self.gates[host] = asyncio.Semaphore(self.per_host)
        return gate


Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# RFC 9309: crawlers parse at least the first 500 KiB of a robots.txt.
ROBOTS_MAX_BYTES = 500 * 1024
# A Crawl-delay above this is honoured as this much: more would stall a poll for hours.
MAX_CRAWL_DELAY = 60.0
# An unreachable robots.txt is asked again after at most this long, not after the full expiry.
ROBOTS_RETRY_SECONDS = 300.0


def origin_of(url: str) -> str:
    """scheme://host[:port], lower-case: what a robots.txt and a pacing slot belong to."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{host}{port}"


class HostPacer:
    """Spaces the starts of requests to one origin at least ``delay`` seconds apart.

    Slots are reserved before sleeping, so concurrent callers queue up in order without a lock.
    """

    def __init__(self, clock: Clock, sleep: Sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._next_start: dict[str, float] = {}

    async def wait(self, origin: str, delay: float) -> None:
        now = self._clock()
        start = max(now, self._next_start.get(origin, now))
        self._next_start[origin] = start + delay
        if start > now:
            await self._sleep(start - now)


@dataclass(frozen=True, slots=True)
class RobotsRules:
    """One origin's robots.txt as read at ``fetched_at`` (``rules`` None: there is none, all allowed)."""

    origin: str
    fetched_at: float
    rules: Protego | None = None
    # Set when robots.txt could not be read (server error, network): RFC 9309 says to assume
    # the whole site is disallowed then, so page fetches fail with this until it is asked again.
    error: FetchError | None = None

    def allows(self, url: str, user_agent: str) -> bool:
        return self.rules is None or bool(self.rules.can_fetch(url, user_agent))

    def crawl_delay(self, user_agent: str) -> float | None:
        delay = self.rules.crawl_delay(user_agent) if self.rules is not None else None
        return min(float(delay), MAX_CRAWL_DELAY) if delay is not None else None


class RobotsCache:
    """robots.txt per origin, kept ``ttl_seconds``; give one to each ``Fetcher`` to share it across cycles."""

    def __init__(self, ttl_seconds: float = 3600.0, clock: Clock = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._rules: dict[str, RobotsRules] = {}

    def get(self, origin: str) -> RobotsRules | None:
        rules = self._rules.get(origin)
        if rules is None:
            return None
        ttl = min(self.ttl_seconds, ROBOTS_RETRY_SECONDS) if rules.error else self.ttl_seconds
        return rules if self.clock() - rules.fetched_at < ttl else None

    def put(self, rules: RobotsRules) -> None:
        self._rules[rules.origin] = rules


class Fetcher:
    """One HTTP client for a poll cycle; use as ``async with Fetcher(limits) as fetcher``.

    ``robots`` may be shared between fetchers (a daemon keeps one for its lifetime); ``clock``
    and ``sleep`` are injected so tests can check pacing without waiting.
    """

    def __init__(
        self,
        limits: FetchLimits,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        robots: RobotsCache | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self._client = httpx.AsyncClient(
            headers={"User-Agent": limits.user_agent, "Accept": limits.accept, "Accept-Encoding": ACCEPT_ENCODING},
            timeout=httpx.Timeout(limits.timeout_seconds, connect=limits.connect_timeout_seconds),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=limits.concurrency * 2, max_keepalive_connections=limits.concurrency),
            transport=transport,
            trust_env=False,
            event_hooks={"response": [_refuse_bad_redirect]},
        )
        self._all = asyncio.Semaphore(limits.concurrency)
        self._hosts = _HostGates(limits.per_host_concurrency)
        self.robots = robots if robots is not None else RobotsCache(limits.robots_cache_seconds, clock)
        self._robots_reads: dict[str, asyncio.Lock] = {}
        self._pacer = HostPacer(clock, sleep)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._client.aclose()

    async def fetch(
        self, url: str, validators: Validators | None = None, *, source: str | None = None, page: bool = False
    ) -> Fetched | NotModified:
        """GET ``url``; ``page=True`` for web pages: obey robots.txt and ask for HTML."""
        validators = validators or Validators()
        try:
            if page:
                await self._obey_robots(url)
            async with self._hosts.for_url(url):
                await self._pace(url)
                async with self._all:
                    return await self._fetch_in_time(url, validators, page=page)
        except FetchError as exc:
            exc.source = source
            exc.url = exc.url or url
            raise

    async def _fetch_in_time(
        self, url: str, validators: Validators, *, page: bool = False, accept: str | None = None
    ) -> Fetched | NotModified:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.limits.timeout_seconds):
                return await self._fetch(url, validators, started, page=page, accept=accept)
        except TimeoutError:
            raise FetchError(
                FetchErrorKind.TIMEOUT,
                f"no complete answer within {self.limits.timeout_seconds:g} s from {url}",
                url=url,
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _translate(exc, url, None) from None

    async def _fetch(
        self, url: str, validators: Validators, started: float, *, page: bool = False, accept: str | None = None
    ) -> Fetched | NotModified:
        current = _checked_url(url, url)
        headers = _conditional_headers(validators)
        if page or accept:
            headers["Accept"] = accept or self.limits.accept_page
        for _ in range(self.limits.max_redirects + 1):
            request = self._client.build_request("GET", current, headers=headers)
            response = await self._client.send(request, stream=True)
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    current = _checked_url(urljoin(current, response.headers["location"]), url)
                    if page:
                        await self._obey_robots(current)
                    continue
                return await self._finish(url, current, response, validators, started)
            finally:
                await response.aclose()
        raise FetchError(
            FetchErrorKind.TOO_MANY_REDIRECTS,
            f"more than {self.limits.max_redirects} redirects from {url}",
            url=url,
        )

    async def _finish(
        self, url: str, final_url: str, response: httpx.Response, validators: Validators, started: float
    ) -> Fetched | NotModified:
        status = response.status_code
        if status == 304:
            return NotModified(
                url,
                _validators_from(response.headers, fallback=validators),
                time.monotonic() - started,
                headers={k: response.headers[k] for k in _KEPT_HEADERS if k in response.headers},
            )
        if status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            hint = f", asked to retry after {retry_after:g} s" if retry_after is not None else ""
            raise FetchError(
                FetchErrorKind.RATE_LIMITED,
                f"HTTP {status} from {final_url}{hint}",
                status=status,
                retry_after=retry_after,
            )
        if status >= 400:
            raise FetchError(FetchErrorKind.HTTP_STATUS, f"HTTP {status} from {final_url}", status=status)
        if status >= 300:
            raise FetchError(
                FetchErrorKind.HTTP_STATUS, f"HTTP {status} without a usable Location from {final_url}", status=status
            )
        body = await self._read_capped(response, final_url)
        headers = {k: response.headers[k] for k in _KEPT_HEADERS if k in response.headers}
        return Fetched(
            url=url,
            final_url=final_url,
            status=status,
            headers=headers,
            body=body,
            validators=_validators_from(response.headers),
            elapsed=time.monotonic() - started,
        )

    async def _read_capped(self, response: httpx.Response, url: str) -> bytes:
        """The decoded body, or ``TOO_LARGE`` once the raw or the decoded size passes the cap."""
        cap = self.limits.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(
                FetchErrorKind.TOO_LARGE, f"{url} declares {int(declared):,} bytes, over the cap of {cap:,}"
            )
        inflater = _Inflater.for_encoding(response.headers.get("content-encoding", ""), url)
        # One growing buffer, not a list of 64 KB pieces: once large it is a single mapping that
        # goes back to the operating system when freed (see ``workers.tune_allocator``), where
        # thousands of small pieces would leave the heap fragmented after a capped bomb.
        body = bytearray()
        raw_size = size = 0
        async for raw in response.aiter_raw():
            raw_size += len(raw)
            if raw_size > cap:
                raise FetchError(FetchErrorKind.TOO_LARGE, f"{url} sent more than the cap of {cap:,} bytes")
            for piece in inflater.feed(raw):
                size += len(piece)
                if size > cap:
                    raise FetchError(FetchErrorKind.TOO_LARGE, f"{url} inflates to more than the cap of {cap:,} bytes")
                body += piece
        return bytes(body)

    # ------------------------------------------------------------ politeness

    async def _pace(self, url: str) -> None:
        origin = origin_of(url)
        delay = self.limits.min_host_delay_seconds
        rules = self.robots.get(origin)
        crawl_delay = rules.crawl_delay(self.limits.user_agent) if rules is not None else None
        await self._pacer.wait(origin, max(delay, crawl_delay or 0.0))

    async def _obey_robots(self, url: str) -> None:
        origin = origin_of(url)
        rules = await self.robots_rules(origin)
        if rules.error is not None:
            raise FetchError(
                rules.error.kind,
                f"robots.txt of {origin} could not be read ({rules.error.message}); "
                "its pages are not fetched until it can be",
                url=url,
                status=rules.error.status,
                retry_after=rules.error.retry_after,
            )
        if not rules.allows(url, self.limits.user_agent):
            raise FetchError(
                FetchErrorKind.ROBOTS_DENIED,
                f"disallowed by {origin}/robots.txt for our User-Agent, not fetched: {url}",
                url=url,
            )

    async def robots_rules(self, origin: str) -> RobotsRules:
        """The robots.txt rules of an origin, from the cache or read once (concurrent callers wait)."""
        cached = self.robots.get(origin)
        if cached is not None:
            return cached
        lock = self._robots_reads.setdefault(origin, asyncio.Lock())
        async with lock:
            cached = self.robots.get(origin)
            if cached is None:
                cached = await self._read_robots(origin)
                self.robots.put(cached)
            return cached

    async def _read_robots(self, origin: str) -> RobotsRules:
        # Not behind the host and global gates: a page fetch that holds them may need robots.txt
        # of a redirect target, and one small request per origin and hour cannot crowd anyone.
        url = origin + "/robots.txt"
        await self._pacer.wait(origin, self.limits.min_host_delay_seconds)
        read_at = self.robots.clock()
        try:
            response = await self._fetch_in_time(url, Validators(), accept="text/plain, */*;q=0.5")
        except FetchError as exc:
            status = exc.status or 0
            if exc.kind is FetchErrorKind.HTTP_STATUS and 400 <= status < 500:
                return RobotsRules(origin, read_at)  # no robots.txt (RFC 9309: unavailable → allowed)
            return RobotsRules(origin, read_at, error=exc)
        if not isinstance(response, Fetched):
            return RobotsRules(origin, read_at)
        text = response.body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")
        return RobotsRules(origin, read_at, rules=Protego.parse(text))


class _Inflater:
    """Undoes a Content-Encoding (gzip, deflate, or a chain of them) in bounded steps.

    ``feed`` yields pieces of at most ``INFLATE_STEP`` bytes and does the work lazily, so a caller
    that stops iterating at the cap never holds more than one step beyond it.
    """

    def __init__(self, layers: list[str], url: str) -> None:
        # Content-Encoding lists codings in the order they were applied: undo them last first.
        self._layers = [_ZlibLayer(name, url) for name in reversed(layers)]

    @classmethod
    def for_encoding(cls, header: str, url: str) -> _Inflater:
        layers = [c.strip().lower() for c in header.split(",") if c.strip() and c.strip().lower() != "identity"]
        for name in layers:
            if name not in ("gzip", "x-gzip", "deflate"):
                raise FetchError(
                    FetchErrorKind.DECODING,
                    f"{url} sent Content-Encoding {name!r}, which was not asked for (we accept {ACCEPT_ENCODING})",
                )
        return cls(layers, url)

    def feed(self, data: bytes) -> Iterator[bytes]:
        pieces: Iterator[bytes] = iter((data,)) if data else iter(())
        for layer in self._layers:
            pieces = layer.pieces(pieces)
        return pieces


class _ZlibLayer:
    def __init__(self, name: str, url: str) -> None:
        self.name, self.url = name, url
        self._gzip = name in ("gzip", "x-gzip")
        self._raw_deflate = False
        # Deflate input seen before the first output, to start again as raw deflate if it is not zlib.
        self._unproven: bytes | None = None if self._gzip else b""
        self._members = 0  # complete gzip members seen; what follows the last one may be padding
        self._done = False
        self._decoder = self._new_decoder()

    def _new_decoder(self) -> zlib._Decompress:
        # gzip: header and trailer checked; deflate: zlib-wrapped as the RFC says, or raw as some servers send.
        wbits = 16 + zlib.MAX_WBITS if self._gzip else (-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)
        return zlib.decompressobj(wbits)

    def pieces(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            yield from self._inflate(chunk)

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        if self._unproven is not None:
            self._unproven += data
        while data and not self._done:
            try:
                out = self._decoder.decompress(data, INFLATE_STEP)
            except zlib.error as exc:
                data = self._recover(exc)
                continue
            if out:
                self._unproven = None
                yield out
            data = self._decoder.unconsumed_tail
            if self._decoder.eof:
                data = self._next_member()

    def _recover(self, exc: zlib.error) -> bytes:
        """What to inflate next after a zlib error, or raise ``DECODING``."""
        if self._unproven is not None and not self._raw_deflate:
            self._raw_deflate = True
            self._decoder = self._new_decoder()
            data, self._unproven = self._unproven, None
            return data
        if self._members:  # junk after complete gzip members: ignore it, as browsers do
            self._done = True
            return b""
        raise FetchError(FetchErrorKind.DECODING, f"{self.url}: the {self.name} body is corrupt ({exc})")

    def _next_member(self) -> bytes:
        # A gzip body may hold several members one after the other; after deflate the rest is junk.
        rest = self._decoder.unused_data
        if not self._gzip:
            self._done = True
            return b""
        self._members += 1
        self._decoder = self._new_decoder()
        return rest


async def _refuse_bad_redirect(response: httpx.Response) -> None:
    """Check a redirect target before httpx parses it (it builds the next request even when not
    following, and chokes on ``data:`` and other odd targets with an unhelpful message)."""
    location = response.headers.get("location")
    if response.status_code in _REDIRECTS and location:
        origin = str(response.request.url)
        _checked_url(urljoin(origin, location.strip()), origin)


def _conditional_headers(validators: Validators) -> dict[str, str]:
    headers = {}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    return headers


def _validators_from(headers: Mapping[str, str], fallback: Validators | None = None) -> Validators:
    fallback = fallback or Validators()
    return Validators(
        etag=headers.get("etag") or fallback.etag,
        last_modified=headers.get("last-modified") or fallback.last_modified,
    )


def _checked_url(url: str, origin: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        what = "redirected to" if url != origin else "is"
        raise FetchError(FetchErrorKind.BAD_URL, f"{origin} {what} {url!r}: only http and https URLs are fetched")
    return url


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date.

    None when absent or unreadable (the caller then uses its own back-off); a date in the past
    means 0. HTTP dates are always GMT, so a date without a zone is read as UTC.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        # Some servers send fractions; negative or non-finite values are not a wait.
        return seconds if 0 <= seconds < float("inf") else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _translate(exc: httpx.HTTPError | httpx.InvalidURL, url: str, source: str | None) -> FetchError:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        kind = FetchErrorKind.TIMEOUT
    elif isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        kind = FetchErrorKind.BAD_URL
    elif _is_tls(exc):
        kind = FetchErrorKind.TLS
    elif isinstance(exc, httpx.TooManyRedirects):
        kind = FetchErrorKind.TOO_MANY_REDIRECTS
    else:
        kind = FetchErrorKind.NETWORK
    return FetchError(kind, f"{detail} ({url})", source=source, url=url)


def _is_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "SSL" in str(exc) or "certificate" in str(exc).lower()
