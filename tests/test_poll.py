"""One real poll cycle end to end, against feeds served by a local HTTP server."""

from __future__ import annotations

import io
import sqlite3
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from monitor.cli import main
from tests.conftest import FIXTURES
from tests.support.configs import default_raw, feed_source, write_config
from tests.support.httpserver import LocalServer, answer_feed, closed_port

FEEDS = {
    "/en.xml": ("en_rss.xml", "en"),
    "/sq.xml": ("sq_atom.xml", "sq"),
    "/sr.xml": ("sr_latin_rdf.xml", "sr"),
    "/sr-cyr.xml": ("sr_cyrillic_rss.xml", "sr"),
}
ALL_ENTRIES = 4 + 3 + 3 + 2


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


def serve_all(server: LocalServer) -> list[dict[str, object]]:
    sources = []
    for path, (file, language) in FEEDS.items():
        url = server.add(path, (FIXTURES / "feeds" / file).read_bytes())
        sources.append(feed_source(path.strip("/").replace(".xml", ""), url, language))
    return sources


def stored_titles(config: Path) -> list[str]:
    db = sqlite3.connect(config.parent / "monitor.db")
    try:
        return [row[0] for row in db.execute("select title from items order by id")]
    finally:
        db.close()


def test_first_poll_stores_every_item_and_reports_per_source(server: LocalServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, serve_all(server))
    code, out = run("--config", str(config), "poll", "--once")
    assert code == 0
    assert len(stored_titles(config)) == ALL_ENTRIES
    for name in ("en", "sq", "sr", "sr-cyr"):
        line = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert " ok " in line
    assert f"{ALL_ENTRIES} new items" in out


def test_second_poll_is_conditional_gets_304_and_stores_nothing(server: LocalServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, serve_all(server))
    run("--config", str(config), "poll", "--once")
    code, out = run("--config", str(config), "poll", "--once")
    assert code == 0
    second = server.requests_for("/en.xml")[-1]
    assert second.headers.get("if-none-match") == server.routes["/en.xml"].etag
    assert "if-modified-since" in second.headers
    assert second.status == 304
    assert "not_modified" in out
    assert "0 new items" in out
    assert len(stored_titles(config)) == ALL_ENTRIES


def test_a_feed_that_gains_one_item_stores_exactly_that_one(server: LocalServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, serve_all(server))
    run("--config", str(config), "poll", "--once")
    body = (FIXTURES / "feeds" / "en_rss.xml").read_text(encoding="utf-8")
    extra = """<item><title>EU envoy Sørensen to visit Pristina and Belgrade next week</title>
    <link>https://wire.example/news/sorensen-visit</link><guid isPermaLink="false">wire-1005</guid>
    <pubDate>Sun, 22 Nov 2026 08:00:00 +0100</pubDate>
    <description>The visit is meant to prepare a new round of the dialogue.</description></item>"""
    server.add("/en.xml", body.replace("<item>", extra + "\n<item>", 1), last_modified=1_800_000_000.0)
    code, out = run("--config", str(config), "poll", "--once")
    assert code == 0
    titles = stored_titles(config)
    assert len(titles) == ALL_ENTRIES + 1
    assert titles[-1].startswith("EU envoy Sørensen")
    assert "1 new items" in out or "1 new item" in out


def test_url_variants_of_one_article_are_stored_once(server: LocalServer, tmp_path: Path) -> None:
    variants = [
        "https://wire.example/news/story-42?utm_source=rss&amp;utm_campaign=x",
        "http://wire.example/news/story-42",
        "https://wire.example/news/story-42#comments",
        "https://www.wire.example/news/story-42/?fbclid=abc",
    ]
    items = "".join(
        f"<item><title>Story 42 (copy {i})</title><link>{link}</link><description>Same story.</description></item>"
        for i, link in enumerate(variants)
    )
    url = server.add(
        "/variants.xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>V</title>{items}</channel></rss>',
    )
    other = server.add(
        "/variants2.xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>{items}</channel></rss>',
    )
    config = write_config(tmp_path, [feed_source("variants", url), feed_source("variants2", other)])
    code, _ = run("--config", str(config), "poll", "--once")
    assert code == 0
    assert stored_titles(config) == ["Story 42 (copy 0)"]


def test_broken_sources_record_errors_while_the_others_succeed(server: LocalServer, tmp_path: Path) -> None:
    good = server.add("/good.xml", (FIXTURES / "feeds" / "en_rss.xml").read_bytes())
    html = server.add("/html.xml", (FIXTURES / "feeds" / "malformed.xml").read_bytes(), content_type="text/html")
    broken = server.add("/500.xml", b"oops", status=500)
    slow = server.add("/slow.xml", b"<rss/>", delay=5)
    refused = f"http://127.0.0.1:{closed_port()}/feed.xml"
    sources = [
        feed_source("good", good),
        feed_source("html", html),
        feed_source("status500", broken),
        feed_source("slow", slow),
        feed_source("refused", refused),
    ]
    config = write_config(tmp_path, sources)
    code, out = run("--config", str(config), "poll", "--once")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip() and not line.startswith(" ")}
    assert " ok " in lines["good"]
    assert "[parse]" in lines["html"] and "HTML page" in lines["html"]
    assert "[http_status]" in lines["status500"] and "HTTP 500" in lines["status500"]
    assert "[timeout]" in lines["slow"]
    assert "[network]" in lines["refused"]
    assert len(stored_titles(config)) == 4

    code, sources_out = run("--config", str(config), "sources")
    assert code == 0
    assert "FAILING since" in next(line for line in sources_out.splitlines() if " status500 " in line)


