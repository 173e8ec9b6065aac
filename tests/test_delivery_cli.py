"""The delivery commands as an operator runs them, and the subscriber configuration's errors."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import parse_config
from monitor.errors import ConfigError
from tests.support.configs import default_raw
from tests.support.outbox import SOURCES, delivery_config, email_subscriber, item, match, open_outbox, store
from tests.support.smtpserver import SmtpServer


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


def test_preview_records_nothing_and_send_sends_what_is_new_once(tmp_path: Path) -> None:
    with SmtpServer(tmp_path) as server:
        smtp = {"host": "127.0.0.1", "port": server.port, "security": "none", "sender": "monitor@newsroom.example"}
        config = delivery_config(tmp_path, [email_subscriber(when_empty="skip")], smtp=smtp)
        path = str(tmp_path / "config.yaml")
        with open_outbox(config, config.database.url) as (_, repo):
            store(
                repo,
                datetime.now(UTC) - timedelta(hours=2),
                (
                    item(
                        "kossev",
                        1,
                        "Dijalog: novi krug u Briselu",
                        language="sr",
                        text="Glavni pregovarači Kosova i Srbije nastavili su dijalog u Briselu.",
                    ),
                    match(topics=["asm"]),
                ),
            )
        code, preview = run("--config", path, "digest", "--preview", "--subscriber", "desk")
        assert code == 0 and "Dijalog: novi krug u Briselu" in preview
        assert "ASSOCIATION/COMMUNITY OF SERB-MAJORITY MUNICIPALITIES (1)" in preview
        assert "Times in Europe/Pristina" in preview
        # The matcher's terms are highlighted (the store keeps plain snippets; the matcher marks them again).
        assert "*dijalog*" in preview.lower() or "*dijalog" in preview.lower()
        assert run("--config", path, "deliveries")[1].rstrip().endswith("nothing sent yet")

        code, out = run("--config", path, "digest", "--send")
        assert code == 0, out
        assert "1 sent" in out and "desk" in out
        code, out = run("--config", path, "digest", "--send", "--subscriber", "desk")
        assert code == 0 and "nothing new, skipped" in out
        code, listing = run("--config", path, "deliveries")
        assert " desk " in listing and " sent " in listing and "<digest." in listing
    assert len(server.messages) == 1


def test_the_digest_shows_the_marked_snippet_stored_with_the_match(tmp_path: Path) -> None:
    # The poll stored the marks the matcher gave then; rendering does not run the matcher again
    # (the current profile would mark "dijalog" here, and pick the first sentence).
    config = delivery_config(tmp_path, [email_subscriber(when_empty="skip")])
    path = str(tmp_path / "config.yaml")
    text = "Glavni pregovarači Kosova i Srbije nastavili su dijalog u Briselu. Sastanak je trajao tri sata."
    stored = replace(match(snippet="Sastanak je trajao tri sata."), marked_snippets=("⟦Sastanak⟧ je trajao tri sata.",))
    with open_outbox(config, config.database.url) as (_, repo):
        store(
            repo,
            datetime.now(UTC) - timedelta(hours=2),
            (item("kossev", 1, "Dijalog: novi krug u Briselu", language="sr", text=text), stored),
        )
    code, preview = run("--config", path, "digest", "--preview", "--subscriber", "desk")
    assert code == 0
    assert "*Sastanak* je trajao tri sata." in preview
    assert "*dijalog*" not in preview.lower()


def test_unknown_subscriber_and_misused_options_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    delivery_config(tmp_path, [email_subscriber()])
    path = str(tmp_path / "config.yaml")
    assert run("--config", path, "digest", "--send", "--subscriber", "nobody")[0] == 1
    assert "--subscriber 'nobody': no such subscriber in the configuration (known: desk)" in capsys.readouterr().err
    assert run("--config", path, "digest", "--send", "--out", "x.html")[0] == 1
    assert "--out goes with --preview" in capsys.readouterr().err
    assert run("--config", path, "deliveries", "retry", "42")[0] == 1
    assert "no delivery 42" in capsys.readouterr().err


def problems(subscribers: list[dict[str, object]], **sections: object) -> list[str]:
    import yaml

    raw = default_raw()
    raw["sources"] = SOURCES
    raw["subscribers"] = subscribers
    raw.update(sections)
    with pytest.raises(ConfigError) as info:
        parse_config(yaml.safe_dump(raw, allow_unicode=True), "bad.yaml", {})
    return [str(p) for p in info.value.problems]


def test_subscriber_mistakes_each_get_a_message_with_the_key_path() -> None:
    found = problems(
        [
            {"name": "cms", "kind": "webhook", "url": "https://cms.example/hook"},
            {"name": "cms2", "kind": "webhook", "url": "https://cms.example/hook", "secret": "hunter2"},
            {"name": "desk", "kind": "email", "to": ["desk at example.org"],
             "filters": {"topics": ["asm", "elections"], "sources": ["koha", "politika"]}},
        ],
        smtp={"username": "monitor"},
    )  # fmt: skip
    expected = [
        "bad.yaml: subscribers[0] (cms): a webhook with format json needs a signing secret",
        "bad.yaml: subscribers[1] (cms2).secret: expected a secret of the form whsec_<base64>",
        "bad.yaml: subscribers[2] (desk).to: expected an address like 'desk@example.org'",
        "bad.yaml: smtp: give both username and password, or neither",
        "bad.yaml: subscribers[2] (desk).filters.topics: 'elections' is not a topic of this file",
        "bad.yaml: subscribers[2] (desk).filters.sources: 'politika' is not a source of this file",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in found), (start, found)
    assert any("whsec_" in p and "os.urandom(32)" in p for p in found)  # how to make one


def test_slack_webhooks_need_no_secret_and_short_secrets_are_refused() -> None:
    import yaml

    raw = default_raw()
    raw["sources"] = SOURCES
    raw["subscribers"] = [
        {"name": "slack", "kind": "webhook", "url": "https://hooks.example/T0/B0/x", "format": "slack"}
    ]
    config = parse_config(yaml.safe_dump(raw), "ok.yaml", {})
    assert config.subscribers[0].secret is None
    found = problems([{"name": "cms", "kind": "webhook", "url": "https://cms.example/h", "secret": "whsec_c2hvcnQ="}])
    assert any("decodes to 5 bytes, expected 24 to 64" in p for p in found)
