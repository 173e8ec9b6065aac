"""`monitor run` as a real process against the local test server: schedule, shutdown, restart."""

from __future__ import annotations

import io
import json
import socket
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from monitor.cli import main
from tests.conftest import FIXTURES
from tests.support.configs import feed_source, write_config
from tests.support.daemon import DaemonProcess, execute, poll_rows, query, wait_until
from tests.support.httpserver import LocalServer, answer_feed, closed_port

EN_FEED = (FIXTURES / "feeds" / "en_rss.xml").read_bytes()
SQ_FEED = (FIXTURES / "feeds" / "sq_atom.xml").read_bytes()

# Intervals in minutes (fractions are allowed): 0.02 min = 1.2 s.
FAST = {
    "interval_minutes": 0.02,
    "min_interval_minutes": 0.005,
    "max_interval_minutes": 0.05,
    "jitter_percent": 0,
    "adaptive": False,
}


def slow_feed(body: bytes, seconds: float) -> Callable[[BaseHTTPRequestHandler], None]:
    """A route handler that is logged as soon as the request arrives, then answers late."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        answer_feed(request, body)

    return handle


def daemon_config(tmp_path: Path, sources: list[dict[str, Any]], **sections: Any) -> Path:
    sections.setdefault("polling", FAST)
    sections.setdefault("daemon", {"tick_seconds": 0.1, "lease_seconds": 3, "shutdown_grace_seconds": 5})
    sections.setdefault("web", {"enabled": False})
    return write_config(tmp_path, sources, **sections)


def gaps(rows: list[tuple[str, datetime, str]]) -> dict[str, list[float]]:
    times: dict[str, list[datetime]] = defaultdict(list)
    for source, when, _ in rows:
        times[source].append(when)
    return {s: [(b - a).total_seconds() for a, b in zip(t, t[1:], strict=False)] for s, t in times.items()}


def test_the_daemon_polls_each_source_on_its_schedule_and_stops_on_sigterm(server: LocalServer, tmp_path: Path) -> None:
    sq = server.add("/sq.xml", SQ_FEED)  # Atom, no <ttl>: checked at the interval, 1.2 s
    en = server.add("/en.xml", EN_FEED)  # RSS with <ttl>30</ttl>: pushed to the maximum, 3 s
    config = daemon_config(tmp_path, [feed_source("sq", sq, "sq"), feed_source("en", en)])
    db = f"sqlite:///{tmp_path / 'monitor.db'}"
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    try:
        daemon.wait_started()
        wait_until(lambda: len(server.requests_for("/sq.xml")) >= 5, 15, "five polls of the 1.2 s source")
        assert daemon.terminate() == 0
    finally:
        daemon.close()
    rows = poll_rows(db)
    spacing = gaps(rows)
    # each poll is due a full interval after the previous one was recorded: never sooner, not much later
    assert all(1.2 - 0.01 <= gap < 1.2 + 1.0 for gap in spacing["sq"]), spacing
    assert all(gap >= 3.0 - 0.01 for gap in spacing["en"]), spacing
    # the first poll stored the items, the later ones were conditional and answered 304
    assert [r.status for r in server.requests_for("/sq.xml")][:3] == [200, 304, 304]
    assert query(db, "SELECT count(*) FROM items") == [(4 + 3,)]
    # one log line per source per poll, every line JSON, saying when and why the next check is
    polls = daemon.events("poll")
    assert len(polls) == len(rows)
    assert {p["next_check_reason"] for p in polls if p["source"] == "sq"} == {"interval"}
    assert {p["next_check_reason"] for p in polls if p["source"] == "en"} == {"ttl"}
    assert polls[0]["status"] == "ok" and polls[0]["new_items"] in (3, 4)
    assert daemon.events("stopped"), "a clean stop says so"


def test_sigterm_mid_poll_lets_it_finish_within_the_grace_period(server: LocalServer, tmp_path: Path) -> None:
    slow = server.add("/slow.xml", handler=slow_feed(EN_FEED, 1.5))
    config = daemon_config(tmp_path, [feed_source("slow", slow)])
    db = f"sqlite:///{tmp_path / 'monitor.db'}"
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    try:
        daemon.wait_started()
        wait_until(lambda: len(server.requests_for("/slow.xml")) == 1, 10, "the slow poll to start")
        assert daemon.terminate() == 0
    finally:
        daemon.close()
    assert daemon.events("draining")
    assert [(s, st) for s, _, st in poll_rows(db)] == [("slow", "ok")]
    assert query(db, "SELECT count(*) FROM items") == [(4,)]
    assert query(db, "SELECT lease_owner FROM sources") == [(None,)]


def test_a_poll_cut_off_at_the_grace_period_leaves_nothing_and_is_redone_once_after_restart(
    server: LocalServer, tmp_path: Path
) -> None:
    slow = server.add("/slow.xml", handler=slow_feed(EN_FEED, 3))
    quick = server.add("/quick.xml", SQ_FEED)
    polling = {**FAST, "max_interval_minutes": 1}
    daemon_settings = {"tick_seconds": 0.1, "lease_seconds": 30, "shutdown_grace_seconds": 0.3}
    config = daemon_config(
        tmp_path,
        [feed_source("slow", slow), feed_source("quick", quick, "sq", interval_minutes=0.5)],
        polling=polling,
        daemon=daemon_settings,
    )
    db = f"sqlite:///{tmp_path / 'monitor.db'}"
    first = DaemonProcess(config, tmp_path / "first.log")
    try:
        first.wait_started()
        wait_until(lambda: len(server.requests_for("/slow.xml")) == 1, 10, "the slow poll to start")
        wait_until(lambda: len(poll_rows(db)) == 1, 10, "the quick poll to be recorded")
        assert first.terminate() == 0
    finally:
        first.close()
    assert first.events("cancelled")
    # nothing of the cut-off poll was recorded, and its lease was given back
    assert [s for s, _, _ in poll_rows(db)] == ["quick"]
    assert query(db, "SELECT count(*) FROM items WHERE source = 'slow'") == [(0,)]
    assert query(db, "SELECT count(*) FROM sources WHERE lease_owner IS NOT NULL") == [(0,)]

    server.add("/slow.xml", EN_FEED)  # fast now
    second = DaemonProcess(config, tmp_path / "second.log")
    try:
        second.wait_started()
        wait_until(lambda: len(poll_rows(db)) >= 2, 10, "the interrupted poll to be redone")
        # the quick source is due 30 s after its poll: not again right after the restart
        assert [s for s, _, _ in poll_rows(db)] == ["quick", "slow"]
        assert second.terminate() == 0
    finally:
        second.close()
    assert query(db, "SELECT count(*) FROM items") == [(4 + 3,)]


def test_health_and_metrics_are_served_while_running(server: LocalServer, tmp_path: Path) -> None:
    en = server.add("/en.xml", EN_FEED)
    port = closed_port()
    config = daemon_config(
        tmp_path,
        [feed_source("en", en), feed_source("gone", f"http://127.0.0.1:{closed_port()}/feed")],
        web={"enabled": True, "listen": f"127.0.0.1:{port}"},
    )
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    try:
        assert daemon.wait_started()["port"] == port
        wait_until(lambda: len(daemon.events("poll")) >= 2, 10, "both sources to be polled")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            health = json.loads(response.read())
        assert response.status == 200
        assert health["status"] == "ok" and health["scheduler"] == "running"
        assert health["database"].startswith("ok") and health["last_cycle_age_seconds"] < 5
        out = io.StringIO()
        assert main(["--config", str(config), "health"], out=out) == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            exposition = response.read().decode()
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        families = {f.name: f for f in text_string_to_metric_families(exposition)}
        for name in (
            "monitor_polls",
            "monitor_poll_errors",
            "monitor_items_stored",
            "monitor_matches",
            "monitor_deliveries",
            "monitor_poll_duration_seconds",
            "monitor_send_duration_seconds",
            "monitor_sources",
            "monitor_last_cycle_timestamp_seconds",
        ):
            assert name in families, name
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
        assert samples[("monitor_items_stored_total", (("source", "en"),))] == 4
        assert samples[("monitor_poll_errors_total", (("kind", "network"), ("source", "gone")))] >= 1
        assert samples[("monitor_poll_duration_seconds_count", (("status", "ok"),))] >= 1
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 404")
        assert daemon.terminate() == 0
    finally:
        daemon.close()
    # once stopped, the health check says so (and the command fails, as Docker's HEALTHCHECK needs)
    assert main(["--config", str(config), "health"], out=io.StringIO()) == 1


def test_a_failing_source_is_paused_with_its_reason_shown_and_resumed_by_hand(
    server: LocalServer, tmp_path: Path
) -> None:
    gone = server.add("/gone.xml", b"gone", status=410)
    polling = {**FAST, "pause_after_failures": 2, "probe_interval_minutes": 600, "max_interval_minutes": 60}
    config = daemon_config(tmp_path, [feed_source("gone", gone)], polling=polling)
    for _ in range(2):
        main(["--config", str(config), "poll", "--once"], out=io.StringIO())
    out = io.StringIO()
    assert main(["--config", str(config), "sources"], out=out) == 0
    listing = out.getvalue()
    assert "PAUSED since" in listing and "2 failures in a row; last: fetch: HTTP 410" in listing
    assert "monitor sources resume NAME" in listing
    out = io.StringIO()
    assert main(["--config", str(config), "sources", "resume", "gone"], out=out) == 0
    assert "gone resumed (was paused since" in out.getvalue()
    out = io.StringIO()
    main(["--config", str(config), "sources"], out=out)
    assert "PAUSED" not in out.getvalue() and "(resumed)" in out.getvalue()
    assert main(["--config", str(config), "sources", "resume", "nosuch"], out=io.StringIO()) == 1


def test_logs_never_show_secrets(server: LocalServer, tmp_path: Path) -> None:
    leaky = f"http://editor:hunter2-secret@127.0.0.1:{closed_port()}/feed.xml"
    config = daemon_config(tmp_path, [feed_source("leaky", leaky)])
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    try:
        daemon.wait_started()
        wait_until(lambda: bool(daemon.events("poll")), 10, "a poll")
        assert daemon.terminate() == 0
    finally:
        daemon.close()
    log = daemon.log_path.read_text(encoding="utf-8")
    assert "hunter2-secret" not in log
    assert "editor:***@127.0.0.1" in log


def test_retention_deletes_old_unmatched_items_and_the_feed_never_brings_them_back(
    server: LocalServer, tmp_path: Path
) -> None:
    # no validators: every poll gets the whole feed, so the old items are offered again and again
    en = server.add("/en.xml", EN_FEED, validators=False)
    config = daemon_config(
        tmp_path,
        [feed_source("en", en)],
        polling={**FAST, "max_interval_minutes": 0.02},  # the feed's <ttl> is capped at 1.2 s
        daemon={"tick_seconds": 0.1, "lease_seconds": 3, "housekeeping_interval_hours": 0.0005},
        retention={"unmatched_items_days": 90, "poll_history_days": 30},
    )
    db = f"sqlite:///{tmp_path / 'monitor.db'}"
    assert main(["--config", str(config), "poll", "--once"], out=io.StringIO()) == 0
    assert query(db, "SELECT count(*) FROM items") == [(4,)]
    execute(db, "UPDATE items SET first_seen_at = '2026-01-01 00:00:00.000000'")  # long ago
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    try:
        daemon.wait_started()
        wait_until(lambda: bool(daemon.events("housekeeping")), 15, "housekeeping")
        polls_before = len(daemon.events("poll"))
        wait_until(lambda: len(daemon.events("poll")) >= polls_before + 2, 10, "two more polls")
        assert daemon.terminate() == 0
    finally:
        daemon.close()
    housekeeping = daemon.events("housekeeping")[0]
    assert housekeeping["items"] == 3  # the matched item stays
    assert query(db, "SELECT count(*) FROM items") == [(1,)]
    assert query(db, "SELECT count(*) FROM tombstones") == [(3,)]
    later = [p for p in daemon.events("poll") if p["time"] >= housekeeping["time"]]
    assert later and all(p["new_items"] == 0 and p["entries"] == 4 for p in later)
