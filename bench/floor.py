"""The floor and the naive baseline, each run in a fresh process: ``python -m bench.floor MODE ...``.

- ``fetch``: httpx fetch of every URL (async at a given concurrency, or a plain sequential
  ``httpx.Client`` for concurrency 0), bodies kept in memory, nothing else;
- ``fetch304``: the same with the validators of a first (untimed) pass, so every answer is 304;
- ``floor``: fetch of every URL, then ``feedparser.parse`` of the bytes with the options the
  monitor uses, on one core and over both (a process pool of two);
- ``changed``: conditional fetch of every URL with the cycle-1 validators, then parse of the
  bodies that came back (the changed feeds) only;
- ``naive``: a sequential ``feedparser.parse(url)`` loop, as a simple poller does it.

Each prints one JSON object with its timings (seconds, imports excluded) to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import feedparser
import httpx

# The options monitor/parse/feed.py passes: the floor parses exactly as much as the monitor must.
PARSE_OPTIONS = {"resolve_relative_uris": False, "sanitize_html": False}
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def parse_bytes(body: bytes) -> int:
    return len(feedparser.parse(body, **PARSE_OPTIONS).entries)


async def _fetch_async(
    urls: list[str], concurrency: int, validators: dict[str, dict[str, str]] | None = None
) -> dict[str, httpx.Response]:
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=TIMEOUT, limits=limits, trust_env=False) as client:

        async def one(url: str) -> tuple[str, httpx.Response]:
            async with gate:
                return url, await client.get(url, headers=(validators or {}).get(url, {}))

        return dict(await asyncio.gather(*(one(u) for u in urls)))


def _fetch_sync(urls: list[str], validators: dict[str, dict[str, str]] | None = None) -> dict[str, httpx.Response]:
    with httpx.Client(timeout=TIMEOUT, trust_env=False) as client:
        return {u: client.get(u, headers=(validators or {}).get(u, {})) for u in urls}


def fetch(
    urls: list[str], concurrency: int, validators: dict[str, dict[str, str]] | None = None
) -> dict[str, httpx.Response]:
    if concurrency <= 0:
        return _fetch_sync(urls, validators)
    return asyncio.run(_fetch_async(urls, concurrency, validators))


def validators_of(responses: dict[str, httpx.Response]) -> dict[str, dict[str, str]]:
    found = {}
    for url, response in responses.items():
        headers = {}
        if "etag" in response.headers:
            headers["If-None-Match"] = response.headers["etag"]
        if "last-modified" in response.headers:
            headers["If-Modified-Since"] = response.headers["last-modified"]
        found[url] = headers
    return found


def _statuses(responses: dict[str, httpx.Response]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for response in responses.values():
        counts[str(response.status_code)] = counts.get(str(response.status_code), 0) + 1
    return counts


def parse_one_core(bodies: list[bytes]) -> float:
    started = time.perf_counter()
    for body in bodies:
        parse_bytes(body)
    return time.perf_counter() - started


def parse_two_cores(bodies: list[bytes]) -> float:
    """Both cores: a pool of two processes (forked, the cheapest start), pool start included."""
    started = time.perf_counter()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(parse_bytes, bodies, chunksize=8))
    return time.perf_counter() - started


def mode_fetch(urls: list[str], concurrency: int) -> dict[str, object]:
    started = time.perf_counter()
    responses = fetch(urls, concurrency)
    elapsed = time.perf_counter() - started
    size = sum(len(r.content) for r in responses.values())
    return {"fetch": elapsed, "statuses": _statuses(responses), "bytes": size}


def mode_fetch304(urls: list[str], concurrency: int) -> dict[str, object]:
    validators = validators_of(fetch(urls, concurrency))
    started = time.perf_counter()
    responses = fetch(urls, concurrency, validators)
    return {"fetch304": time.perf_counter() - started, "statuses": _statuses(responses)}


def mode_floor(urls: list[str], concurrency: int) -> dict[str, object]:
    started = time.perf_counter()
    responses = fetch(urls, concurrency)
    fetched = time.perf_counter() - started
    bodies = [r.content for r in responses.values()]
    one = parse_one_core(bodies)
    two = parse_two_cores(bodies)
    return {
        "fetch": fetched,
        "parse_one_core": one,
        "parse_two_cores": two,
        "floor_one_core": fetched + one,
        "floor_two_cores": fetched + two,
        "statuses": _statuses(responses),
    }


def mode_changed(urls: list[str], concurrency: int, validators_file: Path) -> dict[str, object]:
    validators = json.loads(validators_file.read_text())
    started = time.perf_counter()
    responses = fetch(urls, concurrency, validators)
    fetched = time.perf_counter() - started
    bodies = [r.content for r in responses.values() if r.status_code == 200]
    one = parse_one_core(bodies)
    two = parse_two_cores(bodies)
    return {
        "fetch": fetched,
        "parse_one_core": one,
        "parse_two_cores": two,
        "floor": fetched + min(one, two),
        "changed_bodies": len(bodies),
        "statuses": _statuses(responses),
    }


def mode_validators(urls: list[str], concurrency: int, out: Path) -> dict[str, object]:
    out.write_text(json.dumps(validators_of(fetch(urls, concurrency))))
    return {"written": str(out)}


def mode_naive(urls: list[str]) -> dict[str, object]:
    started = time.perf_counter()
    entries = 0
    for url in urls:
        entries += len(feedparser.parse(url).entries)
    return {"naive": time.perf_counter() - started, "entries": entries}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("mode", choices=["fetch", "fetch304", "floor", "changed", "validators", "naive"])
    parser.add_argument("urls", type=Path, help="file with one URL per line")
    parser.add_argument("--concurrency", type=int, default=4, help="0: a sequential httpx.Client")
    parser.add_argument("--validators", type=Path, help="validators file (changed: read; validators: written)")
    args = parser.parse_args(argv)
    urls = args.urls.read_text().split()
    if args.mode == "fetch":
        result = mode_fetch(urls, args.concurrency)
    elif args.mode == "fetch304":
        result = mode_fetch304(urls, args.concurrency)
    elif args.mode == "floor":
        result = mode_floor(urls, args.concurrency)
    elif args.mode == "changed":
        result = mode_changed(urls, args.concurrency, args.validators)
    elif args.mode == "validators":
        result = mode_validators(urls, args.concurrency, args.validators)
    else:
        result = mode_naive(urls)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
