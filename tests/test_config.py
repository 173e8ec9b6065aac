"""Configuration: the default file is valid, and every mistake gets one clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from monitor.config import load_config
from monitor.errors import ConfigError
from tests.support.configs import DEFAULT_CONFIG, ROOT, default_raw


def test_the_default_config_is_valid_and_lists_real_sources() -> None:
    config = load_config(DEFAULT_CONFIG, environ={})
    enabled = config.enabled_sources
    assert len(enabled) >= 30
    assert {s.language for s in enabled} == {"en", "sq", "sr"}
    assert {s.origin for s in enabled} == {"pristina", "belgrade", "international"}
    assert all(s.url.startswith("https://") for s in config.sources)
    assert config.database.url.startswith("sqlite:///data/")
    assert "+https://" in config.http.user_agent


def run_check(tmp_path: Path, raw: dict, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(path), "check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        timeout=60,
    )


def problems_of(raw: dict, env: dict[str, str] | None = None) -> list[str]:
    text = yaml.safe_dump(raw, allow_unicode=True)
    from monitor.config import parse_config

    with pytest.raises(ConfigError) as info:
        parse_config(text, "bad.yaml", env or {})
    return [str(p) for p in info.value.problems]


def test_wrong_key_type_and_value_each_give_one_message_with_the_key_path(tmp_path: Path) -> None:
    raw = default_raw()
    raw["http"]["timeout_secnds"] = 5
    raw["http"]["concurrency"] = "many"
    raw["sources"][3]["language"] = "de"
    raw["sources"][4]["url"] = "ftp://example.org/feed"
    result = run_check(tmp_path, raw)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 4, result.stderr
    name3, name4 = raw["sources"][3]["name"], raw["sources"][4]["name"]
    assert any("bad.yaml: http.timeout_secnds: unknown key" in line for line in lines)
    assert any("http.concurrency" in line and "integer" in line for line in lines)
    assert any(f"sources[3] ({name3}).language" in line and "'de'" in line and "'sq'" in line for line in lines)
    assert any(f"sources[4] ({name4}).url" in line and "http://" in line for line in lines)


def test_missing_required_key_and_duplicate_names() -> None:
    raw = default_raw()
    del raw["sources"][0]["url"]
    raw["sources"][2]["name"] = raw["sources"][1]["name"]
    problems = problems_of(raw)
    assert any("sources[0]" in p and ".url: required key is missing" in p for p in problems)
    assert any("sources[2]" in p and "duplicate name; sources[1] has it too" in p for p in problems)


def test_environment_only_for_secrets_and_must_be_set() -> None:
    raw = default_raw()
    raw["database"]["url"] = "postgresql+psycopg://monitor:${DB_PASSWORD}@db/monitor"
    raw["http"]["user_agent"] = "${AGENT}"
    problems = problems_of(raw)
    assert any(p.startswith("bad.yaml: database.url: environment variable DB_PASSWORD is not set") for p in problems)
    assert any(p.startswith("bad.yaml: http.user_agent: ${…} is only for secrets") for p in problems)


def test_secret_from_environment_is_used_and_never_printed(tmp_path: Path) -> None:
    raw = default_raw()
    raw["database"]["url"] = "postgresql+psycopg://monitor:${DB_PASSWORD}@db/monitor"
    raw["subscribers"] = [
        {"name": "cms", "kind": "webhook", "url": "https://cms.example/hook", "secret": "${HOOK_SECRET}"}
    ]
    hook_secret = "whsec_c2VjcmV0LWhvb2stc2VjcmV0LWhvb2stc2VjcmV0LWhvb2s="
    result = run_check(tmp_path, raw, {"DB_PASSWORD": "hunter2-db", "HOOK_SECRET": hook_secret})
    assert result.returncode == 0, result.stderr
    assert "hunter2-db" not in result.stdout + result.stderr
    assert hook_secret not in result.stdout + result.stderr
    assert "postgresql+psycopg://monitor:***@db/monitor" in result.stdout


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("database:\n  url: [unclosed\nhttp: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "line " in str(info.value) and "not valid YAML" in str(info.value)


def test_missing_file_and_bad_timezone_and_cron() -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config("/nonexistent/config.yaml")
    raw = default_raw()
    raw["digest"]["timezone"] = "Mars/Olympus"
    raw["subscribers"] = [{"name": "desk", "kind": "email", "to": ["desk@example.org"], "schedule": {"cron": "7am"}}]
    problems = problems_of(raw)
    assert any("digest.timezone" in p and "IANA time zone" in p for p in problems)
    assert any("subscribers[0] (desk).schedule.cron" in p and "5 fields" in p for p in problems)


def test_pristina_is_accepted_as_a_time_zone() -> None:
    config = load_config(DEFAULT_CONFIG, environ={})
    assert config.digest.timezone == "Europe/Pristina"
