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
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Self
from urllib.parse import urljoin, urlsplit

import httpx

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
        chunks: list[bytes] = []
        raw_size = size = 0
        async for raw in response.aiter_raw():
            raw_size += len(raw)
            if raw_size > cap:
                raise FetchError(FetchErrorKind.TOO_LARGE, f"{url} sent more than the cap of {cap:,} bytes")
            for piece in inflater.feed(raw):
                size += len(piece)
                if size > cap:
                    raise FetchError(FetchErrorKind.TOO_LARGE, f"{url} inflates to more than the cap of {cap:,} bytes")
                chunks.append(piece)
        return b"".join(chunks)


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
