"""`monitor run` sends what it found: alerts at once, digests at their cron time, each once."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.conftest import FIXTURES
from tests.support.configs import feed_source
from tests.support.daemon import DaemonProcess, wait_until
from tests.support.httpserver import LocalServer
from tests.support.outbox import SECRET, webhook_subscriber
from tests.support.webhookreceiver import ReceivedHook, WebhookReceiver
from tests.test_daemon import daemon_config

EN_FEED = (FIXTURES / "feeds" / "en_rss.xml").read_bytes()  # one of its four items is about the dialogue


def of_type(hooks: list[ReceivedHook], kind: str) -> list[dict[str, Any]]:
    return [h.json for h in hooks if h.json["type"] == kind]


def test_alerts_go_out_at_once_and_digests_at_their_cron_time_each_once(server: LocalServer, tmp_path: Path) -> None:
    en = server.add("/en.xml", EN_FEED)
    with WebhookReceiver(SECRET) as receiver:
        subscribers = [
            webhook_subscriber(receiver.url, name="alerts", mode="immediate"),
            # every 4 seconds (a sixth cron field in front gives the seconds), in Pristina time
            webhook_subscriber(
                receiver.url,
                name="digests",
                mode="digest",
                schedule={"cron": "*/4 * * * * *", "timezone": "Europe/Pristina"},
            ),
        ]
        config = daemon_config(tmp_path, [feed_source("en", en)], subscribers=subscribers)
        daemon = DaemonProcess(config, tmp_path / "daemon.log")
        try:
            daemon.wait_started()
            started = time.monotonic()
            wait_until(lambda: bool(of_type(receiver.received, "match.created")), 10, "the alert")
            # the deliveries job runs every 30 s: this came from the poll that found the match
            assert time.monotonic() - started < 10
            wait_until(lambda: bool(of_type(receiver.received, "digest.created")), 10, "the digest")
            time.sleep(5)  # one more cron period, with nothing new in it
            assert daemon.terminate() == 0
        finally:
            daemon.close()
        again = DaemonProcess(config, tmp_path / "again.log")
        try:
            again.wait_started()
            time.sleep(4.5)  # a restart catches up on the latest period: already sent, nothing new
            assert again.terminate() == 0
        finally:
            again.close()
    hooks = receiver.received
    assert all(h.verified for h in hooks)
    alerts, digests = of_type(hooks, "match.created"), of_type(hooks, "digest.created")
    assert len(alerts) == 1 and alerts[0]["subscriber"] == "alerts"
    assert len(digests) == 1, [d["data"]["period"] for d in digests]
    digest = digests[0]
    assert digest["subscriber"] == "digests" and digest["data"]["count"] == 1
    period_end = datetime.fromisoformat(digest["data"]["period"]["end"].replace("Z", "+00:00"))
    assert period_end.second % 4 == 0 and period_end.microsecond == 0, "sent for a cron time"
    deliveries = [e for e in daemon.events("delivery") + again.events("delivery")]
    assert sorted(d["subscriber"] for d in deliveries) == ["alerts", "digests"]
    assert all(d["status"] == "sent" for d in deliveries)
