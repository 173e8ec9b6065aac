"""Fetching over HTTP: the only module (with notify/webhook.py) that imports httpx.

``Fetcher.fetch`` returns ``Fetched`` or ``NotModified`` and raises exactly one kind of
exception, ``FetchError``, whose ``kind`` is a closed set. Every httpx exception is
translated in ``_translate``. Limits hold against hostile servers:

- a total deadline per request (connect + headers + whole body), not a per-read timeout;
- a body cap checked while streaming, on the decoded (decompressed) size;
- redirects followed by hand, at most ``max_redirects``, to http/https targets only;
- a global and a per-host concurrency limit.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Self
from urllib.parse import urljoin, urlsplit

import httpx

from monitor.errors import FetchError, FetchErrorKind
from monitor.types import Fetched, NotModified, Validators

_REDIRECTS = {301, 302, 303, 307, 308}
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
    accept: str = (
        "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, "
        "text/xml;q=0.9, */*;q=0.5"
    )


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


class Fetcher:
    """One HTTP client for a poll cycle; use as ``async with Fetcher(limits) as fetcher``."""

    def __init__(self, limits: FetchLimits, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.limits = limits
        self._client = httpx.AsyncClient(
            headers={"User-Agent": limits.user_agent, "Accept": limits.accept},
            timeout=httpx.Timeout(limits.timeout_seconds, connect=limits.connect_timeout_seconds),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=limits.concurrency * 2, max_keepalive_connections=limits.concurrency),
            transport=transport,
            trust_env=False,
        )
        self._all = asyncio.Semaphore(limits.concurrency)
        self._hosts = _HostGates(limits.per_host_concurrency)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._client.aclose()

    async def fetch(
        self, url: str, validators: Validators | None = None, *, source: str | None = None
    ) -> Fetched | NotModified:
        validators = validators or Validators()
        started = time.monotonic()
        async with self._all, self._hosts.for_url(url):
            try:
                async with asyncio.timeout(self.limits.timeout_seconds):
                    return await self._fetch(url, validators, started)
            except FetchError as exc:
                exc.source = source
                exc.url = exc.url or url
                raise
            except TimeoutError:
                raise FetchError(
                    FetchErrorKind.TIMEOUT,
                    f"no complete answer within {self.limits.timeout_seconds:g} s from {url}",
                    source=source,
                    url=url,
                ) from None
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise _translate(exc, url, source) from None

    async def _fetch(self, url: str, validators: Validators, started: float) -> Fetched | NotModified:
        current = _checked_url(url, url)
        for _ in range(self.limits.max_redirects + 1):
            request = self._client.build_request("GET", current, headers=_conditional_headers(validators))
            response = await self._client.send(request, stream=True)
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    current = _checked_url(urljoin(current, response.headers["location"]), url)
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
            return NotModified(url, _validators_from(response.headers, fallback=validators), time.monotonic() - started)
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
        cap = self.limits.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(
                FetchErrorKind.TOO_LARGE, f"{url} declares {int(declared):,} bytes, over the cap of {cap:,}"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise FetchError(FetchErrorKind.TOO_LARGE, f"{url} sent more than the cap of {cap:,} bytes (decoded)")
            chunks.append(chunk)
        return b"".join(chunks)


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
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
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
