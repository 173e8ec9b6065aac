"""Fetch limits against a hostile server on 127.0.0.1: deadlines, size caps, bombs, redirects.

Each test serves one hostile behaviour from ``tests/support/hostile.py`` and checks what an
operator would see: the kind of error and a message that says what happened.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import time
import zlib
from email.utils import formatdate

import pytest

from monitor.errors import FetchError, FetchErrorKind
from monitor.fetch import INFLATE_STEP, Fetcher, FetchLimits, parse_retry_after
from monitor.types import Fetched
from tests.support import hostile
from tests.support.configs import ROOT
from tests.support.httpserver import LocalServer

AGENT = "dialogue-monitor-test/1 (+https://example.org)"
FEED = hostile.rss(hostile.rss_item(1) + hostile.rss_item(2)).encode()


def limits(**overrides: float) -> FetchLimits:
    values: dict[str, float] = {"timeout_seconds": 1.0, "connect_timeout_seconds": 1.0, "max_body_bytes": MB}
    values.update(overrides)
    return FetchLimits(user_agent=AGENT, **values)  # type: ignore[arg-type]


MB = 1 << 20


async def fetch(url: str, **overrides: float) -> Fetched:
    async with Fetcher(limits(**overrides)) as fetcher:
        result = await fetcher.fetch(url, source="hostile")
    assert isinstance(result, Fetched)
    return result


async def fetch_error(url: str, **overrides: float) -> FetchError:
    with pytest.raises(FetchError) as info:
        await fetch(url, **overrides)
    assert info.value.source == "hostile"
    return info.value


# ---------------------------------------------------------------- total deadline


@pytest.mark.parametrize(
    "behaviour", [hostile.drip, hostile.silent, hostile.header_drip], ids=["body-drip", "no-headers", "header-drip"]
)
async def test_the_total_deadline_holds_against_slow_servers(server: LocalServer, behaviour: object) -> None:
    url = server.add("/slow", handler=behaviour(server))  # type: ignore[operator]
    started = time.monotonic()
    error = await fetch_error(url, timeout_seconds=1.0)
    elapsed = time.monotonic() - started
    assert error.kind is FetchErrorKind.TIMEOUT
    assert "within 1 s" in error.message
    # Cut off at the deadline, not after a per-read timeout that each dripped byte resets.
    assert elapsed < 2.5


async def test_endless_headers_are_refused_quickly(server: LocalServer) -> None:
    url = server.add("/headers", handler=hostile.endless_headers(server))
    error = await fetch_error(url, timeout_seconds=5.0)
    assert error.kind is FetchErrorKind.NETWORK


# ---------------------------------------------------------------- body size


async def test_a_declared_oversized_body_is_refused_before_reading(server: LocalServer) -> None:
    url = server.add("/big", b"x" * (2 * MB))
    error = await fetch_error(url)
    assert error.kind is FetchErrorKind.TOO_LARGE
    assert "declares 2,097,152 bytes" in error.message


async def test_an_undeclared_oversized_body_stops_at_the_cap(server: LocalServer) -> None:
    url = server.add("/stream", handler=hostile.streaming(lambda: (b"x" * 65536 for _ in range(1000))))
    error = await fetch_error(url)
    assert error.kind is FetchErrorKind.TOO_LARGE
    assert "more than the cap of 1,048,576 bytes" in error.message


@pytest.mark.parametrize("layers", [1, 2], ids=["gzip", "gzip-of-gzip"])
async def test_a_gzip_bomb_stops_at_the_cap(server: LocalServer, layers: int) -> None:
    url = server.add("/bomb", handler=hostile.gzip_bomb(layers=layers))
    error = await fetch_error(url, timeout_seconds=10.0)
    assert error.kind is FetchErrorKind.TOO_LARGE
    assert "inflates to more than the cap" in error.message


def test_inflating_never_holds_more_than_one_step_past_the_cap() -> None:
    """What the fetcher keeps of a bomb: the cap plus at most one inflate step, however it arrives."""
    from monitor.fetch import _Inflater

    bomb = b"".join(hostile.gzip_bomb_chunks(total=64 * MB))
    cap = MB
    inflater = _Inflater.for_encoding("gzip", "http://bomb")
    size, largest = 0, 0
    # The whole compressed bomb (about 64 KB) in one network chunk: httpx would inflate it to 64 MB at once.
    for piece in inflater.feed(bomb):
        largest = max(largest, len(piece))
        size += len(piece)
        if size > cap:
            break
    assert largest <= INFLATE_STEP
    assert cap < size <= cap + INFLATE_STEP


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b, wbits=-15)),  # raw deflate, as some servers send it
        ("gzip, gzip", lambda b: gzip.compress(gzip.compress(b))),
        ("identity", lambda b: b),
        ("gzip", lambda b: gzip.compress(b[:100]) + gzip.compress(b[100:])),  # two members
    ],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw", "gzip-twice", "identity", "gzip-members"],
)
async def test_compressed_feeds_are_decoded(server: LocalServer, encoding: str, encode: object) -> None:
    url = server.add("/z", encode(FEED), headers={"Content-Encoding": encoding})  # type: ignore[operator]
    result = await fetch(url)
    assert result.body == FEED
    assert server.requests_for("/z")[0].headers["accept-encoding"] == "gzip, deflate"


async def test_a_dripped_gzip_body_is_decoded(server: LocalServer) -> None:
    packed = zlib.compress(FEED, wbits=-15)
    url = server.add("/drip", handler=hostile.streaming(lambda: (packed[i : i + 1] for i in range(len(packed))),
                                                        {"Content-Encoding": "deflate"}))  # fmt: skip
    assert (await fetch(url)).body == FEED


@pytest.mark.parametrize(
    ("encoding", "body", "expected"),
    [
        ("br", b"\x0b\x02\x80hello\x03", "'br', which was not asked for"),
        ("gzip", b"\x1f\x8b\x08\x00garbage-not-gzip", "gzip body is corrupt"),
        ("deflate", b"\xff\xfe not deflate at all", "deflate body is corrupt"),
    ],
    ids=["brotli-unasked", "corrupt-gzip", "corrupt-deflate"],
)
async def test_undecodable_bodies_are_reported(server: LocalServer, encoding: str, body: bytes, expected: str) -> None:
    url = server.add("/enc", body, headers={"Content-Encoding": encoding})
    error = await fetch_error(url)
    assert error.kind is FetchErrorKind.DECODING
    assert expected in error.message


# ---------------------------------------------------------------- redirects and schemes


async def test_redirects_are_followed_up_to_the_cap(server: LocalServer) -> None:
    server.add("/feed", FEED)
    for hop in range(3):
        server.add(f"/hop{hop}", status=302, headers={"Location": f"/hop{hop + 1}" if hop < 2 else "/feed"})
    result = await fetch(server.url("/hop0"))
    assert result.body == FEED
    assert result.final_url == server.url("/feed")
    error = await fetch_error(server.url("/hop0"), max_redirects=2)
    assert error.kind is FetchErrorKind.TOO_MANY_REDIRECTS


async def test_a_redirect_loop_ends(server: LocalServer) -> None:
    server.add("/a", status=301, headers={"Location": "/b"})
    server.add("/b", status=301, headers={"Location": "/a"})
    error = await fetch_error(server.url("/a"))
    assert error.kind is FetchErrorKind.TOO_MANY_REDIRECTS
    assert len(server.requests_for("/a")) + len(server.requests_for("/b")) == 6


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://127.0.0.1/feed.xml", "gopher://127.0.0.1/", "data:text/xml,<rss/>"]
)
async def test_redirects_to_other_schemes_are_refused(server: LocalServer, target: str) -> None:
    url = server.add("/go", status=302, headers={"Location": target})
    error = await fetch_error(url)
    assert error.kind is FetchErrorKind.BAD_URL
    assert "only http and https" in error.message


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "http:///nohost"])
async def test_non_http_urls_are_never_fetched(url: str) -> None:
    error = await fetch_error(url)
    assert error.kind is FetchErrorKind.BAD_URL


async def test_a_redirect_without_location_is_an_error(server: LocalServer) -> None:
    url = server.add("/moved", b"<rss/>", status=301)
    error = await fetch_error(url)
    assert error.kind is FetchErrorKind.HTTP_STATUS
    assert "HTTP 301 without a usable Location" in error.message


# ---------------------------------------------------------------- rate limits


async def test_retry_after_in_seconds_is_reported(server: LocalServer) -> None:
    url = server.add("/busy", b"slow down", status=429, headers={"Retry-After": "120"})
    error = await fetch_error(url)
    assert error.kind is FetchErrorKind.RATE_LIMITED
    assert error.status == 429
    assert error.retry_after == 120
    assert "asked to retry after 120 s" in error.message


async def test_retry_after_as_an_http_date_is_reported(server: LocalServer) -> None:
    when = formatdate(time.time() + 600, usegmt=True)
    url = server.add("/down", b"maintenance", status=503, headers={"Retry-After": when})
    error = await fetch_error(url)
    assert error.kind is FetchErrorKind.RATE_LIMITED
    assert error.status == 503
    assert error.retry_after is not None and 590 <= error.retry_after <= 600


async def test_rate_limited_without_a_usable_retry_after(server: LocalServer) -> None:
    url = server.add("/busy", b"", status=429, headers={"Retry-After": "soon"})
    error = await fetch_error(url)
    assert error.kind is FetchErrorKind.RATE_LIMITED
    assert error.retry_after is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-5", None),
        ("nan", None),
        ("", None),
        (None, None),
        ("tomorrow", None),
        ("Wed, 21 Oct 2026 07:28:00 GMT", 3600.0),
        ("Wed, 21 Oct 2026 07:28:00 -0000", 3600.0),  # no zone given: HTTP dates are GMT
        ("Wed, 21 Oct 2026 06:00:00 GMT", 0.0),  # already past
        ("Wednesday, 21-Oct-26 07:28:00 GMT", 3600.0),  # RFC 850 form
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = 1_792_564_080.0  # 2026-10-21 06:28:00 UTC
    assert parse_retry_after(value, now=now) == expected


# Fetches capped bodies and a 5 MB one in a fresh process, then prints how many MB of resident
# memory they left behind; argv[1] "tuned" first pins glibc's mmap threshold as the poller does.
_RETAINED_SCRIPT = """
import asyncio, contextlib, os, sys
from monitor.errors import FetchError
from monitor.fetch import Fetcher, FetchLimits
from monitor.parse_worker import tune_allocator
if sys.argv[1] == "tuned":
    assert tune_allocator()
