"""Polite crawling: robots.txt (read once per origin, kept with an expiry), pacing of requests
to one host, the configured User-Agent. Real HTTP server; the clock is injected, so pacing is
checked by the waits asked for, never by waiting."""

from __future__ import annotations

import asyncio

import pytest

from monitor.errors import FetchError, FetchErrorKind
from monitor.fetch import Fetcher, FetchLimits, HostPacer, RobotsCache
from monitor.types import Fetched
from tests.support.httpserver import LocalServer

UA = "dialogue-monitor/0.1 (+https://github.com/dialogue-monitor/dialogue-monitor)"
PAGE = "<html><body><p>Lajme</p></body></html>"


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        wake_at = self.now + seconds
        await asyncio.sleep(0)
        self.now = max(self.now, wake_at)


def limits(user_agent: str = UA, **overrides: float) -> FetchLimits:
    values: dict[str, float] = {"timeout_seconds": 3, "connect_timeout_seconds": 2, "min_host_delay_seconds": 1.0}
    values.update(overrides)
    return FetchLimits(user_agent=user_agent, **values)  # type: ignore[arg-type]


def fetcher(clock: FakeClock, robots: RobotsCache | None = None, **overrides: float) -> Fetcher:
    return Fetcher(limits(**overrides), robots=robots, clock=clock, sleep=clock.sleep)


async def test_pacer_spaces_the_starts_to_one_origin_and_leaves_others_alone() -> None:
    clock = FakeClock()
    pacer = HostPacer(clock, clock.sleep)
    starts: list[float] = []

    async def start() -> None:
        await pacer.wait("https://a.example", 2.0)
        starts.append(clock.now)

    await asyncio.gather(*(start() for _ in range(3)))
    assert starts == [1_000.0, 1_002.0, 1_004.0]
    clock.sleeps.clear()
    await pacer.wait("https://b.example", 2.0)
    assert clock.sleeps == []


async def test_requests_to_one_host_wait_the_minimum_delay(server: LocalServer) -> None:
    clock = FakeClock()
    urls = [server.add(f"/feed{i}.xml", "<rss/>") for i in range(3)]
    async with fetcher(clock, min_host_delay_seconds=1.5) as f:
        for url in urls:
            await f.fetch(url)
    assert clock.sleeps == [1.5, 1.5]
    assert all(r.headers["user-agent"] == UA for r in server.requests)


async def test_a_robots_crawl_delay_makes_the_pace_slower(server: LocalServer) -> None:
    clock = FakeClock()
    server.add("/robots.txt", "User-agent: *\nCrawl-delay: 5\n", content_type="text/plain")
    pages = [server.add(f"/a/{i}", PAGE, content_type="text/html") for i in range(3)]
    async with fetcher(clock) as f:
        for page in pages:
            await f.fetch(page, page=True)
    # robots.txt first; then the first page one second later; then five seconds between pages
    assert clock.sleeps == [1.0, 5.0, 5.0]


async def test_robots_txt_is_read_once_per_origin_and_again_after_it_expires(server: LocalServer) -> None:
    clock = FakeClock()
    server.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    pages = [server.add(f"/a/{i}", PAGE, content_type="text/html") for i in range(4)]
    cache = RobotsCache(ttl_seconds=3600, clock=clock)
    async with fetcher(clock, cache, min_host_delay_seconds=0) as f:
        await asyncio.gather(*(f.fetch(page, page=True) for page in pages))
    async with fetcher(clock, cache, min_host_delay_seconds=0) as f:  # the next cycle shares the cache
        await f.fetch(pages[0], page=True)
    assert len(server.requests_for("/robots.txt")) == 1
    robots_request = server.requests_for("/robots.txt")[0]
    assert robots_request.headers["user-agent"] == UA
    clock.now += 3601
    async with fetcher(clock, cache, min_host_delay_seconds=0) as f:
        await f.fetch(pages[0], page=True)
    assert len(server.requests_for("/robots.txt")) == 2


