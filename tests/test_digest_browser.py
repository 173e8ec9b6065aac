"""The HTML digest opened in a real browser (headless Chromium): no feed script ever runs.

Chromium is the Debian package ``chromium`` (``make test`` installs it when it can). Without
it the test is skipped with the reason, except on CI (CI=true), where it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.notify.digest import Catalog, DigestRenderer, SourceInfo, build_digest, build_entries
from monitor.types import Item, MatchResult, SourceState, StoredItem

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Belgrade")
MARK = "document.title='PWNED';document.body.setAttribute('data-pwned','1')"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "headless Chromium is not installed (Debian package 'chromium'; `make test` installs it as root)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}: required on CI", pytrace=False)
    pytest.skip(reason)


def browse(binary: str, page: Path, profile: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--virtual-time-budget=3000", *command, page.as_uri()],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.extend((name, value or "") for name, value in attrs)


def elements(dom: str) -> tuple[set[str], list[tuple[str, str]]]:
    """The element names and attributes the browser ended up with (escaped text is not an element)."""
    parser = _Elements()
    parser.feed(dom)
    parser.close()
    return parser.tags, parser.attributes


def hostile_digest() -> str:
    def stored(n: int, source: str, title: str, url: str, snippet: str, topics: tuple[str, ...] = ()) -> StoredItem:
        when = NOW - timedelta(hours=n)
        item = Item(source, f"k{n}", url, None, title, "", when, "en", "h")
        plain = snippet.replace("⟦", "").replace("⟧", "")
        result = MatchResult(True, 4.0, (plain,), ("lajcak",), topics, None, "x", (snippet,))
        return StoredItem(n, item, when, result)

    items = [
        stored(1, "koha", f"<script>{MARK}</script>Kurti and Vučić meet in Brussels", "javascript:" + MARK,
               f'The ⟦dialogue⟧ <img src="x" onerror="{MARK}"> continues.'),
        stored(2, "rts", "Нови круг дијалога у Бриселу", f"data:text/html,<script>{MARK}</script>",
               f"<svg onload=\"{MARK}\">⟦Дијалог⟧</svg> се наставља.", ("asm",)),
        stored(3, "bi", 'Talks resume"><script>' + MARK + "</script>",
               'https://bi.example/a?"><script>' + MARK + "</script>", "The ⟦dialogue⟧ goes on."),
        stored(4, "kossev", "Zajednica srpskih opština: novi predlog", "https://kossev.example/zso",
               "⟦Zajednica srpskih opština⟧ je u centru ⟦dijaloga⟧.", ("asm",)),
    ]  # fmt: skip
    catalog = Catalog(
        sources={
            "koha": SourceInfo("koha", "Koha", "pristina"),
            "rts": SourceInfo("rts", "RTS", "belgrade"),
            "kossev": SourceInfo("kossev", "KoSSev", "belgrade"),
            "bi": SourceInfo("bi", f"<script>{MARK}</script>Balkan Insight", "international"),
        },
        topics={"asm": "Association of Serb-majority municipalities"},
        actors={"lajcak": "Miroslav Lajčák"},
    )
    states = {
        "rts": SourceState(
            "rts", last_status="error", last_error_message=f"fetch: <script>{MARK}</script> HTTP 503",
            failing_since=NOW - timedelta(hours=30), consecutive_errors=12,
        )
    }  # fmt: skip
    entries = build_entries(items, catalog, ZONE)
    digest = build_digest(entries, catalog, ZONE, NOW, since=NOW - timedelta(days=1), states=states)
    return DigestRenderer().render(digest).html


def test_no_feed_script_runs_when_the_digest_is_opened(tmp_path: Path) -> None:
    binary = chromium()
    # Control: the same browser, same flags, does run a script that is not escaped.
    control = tmp_path / "control.html"
    control.write_text(f"<html><head><title>ok</title></head><body><script>{MARK}</script></body></html>")
    dom = browse(binary, control, tmp_path / "profile-control", "--dump-dom").stdout
    assert 'data-pwned="1"' in dom and "<title>PWNED</title>" in dom

    page = tmp_path / "digest.html"
    page.write_text(hostile_digest(), encoding="utf-8")
    result = browse(binary, page, tmp_path / "profile", "--dump-dom")
    dom = result.stdout
    assert "<title>Kosovo–Serbia dialogue: 4 new items — 22 Nov 2026</title>" in dom, result.stderr[-2000:]
    assert 'data-pwned="1"' not in dom and "PWNED</title>" not in dom
    tags, attributes = elements(dom)
    assert not tags & {"script", "svg", "img", "iframe", "object"}
    assert not [name for name, _ in attributes if name.startswith("on")]
    hrefs = [value for name, value in attributes if name in ("href", "src")]
    assert hrefs and all(v.startswith("https://") for v in hrefs), hrefs
    assert "&lt;script&gt;" in dom  # shown as text, harmlessly
    assert "Kurti and Vučić meet in Brussels" in dom and "Нови круг дијалога у Бриселу" in dom

    screenshot = tmp_path / "digest.png"
    browse(binary, page, tmp_path / "profile-shot", f"--screenshot={screenshot}", "--window-size=800,1800")
    assert screenshot.exists() and screenshot.stat().st_size > 20_000
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