def rss():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
async def main():
    limits = FetchLimits(user_agent="t/1 (+http://127.0.0.1/)", min_host_delay_seconds=0, per_host_concurrency=8)
    async with Fetcher(limits) as fetcher:
        async def fetch(url):
            with contextlib.suppress(FetchError):
                await fetcher.fetch(url)
        before = rss()
        await asyncio.gather(*(fetch(url) for url in sys.argv[2:]))
        print((rss() - before) // 2**20)
asyncio.run(main())
"""


def test_what_capped_bodies_held_goes_back_to_the_system(server: LocalServer) -> None:
    urls = [
        server.add(f"/endless/{n}", handler=hostile.streaming(lambda: (b"x" * 65536 for _ in range(4096))))
        for n in range(3)
    ]
    urls += [server.add(f"/bomb/{n}", handler=hostile.gzip_bomb()) for n in range(2)]
    urls.append(server.add("/big", b"<rss>" + b"y" * 5_000_000 + b"</rss>"))

    def retained(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", _RETAINED_SCRIPT, mode, *urls], capture_output=True, text=True, timeout=120, cwd=ROOT
        )
        assert done.returncode == 0, done.stderr
        return int(done.stdout)

    # Five bodies stopped at the 10 MB cap held about 50 MB while they were read: the poller
    # gives it back. Without the pinned threshold glibc keeps more of it (the control: measured
    # 7 to 12 MB, against 2 to 3 MB).
    tuned = retained("tuned")
    assert tuned <= 6, f"{tuned} MB kept after the capped fetches"
    # What the control keeps varies from run to run (glibc's threshold moves with the order of the
    # allocations; once it kept 3 MB in CI, once 7 MB beside a poller's 4): the most of three runs
    # shows that the scenario holds memory the tuning gives back.
    plain = max(retained("plain") for _ in range(3))
    assert plain >= tuned + 2, f"the control kept {plain} MB, the poller {tuned} MB"
