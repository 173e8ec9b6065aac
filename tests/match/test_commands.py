"""The matching commands end to end: a real poll into SQLite, then rematch, explain, classify, eval."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.cli import main
from tests.support.configs import write_config
from tests.support.httpserver import LocalServer
from tests.test_poll import serve_all


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


def matches(config: Path) -> dict[str, bool]:
    """Title → notify flag of every stored match."""
    db = sqlite3.connect(config.parent / "monitor.db")
    try:
        rows = db.execute("select i.title, m.notify from matches m join items i on i.id = m.item_id").fetchall()
        return {title: bool(notify) for title, notify in rows}
    finally:
        db.close()


def with_profile_change(config: Path, change: Any) -> None:
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    change(raw["profile"])
    config.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.fixture
def polled(server: LocalServer, tmp_path: Path) -> Path:
    config = write_config(tmp_path, serve_all(server))
    code, _ = run("--config", str(config), "poll", "--once")
    assert code == 0
    return config


def test_rematch_with_a_new_topic_catches_old_items_without_notifying(polled: Path) -> None:
    before = matches(polled)
    assert len(before) == 4 and all(before.values())

    def add_sports_topic(profile: dict[str, Any]) -> None:
        profile["topics"].append({"id": "handball", "label": "Handball", "terms": ["handball tournament"]})

    with_profile_change(polled, add_sports_topic)
    code, dry = run("--config", str(polled), "rematch", "--dry-run")
    assert code == 0 and "1 newly matched" in dry and "dry run" in dry
    assert matches(polled) == before  # a dry run writes nothing

    code, out = run("--config", str(polled), "rematch", "--since", "1d")
    assert code == 0
    assert "+" in out and "Pristina hosts regional handball tournament" in out
    assert "1 newly matched" in out and "never sent to subscribers" in out
    after = matches(polled)
    assert after["Pristina hosts regional handball tournament"] is False  # shown, never sent as news
    assert all(after[title] for title in before)  # old matches keep their flag

    code, again = run("--config", str(polled), "rematch")
    assert "0 newly matched" in again and "0 no longer matched" in again

    _, digest = run("--config", str(polled), "digest", "--preview")
    assert "handball" in digest


def test_rematch_removes_matches_the_new_rules_no_longer_find(polled: Path) -> None:
    def only_english_terms(profile: dict[str, Any]) -> None:
        profile["threshold"] = 50.0

    with_profile_change(polled, only_english_terms)
    code, out = run("--config", str(polled), "rematch")
    assert code == 0
    assert "4 no longer matched" in out
    assert matches(polled) == {}


def test_explain_by_id_and_by_url_shows_the_evidence(polled: Path) -> None:
    _, listing = run("--config", str(polled), "items", "--limit", "100")
    line = next(line for line in listing.splitlines() if "Petković posle sastanka" in line)
    item_id = line.split()[0]
    code, out = run("--config", str(polled), "explain", item_id)
    assert code == 0
    assert "ABOUT THE DIALOGUE" in out
    assert "Association/Community of Serb-majority municipalities" in out
    assert "⟦Zajednica srpskih opština⟧" in out
    assert "+" in out and "sentence" in out

    code, out = run("--config", str(polled), "explain", "https://wire.example/sport/handball-pristina")
    assert code == 0
    assert "not about the dialogue" in out
    assert "Pristina (party: kosovo)" in out

    code, _ = run("--config", str(polled), "explain", "999999")
    assert code == 1


def test_classify_reads_json_lines_and_answers_one_line_each(
    polled: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        {"id": 1, "title": "Kurti i Vučić u Briselu", "text": "Dijalog o ZSO se nastavlja.", "lang": "sr"},
        {"id": "x", "title": "Зимска служба спремна", "text": "Путеви су проходни."},
    ]
    stdin = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\nnot json\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code, out = run("--config", str(polled), "classify")
    assert code == 1  # one line was not JSON: reported, the rest still answered
    assert "line 3" in capsys.readouterr().err
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["id"] for a in answers] == [1, "x"]
    first, second = answers
    assert first["relevant"] is True and "asm" in first["topics"] and "vucic" in first["actors"]
    assert any("⟦ZSO⟧" in s for s in first["snippets"])
    assert set(first) >= {"id", "relevant", "score", "topics", "actors", "snippets", "rule"}
    assert second["relevant"] is False and second["snippets"] == []


def test_eval_prints_precision_and_recall_per_language_and_enforces_floors(polled: Path, tmp_path: Path) -> None:
    labelled = tmp_path / "set.jsonl"
    items = [
        {"id": "a", "title": "Bislimi and Petković meet in Brussels", "lang": "en", "relevant": True},
        {"id": "b", "title": "Pristina weather: sunny", "lang": "en", "relevant": False},
        {"id": "c", "title": "Takim për motin", "lang": "sq", "relevant": True},
    ]
    labelled.write_text("\n".join(json.dumps(i) for i in items), encoding="utf-8")
    code, out = run("--config", str(polled), "eval", str(labelled))
    assert code == 0
    assert "en " in out and "1.000" in out
    assert "c" in out and "missed" in out
    code, out = run("--config", str(polled), "eval", str(labelled), "--min-recall", "0.9")
    assert code == 1 and "below the floor: sq" in out
