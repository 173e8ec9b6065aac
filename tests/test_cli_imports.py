"""Each command imports what it uses: an operator sees the rest as start-up time and memory.

Every command runs for real in a fresh interpreter (a poll against the local test server with
an immediate webhook subscriber, ``check``, ``classify``); the process then reports which
modules it had imported. ``monitor poll`` used to import the daemon's scheduler and metrics,
the digest's templates and CSS inliner and source discovery (about 10 MB and 0.5 s of CPU),
and ``monitor check`` the database, the HTTP client and the parsers besides.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURES
from tests.support.configs import feed_source, write_config
from tests.support.httpserver import LocalServer
from tests.support.outbox import SECRET, webhook_subscriber
from tests.support.webhookreceiver import WebhookReceiver

ROOT = Path(__file__).resolve().parents[1]

# Runs ``monitor ARGS…`` as the console script does, then writes the exit code and sys.modules.
_SCRIPT = """
import io, json, sys
from monitor.cli import main
code = main(sys.argv[2:], out=io.StringIO())
with open(sys.argv[1], "w") as handle:
    json.dump({"exit": code, "modules": sorted(sys.modules)}, handle)
"""

# Only `monitor run` uses these (APScheduler, prometheus-client), only the digest and its
# preview these (Jinja2, css-inline), only `monitor sources …` these.
DAEMON_ONLY = ("apscheduler", "prometheus_client", "monitor.scheduler", "monitor.web")
DIGEST_ONLY = ("jinja2", "css_inline")
SOURCES_ONLY = ("monitor.discover", "monitor.sourcelist", "monitor.parse.opml")
# Only listing pages and full-text articles use these (BeautifulSoup, soupsieve, trafilatura: ~5 MB).
PAGES_ONLY = ("bs4", "soupsieve", "trafilatura", "monitor.parse.page", "monitor.parse.article")
# The database, the HTTP client, the parsers.
POLL_ONLY = ("sqlalchemy", "sqlmodel", "alembic", "httpx", "feedparser", "lxml", "bs4", "soupsieve", "monitor.pipeline")


def imported_by(tmp_path: Path, *args: str, stdin: str = "") -> set[str]:
    report = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(report), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text())
    assert result["exit"] == 0, done.stderr
    return set(result["modules"])


def loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(p for p in packages if p in modules)


def test_a_poll_of_feeds_imports_neither_the_daemon_nor_the_digest_renderer_nor_discovery_nor_page_parsing(
    server: LocalServer, tmp_path: Path
) -> None:
    feed = (FIXTURES / "feeds" / "en_rss.xml").read_bytes()
    sources = [feed_source("wire", server.add("/en.xml", feed), "en", "international")]
    with WebhookReceiver(SECRET) as receiver:
        config = write_config(tmp_path, sources, subscribers=[webhook_subscriber(receiver.url)])
        modules = imported_by(tmp_path, "--config", str(config), "poll", "--once")
        assert receiver.accepted, "the poll sent its alerts"
    assert "monitor.pipeline" in modules
    assert loaded(modules, DAEMON_ONLY + DIGEST_ONLY + SOURCES_ONLY + PAGES_ONLY) == []


def test_a_poll_with_parse_workers_leaves_the_feed_parser_to_them(server: LocalServer, tmp_path: Path) -> None:
    """The main process reads what the workers send back but parses nothing itself: feedparser and
    lxml (about 3 MB of a cold poll's peak) are in the workers only (issue #8)."""
    feed = (FIXTURES / "feeds" / "en_rss.xml").read_bytes()
    sources = [feed_source("wire", server.add("/en.xml", feed), "en", "international")]
    config = write_config(tmp_path, sources, polling={"parse_workers": 1})
    modules = imported_by(tmp_path, "--config", str(config), "poll", "--once")
    assert "monitor.parse_worker" in modules
    assert loaded(modules, ("feedparser", "lxml", "monitor.parse.feed")) == []
    with contextlib.closing(sqlite3.connect(tmp_path / "monitor.db")) as db:
        assert db.execute("SELECT count(*) FROM items").fetchone()[0] > 0, "the worker parsed the feed"


def test_check_reads_the_configuration_and_nothing_else(tmp_path: Path) -> None:
    config = write_config(tmp_path, [feed_source("wire", "http://127.0.0.1:9/en.xml")])
    modules = imported_by(tmp_path, "--config", str(config), "check")
    assert loaded(modules, DAEMON_ONLY + DIGEST_ONLY + SOURCES_ONLY + POLL_ONLY) == []


def test_classify_matches_without_the_database_or_the_network(tmp_path: Path) -> None:
    config = write_config(tmp_path, [feed_source("wire", "http://127.0.0.1:9/en.xml")])
    line = json.dumps({"id": 1, "title": "Kurti and Vučić meet in Brussels for the EU-facilitated dialogue"})
    modules = imported_by(tmp_path, "--config", str(config), "classify", stdin=line + "\n")
    assert "monitor.match.engine" in modules
    assert loaded(modules, DAEMON_ONLY + DIGEST_ONLY + SOURCES_ONLY + POLL_ONLY) == []


def test_the_cli_module_alone_loads_no_configuration_database_or_parser() -> None:
    """A poll started with the ``monitor`` script has each parse worker import that script, and
    so ``monitor.cli``, again (multiprocessing does so for a main script): whatever the module
    imports, every worker holds (46 MB more PSS per worker when it imported every command)."""
    code = "import json, sys, monitor.cli; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    modules = set(json.loads(done.stdout))
    heavy = ("pydantic", "yaml", "monitor.config", "monitor.match.profile")
    assert loaded(modules, heavy + DAEMON_ONLY + DIGEST_ONLY + SOURCES_ONLY + POLL_ONLY) == []