async def test_a_disallowed_page_is_never_requested_and_says_why(server: LocalServer) -> None:
    clock = FakeClock()
    server.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    secret = server.add("/private/report", PAGE, content_type="text/html")
    async with fetcher(clock) as f:
        with pytest.raises(FetchError) as caught:
            await f.fetch(secret, source="lajme", page=True)
    assert caught.value.kind is FetchErrorKind.ROBOTS_DENIED
    assert caught.value.source == "lajme"
    assert "robots.txt" in caught.value.message and "/private/report" in caught.value.message
    assert server.requests_for("/private/report") == []


async def test_a_redirect_into_a_disallowed_path_is_not_followed(server: LocalServer) -> None:
    clock = FakeClock()
    server.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    server.add("/private/target", PAGE, content_type="text/html")
    start = server.add("/go", b"", status=302, headers={"Location": "/private/target"}, content_type="text/plain")
    async with fetcher(clock, min_host_delay_seconds=0) as f:
        with pytest.raises(FetchError) as caught:
            await f.fetch(start, page=True)
    assert caught.value.kind is FetchErrorKind.ROBOTS_DENIED
    assert server.requests_for("/private/target") == []


async def test_rules_for_another_user_agent_do_not_apply_to_ours_and_vice_versa(server: LocalServer) -> None:
    clock = FakeClock()
    server.add("/robots.txt", "User-agent: BadBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n", content_type="text/plain")
    page = server.add("/a/1", PAGE, content_type="text/html")
    async with fetcher(clock, min_host_delay_seconds=0) as f:
        assert isinstance(await f.fetch(page, page=True), Fetched)
    bad = Fetcher(limits("BadBot/2.0 (+https://bad.example)", min_host_delay_seconds=0), clock=clock, sleep=clock.sleep)
    async with bad:
        with pytest.raises(FetchError, match="disallowed"):
            await bad.fetch(page, page=True)


async def test_without_a_robots_txt_everything_is_allowed(server: LocalServer) -> None:
    clock = FakeClock()
    page = server.add("/a/1", PAGE, content_type="text/html")  # /robots.txt answers 404
    async with fetcher(clock, min_host_delay_seconds=0) as f:
        response = await f.fetch(page, page=True)
    assert isinstance(response, Fetched)
    assert server.requests_for("/a/1")[0].headers["accept"].startswith("text/html")


async def test_an_unreadable_robots_txt_keeps_pages_unfetched_for_a_while(server: LocalServer) -> None:
    clock = FakeClock()
    server.add("/robots.txt", "oops", status=500, content_type="text/plain")
    pages = [server.add(f"/a/{i}", PAGE, content_type="text/html") for i in range(2)]
    async with fetcher(clock, min_host_delay_seconds=0) as f:
        for page in pages:
            with pytest.raises(FetchError) as caught:
                await f.fetch(page, page=True)
            assert caught.value.kind is FetchErrorKind.HTTP_STATUS
            assert "robots.txt" in caught.value.message and "HTTP 500" in caught.value.message
    assert server.requests_for("/a/0") == [] and server.requests_for("/a/1") == []
    assert len(server.requests_for("/robots.txt")) == 1  # not asked again for every page
    server.add("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    clock.now += 301  # an unreadable robots.txt is asked again after five minutes
    async with fetcher(clock, min_host_delay_seconds=0) as f:
        assert isinstance(await f.fetch(pages[0], page=True), Fetched)


async def test_feeds_are_fetched_without_consulting_robots_txt(server: LocalServer) -> None:
    clock = FakeClock()
    server.add("/robots.txt", "User-agent: *\nDisallow: /\n", content_type="text/plain")
    feed = server.add("/feed.xml", "<rss/>")
    async with fetcher(clock, min_host_delay_seconds=0) as f:
        assert isinstance(await f.fetch(feed), Fetched)
    assert server.requests_for("/robots.txt") == []
