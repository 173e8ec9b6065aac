"""The sending process is killed (SIGKILL) mid-delivery: a repeat with the same id, never a loss.

The real CLI runs in a subprocess; the test's SMTP server or webhook receiver kills it at the
worst moment: after the message reached the receiver but before the sender could record it,
or while the receiver is still answering. Then another run takes the delivery over once its
claim (lease) has expired.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.notify.outbox import DeliveryOutcome
from monitor.types import DeliveryStatus
from tests.conftest import FIXTURES
from tests.support.configs import ROOT, feed_source, write_config
from tests.support.httpserver import LocalServer
from tests.support.outbox import (
    SECRET,
    FakeClock,
    delivery_config,
    email_subscriber,
    item,
    match,
    open_outbox,
    store,
    webhook_subscriber,
)
from tests.support.smtpserver import SmtpServer
from tests.support.webhookreceiver import WebhookReceiver


class Child:
    """The CLI in a subprocess (its own process group, with its parse workers), and a way to
    kill the whole group from the receiving side, as a container runtime would."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.killed = False

    def run(self, *args: str) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monitor", *args],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )

    def kill_then(self, answer: str) -> Callable[[], str]:
        def step() -> str:
            assert self.process is not None
            self.killed = True
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            return answer

        return step

    def finish(self) -> int:
        assert self.process is not None
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            raise AssertionError(f"the CLI was not killed in time; its output:\n{self.log.read_text()}") from None


def test_killed_after_the_server_took_the_digest_sends_it_again_with_the_same_id(tmp_path: Path) -> None:
    child = Child(tmp_path / "child.log")
    with SmtpServer(tmp_path, script=[child.kill_then("accept")]) as server:
        config = delivery_config(tmp_path, [email_subscriber()], smtp={"host": "127.0.0.1", "port": server.port,
                                                                       "security": "none"})  # fmt: skip
        started = datetime.now(UTC)
        with open_outbox(config, config.database.url) as (_, repo):
            store(repo, started - timedelta(hours=1), (item("kossev", 1, "Dijalog u Briselu", language="sr"), match()))
        child.run("--config", str(tmp_path / "config.yaml"), "digest", "--send", "--subscriber", "desk")
        assert child.finish() == -signal.SIGKILL and child.killed

        later = FakeClock(datetime.now(UTC) + timedelta(seconds=config.delivery.lease_seconds + 1))
        with open_outbox(config, config.database.url, later) as (outbox, repo):
            [stuck] = repo.deliveries()
            assert stuck.status is DeliveryStatus.SENDING  # sent, but the sender died before recording it
            assert outbox.retry_due(datetime.now(UTC)) == []  # its claim still holds: nobody else sends
            [report] = outbox.retry_due()
            assert report.outcome is DeliveryOutcome.SENT
            assert outbox.retry_due() == []
    first, second = server.messages
    assert first.message_id == second.message_id and first.data == second.data
    assert "Dijalog u Briselu" in first.message.get_body(("plain",)).get_content()


def test_killed_before_the_server_took_the_digest_delivers_it_once_later(tmp_path: Path) -> None:
    child = Child(tmp_path / "child.log")
    with SmtpServer(tmp_path, script=[child.kill_then("451")]) as server:
        config = delivery_config(tmp_path, [email_subscriber()], smtp={"host": "127.0.0.1", "port": server.port,
                                                                       "security": "none"})  # fmt: skip
        with open_outbox(config, config.database.url) as (_, repo):
            store(repo, datetime.now(UTC) - timedelta(hours=1), (item("koha", 1, "Dialogu", language="sq"), match()))
        child.run("--config", str(tmp_path / "config.yaml"), "digest", "--send", "--subscriber", "desk")
        assert child.finish() == -signal.SIGKILL

        later = FakeClock(datetime.now(UTC) + timedelta(seconds=config.delivery.lease_seconds + 1))
        with open_outbox(config, config.database.url, later) as (outbox, _):
            [report] = outbox.retry_due()
    assert report.outcome is DeliveryOutcome.SENT
    assert len(server.messages) == 1
    assert server.attempts[0].message_id == server.messages[0].message_id


def test_killed_after_the_webhook_was_received_repeats_it_with_the_same_webhook_id(
    server: LocalServer, tmp_path: Path
) -> None:
    child = Child(tmp_path / "child.log")
    feed = (FIXTURES / "feeds" / "en_rss.xml").read_bytes()
    sources = [feed_source("wire", server.add("/en.xml", feed), "en", "international")]

    def kill() -> None:
        child.kill_then("200")()

    with WebhookReceiver(SECRET, script=[kill]) as receiver:
        config_path = write_config(
            tmp_path, sources, subscribers=[webhook_subscriber(receiver.url)], delivery={"lease_seconds": 30}
        )
        child.run("--config", str(config_path), "poll", "--once")
        assert child.finish() == -signal.SIGKILL
        assert len(receiver.wait_for(1)) == 1

        config = delivery_config(tmp_path, [webhook_subscriber(receiver.url)], delivery={"lease_seconds": 30})
        later = FakeClock(datetime.now(UTC) + timedelta(seconds=31))
        with open_outbox(config, str(config.database.url), later) as (outbox, _):
            reports = outbox.deliver_immediate_alerts()
    assert [r.outcome for r in reports] == [DeliveryOutcome.SENT]
    first, second = receiver.received
    assert first.webhook_id == second.webhook_id and first.body == second.body
    assert first.verified and second.verified
