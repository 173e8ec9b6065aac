"""E-mail digests through a real SMTP server (aiosmtpd): content, TLS, faults, exactly once."""

from __future__ import annotations

import io
import re
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from monitor.cli import main
from monitor.config import Config
from monitor.notify.outbox import DeliveryOutcome
from monitor.types import DeliveryStatus
from tests.support.outbox import (
    T0,
    FakeClock,
    delivery_config,
    email_subscriber,
    item,
    mark_rematched,
    match,
    open_outbox,
    store,
)
from tests.support.smtpserver import SmtpServer
from tests.support.stories import load_articles, store_one

DAY = timedelta(days=1)


def smtp_section(server: SmtpServer, **extra: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.port,
        "security": server.security,
        "sender": "Dialogue monitor <monitor@newsroom.example>",
        "timeout_seconds": 5,
    }
    if server.ca_file:
        section["ca_file"] = server.ca_file
    if server.login:
        section.update(username=server.login[0], password=server.login[1])
    return {**section, **extra}


def config_for(tmp_path: Path, server: SmtpServer, **subscriber: Any) -> Config:
    return delivery_config(tmp_path, [email_subscriber(**subscriber)], smtp=smtp_section(server))


def seed_day(repo: Any) -> list[int]:
    return store(
        repo,
        T0 + timedelta(hours=3),
        (item("koha", 1, "Kurti: dialogu me Serbinë vazhdon", language="sq", published=T0 + timedelta(hours=2)),
         match(actors=["kurti"], snippet="Kurti tha se dialogu vazhdon javën tjetër.")),
        (item("kossev", 2, "Zajednica srpskih opština na dnevnom redu", language="sr"),
         match(topics=["asm"], snippet="Zajednica srpskih opština je opet tema.")),
        (item("balkaninsight", 3, "<script>alert('x')</script> Talks resume", url="javascript:alert(1)"),
         match(snippet="The dialogue resumes <b>soon</b>.")),
    )  # fmt: skip


def test_digest_over_starttls_with_login_reaches_the_editor(tmp_path: Path, database_url: str) -> None:
    with SmtpServer(tmp_path, security="starttls", login=("monitor", "s3cret")) as server:
        config = config_for(tmp_path, server)
        with open_outbox(config, database_url) as (outbox, repo):
            outbox.register(T0)
            seed_day(repo)
            desk = config.subscribers[0]
            report = outbox.send_due_digest(desk, T0, T0 + DAY)
            assert report.outcome is DeliveryOutcome.SENT, report
    assert server.logins == ["monitor"]
    [mail] = server.messages
    assert mail.recipients == ["desk@newsroom.example", "night@newsroom.example"]
    assert mail.sender == "monitor@newsroom.example"
    message = mail.message
    assert message["Subject"] == "Kosovo–Serbia dialogue: 3 new items — 22 Nov 2026"
    assert message["From"] == "Dialogue monitor <monitor@newsroom.example>"
    assert "Night Editor <night@newsroom.example>" in message["To"]
    assert re.fullmatch(r"<digest\.[0-9a-f]{32}@newsroom\.example>", message["Message-ID"])
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Kurti: dialogu me Serbinë vazhdon" in text and "Kurti: dialogu me Serbinë vazhdon" in html
    # Published 08:00 UTC → 09:00 in Pristina.
    assert "Koha · 21 Nov 2026 09:00" in text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Talks resume" in html or "&lt;script&gt;" in html
    assert "<script" not in html
    assert re.findall(r'href="([^"]+)"', html) == ["https://koha.example/news/1", "https://kossev.example/news/2"]
    assert "javascript:" not in html and "javascript:" not in text
    assert "&lt;b&gt;soon&lt;/b&gt;" in html


