"""The real-world corpus: every file of feedparser's own test suite, polled through the pipeline.

About 2,100 well- and ill-formed feeds (encodings, entities, broken markup) are served by the
local HTTP server, each with the HTTP headers its own comment asks for (``Header: Content-type:
…``), and polled by one real ``monitor poll --once``. Nothing may crash or hang, and every file
must end as a recorded outcome of its source: items, or a parse error saying why.

The files are read from ``../shared/corpora/feedparser`` next to the repository, never copied in.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.configs import ROOT, feed_source, write_config
from tests.support.httpserver import LocalServer

CORPUS = ROOT.parent / "shared" / "corpora" / "feedparser"
# Headers a corpus file may ask for; validators are the server's own business.
_SERVED_HEADERS = {"content-type", "content-location", "content-language"}
_HEADER_LINE = re.compile(rb"^Header:\s*([A-Za-z-]+):[ \t]*(.*?)\s*$", re.MULTILINE)


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        reason = f"the feed corpus is not at {CORPUS} (it lives in shared/ next to the repository)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "LICENSE")


def declared_headers(body: bytes) -> dict[str, str]:
    headers = {"content-type": "application/xml"}
    for name, value in _HEADER_LINE.findall(body[:2000]):
        key = name.decode("ascii").lower()
        if key in _SERVED_HEADERS and value.isascii():
            headers[key] = value.decode("ascii")
    return headers


def test_every_corpus_file_ends_as_items_or_a_recorded_parse_error(server: LocalServer, tmp_path: Path) -> None:
    files = corpus_files()
    assert len(files) > 2000
    sources = []
    for index, path in enumerate(files):
        body = path.read_bytes()
        headers = declared_headers(body)
        url = server.add(f"/corpus/{index}", body, content_type=headers.pop("content-type"), headers=headers)
        sources.append(feed_source(f"c{index:04d}", url))
    config = write_config(
        tmp_path,
        sources,
        http={
            "user_agent": "dialogue-monitor-test (+http://127.0.0.1/)",
            "timeout_seconds": 20,
            "concurrency": 16,
            "per_host_concurrency": 16,  # every "outlet" is this one local server…
            "min_host_delay_seconds": 0,  # …so pacing per host would space 2,100 requests a second apart
        },
    )
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "poll", "--once"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,  # a hang fails the test instead of stalling the suite
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr

    db = sqlite3.connect(tmp_path / "monitor.db")
    try:
        polls = db.execute("select source, status, error_kind, error_message, entries from polls").fetchall()
        stored = db.execute("select count(*) from items").fetchone()[0]
        new_items = db.execute("select sum(new_items) from polls").fetchone()[0]
    finally:
        db.close()
    by_source = {row[0]: row for row in polls}
    assert len(polls) == len(files) == len(by_source), "each file is polled exactly once"
    failures = {
        str(files[int(source[1:])].relative_to(CORPUS)): (kind, message)
        for source, status, kind, message, _ in polls
        if status != "ok"
    }
    # The only failure allowed is a parse error that says why: no fetch error, no crash, no timeout.
    assert all(kind == "parse" and message.startswith("parse: ") for kind, message in failures.values()), failures
    assert len(failures) < len(files) * 0.02, sorted(failures)
    # Many corpus files test feed-level elements only and have no entry; over half have some.
    with_entries = sum(1 for _, status, _, _, entries in polls if status == "ok" and entries > 0)
    assert with_entries > len(files) * 0.5
    assert stored == new_items > 0
