"""`monitor run`, two replicas on one PostgreSQL: each digest period and each alert goes out once."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import FIXTURES
from tests.support.configs import feed_source, write_config
from tests.support.daemon import DaemonProcess, wait_until
from tests.support.httpserver import LocalServer
from tests.support.outbox import SECRET, email_subscriber, webhook_subscriber
from tests.support.smtpserver import SmtpServer
from tests.support.webhookreceiver import WebhookReceiver

TITLE = "Chief negotiators meet in Brussels as EU pushes Kosovo–Serbia dialogue forward"


def test_two_replicas_send_each_digest_and_each_alert_once(
    server: LocalServer, tmp_path: Path, postgres_url: str
) -> None:
    feed = server.add("/en.xml", (FIXTURES / "feeds" / "en_rss.xml").read_bytes())
    with SmtpServer(tmp_path) as smtp, WebhookReceiver(SECRET) as receiver:
        config = write_config(
            tmp_path,
            [feed_source("wire", feed, "en", "international")],
            database={"url": postgres_url},
            subscribers=[
                # every 2 seconds (a sixth field in front gives the seconds)
                email_subscriber(schedule={"cron": "*/2 * * * * *", "timezone": "Europe/Pristina"}),
                webhook_subscriber(receiver.url),
            ],
            smtp={"host": "127.0.0.1", "port": smtp.port, "security": "none", "sender": "monitor@newsroom.example"},
            delivery={"alerts_every_seconds": 1},
            daemon={"tick_seconds": 0.2, "lease_seconds": 5, "shutdown_grace_seconds": 3},
            web={"enabled": False},
        )
        replicas = [DaemonProcess(config, tmp_path / f"replica-{n}.log") for n in (1, 2)]
        try:
            for replica in replicas:
                replica.wait_started(30)
            wait_until(lambda: len(smtp.messages) >= 1 and len(receiver.received) >= 1, 40, "a digest and an alert")
            # Three more digest periods and alert rounds pass on both replicas: nothing new to send.
            # (Real processes: the wait is wall time, there is no clock to inject.)
            settled = time.monotonic()
            wait_until(lambda: time.monotonic() - settled > 6, 10, "three more digest periods")
            for replica in replicas:
                assert replica.terminate() == 0
        finally:
            for replica in replicas:
                replica.close()
    [mail] = smtp.messages
    assert TITLE in mail.message.get_body(("plain",)).get_content()
    [hook] = receiver.received
    assert hook.verified and hook.json["data"]["item"]["title"] == TITLE
    deliveries = [e for r in replicas for e in r.events("delivery")]
    assert sorted(e["status"] for e in deliveries) == ["sent", "sent"]