def test_implicit_tls_and_a_second_replica_never_sends_the_same_period(tmp_path: Path, database_url: str) -> None:
    with SmtpServer(tmp_path, security="tls") as server:
        config = config_for(tmp_path, server)
        with open_outbox(config, database_url) as (first, repo), open_outbox(config, database_url) as (second, _):
            first.register(T0)
            seed_day(repo)
            desk = config.subscribers[0]
            reports = []

            def send(outbox: Any) -> None:
                reports.append(outbox.send_due_digest(desk, T0, T0 + DAY))

            threads = [threading.Thread(target=send, args=(o,)) for o in (first, second)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            again = first.send_due_digest(desk, T0, T0 + DAY)
    assert sorted(r.outcome for r in reports) == [DeliveryOutcome.SENT, DeliveryOutcome.TAKEN]
    assert again.outcome is DeliveryOutcome.TAKEN
    assert len(server.messages) == 1


def test_each_item_once_across_periods_and_missed_periods_catch_up(tmp_path: Path, database_url: str) -> None:
    with SmtpServer(tmp_path) as server:
        config = config_for(tmp_path, server, when_empty="note")
        with open_outbox(config, database_url) as (outbox, repo):
            desk = config.subscribers[0]
            outbox.register(T0)
            store(repo, T0 + timedelta(hours=1), (item("koha", 1, "Dialogu: takim i ri"), match()))
            assert outbox.send_due_digest(desk, T0, T0 + DAY).outcome is DeliveryOutcome.SENT
            # Day 2's digest is missed (daemon down); day 3's carries day 2's item too.
            store(repo, T0 + DAY + timedelta(hours=5), (item("kossev", 2, "Dijalog: novi sastanak"), match()))
            store(repo, T0 + 2 * DAY + timedelta(hours=5), (item("rts", 3, "Дијалог: нови састанак"), match()))
            assert outbox.send_due_digest(desk, T0 + 2 * DAY, T0 + 3 * DAY).outcome is DeliveryOutcome.SENT
            # Nothing new: with when_empty: note, a short note still goes out.
            assert outbox.send_due_digest(desk, T0 + 3 * DAY, T0 + 4 * DAY).outcome is DeliveryOutcome.SENT
    subjects = [m.message["Subject"] for m in server.messages]
    assert subjects == [
        "Kosovo–Serbia dialogue: 1 new item — 22 Nov 2026",
        "Kosovo–Serbia dialogue: 2 new items — 24 Nov 2026",
        "Kosovo–Serbia dialogue: no new developments — 25 Nov 2026",
    ]
    bodies = [m.message.get_body(("plain",)).get_content() for m in server.messages]
    assert "Dialogu: takim i ri" in bodies[0] and "Dialogu: takim i ri" not in bodies[1]
    assert "Dijalog: novi sastanak" in bodies[1] and "Дијалог: нови састанак" in bodies[1]
    assert "No new developments" in bodies[2]
    assert len({m.message_id for m in server.messages}) == 3


def test_rematched_old_items_and_filtered_items_are_never_sent(tmp_path: Path, database_url: str) -> None:
    with SmtpServer(tmp_path) as server:
        config = config_for(tmp_path, server, filters={"languages": ["sr", "en"], "min_score": 3})
        with open_outbox(config, database_url) as (outbox, repo):
            desk = config.subscribers[0]
            outbox.register(T0)
            ids = store(
                repo,
                T0 + timedelta(hours=1),
                (item("kossev", 1, "Rematched old story about the dialogue", language="sr"), match()),
                (item("kossev", 2, "Dijalog se nastavlja", language="sr"), match()),
                (item("koha", 3, "Dialogu vazhdon", language="sq"), match()),
                (item("balkaninsight", 4, "Weak mention of the dialogue"), match(score=2.0)),
            )
            mark_rematched(repo, ids[:1])
            outbox.send_due_digest(desk, T0, T0 + DAY)
            # Whatever the filters left out is not sent later either.
            report = outbox.send_due_digest(desk, T0 + DAY, T0 + 2 * DAY)
            assert report.outcome is DeliveryOutcome.EMPTY
    [mail] = server.messages
    text = mail.message.get_body(("plain",)).get_content()
    assert "Dijalog se nastavlja" in text
    for absent in ("Rematched old story", "Dialogu vazhdon", "Weak mention"):
        assert absent not in text


def test_451_then_accepted_is_delivered_once_with_the_same_message_id(tmp_path: Path, database_url: str) -> None:
    with SmtpServer(tmp_path, script=["451"]) as server:
        config = config_for(tmp_path, server)
        clock = FakeClock(T0 + DAY)
        with open_outbox(config, database_url, clock) as (outbox, repo):
            outbox.register(T0)
            seed_day(repo)
            report = outbox.send_due_digest(config.subscribers[0], T0, T0 + DAY)
    assert report.outcome is DeliveryOutcome.SENT
    assert report.delivery is not None and report.delivery.attempts == 2
    assert [m.answer[:3] for m in server.attempts] == ["451", "250"]
    assert server.attempts[0].message_id == server.attempts[1].message_id
    assert server.attempts[0].data == server.attempts[1].data  # the very same bytes
    assert len(clock.sleeps) == 1 and 1.0 <= clock.sleeps[0] <= 2.0  # back-off of base 2 s, with jitter


def test_connection_dropped_during_data_is_retried_and_delivered(tmp_path: Path, database_url: str) -> None:
    with SmtpServer(tmp_path, script=["drop", "drop"]) as server:
        config = config_for(tmp_path, server)
        clock = FakeClock(T0 + DAY)
        with open_outbox(config, database_url, clock) as (outbox, repo):
            outbox.register(T0)
            seed_day(repo)
            report = outbox.send_due_digest(config.subscribers[0], T0, T0 + DAY)
    assert report.outcome is DeliveryOutcome.SENT
    assert len(server.messages) == 1 and len(server.attempts) == 3
    assert len({m.message_id for m in server.attempts}) == 1
    assert clock.sleeps[1] >= clock.sleeps[0]  # growing back-off (with jitter)


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


def test_refused_for_good_is_dead_shown_and_can_be_retried(tmp_path: Path) -> None:
    with SmtpServer(tmp_path, script=["550"]) as server:
        config = config_for(tmp_path, server)
        config_path = str(tmp_path / "config.yaml")
        with open_outbox(config, config.database.url, FakeClock(T0 + DAY)) as (outbox, repo):
            outbox.register(T0)
            seed_day(repo)
            report = outbox.send_due_digest(config.subscribers[0], T0, T0 + DAY)
            assert report.outcome is DeliveryOutcome.DEAD
        code, listing = run("--config", config_path, "deliveries", "--failed")
        assert code == 0
        assert "dead" in listing and "550 5.7.1 Delivery not authorised" in listing and "desk" in listing
        assert report.delivery is not None
        code, out = run("--config", config_path, "deliveries", "retry", str(report.delivery.id))
        assert code == 0, out
        assert "1 sent" in out
        code, listing = run("--config", config_path, "deliveries", "--failed")
        assert "no failed deliveries" in listing
        code, out = run("--config", config_path, "deliveries", "retry", str(report.delivery.id))
        assert code == 1
    assert len(server.messages) == 1
    assert server.attempts[0].message_id == server.messages[0].message_id


def test_an_untrusted_certificate_is_a_clear_permanent_error(tmp_path: Path, database_url: str) -> None:
    with SmtpServer(tmp_path, security="starttls") as server:
        config = delivery_config(tmp_path, [email_subscriber()], smtp={**smtp_section(server), "ca_file": None})
        with open_outbox(config, database_url) as (outbox, repo):
            outbox.register(T0)
            seed_day(repo)
            report = outbox.send_due_digest(config.subscribers[0], T0, T0 + DAY)
    assert report.outcome is DeliveryOutcome.DEAD
    assert report.delivery is not None and report.delivery.status is DeliveryStatus.DEAD
    assert "TLS certificate not trusted" in (report.delivery.last_error or "")
    assert "smtp.ca_file" in (report.delivery.last_error or "")
    assert server.attempts == []


def test_a_server_that_stays_down_is_retried_later_then_given_up(tmp_path: Path, database_url: str) -> None:
    with SmtpServer(tmp_path, script=["451"] * 10) as server:
        config = delivery_config(
            tmp_path,
            [email_subscriber()],
            smtp=smtp_section(server),
            delivery={"max_attempts": 5, "inline_wait_max_seconds": 5},
        )
        clock = FakeClock(T0 + DAY)
        with open_outbox(config, database_url, clock) as (outbox, repo):
            outbox.register(T0)
            seed_day(repo)
            first = outbox.send_due_digest(config.subscribers[0], T0, T0 + DAY)
            assert first.outcome is DeliveryOutcome.WILL_RETRY
            assert first.delivery is not None and first.delivery.next_attempt_at is not None
            assert outbox.retry_due(clock.now()) == []  # not due yet
            clock.current = first.delivery.next_attempt_at
            [later] = outbox.retry_due(clock.now())
            while later.outcome is DeliveryOutcome.WILL_RETRY:
                assert later.delivery is not None and later.delivery.next_attempt_at is not None
                clock.current = later.delivery.next_attempt_at
                [later] = outbox.retry_due(clock.now())
    assert later.outcome is DeliveryOutcome.DEAD
    assert later.delivery is not None and later.delivery.attempts == 5
    assert "gave up after 5 attempts" in (later.delivery.last_error or "")
    assert len(server.attempts) == 5 and server.messages == []


def test_a_story_carried_by_several_outlets_is_one_entry_with_also_reported_by(
    tmp_path: Path, database_url: str
) -> None:
    articles = sorted((a for a in load_articles() if a.story == "s1"), key=lambda a: a.published)
    relevant = match(snippet="Chief negotiators met in Brussels.")
    start = articles[0].published - timedelta(hours=1)
    with SmtpServer(tmp_path) as server:
        config = config_for(tmp_path, server)
        with open_outbox(config, database_url) as (outbox, repo):
            outbox.register(start)
            for article in articles:
                store_one(repo, article, relevant)
            # Later copies of a story are stored as not news; even if they were, a digest shows the story once.
            with repo.engine.begin() as conn:
                conn.execute(text("UPDATE matches SET notify = true"))
            desk = config.subscribers[0]
            report = outbox.send_due_digest(desk, start, start + DAY)
            assert report.delivery is not None and report.delivery.item_count == len(articles)
            assert outbox.send_due_digest(desk, start + DAY, start + 2 * DAY).outcome is DeliveryOutcome.EMPTY
    [mail] = server.messages
    text_part = mail.message.get_body(("plain",)).get_content()
    assert mail.message["Subject"].startswith("Kosovo–Serbia dialogue: 1 new item — ")
    assert articles[0].title in text_part
    for later in articles[1:]:
        assert later.title not in text_part
    also = next(line for line in text_part.splitlines() if "Also reported by" in line)
    assert len(also.split(",")) >= 2 and "balkanwire" not in also


def test_the_operators_preview_without_a_subscriber_also_shows_a_story_once(tmp_path: Path, database_url: str) -> None:
    articles = sorted((a for a in load_articles() if a.story == "s1"), key=lambda a: a.published)
    relevant = match(snippet="Chief negotiators met in Brussels.")
    with SmtpServer(tmp_path) as server:
        config = config_for(tmp_path, server)
        with open_outbox(config, database_url) as (outbox, repo):
            for article in articles:
                store_one(repo, article, relevant)
            rendered = outbox.preview_all("Europe/Belgrade", now=articles[-1].published + timedelta(hours=1))
    assert articles[0].title in rendered.text
    for later in articles[1:]:
        assert later.title not in rendered.text
    assert "Also reported by" in rendered.text
    assert server.messages == []