def test_every_source_failing_exits_non_zero(tmp_path: Path) -> None:
    config = write_config(tmp_path, [feed_source("refused", f"http://127.0.0.1:{closed_port()}/x")])
    code, _ = run("--config", str(config), "poll", "--once")
    assert code == 1


def test_digest_preview_has_the_matches_and_not_the_rest(server: LocalServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, serve_all(server))
    run("--config", str(config), "poll", "--once")
    code, text = run("--config", str(config), "digest", "--preview")
    assert code == 0
    for title in (
        "Chief negotiators meet in Brussels",
        "Bislimi: Serbia po e bllokon dialogun",
        "Petković posle sastanka u Briselu",
        "Вучић: Дијалог са Приштином",
    ):
        assert title in text
    for title in ("handball", "interest rate", "Armenia", "Moti:", "Zvezda", "Фестивал"):
        assert title not in text
    # newest first: the Cyrillic item (19:00 CET) comes before the English one (16:05 CET)
    assert text.index("Вучић") < text.index("Chief negotiators")
    assert "https://wire.example/news/chief-negotiators-brussels" in text
    assert "utm_source" not in text

    out_file = tmp_path / "preview" / "digest.html"
    code, out = run("--config", str(config), "digest", "--preview", "--out", str(out_file))
    assert code == 0
    html = out_file.read_text(encoding="utf-8")
    assert '<a href="https://wire.example/news/chief-negotiators-brussels"' in html
    assert "Handball" not in html
    assert (tmp_path / "preview" / "digest.txt").exists()


def test_items_lists_stored_and_matched_items(server: LocalServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, serve_all(server))
    run("--config", str(config), "poll", "--once")
    _, all_items = run("--config", str(config), "items", "--limit", "100")
    _, matched = run("--config", str(config), "items", "--matched")
    assert "handball" in all_items
    assert "handball" not in matched
    assert "Petković posle sastanka" in matched


@pytest.mark.parametrize("since", ["1h", "2026-01-01"])
def test_digest_since_filters_by_first_seen(server: LocalServer, tmp_path: Path, since: str) -> None:
    config = write_config(tmp_path, serve_all(server))
    run("--config", str(config), "poll", "--once")
    _, text = run("--config", str(config), "digest", "--preview", "--since", since)
    assert "Chief negotiators meet" in text


def _small_feed(number: int) -> str:
    items = "".join(
        f"""<item><title>Town council {number} opens the new library, part {part}</title>
        <link>https://town{number}.example/news/library-{part}</link><guid>town{number}-{part}</guid>
        <pubDate>Sat, 21 Nov 2026 0{part}:00:00 +0000</pubDate>
        <description>Readers of town {number} queued for the opening, part {part}.</description></item>"""
        for part in (1, 2, 3)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Town {number}</title>{items}</channel></rss>'


def test_a_poll_keeps_at_most_sources_in_flight_between_fetch_and_stored(server: LocalServer, tmp_path: Path) -> None:
    """Every feed request finds the sources it saw start, less those already stored, within the bound.

    The server counts the requests started and reads the polls recorded in the database at each
    request: a source holds its place from the start of its fetch until its items are committed.
    """
    in_flight, feeds = 3, 30
    database = tmp_path / "monitor.db"
    seen: list[int] = []
    lock = threading.Lock()
    started = 0

    def feed(number: int) -> Callable[[BaseHTTPRequestHandler], None]:
        body = _small_feed(number).encode()

        def handle(request: BaseHTTPRequestHandler) -> None:
            nonlocal started
            with lock:
                started += 1
                db = sqlite3.connect(database, timeout=10)
                try:
                    stored = db.execute("select count(*) from polls").fetchone()[0]
                finally:
                    db.close()
                seen.append(started - stored)
            time.sleep(0.05)  # responses overlap, as on a network
            answer_feed(request, body)

        return handle

    sources = []
    for number in range(feeds):
        url = server.add(f"/town{number}.xml", handler=feed(number))
        sources.append(feed_source(f"town{number}", url))
    config = write_config(
        tmp_path,
        sources,
        http={**default_raw()["http"], "concurrency": 16, "per_host_concurrency": 16, "min_host_delay_seconds": 0},
        polling={**default_raw()["polling"], "sources_in_flight": in_flight},
    )
    code, out = run("--config", str(config), "poll", "--once")
    assert code == 0, out
    assert f"{feeds} sources polled, 0 failed; {3 * feeds} new items" in out
    assert len(seen) == feeds
    assert max(seen) <= in_flight, seen
